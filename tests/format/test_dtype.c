/* test_dtype.c — the dtype table and the scalar reference conversions
 * (format/kvg_dtype.c), each checked against an oracle that does not share
 * its code: exact double arithmetic, x86 F16C hardware where there is one,
 * and blocks worked out by hand. */
#include "kvg_test.h"

#include "kvg_dtype.h"

#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

/* ---- helpers -------------------------------------------------------------- */

static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* splitmix64: a fixed-seed generator of our own, so runs are reproducible. */
static uint64_t rng_state = 0x6b766772616d2121ull;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rng_unit(void)
{
    return (float)((double)(rng_next() >> 11) * 0x1p-53 * 2.0 - 1.0);
}

/* Prints the first few mismatches of a sweep; the sweep then makes one CHECK
 * of its mismatch count, so a pass adds one to the count, not millions. */
#define MISMATCH(count, ...)                  \
    do {                                      \
        if ((count)++ < 5)                    \
            fprintf(stderr, __VA_ARGS__);     \
    } while (0)

/* Of two neighbouring 16-bit patterns lo < hi around a value that lies dlo
 * above lo and dhi below hi: the nearer, on a tie the even one. */
static uint16_t nearest_even(uint16_t lo, uint16_t hi, double dlo, double dhi)
{
    return dlo < dhi ? lo : dhi < dlo ? hi : (lo & 1) ? hi : lo;
}

/* One mismatch of an f32 -> 16-bit sweep: returns 0 if got == want, else
 * counts it and prints the first few of the whole run. */
static long narrowing_mismatch(const char *to, float x, uint16_t want, uint16_t got)
{
    static int shown;
    if (got == want)
        return 0;
    if (shown++ < 10)
        fprintf(stderr, "f32 0x%08x (%.9g) -> %s: expected 0x%04x, got 0x%04x\n", bits_of(x), x,
                to, want, got);
    return 1;
}

static int f16_is_nan(uint16_t h)
{
    return (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
}

/* The exact value of a non-negative f16 bit pattern, from the definition of
 * binary16; 0x7c00 stands for 2^16, the next value IEEE rounding sees past
 * 65504 (landing there means overflow to inf). */
static double f16_value(uint16_t h)
{
    int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0)
        return ldexp(mant, -24);
    return ldexp(1024 + mant, exp - 25);
}

/* Round-to-nearest-even f32 -> f16 by search over exact double values. */
static uint16_t f16_oracle(float x)
{
    uint16_t sign = (bits_of(x) >> 16) & 0x8000;
    if (isnan(x))
        return sign | 0x7e00;
    double a = fabs((double)x);
    if (a >= 65536.0)
        return sign | 0x7c00;
    /* Largest lo in [0, 0x7bff] with value <= a: positive f16 bits are monotone. */
    uint16_t lo = 0, hi = 0x7c00;
    while (hi - lo > 1) {
        uint16_t mid = (uint16_t)((lo + hi) / 2);
        if (f16_value(mid) <= a)
            lo = mid;
        else
            hi = mid;
    }
    /* hi = lo + 1 now; both differences are exact in double (few bits). */
    return sign | nearest_even(lo, hi, a - f16_value(lo), f16_value(hi) - a);
}

/* ---- f16 ------------------------------------------------------------------- */

static void test_f16_hand_cases(void)
{
    CHECK_INT(0x3c00, kvg_f32_to_f16(1.0f));
    CHECK_INT(0xc000, kvg_f32_to_f16(-2.0f));
    CHECK_INT(0x7bff, kvg_f32_to_f16(65504.0f));
    CHECK_INT(0x7bff, kvg_f32_to_f16(nextafterf(65520.0f, 0.0f)));
    CHECK_INT(0x7c00, kvg_f32_to_f16(65520.0f)); /* tie with 2^16: to even = inf */
    CHECK_INT(0xfc00, kvg_f32_to_f16(-65520.0f));
    CHECK_INT(0x7c00, kvg_f32_to_f16(FLT_MAX));
    CHECK_INT(0x7c00, kvg_f32_to_f16(INFINITY));
    CHECK_INT(0xfc00, kvg_f32_to_f16(-INFINITY));
    CHECK_INT(0x0400, kvg_f32_to_f16(0x1p-14f));                       /* smallest normal */
    CHECK_INT(0x0400, kvg_f32_to_f16(nextafterf(0x1p-14f, 0.0f)));    /* rounds up into it */
    CHECK_INT(0x03ff, kvg_f32_to_f16(1023 * 0x1p-24f));                /* largest subnormal */
    CHECK_INT(0x0001, kvg_f32_to_f16(0x1p-24f));
    CHECK_INT(0x0000, kvg_f32_to_f16(0x1p-25f));                       /* tie: to even 0 */
    CHECK_INT(0x0001, kvg_f32_to_f16(nextafterf(0x1p-25f, 1.0f)));
    CHECK_INT(0x0002, kvg_f32_to_f16(3 * 0x1p-25f));                   /* tie: to even 2 */
    CHECK_INT(0x0002, kvg_f32_to_f16(5 * 0x1p-25f));                   /* tie: to even 2 */
    CHECK_INT(0x0000, kvg_f32_to_f16(FLT_TRUE_MIN));
    CHECK_INT(0x8000, kvg_f32_to_f16(-0.0f));
    CHECK_INT(0x0000, kvg_f32_to_f16(0.0f));
    CHECK_INT(0x3c00, kvg_f32_to_f16(1.0f + 0x1p-11f));                /* tie: to even */
    CHECK_INT(0x3c02, kvg_f32_to_f16(1.0f + 3 * 0x1p-11f));            /* tie: to even */
    CHECK_INT(0x3c01, kvg_f32_to_f16(1.0f + 0x1p-11f + 0x1p-23f));     /* just past tie */
    uint16_t nan = kvg_f32_to_f16(NAN);
    CHECK(f16_is_nan(nan) && (nan & 0x0200));
    uint16_t nneg = kvg_f32_to_f16(-NAN);
    CHECK(f16_is_nan(nneg) && (nneg & 0x8000) && (nneg & 0x0200));
    /* A signalling NaN whose payload lies in the dropped bits stays NaN. */
    uint16_t snan = kvg_f32_to_f16(float_of(0x7f800001));
    CHECK(f16_is_nan(snan) && (snan & 0x0200));

    CHECK_INT(bits_of(1.0f), bits_of(kvg_f16_to_f32(0x3c00)));
    CHECK_INT(bits_of(65504.0f), bits_of(kvg_f16_to_f32(0x7bff)));
    CHECK_INT(bits_of(0x1p-24f), bits_of(kvg_f16_to_f32(0x0001)));
    CHECK_INT(bits_of(1023 * 0x1p-24f), bits_of(kvg_f16_to_f32(0x03ff)));
    CHECK_INT(bits_of(-0.0f), bits_of(kvg_f16_to_f32(0x8000)));
    CHECK_INT(bits_of(-INFINITY), bits_of(kvg_f16_to_f32(0xfc00)));
    CHECK(isnan(kvg_f16_to_f32(0x7c01)) && (bits_of(kvg_f16_to_f32(0x7c01)) & 0x400000));
    CHECK(isnan(kvg_f16_to_f32(0xfe00)) && signbit(kvg_f16_to_f32(0xfe00)));
}

/* Every half: f16 -> f32 matches the definition of binary16, and f16 -> f32
 * -> f16 gives the same bits back (a NaN gives a quiet NaN of the same sign). */
static void test_f16_all_halves_exact_and_round_trip(void)
{
    long bad_value = 0, bad_trip = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = kvg_f16_to_f32(h);
        uint16_t back = kvg_f32_to_f16(f);
        if (f16_is_nan(h)) {
            if (!isnan(f) || (back & 0x8000) != (h & 0x8000) || !f16_is_nan(back) ||
                !(back & 0x0200))
                MISMATCH(bad_trip, "f16 NaN 0x%04x -> f32 0x%08x -> 0x%04x\n", h, bits_of(f),
                         back);
            continue;
        }
        double expect = ((h & 0x7c00) == 0x7c00) ? INFINITY : f16_value(h & 0x7fff);
        if (h & 0x8000)
            expect = -expect;
        if (bits_of(f) != bits_of((float)expect))
            MISMATCH(bad_value, "f16 0x%04x: expected %.9g, got %.9g\n", h, expect, f);
        if (back != h)
            MISMATCH(bad_trip, "f16 0x%04x -> %.9g -> 0x%04x\n", h, f, back);
    }
    CHECK_INT(0, bad_value);
    CHECK_INT(0, bad_trip);
}

/* The f32 inputs worth sweeping: every f16 value and the f32 neighbours of it
 * and of every midpoint between two f16 values (where rounding decides), both
 * signs; then a strided walk over all 2^32 patterns. fn returns mismatches. */
typedef long (*f32_checker)(float x);

static long sweep_f32(f32_checker check)
{
    long bad = 0;
    for (uint32_t h = 0; h < 0x7c00; h++) {
        /* The midpoint has at most 12 significant bits: exact in f32. */
        float mid = (float)((f16_value((uint16_t)h) + f16_value((uint16_t)(h + 1))) / 2);
        float at = (float)f16_value((uint16_t)h);
        for (int k = -3; k <= 3; k++) {
            for (int s = 0; s < 2; s++) {
                uint32_t sign = s ? 0x80000000u : 0;
                bad += check(float_of((bits_of(mid) + (uint32_t)k) | sign));
                if (at != 0.0f || k >= 0)
                    bad += check(float_of((bits_of(at) + (uint32_t)k) | sign));
            }
        }
    }
    /* 4294967291 is prime, so stride 1021 visits a spread of every exponent. */
    for (uint64_t u = 0; u < (1ull << 32); u += 1021)
        bad += check(float_of((uint32_t)u));
    for (int i = 0; i < 1000000; i++)
        bad += check(float_of((uint32_t)rng_next()));
    return bad;
}

static long check_f16_against_oracle(float x)
{
    uint16_t got = kvg_f32_to_f16(x), want = f16_oracle(x);
    if (isnan(x) && f16_is_nan(got) && (got & 0x8000) == (want & 0x8000) && (got & 0x0200))
        return 0; /* any quiet NaN of the right sign */
    return narrowing_mismatch("f16", x, want, got);
}

static void test_f16_rounding_matches_exact_arithmetic(void)
{
    CHECK_INT(0, sweep_f32(check_f16_against_oracle));
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) static uint16_t hw_f32_to_f16(float x)
{
    return (uint16_t)_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT);
}

__attribute__((target("f16c"))) static float hw_f16_to_f32(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* NaN bits too: the reference keeps payloads the way F16C does, so a SIMD
 * path built on F16C agrees with it bit for bit. */
static long check_f16_against_f16c(float x)
{
    return narrowing_mismatch("f16 (want: F16C)", x, hw_f32_to_f16(x), kvg_f32_to_f16(x));
}

/* clang has no __builtin_cpu_supports("f16c"): read the CPUID bit, and ask
 * for AVX, which also means the OS saves the YMM state VEX code needs. */
static int cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) && __builtin_cpu_supports("avx");
}

static void test_f16_matches_f16c_hardware(void)
{
    if (!cpu_has_f16c()) {
        printf("no F16C on this CPU: hardware comparison skipped\n");
        return;
    }
    long bad = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        float got = kvg_f16_to_f32((uint16_t)i), want = hw_f16_to_f32((uint16_t)i);
        if (bits_of(got) != bits_of(want))
            MISMATCH(bad, "f16 0x%04x -> f32: F16C gives 0x%08x, got 0x%08x\n", i, bits_of(want),
                     bits_of(got));
    }
    CHECK_INT(0, bad);
    CHECK_INT(0, sweep_f32(check_f16_against_f16c));
}
#endif

/* ---- bf16 ------------------------------------------------------------------ */

static void test_bf16_hand_cases(void)
{
    CHECK_INT(0x3f80, kvg_f32_to_bf16(1.0f));
    CHECK_INT(0xbf80, kvg_f32_to_bf16(-1.0f));
    CHECK_INT(0x3f80, kvg_f32_to_bf16(float_of(0x3f808000))); /* tie: to even (down) */
    CHECK_INT(0x3f82, kvg_f32_to_bf16(float_of(0x3f818000))); /* tie: to even (up) */
    CHECK_INT(0x3f81, kvg_f32_to_bf16(float_of(0x3f808001)));
    CHECK_INT(0x3f80, kvg_f32_to_bf16(float_of(0x3f807fff)));
    CHECK_INT(0x7f7f, kvg_f32_to_bf16(float_of(0x7f7f7fff)));
    CHECK_INT(0x7f80, kvg_f32_to_bf16(FLT_MAX)); /* past the largest bf16: inf */
    CHECK_INT(0x7f80, kvg_f32_to_bf16(INFINITY));
    CHECK_INT(0xff80, kvg_f32_to_bf16(-INFINITY));
    CHECK_INT(0x8000, kvg_f32_to_bf16(-0.0f));
    CHECK_INT(0x0001, kvg_f32_to_bf16(float_of(0x00008001))); /* f32 subnormals round too */
    uint16_t n = kvg_f32_to_bf16(NAN);
    CHECK((n & 0x7f80) == 0x7f80 && (n & 0x0040));
    n = kvg_f32_to_bf16(float_of(0xff800001)); /* payload only in dropped bits */
    CHECK((n & 0x7f80) == 0x7f80 && (n & 0x007f) && (n & 0x8000));
    CHECK_INT(bits_of(1.0f), bits_of(kvg_bf16_to_f32(0x3f80)));
    CHECK_INT(0x7fc00000, bits_of(kvg_bf16_to_f32(0x7fc0)));
    CHECK_INT(0x80000000, bits_of(kvg_bf16_to_f32(0x8000)));
}

/* The exact value of a non-negative bf16; 0x7f80 stands for 2^128 (overflow). */
static double bf16_value(uint16_t h)
{
    return h == 0x7f80 ? 0x1p128 : (double)float_of((uint32_t)h << 16);
}

/* The result is one of the two bf16 values around x, the nearer, ties even. */
static long check_bf16_nearest(float x)
{
    uint16_t got = kvg_f32_to_bf16(x);
    uint16_t sign = (bits_of(x) >> 16) & 0x8000;
    if (isnan(x)) {
        if ((got & 0x7fc0) == 0x7fc0 && (got & 0x8000) == sign)
            return 0; /* any quiet NaN of the right sign */
        return narrowing_mismatch("bf16", x, sign | 0x7fc0, got);
    }
    uint16_t lo = (bits_of(x) >> 16) & 0x7fff, hi = (uint16_t)(lo + 1);
    double a = fabs((double)x);
    /* lo = 0x7f80 only for inf itself. */
    uint16_t want = lo >= 0x7f80 ? 0x7f80 : nearest_even(lo, hi, a - bf16_value(lo), bf16_value(hi) - a);
    return narrowing_mismatch("bf16", x, sign | want, got);
}

static void test_bf16_rounding_matches_exact_arithmetic(void)
{
    long bad = 0;
    /* Around every tie (low half 0x8000) for a spread of high halves. */
    for (uint32_t hi = 0; hi < 0x10000; hi += 7)
        for (int k = -2; k <= 2; k++)
            bad += check_bf16_nearest(float_of((hi << 16 | 0x8000) + (uint32_t)k));
    for (uint64_t u = 0; u < (1ull << 32); u += 1021)
        bad += check_bf16_nearest(float_of((uint32_t)u));
    CHECK_INT(0, bad);
}

/* ---- quantized blocks ------------------------------------------------------ */

enum { MAX_BLOCKS_PER_ROW = 7 };

/* Fills one block with one of several shapes of data, scale chosen so the
 * scales never saturate (that case has its own test). */
static void fill_block(float *x, int kind)
{
    float scale = ldexpf(1.0f, (int)(rng_next() % 36) - 25); /* 2^-25 .. 2^10 */
    for (int j = 0; j < 32; j++)
        x[j] = rng_unit() * scale;
    switch (kind) {
    case 0: /* uniform */
        break;
    case 1: /* all zero */
        for (int j = 0; j < 32; j++)
            x[j] = 0.0f;
        break;
    case 2: /* one huge value among small ones (at most 2^18 < 8 * 65504) */
        x[rng_next() % 32] = scale * 256.0f * (rng_next() & 1 ? 1.0f : -1.0f);
        break;
    case 3: /* the largest magnitude is negative */
        x[rng_next() % 32] = -2.0f * scale;
        break;
    case 4: /* tiny: scales in the f16 subnormal range or under it, f32 subnormals */
        for (int j = 0; j < 32; j++)
            x[j] = rng_unit() * ldexpf(1.0f, -(int)(rng_next() % 30) - 12);
        if (rng_next() & 1)
            x[rng_next() % 32] = float_of((uint32_t)(rng_next() % 0x800000));
        break;
    case 5: /* all equal */
        for (int j = 0; j < 32; j++)
            x[j] = x[0];
        break;
    case 6: /* two extremes of opposite sign: one lands on the q4_0 clamp */
        x[rng_next() % 16] = scale;
        x[16 + rng_next() % 16] = -scale;
        break;
    default: /* sparse */
        for (int j = 0; j < 32; j++)
            if (rng_next() % 4)
                x[j] = 0.0f;
        break;
    }
}

/* Fills a row of 1..MAX_BLOCKS_PER_ROW random blocks (ragged: rows differ
 * in length), quantizes the row into q and dequantizes it into y through the
 * table row t. Returns the number of blocks. */
static int random_row_round_trip(const kvg_dtype_traits *t, float *x, void *q, float *y)
{
    int nb = 1 + (int)(rng_next() % MAX_BLOCKS_PER_ROW);
    for (int b = 0; b < nb; b++)
        fill_block(x + 32 * b, (int)(rng_next() % 8));
    t->from_f32(x, q, (size_t)nb * 32);
    t->to_f32(q, y, (size_t)nb * 32);
    return nb;
}

/* Round trips through q8_0: |x - y| <= dh/2, plus the rounding of the f32
 * quotient x/dh (|x/dh| < 127.5, so < 127.5 * 2^-24 < 2^-17 of dh); y = dh*q
 * is exact in f32 (11 + 7 significant bits) and the difference exact in
 * double. Also: the stored scale is f16(max|x| / 127), except that in the
 * f16 subnormal range it is rounded up (never below max|x| / 127). */
static void test_q8_0_round_trip_error_within_half_scale(void)
{
    const kvg_dtype_traits *t = kvg_dtype_get(KVG_DTYPE_Q8_0);
    float x[MAX_BLOCKS_PER_ROW * 32], y[MAX_BLOCKS_PER_ROW * 32];
    kvg_block_q8_0 q[MAX_BLOCKS_PER_ROW];
    long bad = 0, bad_scale = 0;
    for (int row = 0; row < 20000; row++) {
        int nb = random_row_round_trip(t, x, q, y);
        for (int b = 0; b < nb; b++) {
            float amax = 0.0f;
            for (int j = 0; j < 32; j++)
                amax = fmaxf(amax, fabsf(x[32 * b + j]));
            float d = amax / 127.0f;
            double dh = kvg_f16_to_f32(q[b].d);
            int scale_ok = d >= 0x1p-14f ? q[b].d == kvg_f32_to_f16(d)
                                         : dh >= d && dh - d < 0x1p-24 && !(q[b].d & 0x8000);
            if (!scale_ok)
                MISMATCH(bad_scale, "q8_0 amax %.9g: scale 0x%04x\n", amax, q[b].d);
            for (int j = 0; j < 32; j++) {
                double err = fabs((double)x[32 * b + j] - (double)y[32 * b + j]);
                if (err > dh * (0.5 + 0x1p-17))
                    MISMATCH(bad, "q8_0 row %d block %d [%d]: x %.9g y %.9g dh %.9g\n", row, b,
                             j, x[32 * b + j], y[32 * b + j], dh);
            }
        }
    }
    CHECK_INT(0, bad);
    CHECK_INT(0, bad_scale);
}

/* q4_0: m the (first) element of largest |x|, d = m / -8, dh the stored
 * scale. Elements with x/dh <= 7.5 are not clamped: |x - y| <= |dh|/2; the
 * rest clamp at q = 15 and have 7.5 < x/dh <= 8d/dh, so |x - y| <= |8d - 7dh|
 * (-m = 8d reads 7dh), which is <= |dh| (1 + 2^-8), and <= |dh| when the
 * scale was rounded up. Float slack 2^-18 |dh|: x*id + 8.5 rounds id, the
 * product (|x*id| <= 8.01) and the sum (half an ulp of 16 is 2^-20). m reads
 * back as exactly -8*dh, dh = f16(d) while that is normal. */
static void test_q4_0_round_trip_error_bounds(void)
{
    const kvg_dtype_traits *t = kvg_dtype_get(KVG_DTYPE_Q4_0);
    float x[MAX_BLOCKS_PER_ROW * 32], y[MAX_BLOCKS_PER_ROW * 32];
    kvg_block_q4_0 q[MAX_BLOCKS_PER_ROW];
    long bad = 0, bad_max = 0, clamped = 0;
    for (int row = 0; row < 20000; row++) {
        int nb = random_row_round_trip(t, x, q, y);
        for (int b = 0; b < nb; b++) {
            const float *xb = x + 32 * b, *yb = y + 32 * b;
            int jm = 0;
            for (int j = 1; j < 32; j++)
                if (fabsf(xb[j]) > fabsf(xb[jm]))
                    jm = j;
            float d = xb[jm] / -8.0f;
            double dh = kvg_f16_to_f32(q[b].d), adh = fabs(dh);
            if (fabsf(d) >= 0x1p-14f) {
                if (q[b].d != kvg_f32_to_f16(d) || yb[jm] != (float)(-8.0 * dh) ||
                    fabs((double)xb[jm] - yb[jm]) > fabs((double)xb[jm]) * 0x1p-11)
                    MISMATCH(bad_max, "q4_0 row %d block %d: m %.9g reads %.9g, scale 0x%04x\n",
                             row, b, xb[jm], yb[jm], q[b].d);
            }
            for (int j = 0; j < 32; j++) {
                double err = fabs((double)xb[j] - (double)yb[j]);
                double bound = adh * (0.5 + 0x1p-18);
                if (dh != 0.0 && xb[j] / dh > 7.5) {
                    clamped++;
                    bound = fabs(8.0 * d - 7.0 * dh) + adh * 0x1p-18;
                    if (bound > adh * (1 + 0x1p-8 + 0x1p-18) ||
                        (adh >= fabsf(d) && bound > adh * (1 + 0x1p-18)))
                        MISMATCH(bad, "q4_0 row %d block %d: scale 0x%04x too far from d %.9g\n",
                                 row, b, q[b].d, d);
                }
                if (err > bound)
                    MISMATCH(bad, "q4_0 row %d block %d [%d]: x %.9g y %.9g dh %.9g\n", row, b,
                             j, xb[j], yb[j], dh);
            }
        }
    }
    CHECK_INT(0, bad);
    CHECK_INT(0, bad_max);
    CHECK(clamped > 0); /* the clamp path was exercised */
}

/* Quantizes one block of x through the table row and compares its bytes with
 * the hand-computed want (little-endian scale first); then dequantizes want
 * into y for the caller to check values. */
static void check_block_bytes(kvg_dtype dt, const float *x, const uint8_t *want, float *y)
{
    const kvg_dtype_traits *t = kvg_dtype_get(dt);
    uint8_t got[sizeof(kvg_block_q8_0)];
    t->from_f32(x, got, 32);
    for (uint32_t i = 0; i < t->block_bytes; i++)
        if (got[i] != want[i])
            fprintf(stderr, "%s byte %u: expected 0x%02x, got 0x%02x\n", t->name, i, want[i],
                    got[i]);
    CHECK(memcmp(got, want, t->block_bytes) == 0);
    t->to_f32(want, y, 32);
}

static void test_q8_0_block_layout_by_hand(void)
{
    /* max|x| = 127, so d = 1 = f16 0x3c00 and q = x rounded half away from 0. */
    float x[32] = {127.0f, -127.0f, 2.5f, -2.5f, 0.49f, 126.5f};
    for (int j = 6; j < 32; j++)
        x[j] = (float)(j - 16);
    static const uint8_t want[34] = {
        0x00, 0x3c,                                                 /* d, little-endian */
        0x7f, 0x81, 0x03, 0xfd, 0x00, 0x7f,                         /* 127 -127 3 -3 0 127 */
        0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, /* -10 .. -1 */
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, /* 0 .. 9 */
        0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,                         /* 10 .. 15 */
    };
    float y[32];
    check_block_bytes(KVG_DTYPE_Q8_0, x, want, y);
    CHECK_INT(127, y[0]);
    CHECK_INT(-3, y[3]);
    CHECK_INT(15, y[31]);
}

static void test_q4_0_block_layout_by_hand(void)
{
    /* m = x[0] = -8, so d = -8 / -8 = 1 (f16 0x3c00) and q = floor(x + 8.5),
     * clamped to [0, 15]. Low nibble of byte j: x[j] = j - 8 -> q = j. High
     * nibble: x[16 + j] = 7 - j -> q = 15 - j, except x[20] = 0.5 -> 9 (ties
     * go up), x[21] = -0.5 -> 8, x[22] = 7.9 -> 16, clamped to 15. */
    float x[32];
    for (int j = 0; j < 16; j++) {
        x[j] = (float)(j - 8);
        x[16 + j] = (float)(7 - j);
    }
    x[20] = 0.5f;
    x[21] = -0.5f;
    x[22] = 7.9f;
    static const uint8_t want[18] = {
        0x00, 0x3c,                                     /* d, little-endian */
        0xf0, 0xe1, 0xd2, 0xc3, 0x94, 0x85, 0xf6, 0x87, /* bytes 0..7 */
        0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f, /* bytes 8..15 */
    };
    float y[32];
    check_block_bytes(KVG_DTYPE_Q4_0, x, want, y);
    CHECK_INT(-8, y[0]);  /* low nibble 0 */
    CHECK_INT(7, y[16]);  /* high nibble 15 */
    CHECK_INT(1, y[20]);  /* 9 - 8 */
    CHECK_INT(7, y[22]);  /* clamped: 7.9 reads 7 */
    CHECK_INT(-8, y[31]);

    /* A positive maximum gives a negative scale: m = 8 -> d = -1 (0xbc00). */
    for (int j = 0; j < 32; j++)
        x[j] = 0.0f;
    x[3] = 8.0f;
    x[19] = -8.0f; /* x*id + 8.5 = 16.5: clamps to 15, reads back -7 */
    kvg_block_q4_0 blk;
    kvg_dtype_get(KVG_DTYPE_Q4_0)->from_f32(x, &blk, 32);
    CHECK_INT(0xbc00, blk.d);
    CHECK_INT(0x88, blk.qs[0]);
    CHECK_INT(0xf0, blk.qs[3]); /* x[3] -> q 0 low, x[19] -> q 15 high */
    kvg_dtype_get(KVG_DTYPE_Q4_0)->to_f32(&blk, y, 32);
    CHECK_INT(8, y[3]);
    CHECK_INT(-7, y[19]);
}

/* Scales that need care: subnormal f16 scales are rounded up so no element
 * clamps or vanishes; beyond 65504 the scale saturates instead of becoming
 * inf (and the conversion to int stays defined: sanitizers watch this). */
static void test_q_scales_at_the_ends_of_the_f16_range(void)
{
    float x[32] = {0}, y[32];
    kvg_block_q8_0 b8;
    kvg_block_q4_0 b4;
    const kvg_dtype_traits *t8 = kvg_dtype_get(KVG_DTYPE_Q8_0);
    const kvg_dtype_traits *t4 = kvg_dtype_get(KVG_DTYPE_Q4_0);

    /* d = 1.4 * 2^-24 would round to 2^-24, and 127 * 1.4 = 178 would clamp. */
    x[0] = 127 * 1.4f * 0x1p-24f;
    x[1] = -x[0];
    t8->from_f32(x, &b8, 32);
    CHECK_INT(0x0002, b8.d);
    t8->to_f32(&b8, y, 32);
    CHECK(fabs((double)x[0] - y[0]) <= 0x1p-25);
    CHECK(fabs((double)x[1] - y[1]) <= 0x1p-25);

    /* d under 2^-25 would round to a zero scale and lose the block. */
    x[0] = 1e-30f;
    x[1] = 0.0f;
    t8->from_f32(x, &b8, 32);
    CHECK_INT(0x0001, b8.d);
    t4->from_f32(x, &b4, 32);
    CHECK_INT(0x8001, b4.d); /* m > 0: d < 0 */

    /* Saturation: d = 1e7 / 127 > 65504. */
    x[0] = 1e7f;
    x[1] = -1e7f;
    x[2] = 1000.0f;
    t8->from_f32(x, &b8, 32);
    CHECK_INT(0x7bff, b8.d);
    CHECK_INT(127, b8.qs[0]);
    CHECK_INT(-127, b8.qs[1]);
    CHECK_INT(0, b8.qs[2]);
    x[0] = FLT_MAX;
    x[1] = -FLT_MAX;
    t8->from_f32(x, &b8, 32);
    CHECK_INT(0x7bff, b8.d);
    CHECK_INT(-127, b8.qs[1]);
    t4->from_f32(x, &b4, 32);
    CHECK_INT(0xfbff, b4.d); /* m = FLT_MAX: d = -FLT_MAX/8 saturates to -65504 */
    CHECK_INT(0x80, b4.qs[0]); /* x[0] clamps to q 0; x[16] = 0 -> q 8 */
    CHECK_INT(0x8f, b4.qs[1]); /* x[1] = -FLT_MAX clamps to q 15 */
    CHECK_INT(0x88, b4.qs[2]); /* 1000 / -65504 + 8.5 = 8.48 -> q 8 */
}

/* A block holding NaN or inf reads back as all NaN; its neighbours are untouched. */
static void test_q_non_finite_blocks_read_back_nan(void)
{
    float x[64], y[64];
    for (int j = 0; j < 64; j++)
        x[j] = (float)j;
    kvg_block_q8_0 b8[2];
    kvg_block_q4_0 b4[2];
    float bad_values[] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        x[35] = bad_values[k];
        kvg_dtype_get(KVG_DTYPE_Q8_0)->from_f32(x, b8, 64);
        kvg_dtype_get(KVG_DTYPE_Q8_0)->to_f32(b8, y, 64);
        int nan_all = 1, first_ok = 1;
        for (int j = 0; j < 32; j++) {
            first_ok &= fabsf(y[j] - x[j]) <= 0.25f;
            nan_all &= isnan(y[32 + j]) != 0;
        }
        CHECK(first_ok && nan_all);
        kvg_dtype_get(KVG_DTYPE_Q4_0)->from_f32(x, b4, 64);
        kvg_dtype_get(KVG_DTYPE_Q4_0)->to_f32(b4, y, 64);
        nan_all = 1, first_ok = 1;
        for (int j = 0; j < 32; j++) {
            first_ok &= fabsf(y[j] - x[j]) <= 2.0f;
            nan_all &= isnan(y[32 + j]) != 0;
        }
        CHECK(first_ok && nan_all);
    }
}

/* ---- the table ------------------------------------------------------------- */

static void test_table_rows_in_enum_order(void)
{
    static const struct {
        const char *name;
        uint32_t elems, bytes;
        int converts;
    } want[KVG_DTYPE_COUNT] = {
        {"f32", 1, 4, 1},   {"f16", 1, 2, 1},  {"bf16", 1, 2, 1}, {"q8_0", 32, 34, 1},
        {"q4_0", 32, 18, 1}, {"i8", 1, 1, 0},  {"u8", 1, 1, 0},   {"i16", 1, 2, 0},
        {"u16", 1, 2, 0},   {"i32", 1, 4, 0},  {"u32", 1, 4, 0},  {"i64", 1, 8, 0},
        {"u64", 1, 8, 0},   {"f64", 1, 8, 1},
    };
    for (uint32_t i = 0; i < KVG_DTYPE_COUNT; i++) {
        const kvg_dtype_traits *t = kvg_dtype_get(i);
        CHECK(t != NULL);
        if (!t)
            continue;
        CHECK(t->name && strcmp(t->name, want[i].name) == 0);
        CHECK_INT(want[i].elems, t->block_elems);
        CHECK_INT(want[i].bytes, t->block_bytes);
        CHECK_INT(want[i].converts, t->to_f32 != NULL);
        CHECK_INT(want[i].converts, t->from_f32 != NULL);
        kvg_dtype got = KVG_DTYPE_COUNT;
        CHECK_INT(0, kvg_dtype_from_name(want[i].name, &got));
        CHECK_INT(i, got);
    }
    CHECK(kvg_dtype_get(KVG_DTYPE_COUNT) == NULL);
    CHECK(kvg_dtype_get(UINT32_MAX) == NULL);
    kvg_dtype got = KVG_DTYPE_F16;
    CHECK_INT(-1, kvg_dtype_from_name("q4_1", &got));
    CHECK_INT(-1, kvg_dtype_from_name("F32", &got));
    CHECK_INT(-1, kvg_dtype_from_name("", &got));
    CHECK_INT(-1, kvg_dtype_from_name("f32 ", &got));
    CHECK_INT(-1, kvg_dtype_from_name(NULL, &got));
    CHECK_INT(KVG_DTYPE_F16, got); /* untouched on failure */
}

/* The plain float rows through the table: exact where the type holds the value. */
static void test_plain_float_rows_convert_through_the_table(void)
{
    const float src[4] = {1.5f, -0.0f, 65504.0f, 0x1p-24f};
    float back[4];
    uint8_t buf[4 * 8];
    const kvg_dtype dts[] = {KVG_DTYPE_F32, KVG_DTYPE_F16, KVG_DTYPE_BF16, KVG_DTYPE_F64};
    for (int k = 0; k < 4; k++) {
        const kvg_dtype_traits *t = kvg_dtype_get(dts[k]);
        t->from_f32(src, buf, 4);
        t->to_f32(buf, back, 4);
        /* bf16 keeps 8 bits: 65504 becomes 65536 */
        for (int i = 0; i < 4; i++) {
            float want = dts[k] == KVG_DTYPE_BF16 ? kvg_bf16_to_f32(kvg_f32_to_bf16(src[i])) : src[i];
            CHECK_INT(bits_of(want), bits_of(back[i]));
        }
    }
    const double big[2] = {1e300, -3.0};
    kvg_dtype_get(KVG_DTYPE_F64)->to_f32(big, back, 2);
    CHECK(isinf(back[0]) && back[0] > 0);
    CHECK_INT(-3, back[1]);
}

static void test_nbytes(void)
{
    uint64_t n = 12345;
    CHECK_INT(0, kvg_dtype_nbytes(KVG_DTYPE_F32, 10, &n));
    CHECK_INT(40, n);
    CHECK_INT(0, kvg_dtype_nbytes(KVG_DTYPE_F16, 3, &n));
    CHECK_INT(6, n);
    CHECK_INT(0, kvg_dtype_nbytes(KVG_DTYPE_Q8_0, 64, &n));
    CHECK_INT(68, n);
    CHECK_INT(0, kvg_dtype_nbytes(KVG_DTYPE_Q4_0, 4096, &n));
    CHECK_INT(128 * 18, n);
    CHECK_INT(0, kvg_dtype_nbytes(KVG_DTYPE_Q4_0, 0, &n));
    CHECK_INT(0, n);
    CHECK_INT(0, kvg_dtype_nbytes(KVG_DTYPE_F64, 7, &n));
    CHECK_INT(56, n);

    n = 12345;
    CHECK_INT(-1, kvg_dtype_nbytes(KVG_DTYPE_Q8_0, 33, &n));
    CHECK_INT(-1, kvg_dtype_nbytes(KVG_DTYPE_Q4_0, 31, &n));
    CHECK_INT(-1, kvg_dtype_nbytes(KVG_DTYPE_Q4_0, 1, &n));
    CHECK_INT(-1, kvg_dtype_nbytes(KVG_DTYPE_COUNT, 4, &n));
    CHECK_INT(-1, kvg_dtype_nbytes(UINT32_MAX, 4, &n));
    CHECK_INT(12345, n); /* untouched on failure */

    /* Overflow: the byte count would need more than 64 bits. */
    CHECK_INT(-1, kvg_dtype_nbytes(KVG_DTYPE_F32, UINT64_MAX, &n));
    CHECK_INT(-1, kvg_dtype_nbytes(KVG_DTYPE_F32, UINT64_MAX / 4 + 1, &n));
    CHECK_INT(0, kvg_dtype_nbytes(KVG_DTYPE_F32, UINT64_MAX / 4, &n));
    CHECK(n == UINT64_MAX - 3);
    CHECK_INT(0, kvg_dtype_nbytes(KVG_DTYPE_U8, UINT64_MAX, &n));
    CHECK(n == UINT64_MAX);
    uint64_t max_blocks = UINT64_MAX / 34; /* 32 * (max_blocks + 1) still fits */
    CHECK_INT(-1, kvg_dtype_nbytes(KVG_DTYPE_Q8_0, 32 * (max_blocks + 1), &n));
    CHECK_INT(0, kvg_dtype_nbytes(KVG_DTYPE_Q8_0, 32 * max_blocks, &n));
    CHECK(n == max_blocks * 34);
}

int main(void)
{
    test_f16_hand_cases();
    test_f16_all_halves_exact_and_round_trip();
    test_f16_rounding_matches_exact_arithmetic();
#if defined(__x86_64__)
    test_f16_matches_f16c_hardware();
#endif
    test_bf16_hand_cases();
    test_bf16_rounding_matches_exact_arithmetic();
    test_q8_0_block_layout_by_hand();
    test_q4_0_block_layout_by_hand();
    test_q8_0_round_trip_error_within_half_scale();
    test_q4_0_round_trip_error_bounds();
    test_q_scales_at_the_ends_of_the_f16_range();
    test_q_non_finite_blocks_read_back_nan();
    test_table_rows_in_enum_order();
    test_plain_float_rows_convert_through_the_table();
    test_nbytes();
    return kvg_test_end();
}
