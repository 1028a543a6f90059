/* bitpack.h — arrays of fixed-width unsigned integers packed into bits.
 *
 * The n-gram tables store word ids and child pointers with just as many bits
 * as the largest value needs (KenLM's trie does the same). Element i of a
 * packed array of width b occupies bits [i*b, i*b + b) of the little-endian
 * byte stream. A packed array of n elements takes packed_words(n, b) u64
 * words: the bits, rounded up, plus one spare word so that a 64-bit load at
 * the last element never reads past the tensor. Widths are 1..57 bits. */
#ifndef KVG_BITPACK_H
#define KVG_BITPACK_H

#include <stdint.h>
#include <string.h>

#define KVG_PACKED_MAX_BITS 57

/* Bits needed to store every value in 0..max_value (at least 1). */
static inline unsigned packed_bits_for(uint64_t max_value)
{
    unsigned b = 1;
    while (b < 64 && (max_value >> b))
        b++;
    return b;
}

/* u64 words needed for n elements of width bits, or 0 if that overflows. */
static inline uint64_t packed_words(uint64_t n, unsigned bits)
{
    if (n > (UINT64_MAX - 127) / bits)
        return 0;
    return (n * bits + 63) / 64 + 1;
}

static inline uint64_t packed_get(const uint8_t *base, unsigned bits, uint64_t i)
{
    uint64_t bit = i * bits, w;
    memcpy(&w, base + (bit >> 3), 8); /* little-endian hosts only, like the whole format */
    return (w >> (bit & 7)) & ((UINT64_C(1) << bits) - 1);
}

/* A field of width bits at any bit position (records of several fields). */
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

/* Writing: base must be zeroed first; elements may be set in any order. */
static inline void packed_set(uint8_t *base, unsigned bits, uint64_t i, uint64_t v)
{
    uint64_t bit = i * bits, w;
    memcpy(&w, base + (bit >> 3), 8);
    w |= v << (bit & 7);
    memcpy(base + (bit >> 3), &w, 8);
}

#endif
