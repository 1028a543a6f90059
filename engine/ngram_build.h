/* ngram_build.h — turn a set of n-grams with log10 probabilities and
 * backoffs into the trie tables of a .kvg file (see ngram.h).
 *
 * The caller (an ARPA converter, an estimator) fills a kvg_ngram_input with
 * the vocabulary and, per order, the n-grams as word-id tuples in any order.
 * The builder sorts them, refuses duplicates, fills in the entries KenLM
 * fills in (missing suffixes of n-grams become entries whose probability is
 * what back-off gives; missing contexts become structural nodes), links the
 * levels, optionally quantizes, and writes metadata and tensors. */
#ifndef KVG_NGRAM_BUILD_H
#define KVG_NGRAM_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_error.h"
#include "kvg_writer.h"
#include "ngram.h"

typedef struct kvg_ngram_order_input {
    uint64_t count;   /* n-grams of this order */
    uint32_t *ids;    /* count * n word ids, one n-gram after another (the builder reorders them) */
    float *prob;      /* count log10 probabilities */
    float *backoff;   /* count log10 backoffs; NULL for the highest order */
} kvg_ngram_order_input;

typedef struct kvg_ngram_input {
    uint32_t order;
    uint32_t vocab_size;
    const char *const *words;  /* words[id], id 0 being <unk> */
    const size_t *word_lens;
    uint32_t bos_id, eos_id;
    int unk_added;             /* the source had no <unk>; recorded in the metadata */
    float *unigram_prob;       /* [vocab_size], by id */
    float *unigram_backoff;    /* [vocab_size], by id; unused when order == 1 */
    kvg_ngram_order_input levels[KVG_NGRAM_MAX_ORDER + 1]; /* levels[2..order] */
    /* Called between phases with a short description (may be NULL). */
    void (*progress)(void *user, const char *phase);
    void *progress_user;
} kvg_ngram_input;

/* Builds and writes the model into w (metadata and tensors; the caller adds
 * general.source and finishes the writer). quantize: 0 for exact f32, 8 for
 * 8-bit codes of probabilities and backoffs (orders >= 2). The builder takes
 * over in->levels[n].ids, .prob and .backoff (malloc'd by the caller): it
 * frees them as soon as it has copied them, and sets them to NULL. The
 * vocabulary and unigram arrays stay the caller's. where names the source in
 * errors. */
int kvg_ngram_build(kvg_ngram_input *in, int quantize, kvg_writer *w, const char *where, kvg_error *err);

#endif
