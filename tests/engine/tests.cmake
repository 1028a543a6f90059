# tests/engine/: the inference engine (number formatting, ...).
kvg_add_c_test(test_num_format ${CMAKE_CURRENT_LIST_DIR}/test_num_format.c)
