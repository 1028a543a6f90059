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

/* Stage 3: probabilities and backoffs of the kept n-grams into m (whose
 * order, vocabulary and tokens the caller has set). */
int est_probabilities(const est_adjusted *a, const kvg_ngram_estimate_options *opt, kvg_ngram_estimate *m,
                      kvg_error *err);

#endif
