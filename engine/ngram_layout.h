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

/* Structural trie nodes (a context an ARPA file lacks but whose extensions
 * it has) are not entries: their probability is stored as NaN. */
static inline int ngram_is_absent(float log10p) { return isnan(log10p); }

#endif
