/* kvg_dtype.c — the dtype table and the scalar reference conversions.
 *
 * This is the truth every SIMD kernel is tested against, so it stays scalar
 * and plain. f16 and bf16 are converted with integer bit manipulation (no
 * _Float16, no intrinsics) so the result is the same on every compiler and
 * ISA. NaNs follow x86 F16C and AVX512-BF16, so SIMD paths built on them
 * agree bit for bit: narrowing and f16 widening keep the (truncated) payload
 * and set the quiet bit; bf16 widening is the plain 16-bit shift. */
#include "kvg_dtype.h"

#include <math.h>
#include <string.h>

/* ---- IEEE binary16 ------------------------------------------------------ */

uint16_t kvg_f32_to_f16(float x)
{
    uint32_t u = kvg_f32_bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffff;

    if (a > 0x7f800000) /* NaN: keep the top payload bits, force the quiet bit */
        return (uint16_t)(sign | 0x7e00 | ((a & 0x7fffff) >> 13));
    /* 65520 = 65504 + half an f16 ulp is the tie between 65504 (odd mantissa)
     * and 2^16, so it and everything above (inf included) rounds to inf. */
    if (a >= 0x477ff000)
        return (uint16_t)(sign | 0x7c00);
    if (a >= 0x38800000) { /* f16 normal range, >= 2^-14 */
        /* Round to nearest even on the 13 dropped bits: add just under half,
         * plus one more when the kept lsb is odd. A carry out of the mantissa
         * correctly bumps the exponent. */
        a += 0xfff + ((a >> 13) & 1);
        /* Rebias the exponent from 127 to 15: subtract 112 << 23. */
        return (uint16_t)(sign | ((a - (112u << 23)) >> 13));
    }
    /* f16 subnormal or zero: the result is m * 2^-24 with m in [0, 1024]
     * (1024 being the smallest normal, reached by rounding up). Up to 2^-25
     * inclusive (a tie with 0, which is even) everything becomes zero. */
    if (a <= 0x33000000)
        return sign;
    uint32_t mant = (a & 0x7fffff) | 0x800000; /* value = mant * 2^(e-150) */
    uint32_t shift = 126 - (a >> 23);           /* m = mant >> shift, 14..24 */
    uint32_t m = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (m & 1)))
        m++;
    return (uint16_t)(sign | m);
}

float kvg_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;

    if (exp == 0x1f) /* inf, or NaN made quiet (as F16C does) */
        return kvg_f32_from_bits(sign | 0x7f800000 | (mant ? 0x400000 : 0) | (mant << 13));
    if (exp == 0) {
        if (mant == 0)
            return kvg_f32_from_bits(sign);
        /* Subnormal mant * 2^-24: shift the leading 1 up to the implicit bit
         * position, lowering the exponent once per shift. */
        int e = -14;
        while (!(mant & 0x400)) {
            mant <<= 1;
            e--;
        }
        return kvg_f32_from_bits(sign | (uint32_t)(e + 127) << 23 | (mant & 0x3ff) << 13);
    }
    return kvg_f32_from_bits(sign | (exp + 112) << 23 | mant << 13);
}

/* ---- bfloat16 ------------------------------------------------------------ */

uint16_t kvg_f32_to_bf16(float x)
{
    uint32_t u = kvg_f32_bits(x);
    if ((u & 0x7fffffff) > 0x7f800000) /* NaN: truncate, force the quiet bit */
        return (uint16_t)((u >> 16) | 0x0040);
    /* Round to nearest even on the low 16 bits. Finite values past the
     * largest bf16 carry into the exponent and become inf, as IEEE says;
     * no finite or infinite input can overflow the uint32_t. */
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* bf16 is the top half of an f32, so widening is exact, NaNs included. */
float kvg_bf16_to_f32(uint16_t h)
{
    return kvg_f32_from_bits((uint32_t)h << 16);
}

/* ---- plain types ---------------------------------------------------------- */

static void f32_to_f32(const void *src, float *dst, size_t n)
{
    memcpy(dst, src, n * sizeof(float));
}

static void f32_from_f32(const float *src, void *dst, size_t n)
{
    memcpy(dst, src, n * sizeof(float));
}

static void f16_to_f32(const void *src, float *dst, size_t n)
{
    const uint16_t *s = src;
    for (size_t i = 0; i < n; i++)
        dst[i] = kvg_f16_to_f32(s[i]);
}

static void f16_from_f32(const float *src, void *dst, size_t n)
{
    uint16_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = kvg_f32_to_f16(src[i]);
}

static void bf16_to_f32(const void *src, float *dst, size_t n)
{
    const uint16_t *s = src;
    for (size_t i = 0; i < n; i++)
        dst[i] = kvg_bf16_to_f32(s[i]);
}

static void bf16_from_f32(const float *src, void *dst, size_t n)
{
    uint16_t *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = kvg_f32_to_bf16(src[i]);
}

static void f64_to_f32(const void *src, float *dst, size_t n)
{
    const double *s = src;
    /* IEC 60559 (C11 Annex F, which gcc and clang follow) defines the
     * narrowing: round to nearest, beyond the float range -> inf. */
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)s[i];
}

static void f64_from_f32(const float *src, void *dst, size_t n)
{
    double *d = dst;
    for (size_t i = 0; i < n; i++)
        d[i] = src[i];
}

/* ---- quantized blocks ----------------------------------------------------- */

/* The f16 bits stored for a finite block scale d. Plain round-to-nearest
 * would break the error bounds at both ends of the f16 range, so:
 * - beyond 65504 the scale saturates to +-65504 (inf would make every
 *   element inf*0 = NaN); elements then clamp and the bounds no longer hold;
 * - below 2^-14 (f16 subnormals) nearest rounding can lose up to half of d,
 *   and all of it under 2^-25, which would push elements past the q range
 *   or to zero; there the magnitude is rounded up one ulp instead, so the
 *   stored |scale| >= |d|. In the normal range nearest is kept: its relative
 *   error (<= 2^-11) is too small to push any element out of range. */
static uint16_t scale_to_f16(float d)
{
    uint16_t h = kvg_f32_to_f16(d);
    if ((h & 0x7fff) == 0x7c00)
        return (uint16_t)(h - 1); /* 0x7bff / 0xfbff */
    if ((h & 0x7fff) < 0x0400 && fabsf(kvg_f16_to_f32(h)) < fabsf(d))
        return (uint16_t)(h + 1); /* one ulp away from zero; may reach 0x0400 */
    return h;
}

static int block_is_finite(const float *x, int n)
{
    for (int j = 0; j < n; j++)
        if (!isfinite(x[j]))
            return 0;
    return 1;
}

/* q8_0, per block of 32: d = max|x| / 127, stored as f16; each q is x divided
 * by the *stored* scale, rounded half away from zero.
 *
 * Bound: |x - dh*q| <= dh/2 for every element (dh the stored scale), up to
 * the rounding of the quotient x/dh (< 127.5 * 2^-24 < 2^-17, in units of
 * dh). Why: |x| <= 127*d, and dh >= d/(1 + 2^-11) (nearest rounding in the
 * f16 normal range) or dh >= d (below it, see scale_to_f16), so
 * |x/dh| <= 127.07 < 127.5 and no element ever reaches the clamp. The bound
 * does not hold once d > 65504 saturates the scale.
 *
 * A block holding NaN or +-inf stores a NaN scale and q = 0, so every one
 * of its elements reads back as NaN: the damage stays visible and confined
 * to its block. */
static void q8_0_from_f32(const float *src, void *dst, size_t n)
{
    kvg_block_q8_0 *blocks = dst;
    for (size_t b = 0; b < n / KVG_QK8_0; b++) {
        const float *x = src + b * KVG_QK8_0;
        kvg_block_q8_0 *out = &blocks[b];

        if (!block_is_finite(x, KVG_QK8_0)) {
            out->d = 0x7e00;
            memset(out->qs, 0, sizeof out->qs);
            continue;
        }
        float amax = 0.0f;
        for (int j = 0; j < KVG_QK8_0; j++)
            if (fabsf(x[j]) > amax)
                amax = fabsf(x[j]);

        out->d = scale_to_f16(amax / 127.0f);
        float dh = kvg_f16_to_f32(out->d);
        for (int j = 0; j < KVG_QK8_0; j++) {
            float v = dh != 0.0f ? roundf(x[j] / dh) : 0.0f;
            /* Only a saturated scale can leave [-127, 127]; clamping before
             * the conversion keeps even that case defined. */
            if (v > 127.0f)
                v = 127.0f;
            if (v < -127.0f)
                v = -127.0f;
            out->qs[j] = (int8_t)v;
        }
    }
}

static void q8_0_to_f32(const void *src, float *dst, size_t n)
{
    const kvg_block_q8_0 *blocks = src;
    for (size_t b = 0; b < n / KVG_QK8_0; b++) {
        float d = kvg_f16_to_f32(blocks[b].d);
        for (int j = 0; j < KVG_QK8_0; j++)
            dst[b * KVG_QK8_0 + j] = d * (float)blocks[b].qs[j];
    }
}

/* q4_0, per block of 32 (GGUF's scheme): m is the element of largest |x|,
 * sign kept, and d = m / -8, so m itself maps to q = 0 and the 16 levels
 * d*(q-8), q in [0, 15], span [m, -7m/8]. m reads back as -8*dh: exact up to
 * the f16 rounding of the scale while that is normal (|m| >= 2^-11).
 *
 * Bounds, dh the stored scale, each up to float rounding of x*id + 8.5
 * (< 2^-19 |dh|): |x - dh*(q-8)| <= |dh|/2 for elements not clamped; only
 * elements near -m clamp (at q = 15), and their error is at most
 * |8d - 7dh|, as -m = 8d reads back as 7dh. That is <= |dh| when the scale
 * rounded up, and <= |dh| (1 + 2^-8) when f16 rounding took it down (only
 * at or above 2^-14, see scale_to_f16). Nothing holds once the scale
 * saturates (|m| > 8 * 65504).
 *
 * Non-finite blocks store a NaN scale and q = 8: every element reads NaN. */
static void q4_0_from_f32(const float *src, void *dst, size_t n)
{
    kvg_block_q4_0 *blocks = dst;
    for (size_t b = 0; b < n / KVG_QK4_0; b++) {
        const float *x = src + b * KVG_QK4_0;
        kvg_block_q4_0 *out = &blocks[b];

        if (!block_is_finite(x, KVG_QK4_0)) {
            out->d = 0x7e00;
            memset(out->qs, 0x88, sizeof out->qs);
            continue;
        }
        float amax = 0.0f, m = 0.0f;
        for (int j = 0; j < KVG_QK4_0; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                m = x[j];
            }
        }

        out->d = scale_to_f16(m / -8.0f);
        float dh = kvg_f16_to_f32(out->d);
        float id = dh != 0.0f ? 1.0f / dh : 0.0f;
        uint8_t q[KVG_QK4_0];
        for (int j = 0; j < KVG_QK4_0; j++) {
            float v = floorf(x[j] * id + 8.5f);
            /* Clamp as a float: a saturated scale sends v anywhere. */
            if (v < 0.0f)
                v = 0.0f;
            if (v > 15.0f)
                v = 15.0f;
            q[j] = (uint8_t)v;
        }
        for (int j = 0; j < KVG_QK4_0 / 2; j++)
            out->qs[j] = (uint8_t)(q[j] | q[j + KVG_QK4_0 / 2] << 4);
    }
}

static void q4_0_to_f32(const void *src, float *dst, size_t n)
{
    const kvg_block_q4_0 *blocks = src;
    for (size_t b = 0; b < n / KVG_QK4_0; b++) {
        float d = kvg_f16_to_f32(blocks[b].d);
        float *y = dst + b * KVG_QK4_0;
        for (int j = 0; j < KVG_QK4_0 / 2; j++) {
            y[j] = d * (float)((blocks[b].qs[j] & 15) - 8);
            y[j + KVG_QK4_0 / 2] = d * (float)((blocks[b].qs[j] >> 4) - 8);
        }
    }
}

/* ---- the table ------------------------------------------------------------ */

#define PLAIN(name, type, to, from) {name, 1, sizeof(type), to, from}

static const kvg_dtype_traits kvg_dtypes[KVG_DTYPE_COUNT] = {
    [KVG_DTYPE_F32] = PLAIN("f32", float, f32_to_f32, f32_from_f32),
    [KVG_DTYPE_F16] = PLAIN("f16", uint16_t, f16_to_f32, f16_from_f32),
    [KVG_DTYPE_BF16] = PLAIN("bf16", uint16_t, bf16_to_f32, bf16_from_f32),
    [KVG_DTYPE_Q8_0] = {"q8_0", KVG_QK8_0, sizeof(kvg_block_q8_0), q8_0_to_f32, q8_0_from_f32},
    [KVG_DTYPE_Q4_0] = {"q4_0", KVG_QK4_0, sizeof(kvg_block_q4_0), q4_0_to_f32, q4_0_from_f32},
    [KVG_DTYPE_I8] = PLAIN("i8", int8_t, NULL, NULL),
    [KVG_DTYPE_U8] = PLAIN("u8", uint8_t, NULL, NULL),
    [KVG_DTYPE_I16] = PLAIN("i16", int16_t, NULL, NULL),
    [KVG_DTYPE_U16] = PLAIN("u16", uint16_t, NULL, NULL),
    [KVG_DTYPE_I32] = PLAIN("i32", int32_t, NULL, NULL),
    [KVG_DTYPE_U32] = PLAIN("u32", uint32_t, NULL, NULL),
    [KVG_DTYPE_I64] = PLAIN("i64", int64_t, NULL, NULL),
    [KVG_DTYPE_U64] = PLAIN("u64", uint64_t, NULL, NULL),
    [KVG_DTYPE_F64] = PLAIN("f64", double, f64_to_f32, f64_from_f32),
};

const kvg_dtype_traits *kvg_dtype_get(uint32_t dtype)
{
    return dtype < KVG_DTYPE_COUNT ? &kvg_dtypes[dtype] : NULL;
}

int kvg_dtype_from_name(const char *name, kvg_dtype *out)
{
    if (!name)
        return -1;
    for (int i = 0; i < KVG_DTYPE_COUNT; i++) {
        if (strcmp(kvg_dtypes[i].name, name) == 0) {
            *out = (kvg_dtype)i;
            return 0;
        }
    }
    return -1;
}

int kvg_dtype_nbytes(uint32_t dtype, uint64_t n_elems, uint64_t *out)
{
    const kvg_dtype_traits *t = kvg_dtype_get(dtype);
    if (!t || n_elems % t->block_elems != 0)
        return -1;
    uint64_t blocks = n_elems / t->block_elems;
    if (blocks > UINT64_MAX / t->block_bytes)
        return -1;
    *out = blocks * t->block_bytes;
    return 0;
}
