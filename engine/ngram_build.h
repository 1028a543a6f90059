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

/* The n-grams of one order handed over one at a time, in any order. */
typedef struct kvg_ngram_level_reader {
    /* starts order n (2..N); each order is read once, lowest first */
    int (*open)(void *user, uint32_t n, kvg_error *err);
    /* 1 with the next n-gram (ids in n-gram order, backoff unused at the
     * top), 0 at the end, -1 on error */
    int (*next)(void *user, uint32_t *ids, float *prob, float *backoff, kvg_error *err);
    void *user;
} kvg_ngram_level_reader;

#define KVG_NGRAM_BUILD_INCOMPLETE 1

/* The same tables as kvg_ngram_build (byte for byte), built within a memory
 * budget (ngram_build_stream.c): each order is sorted into trie order with
 * the external sorter, spilling to nameless temporaries in temp_dir past
 * memory bytes, and encoded level by level from those streams. in gives
 * the vocabulary, unigrams and in->levels[n].count (ids and values unused);
 * rd the n-grams. Needs a complete model — every suffix and every prefix of
 * an n-gram is an n-gram, as in Kneser-Ney models and lmplz's pruned ones
 * — and returns KVG_NGRAM_BUILD_INCOMPLETE, having written nothing, when
 * it is not (the caller then uses kvg_ngram_build, which fills the gaps).
 * Memory: memory + about 1.1 MiB + 8 bytes per vocabulary word + 64 KiB
 * per order. */
int kvg_ngram_build_streamed(const kvg_ngram_input *in, const kvg_ngram_level_reader *rd, int quantize, uint64_t memory,
                             const char *temp_dir, kvg_writer *w, const char *where, kvg_error *err);

#endif
