# tests/estimate/: `kvgram ngram build` (n-gram estimation like KenLM's lmplz).
# KenLM comparison (every n-gram of four lmplz models, through arpa_diff),
# other routes to the same model (spilled runs, gzip, stdin, several files,
# .kvg vs ARPA), maximum likelihood against hand counts, and bad input.
add_executable(arpa_diff ${CMAKE_CURRENT_LIST_DIR}/arpa_diff.c)
target_link_libraries(arpa_diff PRIVATE PkgConfig::ZLIB_PC m)
kvg_add_sh_test(test_estimate_kenlm tests/estimate/test_estimate_kenlm.sh)
set_property(TEST test_estimate_kenlm APPEND PROPERTY ENVIRONMENT "KVG_ARPA_DIFF=$<TARGET_FILE:arpa_diff>")
kvg_add_sh_test(test_estimate_mle tests/estimate/test_estimate_mle.sh)
kvg_add_sh_test(test_estimate_errors tests/estimate/test_estimate_errors.sh)
kvg_add_sh_test(test_estimate_tokens tests/estimate/test_estimate_tokens.sh)
# Past the memory budget: every stage streamed (same models), peak RSS bounded.
kvg_add_sh_test(test_estimate_stream tests/estimate/test_estimate_stream.sh)
set_property(TEST test_estimate_stream APPEND PROPERTY ENVIRONMENT "KVG_ARPA_DIFF=$<TARGET_FILE:arpa_diff>")
add_executable(peak_rss ${CMAKE_CURRENT_LIST_DIR}/peak_rss.c)
kvg_add_sh_test(test_estimate_memory tests/estimate/test_estimate_memory.sh)
set_property(TEST test_estimate_memory APPEND PROPERTY ENVIRONMENT "KVG_PEAK_RSS=$<TARGET_FILE:peak_rss>")
if(KVG_SANITIZE)
  set_property(TEST test_estimate_memory APPEND PROPERTY ENVIRONMENT "KVG_SANITIZED=1")
endif()
