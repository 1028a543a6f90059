/* ngram_build_encode.h — the one encoder of n-gram levels into .kvg tensors
 * (format/SPEC.md §8, ngram_layout.h), shared by the in-memory builder
 * (ngram_build.c: ARPA files, blank filling) and the streamed one
 * (ngram_build_stream.c: estimator output within the memory budget).
 *
 * Both hand a level over through small pull interfaces that can be rewound,
 * so the encoder never needs a level in memory: the value columns as their
 * values in ascending order, the entries in trie order. A change to the
 * layout is made here (and in ngram.c, SPEC §8, kvg_ngram_check), once for
 * both builders. Not a public header. */
#ifndef KVG_NGRAM_BUILD_ENCODE_H
#define KVG_NGRAM_BUILD_ENCODE_H

#include <stdint.h>

#include "kvg_error.h"
#include "kvg_writer.h"
#include "ngram_build.h"

/* Floats in a total order of their bits (-0 before +0, NaN last), so that
 * exact tables keep every bit pattern distinct. */
uint32_t ngram_order_key(float x);
float ngram_from_order_key(uint32_t k);

/* A value column sorted by ngram_order_key, equal keys by ascending entry
 * index (a stable sort). */
typedef struct ngram_sorted_values {
    int (*rewind)(void *user, kvg_error *err);
    /* 1 with the next value and the index of its entry, 0 at the end, -1 on error */
    int (*next)(void *user, float *value, uint64_t *index, kvg_error *err);
    void *user;
} ngram_sorted_values;

/* Where an encoded column goes: the code of every entry (any order), and
 * the value table in ascending code order (n_table values, i = 0, 1, …). */
typedef struct ngram_column_sink {
    int (*code)(void *user, uint64_t index, uint32_t code, kvg_error *err);
    int (*table)(void *user, uint64_t i, uint64_t n_table, float value, kvg_error *err);
    void *user;
} ngram_column_sink;

/* bits: the width of the column's codes; plain (bits 32, no table): the
 * codes are the f32 bit patterns, and nothing went to the sink. */
typedef struct ngram_column_plan {
    unsigned bits;
    int plain;
    uint64_t n_table;
} ngram_column_plan;

/* Encodes a column of count values of level n: quantize 0 (exact: a table
 * of the distinct values, or plain when that is smaller) or 8 (a codebook
 * of at most 256 centers). NaN, a structural node, is the table's last
 * value. Reads the values two or three times. */
int ngram_encode_column(unsigned n, uint64_t count, int quantize, const ngram_sorted_values *src,
                        const ngram_column_sink *sink, ngram_column_plan *plan, kvg_error *err);

/* One entry of a level n >= 2 in trie order: its key (ngram_layout.h),
 * value codes (the backoff's only below the top) and its number of
 * children in level n + 1. */
typedef struct ngram_entry {
    uint32_t key;
    uint32_t prob, backoff;
    uint64_t children;
} ngram_entry;

typedef struct ngram_entries {
    int (*rewind)(void *user, kvg_error *err);
    /* 1 with the next entry, 0 at the end, -1 on error */
    int (*next)(void *user, ngram_entry *e, kvg_error *err);
    void *user;
} ngram_entries;

/* Writes ngram.<n>.blocks, ngram.<n>.records and ngram.<n>.first_keys for
 * the count entries of level n (top: n is the model's order; else the
 * entries have n_children children in all). prob_bits / backoff_bits: the
 * code widths. Reads the entries four times, holding one block. */
int ngram_write_blocks(kvg_writer *w, unsigned n, uint64_t count, int top, uint64_t n_children, unsigned prob_bits,
                       unsigned backoff_bits, const ngram_entries *src, const char *where, kvg_error *err);

/* Writes ngram.<n>.<part>_values (f32 [n]) from a table held in memory. */
int ngram_write_table(kvg_writer *w, unsigned n, const char *part, const float *table, uint64_t n_table,
                      kvg_error *err);

/* Writes ngram.1.unigrams from the input's unigram columns and the first
 * child in level 2 of every word (first_child[0..V], NULL when order 1). */
int ngram_write_unigrams(kvg_writer *w, const kvg_ngram_input *in, const uint64_t *first_child, uint64_t count2,
                         const char *where, kvg_error *err);

/* Writes the model's metadata and vocabulary; counts[n-1]: entries of level n. */
int ngram_write_meta(kvg_writer *w, const kvg_ngram_input *in, const uint64_t *counts, int quantize, kvg_error *err);

#endif
