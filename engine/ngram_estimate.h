/* ngram_estimate.h — estimate an n-gram model from text, as KenLM's lmplz does.
 *
 * The pipeline, one stage per file:
 *   ngram_estimate_count.c   sentences in, words numbered (<unk> 0, <s> 1, </s> 2,
 *                            then first appearance), order-N windows counted in a
 *                            memory budget; sorted runs spill to unlinked temporary
 *                            files and are merged
 *   ngram_estimate_adjust.c  Kneser-Ney adjusted counts of every order, pruning
 *                            marks, counts of counts and the discounts D1, D2, D3+
 *   ngram_estimate_prob.c    interpolated modified Kneser-Ney (or maximum
 *                            likelihood) log10 probabilities and backoffs
 *   ngram_estimate_stream.c  stages 2 and 3 as merges over sorted streams
 *                            when the counted n-grams exceed the budget
 *   ngram_estimate_sort.c    the external sorter and temporary streams
 *   ngram_estimate_output.c  the result as ARPA text or as a kvg_ngram_input for
 *                            ngram_build
 *
 * Sentences are padded like lmplz pads them: order-1 <s> before the first word
 * and </s> after the last, so "<s> w" is a bigram and nothing precedes <s>.
 * Every n-gram is held reversed (last word first): suffix order, in which lmplz
 * writes its ARPA sections, is then plain lexicographic order, and the suffix
 * an n-gram backs off to is a prefix of it. */
#ifndef KVG_NGRAM_ESTIMATE_H
#define KVG_NGRAM_ESTIMATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kvg_error.h"
#include "ngram_build.h"

#define KVG_EST_UNK 0u
#define KVG_EST_BOS 1u
#define KVG_EST_EOS 2u

/* ---- counting ---- */

typedef struct kvg_ngram_count_options {
    uint32_t order;          /* 1..KVG_NGRAM_MAX_ORDER */
    uint64_t memory;         /* the budget, bytes: the window buffer while counting, the sorters
                                after; beyond it sorted runs spill and the later stages stream
                                (ngram_estimate_stream.c) */
    const char *temp_dir;    /* where runs spill (files are unlinked at once); NULL: $TMPDIR or /tmp */
    int skip_symbols;        /* 1: <s>, </s>, <unk> in the text are dropped; 0: refused (lmplz) */
} kvg_ngram_count_options;

typedef struct kvg_ngram_counter kvg_ngram_counter;

int kvg_ngram_counter_new(const kvg_ngram_count_options *opt, kvg_ngram_counter **out, kvg_error *err);

/* Adds one sentence: words separated by spaces, tabs, '\r' or NUL (lmplz's
 * delimiters). Any other bytes, invalid UTF-8 included, are part of words.
 * where/line name the source in errors. */
int kvg_ngram_counter_add_line(kvg_ngram_counter *c, const char *text, size_t len, const char *where, uint64_t line,
                               kvg_error *err);

/* Token-level counting: the vocabulary is the n_tokens ids of a tokenizer,
 * token t being word id t + 3 (after <unk>, <s>, </s>) and named by its
 * decimal id; tokens the text never uses are unigrams with count 0, so the
 * model's distributions cover the tokenizer's whole vocabulary. Call once,
 * before any add_ids; add_line may not be mixed in. */
#define KVG_EST_TOKEN_OFFSET 3u
int kvg_ngram_counter_set_tokens(kvg_ngram_counter *c, uint32_t n_tokens, kvg_error *err);

/* Adds one sentence of token ids (each < n_tokens). */
int kvg_ngram_counter_add_ids(kvg_ngram_counter *c, const uint32_t *ids, size_t n, const char *where, uint64_t line,
                              kvg_error *err);

/* Tokens and sentences seen so far, runs spilled (for progress). */
void kvg_ngram_counter_stats(const kvg_ngram_counter *c, uint64_t *tokens, uint64_t *sentences, uint64_t *runs);

void kvg_ngram_counter_free(kvg_ngram_counter *c);

/* ---- estimation ---- */

typedef enum { KVG_SMOOTH_KN = 0, KVG_SMOOTH_MLE = 1 } kvg_smoothing;

typedef struct kvg_ngram_estimate_options {
    kvg_smoothing smoothing;
    uint64_t prune[KVG_NGRAM_MAX_ORDER]; /* prune[k-1]: drop k-grams seen <= this often (0: keep all) */
    int discount_fallback;               /* use fallback[] where the closed form fails */
    float fallback[4];                   /* fallback[1..3]: D1, D2, D3+ */
    /* Called between phases with a short description (may be NULL). */
    void (*progress)(void *user, const char *phase);
    void *progress_user;
} kvg_ngram_estimate_options;

/* One order of the estimated model: the kept n-grams in lmplz's ARPA order. */
typedef struct kvg_est_order {
    uint64_t n;
    uint32_t *ids;      /* n * k word ids, each n-gram reversed (last word first) */
    float *prob;        /* log10 */
    float *backoff;     /* log10; NULL for the highest order */
    /* Estimated beyond the memory budget (orders >= 2): ids, prob and backoff
     * are NULL and the n n-grams are records in this nameless temporary file
     * instead (layout in ngram_estimate_internal.h); the writers read it. */
    FILE *file;
} kvg_est_order;

typedef struct kvg_ngram_estimate {
    uint32_t order;
    uint32_t vocab_size;        /* kept words; ids are 0..vocab_size-1 */
    char **words;               /* words[id] (NUL-terminated; may hold any bytes but delimiters) */
    size_t *word_lens;
    uint64_t tokens;            /* words read, </s> excluded (lmplz's "Unigram tokens") */
    float discount[KVG_NGRAM_MAX_ORDER + 1][4]; /* discount[k][1..3] for k-grams (KN) */
    kvg_est_order levels[KVG_NGRAM_MAX_ORDER + 1]; /* levels[1..order] */
    uint32_t *remap;            /* ids in files -> ids of words[] when unigrams were pruned, else NULL */
} kvg_ngram_estimate;

/* Runs the estimation over everything counted by c, which it consumes (c is
 * freed, also on failure). where names the corpus in errors (e.g. the
 * message when the discounts cannot be estimated). */
int kvg_ngram_estimate_run(kvg_ngram_counter *c, const kvg_ngram_estimate_options *opt, const char *where,
                           kvg_ngram_estimate **out, kvg_error *err);

/* Writes the model as ARPA text to f (lmplz's layout and order). Returns 0,
 * or -1 if a write failed (errno set). */
int kvg_ngram_estimate_write_arpa(const kvg_ngram_estimate *m, FILE *f);

/* Fills in for ngram_build: vocabulary, unigrams and, per order, copies of
 * the n-grams in reading order. The vocabulary and unigram arrays point into
 * m (keep it alive); in->levels[] are malloc'd for the builder to take. */
int kvg_ngram_estimate_to_input(const kvg_ngram_estimate *m, kvg_ngram_input *in, kvg_error *err);

typedef struct kvg_ngram_kvg_options {
    int quantize;          /* 0 or 8 (see kvg_ngram_build) */
    uint64_t memory;       /* the budget, bytes (the -S of the estimation) */
    const char *temp_dir;  /* NULL: $TMPDIR or /tmp */
    int in_memory;         /* 1: hold the whole model (kvg_ngram_build), for comparison */
    void (*progress)(void *user, const char *phase);
    void *progress_user;
} kvg_ngram_kvg_options;

/* Writes the model's tables into w (metadata and tensors, as
 * kvg_ngram_build) within opt->memory: with kvg_ngram_build, which holds the
 * model, when it fits (the estimate's levels in memory plus
 * KVG_NGRAM_BUILD_BYTES_PER_NGRAM per n-gram: the copies it takes and its
 * sorts and tables, about 40 bytes measured on kjv order 5, with margin),
 * else streamed through sorted temporaries (kvg_ngram_build_streamed), the
 * same file. A model with gaps to fill (which lmplz-like estimation does
 * not make) also goes to kvg_ngram_build. */
#define KVG_NGRAM_BUILD_BYTES_PER_NGRAM 96u
int kvg_ngram_estimate_write_kvg(const kvg_ngram_estimate *m, const kvg_ngram_kvg_options *opt, kvg_writer *w,
                                 const char *where, kvg_error *err);

/* Frees what to_input allocated and the builder did not take (unigrams). */
void kvg_ngram_estimate_input_free(kvg_ngram_input *in);

void kvg_ngram_estimate_free(kvg_ngram_estimate *m);

#endif
