/* radix_sort.c — LSD radix sort of multi-word items (see radix_sort.h).
 *
 * A first read stops at the first pair out of order: input in order
 * already (ARPA files often are, in some order) costs just that read.
 * Otherwise one read counts the digits of every pass, and each pass
 * scatters the items by one digit, least significant first, from one
 * buffer to the other. Passes whose digit is the same for every item are
 * skipped. */
#include "radix_sort.h"

#include <stdlib.h>
#include <string.h>

/* Digits of at most 11 bits: the 2048 write positions of a pass stay in
 * cache while the items are scattered. */
#define MAX_DIGIT_BITS 11

/* Where one digit lies in an item: word, shift, width; a digit may
 * straddle two words. */
typedef struct digit {
    unsigned word, shift;
    int straddles;
    uint64_t mask;
} digit;

/* The digit of bits [bit, bit + len) of an item of w words (bit 0 = lowest
 * of the last word); len <= 32. */
static digit digit_at(unsigned w, unsigned bit, unsigned len)
{
    digit d = {w - 1 - bit / 64, bit % 64, 0, (UINT64_C(1) << len) - 1};
    d.straddles = d.shift + len > 64;
    return d;
}

static inline uint64_t digit_of(const uint64_t *item, const digit *d)
{
    uint64_t v = item[d->word] >> d->shift;
    if (d->straddles)
        v |= item[d->word - 1] << (64 - d->shift);
    return v & d->mask;
}

/* The part of word k of an item that lies in bits [lo, hi). */
static uint64_t word_mask(unsigned w, unsigned k, unsigned lo, unsigned hi)
{
    unsigned base = 64 * (w - 1 - k); /* the word holds bits [base, base + 64) */
    unsigned a = lo > base ? lo - base : 0, b = hi < base + 64 ? hi - base : 64;
    if (b <= a)
        return 0;
    uint64_t upper = b == 64 ? ~UINT64_C(0) : (UINT64_C(1) << b) - 1;
    return upper & ~((UINT64_C(1) << a) - 1);
}

/* Whether the items are in order already by the bits in mask (w words). */
static int in_order(const uint64_t *items, uint64_t n, unsigned w, const uint64_t *mask)
{
    for (uint64_t i = 1; i < n; i++) {
        const uint64_t *prev = items + (i - 1) * w, *it = prev + w;
        for (unsigned k = 0; k < w; k++) {
            uint64_t a = prev[k] & mask[k], b = it[k] & mask[k];
            if (a != b) {
                if (a > b)
                    return 0;
                break;
            }
        }
    }
    return 1;
}

/* Counts the digits of every pass in one read of the items. Inlined with a
 * constant w for the common widths. */
static inline void count_digits(const uint64_t *items, uint64_t n, unsigned w, const digit *dg, unsigned passes,
                                unsigned buckets, uint64_t *count)
{
    for (uint64_t i = 0; i < n; i++)
        for (unsigned p = 0; p < passes; p++)
            count[(size_t)p * buckets + digit_of(items + i * w, &dg[p])]++;
}

/* One pass: the items of src go to dst in the order of their digit d;
 * pos[v] is where the next item with digit v goes. */
static inline void scatter(const uint64_t *src, uint64_t *dst, uint64_t n, unsigned w, const digit *d, uint64_t *pos)
{
    for (uint64_t i = 0; i < n; i++) {
        const uint64_t *s = src + i * w;
        uint64_t *t = dst + pos[digit_of(s, d)]++ * w;
        for (unsigned k = 0; k < w; k++)
            t[k] = s[k];
    }
}

int radix_sort(uint64_t *items, uint64_t *tmp, uint64_t n, unsigned w, unsigned lo_bit, unsigned hi_bit)
{
    if (n < 2 || hi_bit <= lo_bit)
        return 0;
    uint64_t *mask = malloc(w * sizeof *mask);
    if (!mask)
        return -1;
    for (unsigned k = 0; k < w; k++)
        mask[k] = word_mask(w, k, lo_bit, hi_bit);
    int sorted = in_order(items, n, w, mask);
    free(mask);
    if (sorted)
        return 0;

    unsigned span = hi_bit - lo_bit, passes = (span + MAX_DIGIT_BITS - 1) / MAX_DIGIT_BITS;
    unsigned digit_bits = (span + passes - 1) / passes, buckets = 1u << digit_bits;
    uint64_t *count = calloc((size_t)passes * buckets, sizeof *count);
    digit *dg = malloc(passes * sizeof *dg);
    if (!count || !dg) {
        free(count);
        free(dg);
        return -1;
    }
    for (unsigned p = 0; p < passes; p++) {
        unsigned bit = lo_bit + p * digit_bits;
        dg[p] = digit_at(w, bit, bit + digit_bits > hi_bit ? hi_bit - bit : digit_bits);
    }
    if (w == 1)
        count_digits(items, n, 1, dg, passes, buckets, count);
    else if (w == 2)
        count_digits(items, n, 2, dg, passes, buckets, count);
    else
        count_digits(items, n, w, dg, passes, buckets, count);

    uint64_t *src = items, *dst = tmp;
    for (unsigned p = 0; p < passes; p++) {
        uint64_t *pos = count + (size_t)p * buckets, sum = 0;
        int trivial = 0;
        for (unsigned d = 0; d < buckets; d++) {
            uint64_t c = pos[d];
            trivial |= c == n; /* one digit for all: this pass would copy */
            pos[d] = sum;
            sum += c;
        }
        if (trivial)
            continue;
        if (w == 1)
            scatter(src, dst, n, 1, &dg[p], pos);
        else if (w == 2)
            scatter(src, dst, n, 2, &dg[p], pos);
        else
            scatter(src, dst, n, w, &dg[p], pos);
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    /* After an odd number of passes the items are in tmp: one more copy
     * keeps callers simple (and their buffers where they expect them). */
    if (src != items)
        memcpy(items, src, (size_t)n * w * sizeof *items);
    free(count);
    free(dg);
    return 0;
}
