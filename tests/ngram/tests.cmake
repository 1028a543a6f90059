# tests/ngram/: the n-gram machinery (ARPA reading, ...).
kvg_add_c_test(test_arpa_reader ${CMAKE_CURRENT_LIST_DIR}/test_arpa_reader.c)
kvg_add_c_test(test_ngram_model ${CMAKE_CURRENT_LIST_DIR}/test_ngram_model.c)
# damaged tables: the deep check names them, nothing reads outside the file
kvg_add_c_test(test_ngram_check ${CMAKE_CURRENT_LIST_DIR}/test_ngram_check.c)

# kvgram convert + score against KenLM's own query output, scoring CLI
# behaviour and edge input, and bad ARPA input to convert.
kvg_add_sh_test(test_kenlm_query tests/ngram/test_kenlm_query.sh)
kvg_add_sh_test(test_score_cli tests/ngram/test_score_cli.sh)
kvg_add_sh_test(test_convert_errors tests/ngram/test_convert_errors.sh)
# test_score_cli makes a .kvg that is not an n-gram model with tests/format's
# helper when it is built (tests/format/tests.cmake is included before this file).
if(TARGET make_sample_kvg)
  set_property(TEST test_score_cli APPEND PROPERTY ENVIRONMENT "KVG_MAKE_SAMPLE=$<TARGET_FILE:make_sample_kvg>")
endif()
kvg_add_sh_test(test_bench_cli tests/ngram/test_bench_cli.sh)
