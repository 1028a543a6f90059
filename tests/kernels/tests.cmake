# tests/kernels/: every SIMD kernel path against the scalar reference (and the
# SIMD math against libm). Every test_*.c here is one test, picked up by this
# glob (add a file, no edit here). Each must need only engine/kernels and
# format/kvg_dtype.c (plus libm and OpenMP): tests/kernels/cross_aarch64.sh
# builds the same files for AArch64 and runs them under qemu (the NEON path).
file(GLOB KVG_KERNEL_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/test_*.c)
foreach(src ${KVG_KERNEL_TESTS})
  get_filename_component(kernel_test ${src} NAME_WE)
  kvg_add_c_test(${kernel_test} ${src})
  target_include_directories(${kernel_test} PRIVATE ${PROJECT_SOURCE_DIR}/engine ${PROJECT_SOURCE_DIR}/engine/kernels)
  set_property(TEST ${kernel_test} APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
endforeach()
