/* radix_sort.h — stable LSD radix sort of fixed-width multi-word keys.
 *
 * An item is w consecutive uint64_t words read as one (64*w)-bit unsigned
 * number, word 0 the most significant. Sorting by a range of its bits lets a
 * caller pack a sort key into the high bits and carry a payload (an index)
 * in the low bits. The n-gram builder sorts millions of packed word-id
 * tuples this way: a few linear passes instead of qsort's n log n calls of a
 * comparator. */
#ifndef KVG_RADIX_SORT_H
#define KVG_RADIX_SORT_H

#include <stdint.h>

/* Sorts the n items of w words in items ascending by bits [lo_bit, hi_bit)
 * (bit 0 the least significant bit of the last word), keeping the order of
 * items whose bits there are equal. tmp is scratch space of n*w words.
 * Returns 0, or -1 when out of memory (for the digit counts; the items are
 * then unchanged). */
int radix_sort(uint64_t *items, uint64_t *tmp, uint64_t n, unsigned w, unsigned lo_bit, unsigned hi_bit);

#endif
