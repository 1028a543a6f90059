/* num_format.c — shortest round-trip decimal digits, laid out as KenLM prints.
 *
 * The digits come from the exact free-format algorithm of Steele & White (as
 * refined by Burger & Dybvig): with the value v and the half-gaps to its two
 * neighbours m- and m+ held as exact big-integer ratios over a common
 * denominator s, emit digits of v one at a time and stop at the first digit
 * where rounding down (remainder within m-) or up (within m+) stays inside the
 * rounding interval; when both would, take the nearer one (ties to an even
 * digit). The interval is closed when the significand is even, since the reader
 * rounds ties to even. This is what double-conversion's bignum path computes,
 * and its fast Grisu3 path only answers when it agrees with it.
 *
 * Numbers here are small: a float needs at most ~10 limbs, a double ~36. */
#include "num_format.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* The largest quantity is about 2^1080 (a double near 2^-1074 scaled by
 * 10^323, then times 10 during digit generation): 34 limbs; 40 leaves room. */
#define BIG_LIMBS 40

typedef struct {
    int n;                 /* limbs in use, most significant non-zero; 0 is the value 0 */
    uint32_t d[BIG_LIMBS]; /* base 2^32, least significant first */
} big;

static void big_set(big *a, uint64_t v)
{
    a->n = 0;
    while (v) {
        a->d[a->n++] = (uint32_t)v;
        v >>= 32;
    }
}

static void big_copy(big *dst, const big *src)
{
    dst->n = src->n;
    memcpy(dst->d, src->d, (size_t)src->n * sizeof src->d[0]);
}

static void big_mul_small(big *a, uint32_t m)
{
    uint64_t carry = 0;
    for (int i = 0; i < a->n; i++) {
        uint64_t t = (uint64_t)a->d[i] * m + carry;
        a->d[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry)
        a->d[a->n++] = (uint32_t)carry;
}

static void big_shl(big *a, int bits)
{
    if (a->n == 0 || bits == 0)
        return;
    int limbs = bits / 32, sh = bits % 32;
    if (sh) {
        uint32_t carry = 0;
        for (int i = 0; i < a->n; i++) {
            uint32_t v = a->d[i];
            a->d[i] = (v << sh) | carry;
            carry = v >> (32 - sh);
        }
        if (carry)
            a->d[a->n++] = carry;
    }
    if (limbs) {
        memmove(a->d + limbs, a->d, (size_t)a->n * sizeof a->d[0]);
        memset(a->d, 0, (size_t)limbs * sizeof a->d[0]);
        a->n += limbs;
    }
}

/* a *= 10^k, k >= 0, as 5^k then a shift by k. */
static void big_mul_pow10(big *a, int k)
{
    static const uint32_t pow5[14] = {1,        5,         25,        125,       625,
                                      3125,     15625,     78125,     390625,    1953125,
                                      9765625,  48828125,  244140625, 1220703125};
    int j = k;
    for (; j >= 13; j -= 13)
        big_mul_small(a, pow5[13]);
    if (j)
        big_mul_small(a, pow5[j]);
    big_shl(a, k);
}

static int big_cmp(const big *a, const big *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; i--)
        if (a->d[i] != b->d[i])
            return a->d[i] < b->d[i] ? -1 : 1;
    return 0;
}

/* Sign of (a + b) - c. */
static int big_cmp_sum(const big *a, const big *b, const big *c)
{
    const big *lo = a->n < b->n ? a : b, *hi = a->n < b->n ? b : a;
    big sum;
    uint64_t carry = 0;
    int i = 0;
    for (; i < lo->n; i++) {
        carry += (uint64_t)lo->d[i] + hi->d[i];
        sum.d[i] = (uint32_t)carry;
        carry >>= 32;
    }
    for (; i < hi->n; i++) {
        carry += hi->d[i];
        sum.d[i] = (uint32_t)carry;
        carry >>= 32;
    }
    sum.n = hi->n;
    if (carry)
        sum.d[sum.n++] = (uint32_t)carry;
    return big_cmp(&sum, c);
}

/* a -= b, where a >= b. */
static void big_sub(big *a, const big *b)
{
    uint32_t borrow = 0;
    int i = 0;
    for (; i < b->n; i++) {
        uint64_t t = (uint64_t)a->d[i] - b->d[i] - borrow;
        a->d[i] = (uint32_t)t;
        borrow = (uint32_t)(t >> 63);
    }
    for (; borrow && i < a->n; i++) {
        borrow = a->d[i] == 0;
        a->d[i]--;
    }
    while (a->n && a->d[a->n - 1] == 0)
        a->n--;
}

/* r < 10 s on entry, s normalized (top limb >= 2^28): returns floor(r / s)
 * and leaves r mod s in r. With one limb the division is exact; otherwise the
 * leading limbs give the quotient to within one, corrected exactly. */
static int big_div_digit(big *r, const big *s)
{
    int n = s->n;
    uint64_t r_top = 0;
    for (int i = n; i >= n - 1; i--)
        r_top = (r_top << 32) | (i < r->n ? r->d[i] : 0);
    if (n == 1) {
        big_set(r, r_top % s->d[0]);
        return (int)(r_top / s->d[0]);
    }
    int q = (int)(r_top / s->d[n - 1]);
    if (q > 9)
        q = 9;
    if (q > 0) {
        big t;
        big_copy(&t, s);
        big_mul_small(&t, (uint32_t)q);
        if (big_cmp(&t, r) > 0) {
            q--;
            big_sub(&t, s);
        }
        big_sub(r, &t);
    }
    while (big_cmp(r, s) >= 0) {
        big_sub(r, s);
        q++;
    }
    return q;
}

/* Shortest, closest digits of v = f * 2^e (f > 0) for a reader that rounds to
 * nearest, ties to even. lower_closer: v is a power of two whose lower
 * neighbour is half as far away as the upper one. Writes the ASCII digits (no
 * NUL) to out and returns their count; *point is k in v ~ 0.d1d2.. * 10^k. */
static int shortest_digits(uint64_t f, int e, int lower_closer, char *out, int *point)
{
    /* v = r / s; the half-gaps to the neighbours are m- = mm / s, m+ = mp / s. */
    big r, s, mm, mp_own;
    big *mp = lower_closer ? &mp_own : &mm;
    big_set(&r, f);
    if (e >= 0) {
        big_shl(&r, e + 1 + lower_closer);
        big_set(&s, 2u << lower_closer);
        big_set(&mm, 1);
        big_shl(&mm, e);
    } else {
        big_shl(&r, 1 + lower_closer);
        big_set(&s, 1);
        big_shl(&s, 1 - e + lower_closer);
        big_set(&mm, 1);
    }

    /* k estimates the decimal point: ceil(log10 v) from the top bit, never too
     * big and at most one too small; the check below settles it. */
    int top_bit = 63;
    while (!(f >> top_bit))
        top_bit--;
    int k = (int)ceil((top_bit + e) * 0.30102999566398114 - 1e-10);
    if (k >= 0) {
        big_mul_pow10(&s, k);
    } else {
        big_mul_pow10(&r, -k);
        big_mul_pow10(&mm, -k);
    }
    if (lower_closer) {
        big_copy(mp, &mm);
        big_shl(mp, 1);
    }

    int even = (f & 1) == 0;
    int c = big_cmp_sum(&r, mp, &s);
    if (even ? c >= 0 : c > 0) {
        *point = k + 1; /* v (or its upper boundary) reaches 10^k */
    } else {
        *point = k;
        big_mul_small(&r, 10);
        big_mul_small(&mm, 10);
        if (lower_closer)
            big_mul_small(mp, 10);
    }

    /* Scale everything so the top limb of s is at least 2^28, which the
     * quotient estimate in big_div_digit relies on. */
    int shift = 0;
    while ((s.d[s.n - 1] << shift) < (1u << 28))
        shift++;
    big_shl(&r, shift);
    big_shl(&s, shift);
    big_shl(&mm, shift);
    if (lower_closer)
        big_shl(mp, shift);

    int n = 0;
    for (;;) {
        int digit = big_div_digit(&r, &s);
        int c_lo = big_cmp(&r, &mm);
        int c_hi = big_cmp_sum(&r, mp, &s);
        int can_round_down = even ? c_lo <= 0 : c_lo < 0;
        int can_round_up = even ? c_hi >= 0 : c_hi > 0;
        if (can_round_down && can_round_up) {
            /* Both in the interval: the nearer, i.e. compare 2r with s. A digit
             * of 9 cannot round up here: the previous step would have stopped. */
            int half = big_cmp_sum(&r, &r, &s);
            if (half > 0 || (half == 0 && (digit & 1)))
                digit++;
        } else if (can_round_up) {
            digit++;
        }
        out[n++] = (char)('0' + digit);
        if (can_round_down || can_round_up)
            return n;
        big_mul_small(&r, 10);
        big_mul_small(&mm, 10);
        if (lower_closer)
            big_mul_small(mp, 10);
    }
}

/* Lays out digits d1..dn with value 0.d1..dn * 10^point the way
 * double-conversion does with decimal_in_shortest_low = -6, high = 21. */
static int layout(char *buf, int neg, const char *digits, int n, int point)
{
    char *p = buf;
    if (neg)
        *p++ = '-';
    int exponent = point - 1;
    if (exponent >= -6 && exponent < 21) {
        if (point <= 0) {
            *p++ = '0';
            *p++ = '.';
            memset(p, '0', (size_t)-point);
            p += -point;
            memcpy(p, digits, (size_t)n);
            p += n;
        } else if (point >= n) {
            memcpy(p, digits, (size_t)n);
            p += n;
            memset(p, '0', (size_t)(point - n));
            p += point - n;
        } else {
            memcpy(p, digits, (size_t)point);
            p += point;
            *p++ = '.';
            memcpy(p, digits + point, (size_t)(n - point));
            p += n - point;
        }
    } else {
        *p++ = digits[0];
        if (n > 1) {
            *p++ = '.';
            memcpy(p, digits + 1, (size_t)(n - 1));
            p += n - 1;
        }
        *p++ = 'e';
        if (exponent < 0) {
            *p++ = '-';
            exponent = -exponent;
        }
        char rev[4];
        int m = 0;
        do {
            rev[m++] = (char)('0' + exponent % 10);
            exponent /= 10;
        } while (exponent);
        while (m)
            *p++ = rev[--m];
    }
    *p = '\0';
    return (int)(p - buf);
}

/* Everything around the digits: specials, zero, sign. biased_exp and frac are
 * the IEEE fields of a format with frac_bits fraction bits and exponent bias. */
static int format_ieee(int neg, int biased_exp, uint64_t frac, int frac_bits, int bias, char *buf)
{
    const char *text = NULL;
    if (biased_exp == 2 * bias + 1)
        text = frac ? "NaN" : neg ? "-inf" : "inf"; /* NaN is never signed */
    else if (biased_exp == 0 && frac == 0)
        text = neg ? "-0" : "0";
    if (text) {
        size_t len = strlen(text);
        memcpy(buf, text, len + 1);
        return (int)len;
    }
    uint64_t f = frac;
    int e = 1 - bias - frac_bits; /* subnormal */
    if (biased_exp) {
        f |= (uint64_t)1 << frac_bits;
        e = biased_exp - bias - frac_bits;
    }
    /* Below a power of two the gap halves, except below the smallest normal,
     * whose lower neighbour (the largest subnormal) is as far as the upper. */
    int lower_closer = frac == 0 && biased_exp > 1;
    char digits[20];
    int point;
    int n = shortest_digits(f, e, lower_closer, digits, &point);
    return layout(buf, neg, digits, n, point);
}

int kvg_format_float(float x, char *buf)
{
    uint32_t bits;
    memcpy(&bits, &x, sizeof bits);
    return format_ieee((int)(bits >> 31), (int)((bits >> 23) & 0xff), bits & 0x7fffff, 23, 127, buf);
}

int kvg_format_double(double x, char *buf)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    return format_ieee((int)(bits >> 63), (int)((bits >> 52) & 0x7ff),
                       bits & 0xfffffffffffffull, 52, 1023, buf);
}
