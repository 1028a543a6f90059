# tests/lens/: `kvgram lens` and the shared HTML report helpers.
kvg_add_c_test(test_html ${CMAKE_CURRENT_LIST_DIR}/test_html.c)
kvg_add_c_test(test_lens ${CMAKE_CURRENT_LIST_DIR}/test_lens.c)
target_include_directories(test_lens PRIVATE ${PROJECT_SOURCE_DIR}/engine)
set_property(TEST test_lens APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
