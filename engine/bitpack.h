/* bitpack.h — unsigned integer fields packed into a little-endian bit stream.
 *
 * The n-gram blocks store keys, child offsets and value codes with just
 * as many bits as the largest value needs (KenLM's trie does the same). A
 * field is read with one unaligned 8-byte load, so widths are 0..57 bits and
 * the stream needs 8 readable bytes past its last field (each packed tensor
 * keeps a spare u64 word for that, see ngram_layout.h). */
#ifndef KVG_BITPACK_H
#define KVG_BITPACK_H

#include <stdint.h>
#include <string.h>

/* Bits needed to store every value in 0..max_value (at least 1). */
static inline unsigned packed_bits_for(uint64_t max_value)
{
    unsigned b = 1;
    while (b < 64 && (max_value >> b))
        b++;
    return b;
}

/* A field of width bits (0..57) at any bit position. */
static inline uint64_t bits_get(const uint8_t *base, uint64_t bitpos, unsigned bits)
{
    uint64_t w;
    memcpy(&w, base + (bitpos >> 3), 8);
    return (w >> (bitpos & 7)) & ((UINT64_C(1) << bits) - 1);
}

/* Writing: base must be zeroed first; v must fit in the field's width. */
static inline void bits_set(uint8_t *base, uint64_t bitpos, uint64_t v)
{
    uint64_t w;
    memcpy(&w, base + (bitpos >> 3), 8);
    w |= v << (bitpos & 7);
    memcpy(base + (bitpos >> 3), &w, 8);
}

#endif
