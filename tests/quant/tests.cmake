# tests/quant/: quantized transformer files — convert --type / kvgram quantize store the
# dtype quantizer's bytes under the mixed-precision rule, the engine's logits stay within the
# quantization bound, bad input is refused, and q8_0 costs at most 1% held-out perplexity.
kvg_add_c_test(test_quant ${CMAKE_CURRENT_LIST_DIR}/test_quant.c)
target_include_directories(test_quant PRIVATE ${PROJECT_SOURCE_DIR}/engine)
kvg_add_sh_test(test_quant_errors tests/quant/test_quant_errors.sh)
kvg_add_sh_test(test_quant_perplexity tests/quant/test_quant_perplexity.sh)
set_property(TEST test_quant test_quant_errors test_quant_perplexity APPEND PROPERTY ENVIRONMENT
             OMP_WAIT_POLICY=passive)
if(KVG_SANITIZE)
  set_property(TEST test_quant_perplexity APPEND PROPERTY ENVIRONMENT KVG_SANITIZED=1)
endif()
set_tests_properties(test_quant_perplexity PROPERTIES SKIP_RETURN_CODE 77)
