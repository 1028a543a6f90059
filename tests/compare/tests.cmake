# tests/compare/: `kvgram compare` — every metric against a hand computation
# on a hand-made transformer and counted n-gram models; bad input.
add_executable(make_bigram_transformer ${CMAKE_CURRENT_LIST_DIR}/make_bigram_transformer.c)
target_include_directories(make_bigram_transformer PRIVATE ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(make_bigram_transformer PRIVATE kvg_tools m)
kvg_add_c_test(test_compare_metrics ${CMAKE_CURRENT_LIST_DIR}/test_compare_metrics.c)
target_include_directories(test_compare_metrics PRIVATE ${PROJECT_SOURCE_DIR}/engine)
kvg_add_sh_test(test_compare_hand tests/compare/test_compare_hand.sh)
kvg_add_sh_test(test_compare_errors tests/compare/test_compare_errors.sh)
# kvgram runs OpenMP: idle threads sleep on the shared, oversubscribed test machines.
set_property(TEST test_compare_hand test_compare_errors APPEND PROPERTY ENVIRONMENT
             "KVG_MAKE_BIGRAM=$<TARGET_FILE:make_bigram_transformer>" OMP_WAIT_POLICY=passive)
kvg_add_sh_test(test_compare_html tests/compare/test_compare_html.sh)
set_tests_properties(test_compare_html PROPERTIES SKIP_RETURN_CODE 77)
set_property(TEST test_compare_html APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
