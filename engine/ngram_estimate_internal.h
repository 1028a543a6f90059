/* ngram_estimate_internal.h — what the estimation stages hand each other
 * (see ngram_estimate.h for the pipeline). Not a public header. */
#ifndef KVG_NGRAM_ESTIMATE_INTERNAL_H
#define KVG_NGRAM_ESTIMATE_INTERNAL_H

#include "ngram_estimate.h"

/* A counted window, packed for radix sorting: key word j holds reversed ids
 * r[2j] (high 32 bits) and r[2j+1] (low 32 bits; 0 past the order); the
 * last word is the count. Items compare as big numbers = suffix order. */
static inline unsigned est_key_words(uint32_t order) { return (order + 1) / 2; }

static inline uint32_t est_item_id(const uint64_t *item, uint32_t j)
{
    return (uint32_t)(item[j / 2] >> ((j & 1) ? 0 : 32));
}

/* Packs k ids into the first est_key_words(k) words of item (zeroing them). */
static inline void est_item_pack(uint64_t *item, const uint32_t *ids, uint32_t k)
{
    for (uint32_t j = 0; j < est_key_words(k); j++)
        item[j] = 0;
    for (uint32_t j = 0; j < k; j++)
        item[j / 2] |= (uint64_t)ids[j] << ((j & 1) ? 0 : 32);
}

/* The effective length of a counted window of the given order: up to and
 * including its first <s> (reversed: the oldest padding), or the whole
 * window (see ngram_estimate_adjust.c). */
static inline uint32_t est_window_len(const uint64_t *item, uint32_t order)
{
    for (uint32_t j = 0; j < order; j++)
        if (est_item_id(item, j) == KVG_EST_BOS)
            return j + 1;
    return order;
}

/* Record reads and writes of one thread's temporaries: without stdio's
 * lock, which costs more than copying a record (GNU C library). */
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
#define EST_FREAD fread_unlocked
#define EST_FWRITE fwrite_unlocked
#else
#define EST_FREAD fread
#define EST_FWRITE fwrite
#endif

/* ---- external sorting (ngram_estimate_sort.c) ----
 * Records are w uint64_t words whose first kw words are the key, compared
 * as one big unsigned number. Temporary files are unlinked as soon as they
 * are created, so an interrupted run leaves nothing behind. */
#define EST_MAX_WORDS 12 /* widest record: 8 key words (16 ids) + 4 */

/* A fresh nameless temporary file in dir (read/write, 64 KiB buffer). */
FILE *est_temp_file(const char *dir, kvg_error *err);

/* A sequence of records in a temporary file, written then read back
 * (possibly several times). */
typedef struct est_stream {
    FILE *f;
    unsigned w;
    uint64_t n, left;
    const char *dir;   /* for errors */
} est_stream;

int est_stream_open(est_stream *s, unsigned w, const char *dir, kvg_error *err);
int est_stream_put(est_stream *s, const uint64_t *rec, kvg_error *err);
/* Flushes what was written and starts reading from the first record. */
int est_stream_rewind(est_stream *s, kvg_error *err);
/* 1 with the next record in rec, 0 at the end, -1 on a read error. */
int est_stream_get(est_stream *s, uint64_t *rec, kvg_error *err);
void est_stream_close(est_stream *s);

/* Sorted runs (each a stream whose keys ascend) merged into one ascending
 * sequence; with combine, records with equal keys become one whose last
 * word is the sum of theirs (counts). Holds one read buffer per run; when
 * more runs than memory allows buffers for, groups of them are first
 * merged into longer runs. */
typedef struct est_merger est_merger;
int est_merger_open(est_stream *runs, size_t n_runs, unsigned kw, int combine, uint64_t memory, const char *dir,
                    est_merger **out, kvg_error *err); /* takes the runs, also on failure */
/* 1 with *rec pointing at the next record (valid until the next call), 0 at the end, -1 on error. */
int est_merger_next(est_merger *m, const uint64_t **rec, kvg_error *err);
void est_merger_free(est_merger *m);

/* Records added in any order (keys unique), read back in key order: kept
 * in a buffer of at most memory bytes (records and radix-sort scratch),
 * spilled as sorted runs and merged when they do not fit. */
typedef struct est_sorter est_sorter;
int est_sorter_new(unsigned w, unsigned kw, uint64_t memory, const char *dir, est_sorter **out, kvg_error *err);
/* Room for the next record (w words), or NULL on error. */
uint64_t *est_sorter_slot(est_sorter *s, kvg_error *err);
int est_sorter_finish(est_sorter *s, kvg_error *err);
int est_sorter_next(est_sorter *s, const uint64_t **rec, kvg_error *err);
void est_sorter_free(est_sorter *s);

/* The counted corpus: distinct order-N windows, sorted, with their counts. */
typedef struct est_counts {
    uint32_t order;
    unsigned words_per_item;   /* est_key_words(order) + 1 */
    uint64_t n;
    uint64_t *items;           /* n * words_per_item */
    uint32_t vocab_size;
    char **words;              /* by id; <unk>, <s>, </s> first */
    size_t *word_lens;
    uint64_t tokens;
    /* When the windows did not fit the memory budget (items is NULL): they
     * come sorted and distinct from this merger instead. */
    est_merger *stream;
    uint64_t memory;           /* the -S budget, bytes */
    char *temp_dir;
} est_counts;

/* Stage 1 → 2: finishes counting (merging spilled runs), frees c. */
int est_counter_finish(kvg_ngram_counter *c, est_counts *out, kvg_error *err);
void est_counts_free(est_counts *f);

/* One order after adjusting: every k-gram the corpus has (pruned ones
 * included, marked), reversed, in suffix order. */
typedef struct est_level {
    uint64_t n;
    uint32_t *ids;      /* n * k */
    uint64_t *adj;      /* Kneser-Ney adjusted count (the raw count for the highest
                           order and for n-grams that start with <s>) */
    uint64_t *raw;      /* times seen (pruning looks at this) */
    uint32_t *suffix;   /* k >= 2: index at level k-1 of the n-gram without its first word */
    uint8_t *pruned;
} est_level;

typedef struct est_adjusted {
    uint32_t order;
    est_level levels[KVG_NGRAM_MAX_ORDER + 1];
    float discount[KVG_NGRAM_MAX_ORDER + 1][4];
} est_adjusted;

/* Stage 2: adjusted counts and discounts (discounts only for KN). Frees
 * the windows of f as soon as it can. */
int est_adjust(est_counts *f, const kvg_ngram_estimate_options *opt, const char *where, est_adjusted *out,
               kvg_error *err);
void est_adjusted_free(est_adjusted *a);

/* Discounts of the k-grams from their counts of counts nc[1..4] (KN), or
 * the fallback when allowed; -1 with err set when they cannot be had. */
int est_discounts(const uint64_t nc[5], uint32_t k, const kvg_ngram_estimate_options *opt, const char *where,
                  float d[4], kvg_error *err);

/* Whether unigram id with raw count raw is pruned at threshold limit. */
static inline int est_unigram_pruned(uint32_t id, uint64_t raw, uint64_t limit)
{
    return raw <= limit && !(id <= KVG_EST_EOS || raw == 0);
}

/* Interpolated probabilities (not logs) of all unigrams of l1 (pruned ones
 * included) into p[l1->n]; -1 when the corpus has no words. */
int est_unigram_probs(const est_level *l1, const float d1[4], const kvg_ngram_estimate_options *opt, double *p,
                      kvg_error *err);

/* log10 of a probability as written: -100 for 0, capped at 0. */
float est_to_log10(double p);

/* Stage 3: probabilities and backoffs of the kept n-grams into m (whose
 * order, vocabulary and tokens the caller has set). */
int est_probabilities(const est_adjusted *a, const kvg_ngram_estimate_options *opt, kvg_ngram_estimate *m,
                      kvg_error *err);

/* Stages 2 and 3 over sorted streams, for windows that did not fit in
 * memory (f->stream): fills m's levels (unigrams in memory, higher orders
 * as streams), discounts and m->remap. Memory: f->memory plus the
 * vocabulary (ngram_estimate_stream.c). */
int est_stream_estimate(est_counts *f, const kvg_ngram_estimate_options *opt, const char *where,
                        kvg_ngram_estimate *m, kvg_error *err);

/* A streamed level's final record: the key (k reversed ids), then log10
 * prob and backoff as the high and low 32 bits of one word. */
static inline unsigned est_final_words(uint32_t k) { return est_key_words(k) + 1; }

#endif
