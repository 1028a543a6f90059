# tests/ngram/: the n-gram machinery (ARPA reading, ...).
kvg_add_c_test(test_arpa_reader ${CMAKE_CURRENT_LIST_DIR}/test_arpa_reader.c)
kvg_add_c_test(test_ngram_model ${CMAKE_CURRENT_LIST_DIR}/test_ngram_model.c)
