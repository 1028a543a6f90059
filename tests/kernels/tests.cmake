# tests/kernels/: every kernel path (scalar, AVX2, NEON) against the scalar
# reference and a double-precision reference. The files here build from
# engine/kernels + format alone, so the AArch64 cross build can run them too.
kvg_add_c_test(test_matmul_paths ${CMAKE_CURRENT_LIST_DIR}/test_matmul_paths.c)
target_include_directories(test_matmul_paths PRIVATE ${PROJECT_SOURCE_DIR}/engine/kernels)
