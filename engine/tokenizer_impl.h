/* tokenizer_impl.h — what a kvg_tokenizer holds; shared by the files that
 * make one (tokenizer_hf.c, tokenizer_llama2c.c, tokenizer_store.c) and
 * tokenizer.c. Not a public header. */
#ifndef KVG_TOKENIZER_IMPL_H
#define KVG_TOKENIZER_IMPL_H

#include "bpe.h"
#include "tokenizer.h"

/* How ids become text (the model's decoder). */
typedef enum tok_decoder {
    TOK_DECODE_BYTES = 0,       /* the tokens' raw bytes, concatenated (byte-level BPE) */
    TOK_DECODE_SENTENCEPIECE = 1, /* "▁" -> " ", "<0xXX>" -> byte XX, one leading space stripped */
    TOK_DECODE_METASPACE = 2     /* "▁" -> " ", one leading space stripped (HF Metaspace decoder) */
} tok_decoder;

struct kvg_tokenizer {
    bpe_config cfg; /* owned: every array and string malloc'd (tok_config_free); what is stored */
    bpe *bpe;       /* built from cfg */
    uint32_t bos, eos; /* KVG_TOKEN_NONE when the model has none */
    int adds_bos;
    tok_decoder decoder;
    uint32_t *piece_off; /* n_tokens + 1 offsets into pieces: each token's display bytes */
    char *pieces;
};

/* Frees everything a bpe_config built by a loader owns (not cfg itself). */
void tok_config_free(bpe_config *cfg);

/* Takes ownership of *cfg (zeroing it), builds the bpe and the display
 * pieces; on failure frees all and returns -1. WHERE names the source. */
int tok_create(bpe_config *cfg, uint32_t bos, uint32_t eos, int adds_bos, tok_decoder decoder, const char *where,
               kvg_tokenizer **out, kvg_error *err);

#endif
