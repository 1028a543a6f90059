# tests/convert/: reading other formats for `kvgram convert` (safetensors, ...).
kvg_add_c_test(test_safetensors ${CMAKE_CURRENT_LIST_DIR}/test_safetensors.c)
