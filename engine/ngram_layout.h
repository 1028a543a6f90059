/* ngram_layout.h — names and widths of the n-gram tables in a .kvg file
 * (format/SPEC.md §8), shared by the builder and the model. */
#ifndef KVG_NGRAM_LAYOUT_H
#define KVG_NGRAM_LAYOUT_H

#include <math.h>
#include <stdio.h>

#include "bitpack.h"

#define NGRAM_KIND "ngram"
#define NGRAM_KEY_ORDER "ngram.order"
#define NGRAM_KEY_COUNTS "ngram.counts"
#define NGRAM_KEY_QUANT "ngram.quantization" /* "none" or "q8" */
#define NGRAM_KEY_BOS "ngram.bos_id"
#define NGRAM_KEY_EOS "ngram.eos_id"
#define NGRAM_KEY_UNK_ADDED "ngram.unk_added" /* 1 when the source had no <unk> */
#define NGRAM_VOCAB_PREFIX "vocab"

/* Quantized value tables hold at most this many centers (NaN included). */
#define NGRAM_Q8_CENTERS 256

/* Tensor name of a part of level n: "ngram.<n>.<part>". */
static inline void ngram_tensor_name(char *buf, size_t cap, unsigned n, const char *part)
{
    snprintf(buf, cap, "ngram.%u.%s", n, part);
}

/* The record of an entry of level n: its fields, in this order, each a
 * packed unsigned integer (bit offsets from the record's start):
 *   word     W = bits(V-1)          n >= 2 (level 1 is indexed by word id)
 *   next     X = bits(count[n+1])   n < N: first child in level n+1
 *   prob     P                      code into NAME_values, or 32 f32 bits
 *   backoff  B                      n < N, likewise
 * Keeping an entry's fields together means the lookup that finds a word has
 * its probability, backoff and child pointers in the same cache line. */
typedef struct ngram_record_layout {
    unsigned word_off, word_bits;
    unsigned next_off, next_bits;
    unsigned prob_off, prob_bits;
    unsigned backoff_off, backoff_bits;
    unsigned record_bits;
} ngram_record_layout;

static inline void ngram_layout_fields(ngram_record_layout *l, unsigned n, unsigned order, uint64_t vocab_size,
                                       uint64_t next_count, unsigned prob_bits, unsigned backoff_bits)
{
    l->word_bits = n >= 2 ? packed_bits_for(vocab_size - 1) : 0;
    l->next_bits = n < order ? packed_bits_for(next_count) : 0;
    l->prob_bits = prob_bits;
    l->backoff_bits = n < order ? backoff_bits : 0;
    l->word_off = 0;
    l->next_off = l->word_bits;
    l->prob_off = l->next_off + l->next_bits;
    l->backoff_off = l->prob_off + l->prob_bits;
    l->record_bits = l->backoff_off + l->backoff_bits;
}

/* u64 words holding n records: the bits rounded up plus one spare word (so
 * an 8-byte load at any field stays inside); 0 when that overflows. */
static inline uint64_t ngram_record_words(const ngram_record_layout *l, uint64_t n)
{
    if (l->record_bits == 0)
        return 1;
    if (n > (UINT64_MAX - 127) / l->record_bits)
        return 0;
    return (n * l->record_bits + 63) / 64 + 1;
}

/* Structural trie nodes (a context an ARPA file lacks but whose extensions
 * it has) are not entries: their probability is stored as NaN. */
static inline int ngram_is_absent(float log10p) { return isnan(log10p); }

#endif
