# tests/transformer/: the transformer engine — kernels against hand
# computations, forward-pass properties, llama2.c conversion, goldens.
kvg_add_c_test(test_kernels ${CMAKE_CURRENT_LIST_DIR}/test_kernels.c)
target_include_directories(test_kernels PRIVATE ${PROJECT_SOURCE_DIR}/engine)
kvg_add_c_test(test_forward ${CMAKE_CURRENT_LIST_DIR}/test_forward.c)
target_include_directories(test_forward PRIVATE ${PROJECT_SOURCE_DIR}/engine)
kvg_add_sh_test(test_llama2c_convert tests/transformer/test_llama2c_convert.sh)
