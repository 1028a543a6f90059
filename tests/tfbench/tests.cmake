# tests/tfbench/: benchmark models (`kvgram synth`), the transformer benchmark
# (`kvgram bench -m TRANSFORMER`) and thread-count independence of scoring.
kvg_add_sh_test(test_synth tests/tfbench/test_synth.sh)
kvg_add_sh_test(test_bench_transformer tests/tfbench/test_bench_transformer.sh)
kvg_add_sh_test(test_score_threads tests/tfbench/test_score_threads.sh)
kvg_add_c_test(test_score_slices ${CMAKE_CURRENT_LIST_DIR}/test_score_slices.c)
target_include_directories(test_score_slices PRIVATE ${PROJECT_SOURCE_DIR}/engine)
# Shared, oversubscribed machines: idle OpenMP threads sleep (speed is measured
# in benchmarks, not here).
set_property(TEST test_synth test_bench_transformer test_score_threads test_score_slices
             APPEND PROPERTY ENVIRONMENT OMP_WAIT_POLICY=passive)
