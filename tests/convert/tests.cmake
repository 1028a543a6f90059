# tests/convert/: reading other formats for `kvgram convert` (safetensors, ...).
kvg_add_c_test(test_safetensors ${CMAKE_CURRENT_LIST_DIR}/test_safetensors.c)
kvg_add_c_test(test_hf_convert ${CMAKE_CURRENT_LIST_DIR}/test_hf_convert.c)
target_include_directories(test_hf_convert PRIVATE ${PROJECT_SOURCE_DIR}/engine)
kvg_add_sh_test(test_hf_convert_errors tests/convert/test_hf_convert_errors.sh)
