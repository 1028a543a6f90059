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

/* Entries are stored in blocks of NGRAM_BLOCK consecutive entries. Block b
 * of level n has a header in ngram.<n>.blocks (fixed-width fields, packed):
 *   pos    bits(8 * size of ngram.<n>.records)   bit offset of the block's data
 *   kbits  6                                     width of the block's keys
 *   cbits  6                                     width of its child offsets (0 at the top)
 *   first  bits(count[n+1])  (n < N)             first child of the block's first entry
 * and one sentinel header after the last block (pos = end of the data,
 * kbits = cbits = 0, first = count[n+1]). The block's data in
 * ngram.<n>.records, for its m entries (NGRAM_BLOCK, fewer in the last
 * block), is
 *   m keys of kbits bits, then m records: (prob code, backoff code (n < N),
 *   child offset of cbits bits (n < N)); the offset of entry r is where
 *   its children end (those of entry r+1 start), relative to first; the
 *   children of entry 0 start at first.
 * ngram.<n>.first_keys (u16, or u32 when a value needs it) holds the key of
 * every block's first entry, for the search across the blocks of a run.
 * A key is the word id at level 2 and, at level n >= 3, the rank of the
 * entry's suffix (its last n-1 words) among that suffix's siblings in
 * level n-1: the scorer has that rank from the previous level's lookup, and
 * ranks are much smaller than word ids. Keys and child offsets per block
 * take only the width the block's largest value needs; the entry that a
 * lookup finds has its key in one cache line and its values and child range
 * in one record. */
#define NGRAM_BLOCK_LOG 5
#define NGRAM_BLOCK (1u << NGRAM_BLOCK_LOG)
#define NGRAM_WIDTH_BITS 6 /* kbits and cbits */
#define NGRAM_MAX_KBITS 32
#define NGRAM_MAX_CBITS 48

typedef struct ngram_header_layout {
    unsigned pos_bits, first_bits, bits; /* kbits at pos_bits, cbits after it, then first */
} ngram_header_layout;

static inline void ngram_header_fields(ngram_header_layout *h, uint64_t records_words, int has_next,
                                       uint64_t next_count)
{
    h->pos_bits = packed_bits_for(records_words * 64);
    h->first_bits = has_next ? packed_bits_for(next_count) : 0;
    h->bits = h->pos_bits + 2 * NGRAM_WIDTH_BITS + h->first_bits;
}

static inline uint64_t ngram_blocks(uint64_t count) { return (count + NGRAM_BLOCK - 1) / NGRAM_BLOCK; }

/* u64 words for n_bits of packed data plus one spare word, so that an
 * 8-byte load at any field stays inside. */
static inline uint64_t ngram_packed_words(uint64_t n_bits) { return (n_bits + 63) / 64 + 1; }

/* Structural trie nodes (a context an ARPA file lacks but whose extensions
 * it has) are not entries: their probability is stored as NaN. */
static inline int ngram_is_absent(float log10p) { return isnan(log10p); }

#endif
