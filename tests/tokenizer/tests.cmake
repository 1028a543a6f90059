# tests/tokenizer/: byte-level BPE against Hugging Face tokenizers / gpt-3-encoder goldens.
kvg_add_c_test(test_bpe ${CMAKE_CURRENT_LIST_DIR}/test_bpe.c)
# The kvg_tokenizer API: sources and .kvg round trip against the goldens, llama2.c tok.bin, bad files.
kvg_add_c_test(test_tokenizer ${CMAKE_CURRENT_LIST_DIR}/test_tokenizer.c)
# `kvgram tokenize` from the command line.
kvg_add_sh_test(test_tokenize_cli tests/tokenizer/test_tokenize_cli.sh)
