/* tok_ngram.c — a token-level n-gram model paired with a tokenizer (see tok_ngram.h). */
#include <math.h>
#include <string.h>

#include "tok_ngram.h"

/* The first token whose piece differs between a and b, or n when none does. */
static uint32_t first_difference(const kvg_tokenizer *a, const kvg_tokenizer *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        size_t la, lb;
        const char *pa = kvg_tokenizer_piece(a, i, &la), *pb = kvg_tokenizer_piece(b, i, &lb);
        if (la != lb || (la && memcmp(pa, pb, la) != 0))
            return i;
    }
    return n;
}

int kvg_tok_ngram_bind(const kvg_file *f, const kvg_ngram *m, const kvg_tokenizer *tok, uint32_t model_vocab,
                       kvg_tok_ngram *out, kvg_error *err)
{
    const char *path = kvg_path(f);
    uint64_t offset;
    if (!kvg_meta_find(f, "ngram.token_id_offset"))
        return kvg_errorf(err, path, "is a word-level n-gram model (no ngram.token_id_offset); build one over the "
                                     "transformer's tokens with `kvgram ngram build --tokenizer MODEL.kvg`");
    if (kvg_meta_get_u64(f, "ngram.token_id_offset", &offset, err))
        return -1;
    const uint32_t V = kvg_ngram_vocab_size(m);
    const uint32_t n_tok = kvg_tokenizer_n_tokens(tok);
    if (offset < 3 || offset >= V || V - offset != n_tok)
        return kvg_errorf(err, path,
                          "vocabulary does not match the transformer's tokenizer: %u words with token id offset %llu, "
                          "the tokenizer has %u tokens",
                          V, (unsigned long long)offset, n_tok);
    if (n_tok > model_vocab)
        return kvg_errorf(err, path, "the tokenizer's %u tokens exceed the transformer's vocabulary of %u", n_tok,
                          model_vocab);
    if (!kvg_meta_find(f, "tokenizer.n_tokens"))
        return kvg_errorf(err, path, "holds no tokenizer, so its token ids cannot be matched to the transformer's");
    kvg_tokenizer *own;
    if (kvg_tokenizer_open(f, &own, err))
        return -1;
    uint32_t diff = kvg_tokenizer_n_tokens(own) == n_tok ? first_difference(own, tok, n_tok) : 0;
    kvg_tokenizer_free(own);
    if (diff < n_tok)
        return kvg_errorf(err, path, "vocabulary does not match the transformer's tokenizer: token %u differs", diff);
    *out = (kvg_tok_ngram){m, (uint32_t)offset, n_tok};
    return 0;
}

void kvg_tok_ngram_state(const kvg_tok_ngram *t, const uint32_t *hist, size_t n, kvg_ngram_state *st)
{
    /* The state depends on the last order-1 words only (entries are
     * suffix-closed); with fewer, the sentence start is part of it. */
    size_t keep = kvg_ngram_order(t->m) - 1, from = 0;
    if (n > keep) {
        from = n - keep;
        kvg_ngram_null_state(t->m, st);
    } else {
        kvg_ngram_bos_state(t->m, st);
    }
    for (size_t i = from; i < n; i++)
        kvg_ngram_score(t->m, st, hist[i] + t->offset, st, NULL);
}

double kvg_tok_ngram_distribution(const kvg_tok_ngram *t, const kvg_ngram_state *st, float *scratch, double *p)
{
    kvg_ngram_distribution(t->m, st, scratch);
    const float *lg = scratch + t->offset;
    double sum = 0;
    const float ln10 = 2.30258509f;
    for (uint32_t i = 0; i < t->n_tokens; i++) {
        p[i] = expf(ln10 * lg[i]); /* float exp: 1e-7 relative, several times faster than pow */
        sum += p[i];
    }
    if (sum > 0)
        for (uint32_t i = 0; i < t->n_tokens; i++)
            p[i] /= sum;
    return sum;
}
