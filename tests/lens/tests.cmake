# tests/lens/: `kvgram lens` and the shared HTML report helpers.
kvg_add_c_test(test_html ${CMAKE_CURRENT_LIST_DIR}/test_html.c)
kvg_add_c_test(test_lens ${CMAKE_CURRENT_LIST_DIR}/test_lens.c)
target_include_directories(test_lens PRIVATE ${PROJECT_SOURCE_DIR}/engine)
set_property(TEST test_lens APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
kvg_add_sh_test(test_lens_cli tests/lens/test_lens_cli.sh)
set_property(TEST test_lens_cli APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
kvg_add_sh_test(test_lens_html tests/lens/test_lens_html.sh)
set_tests_properties(test_lens_html PROPERTIES SKIP_RETURN_CODE 77)
