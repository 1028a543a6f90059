/* tok_ngram.h — a token-level n-gram model paired with a transformer's
 * tokenizer (contract M).
 *
 * `kvgram ngram build --tokenizer` stores token t as n-gram word
 * t + offset (offset = metadata ngram.token_id_offset; today 3, after
 * <unk> <s> </s>) and stores the tokenizer in the .kvg. Binding checks
 * that this tokenizer is the transformer's, token by token, so ids mean the
 * same thing on both sides. Sentences are wrapped in <s> ... </s> as the
 * model was counted: a text's first token is predicted after <s>. */
#ifndef KVG_TOK_NGRAM_H
#define KVG_TOK_NGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_error.h"
#include "kvg_reader.h"
#include "ngram.h"
#include "tokenizer.h"

typedef struct kvg_tok_ngram {
    const kvg_ngram *m;
    uint32_t offset;   /* n-gram word id = token id + offset */
    uint32_t n_tokens; /* token ids 0 .. n_tokens-1 */
} kvg_tok_ngram;

/* Pairs m (opened from f) with tokenizer tok of a transformer whose logits
 * cover model_vocab ids. Refuses, naming f, a word-level model (no
 * ngram.token_id_offset), a model without a stored tokenizer, and one whose
 * tokenizer or vocabulary size differs from tok's (or exceeds model_vocab). */
int kvg_tok_ngram_bind(const kvg_file *f, const kvg_ngram *m, const kvg_tokenizer *tok, uint32_t model_vocab,
                       kvg_tok_ngram *out, kvg_error *err);

/* The model's state after <s> and the tokens hist[0..n) (token ids): the
 * same state scoring them one by one from <s> gives, from at most the last
 * order-1 tokens. */
void kvg_tok_ngram_state(const kvg_tok_ngram *t, const uint32_t *hist, size_t n, kvg_ngram_state *st);

/* The next-token distribution over token ids, p[0..n_tokens) (probabilities,
 * not logs), renormalized over the tokens: the mass the model gives </s>,
 * <unk> and <s> is left out, since a transformer has no such outcomes.
 * scratch holds kvg_ngram_vocab_size floats. Returns the token mass before
 * renormalizing (0 when there is none: then p is all 0). */
double kvg_tok_ngram_distribution(const kvg_tok_ngram *t, const kvg_ngram_state *st, float *scratch, double *p);

#endif
