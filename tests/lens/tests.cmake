# tests/lens/: `kvgram lens` and the shared HTML report helpers.
kvg_add_c_test(test_html ${CMAKE_CURRENT_LIST_DIR}/test_html.c)
