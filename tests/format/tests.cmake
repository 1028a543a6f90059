kvg_add_c_test(test_dtype ${CMAKE_CURRENT_LIST_DIR}/test_dtype.c)
kvg_add_c_test(test_roundtrip ${CMAKE_CURRENT_LIST_DIR}/test_roundtrip.c)

# Damaged and hostile files; make_sample_kvg writes valid samples for the shell
# tests and the fuzz seed corpus (tests/fuzz/).
add_executable(make_sample_kvg ${CMAKE_CURRENT_LIST_DIR}/make_sample_kvg.c)
target_link_libraries(make_sample_kvg PRIVATE kvg_format)
kvg_add_c_test(test_bad_files ${CMAKE_CURRENT_LIST_DIR}/test_bad_files.c)
kvg_add_sh_test(test_cli_format tests/cli/test_cli_format.sh)
set_property(TEST test_cli_format APPEND PROPERTY ENVIRONMENT "KVG_MAKE_SAMPLE=$<TARGET_FILE:make_sample_kvg>")
