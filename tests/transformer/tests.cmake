# tests/transformer/: the transformer engine — kernels against hand
# computations, forward-pass properties, llama2.c conversion, goldens.
kvg_add_c_test(test_kernels ${CMAKE_CURRENT_LIST_DIR}/test_kernels.c)
target_include_directories(test_kernels PRIVATE ${PROJECT_SOURCE_DIR}/engine)
kvg_add_c_test(test_forward ${CMAKE_CURRENT_LIST_DIR}/test_forward.c)
target_include_directories(test_forward PRIVATE ${PROJECT_SOURCE_DIR}/engine)
kvg_add_sh_test(test_llama2c_convert tests/transformer/test_llama2c_convert.sh)
# One golden test per tests/transformer/golden/NAME.logits (contract C).
file(GLOB KVG_GOLDEN_LOGITS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/golden/*.logits)
add_executable(test_golden ${CMAKE_CURRENT_LIST_DIR}/test_golden.c)
target_include_directories(test_golden PRIVATE ${PROJECT_SOURCE_DIR}/tests ${PROJECT_SOURCE_DIR}/engine)
target_link_libraries(test_golden PRIVATE kvg_tools m)
foreach(logits ${KVG_GOLDEN_LOGITS})
  get_filename_component(golden_name ${logits} NAME_WE)
  add_test(NAME test_golden_${golden_name} COMMAND test_golden ${golden_name})
  set_tests_properties(test_golden_${golden_name} PROPERTIES ENVIRONMENT
    "KVG_SHARED_DIR=${KVG_SHARED_DIR};KVG_BIN=$<TARGET_FILE:kvgram>;KVG_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endforeach()
kvg_add_sh_test(test_generate tests/transformer/test_generate.sh)
kvg_add_c_test(test_sampler ${CMAKE_CURRENT_LIST_DIR}/test_sampler.c)
target_include_directories(test_sampler PRIVATE ${PROJECT_SOURCE_DIR}/engine)
kvg_add_sh_test(test_score_transformer tests/transformer/test_score_transformer.sh)
# The machines tests run on are shared and oversubscribed (ctest -j): spinning
# OpenMP workers would wait on descheduled peers, so these tests let idle
# threads sleep. Speed is measured in benchmarks, not here.
set_property(TEST test_kernels test_forward test_llama2c_convert test_generate test_sampler test_score_transformer
             APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
foreach(logits ${KVG_GOLDEN_LOGITS})
  get_filename_component(golden_name ${logits} NAME_WE)
  set_property(TEST test_golden_${golden_name} APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
endforeach()
