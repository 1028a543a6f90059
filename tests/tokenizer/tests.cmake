# tests/tokenizer/: byte-level BPE against Hugging Face tokenizers / gpt-3-encoder goldens.
kvg_add_c_test(test_bpe ${CMAKE_CURRENT_LIST_DIR}/test_bpe.c)
