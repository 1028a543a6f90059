/* simd_vec_avx2.h — the vector layer of the element-wise ops for AVX2+FMA:
 * a vf holds 8 f32 lanes. Included only by *_avx2.c (compiled with -mavx2
 * -mfma); the op bodies (*_simd.h) are written against these names, so the
 * same algorithm runs on NEON with simd_vec_neon.h. */
#ifndef KVG_SIMD_VEC_AVX2_H
#define KVG_SIMD_VEC_AVX2_H

#include <immintrin.h>

#define VF_N 8 /* f32 lanes */
typedef __m256 vf;
typedef __m256 vm; /* lane mask: all ones or all zeros per lane */

static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf x) { _mm256_storeu_ps(p, x); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }   /* a*b + c, one rounding */
static inline vf vf_fnma(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); } /* c - a*b, one rounding */
static inline vf vf_abs(vf x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
/* Nearest integer, ties to even. */
static inline vf vf_round(vf x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
/* 2^n for integer-valued n in [-126, 127], built in the exponent field. */
static inline vf vf_pow2i(vf n)
{
    __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
static inline vm vf_isnan(vf x) { return _mm256_cmp_ps(x, x, _CMP_UNORD_Q); }
static inline vm vf_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
/* m ? a : b per lane. */
static inline vf vf_select(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }

/* r[0..7] (8 rows of 8) become their transpose: r[j] holds column j. */
static inline void vf_transpose(vf r[8])
{
    __m256 t[8], s[8];
    for (int a = 0; a < 8; a += 2) {
        t[a] = _mm256_unpacklo_ps(r[a], r[a + 1]);     /* r_a0 r_b0 r_a1 r_b1 | r_a4 r_b4 r_a5 r_b5 */
        t[a + 1] = _mm256_unpackhi_ps(r[a], r[a + 1]); /* columns 2, 3 | 6, 7 */
    }
    for (int a = 0; a < 8; a += 4) {
        s[a] = _mm256_shuffle_ps(t[a], t[a + 2], 0x44);     /* column 0 of 4 rows | column 4 */
        s[a + 1] = _mm256_shuffle_ps(t[a], t[a + 2], 0xEE); /* 1 | 5 */
        s[a + 2] = _mm256_shuffle_ps(t[a + 1], t[a + 3], 0x44); /* 2 | 6 */
        s[a + 3] = _mm256_shuffle_ps(t[a + 1], t[a + 3], 0xEE); /* 3 | 7 */
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(s[c], s[c + 4], 0x20);
        r[c + 4] = _mm256_permute2f128_ps(s[c], s[c + 4], 0x31);
    }
}

static inline float vf_hsum(vf x)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
static inline float vf_hmax(vf x)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
/* out[0..3] = the lane sums of a, b, c, d. */
static inline void vf_hsum4(vf a, vf b, vf c, vf d, float *out)
{
    __m256 ab = _mm256_hadd_ps(a, b), cd = _mm256_hadd_ps(c, d);
    __m256 abcd = _mm256_hadd_ps(ab, cd); /* [a b c d] partial sums in each 128-bit half */
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}

/* A sum of f32 lanes kept in f64 (norm statistics, softmax denominators). */
typedef struct vd {
    __m256d lo, hi;
} vd;
static inline vd vd_zero(void) { return (vd){_mm256_setzero_pd(), _mm256_setzero_pd()}; }
static inline vd vd_add(vd a, vf x)
{
    a.lo = _mm256_add_pd(a.lo, _mm256_cvtps_pd(_mm256_castps256_ps128(x)));
    a.hi = _mm256_add_pd(a.hi, _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
    return a;
}
/* a += (x - c)^2 per lane, in f64. */
static inline vd vd_add_sq(vd a, vf x, double c)
{
    __m256d cc = _mm256_set1_pd(c);
    __m256d lo = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), cc);
    __m256d hi = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), cc);
    a.lo = _mm256_fmadd_pd(lo, lo, a.lo);
    a.hi = _mm256_fmadd_pd(hi, hi, a.hi);
    return a;
}
static inline double vd_hsum(vd a)
{
    __m256d s = _mm256_add_pd(a.lo, a.hi);
    __m128d t = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    return _mm_cvtsd_f64(_mm_add_sd(t, _mm_unpackhi_pd(t, t)));
}
/* (float)(((double)x - c) * k) per lane. */
static inline vf vf_center_scale(vf x, double c, double k)
{
    __m256d cc = _mm256_set1_pd(c), kk = _mm256_set1_pd(k);
    __m128 lo = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), cc), kk));
    __m128 hi = _mm256_cvtpd_ps(_mm256_mul_pd(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), cc), kk));
    return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

#endif
