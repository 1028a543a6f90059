/* tokenizer.h — text <-> token ids for every model kvgram runs (contract B).
 *
 * One type for all tokenizers: byte-level BPE (GPT-2, Llama 3, Qwen2,
 * SmolLM, Pythia), SentencePiece-style BPE with byte fallback (Llama 2,
 * TinyLlama, Mistral) and llama2.c's tok.bin. Load one from its source
 * files, store it in a .kvg (format/SPEC.md §10), open it again from there.
 *
 * Ids from kvg_tokenizer_encode are exactly those of the model's own
 * tokenizer (Hugging Face `tokenizers` for a tokenizer.json, llama2.c's
 * encoder for a tok.bin) without special tokens: the caller prepends BOS
 * when kvg_tokenizer_adds_bos says the model expects one.
 *
 * A tokenizer is immutable once made: every function here may run on many
 * threads at once. */
#ifndef KVG_TOKENIZER_H
#define KVG_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_error.h"
#include "kvg_reader.h"
#include "kvg_writer.h"

typedef struct kvg_tokenizer kvg_tokenizer;

#define KVG_TOKEN_NONE UINT32_MAX

/* From a Hugging Face model folder: dir holds tokenizer.json, or GPT-2's
 * vocab.json + merges.txt (each may be gzipped, NAME.gz); dir may also name
 * a tokenizer.json file. BOS/EOS and whether BOS is prepended come from
 * tokenizer.json's post_processor, else tokenizer_config.json / config.json
 * in the same folder. */
int kvg_tokenizer_from_hf(const char *dir, kvg_tokenizer **out, kvg_error *err);

/* From llama2.c's tok.bin (int32 max_token_length, then per token: f32
 * score, i32 length, bytes); vocab_size tokens (the model's). BOS 1, EOS 2,
 * adds_bos 1, as llama2.c runs it. */
int kvg_tokenizer_from_llama2c(const char *tok_bin, uint32_t vocab_size, kvg_tokenizer **out, kvg_error *err);

/* A synthetic byte-level BPE tokenizer of n_tokens ids (257 .. 65793), for
 * benchmark models with no real vocabulary (tokenizer_synth.c): ids 0..255
 * the bytes, then two-byte merges, last "<|endoftext|>" (BOS = EOS, not
 * prepended). */
int kvg_tokenizer_synthetic(uint32_t n_tokens, kvg_tokenizer **out, kvg_error *err);

/* Adds the tokenizer's tokenizer.* metadata and tensors to a file being written. */
int kvg_tokenizer_write(const kvg_tokenizer *t, kvg_writer *w, kvg_error *err);

/* From a .kvg holding tokenizer.* entries (copies what it needs: f may be
 * closed afterwards). */
int kvg_tokenizer_open(const kvg_file *f, kvg_tokenizer **out, kvg_error *err);

void kvg_tokenizer_free(kvg_tokenizer *t);

/* Number of token ids (ids are 0 .. n-1; the model's vocab_size may be larger). */
uint32_t kvg_tokenizer_n_tokens(const kvg_tokenizer *t);
/* Beginning / end of sequence ids, or KVG_TOKEN_NONE. */
uint32_t kvg_tokenizer_bos(const kvg_tokenizer *t);
uint32_t kvg_tokenizer_eos(const kvg_tokenizer *t);
/* 1 when the model expects BOS prepended when scoring or generating. */
int kvg_tokenizer_adds_bos(const kvg_tokenizer *t);

/* Encodes text[0..len) (any bytes; invalid UTF-8 is handled as the model's
 * tokenizer handles it) to ids, without BOS/EOS. *ids is malloc'd (the
 * caller frees it; NULL when *n is 0 is possible). Returns 0, or -1 with err set. */
int kvg_tokenizer_encode(const kvg_tokenizer *t, const char *text, size_t len, uint32_t **ids, size_t *n,
                         kvg_error *err);

/* The bytes of one token for display (byte-fallback tokens as their one raw
 * byte, SentencePiece's "▁" as a space); NULL with *len 0 for an unknown id. */
const char *kvg_tokenizer_piece(const kvg_tokenizer *t, uint32_t id, size_t *len);

/* Decodes ids as the model's decoder does: BOS/EOS render as nothing, byte
 * fallback pieces become raw bytes, SentencePiece's leading space is
 * stripped. *out is malloc'd and NUL-terminated (*len excludes the NUL);
 * it may be invalid UTF-8 when the ids end inside a character. */
int kvg_tokenizer_decode(const kvg_tokenizer *t, const uint32_t *ids, size_t n, char **out, size_t *len,
                         kvg_error *err);

#endif
