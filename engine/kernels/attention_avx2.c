/* attention_avx2.c — the x86-64 path's attention tile: the blocked kernel of
 * attention_blocked.h on 256-bit registers (AVX2+FMA), and on 512-bit ones
 * (AVX-512F, enabled per function by a target attribute) when
 * kvg_matmul_avx512_active() says so. Both give the same bits: every lane
 * runs the same chain of operations, and the softmax between the two
 * products (scale, mask, max, exp, sum) is the one 256-bit code of
 * attention_blocked_vf.h (or its 16-lane twin below), and
 * the few-unit path's scores (scores_few, for generation's runs of 1 to
 * KVG_ATTN_FEW queries) are 256-bit in both.
 * Head dims that are not a multiple of 8 or above KVG_ATTN_SIMD_MAX_HD use
 * the scalar unit. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "ops_simd.h"
#include "simd_vec_avx2.h"
#include "vmath_simd.h"

#include "attention_blocked_vf.h"

#define TARGET_AVX512 __attribute__((target("avx512f")))

/* vf_exp (vmath_simd.h) on 16 lanes: the same operations per lane, so the
 * same bits. */
static inline TARGET_AVX512 __m512 exp_512(__m512 x)
{
    const __m512 ln2_hi = _mm512_set1_ps(0.693359375f), ln2_lo = _mm512_set1_ps(-2.12194440e-4f);
    __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(89.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504089f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, ln2_hi, xc);
    r = _mm512_fnmadd_ps(n, ln2_lo, r);
    __m512 p = _mm512_set1_ps(0.0013941108434f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.0083751263982f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.041666352897f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.16666415515f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.50000000471f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0000000377f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    __m512 n1 = _mm512_roundscale_ps(_mm512_mul_ps(n, _mm512_set1_ps(0.5f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 n2 = _mm512_sub_ps(n, n1);
    const __m512i bias = _mm512_set1_epi32(127);
    __m512 f1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n1), bias), 23));
    __m512 f2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n2), bias), 23));
    __m512 y = _mm512_mul_ps(_mm512_mul_ps(p, f1), f2);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), y, x); /* NaN stays NaN */
}

/* softmax_row_vf (attention_blocked_vf.h) with the exponentials on 16 lanes; the denominator is
 * summed in a second pass on 8 lanes, in softmax_row_vf's order. */
static __attribute__((noinline)) TARGET_AVX512 float softmax_row_512(float *s, size_t nb, float scale, float *m, float *l)
{
    if (!nb)
        return 1.0f;
    const float m_new = block_max(s, nb, 16, scale, *m);
    const float corr = expf(*m - m_new);
    const __m512 sv = _mm512_set1_ps(scale), neg_m = _mm512_set1_ps(-m_new);
    for (size_t j = 0; j < nb; j += 16)
        _mm512_storeu_ps(s + j, exp_512(_mm512_fmadd_ps(_mm512_loadu_ps(s + j), sv, neg_m)));
    vf lsum = vf_set1(0.0f);
    for (size_t j = 0; j < nb; j += VF_N)
        lsum = vf_add(lsum, vf_load(s + j));
    *l = *l * corr + vf_hsum(lsum);
    *m = m_new;
    return corr;
}

/* 256-bit: 3 queries x 4 vectors = 12 accumulators of 16 ymm registers. */
#define AB_FN(name) name##_256
#define AB_TARGET
#define av __m256
#define AV_N 8
#define av_zero() _mm256_setzero_ps()
#define av_load(p) _mm256_loadu_ps(p)
#define av_store(p, x) _mm256_storeu_ps(p, x)
#define av_set1(x) _mm256_set1_ps(x)
#define av_mul(a, b) _mm256_mul_ps(a, b)
#define av_fma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define AB_MR_S 3
#define AB_MR_PV 3
#define AB_SOFTMAX_ROW softmax_row_vf
#include "attention_blocked.h"
#undef AB_FN
#undef AB_TARGET
#undef av
#undef AV_N
#undef av_zero
#undef av_load
#undef av_store
#undef av_set1
#undef av_mul
#undef av_fma
#undef AB_MR_S
#undef AB_MR_PV
#undef AB_SOFTMAX_ROW

/* 512-bit: 6 queries x 4 vectors = 24 accumulators of 32 zmm registers. */
#define AB_FN(name) name##_512
#define AB_TARGET TARGET_AVX512
#define av __m512
#define AV_N 16
#define av_zero() _mm512_setzero_ps()
#define av_load(p) _mm512_loadu_ps(p)
#define av_store(p, x) _mm512_storeu_ps(p, x)
#define av_set1(x) _mm512_set1_ps(x)
#define av_mul(a, b) _mm512_mul_ps(a, b)
#define av_fma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define AB_MR_S 6
#define AB_MR_PV 6
#define AB_SOFTMAX_ROW softmax_row_512
#include "attention_blocked.h"

size_t kvg_attend_scratch_avx2(size_t hd)
{
    return hd % 8 || hd > KVG_ATTN_SIMD_MAX_HD ? 0 : 2 * KVG_ATTN_BLOCK * hd;
}

void kvg_attend_tile_avx2(const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride, float scale,
                          float *scratch)
{
    if (hd % 8 || hd > KVG_ATTN_SIMD_MAX_HD)
        kvg_attend_tile_scalar(u, n, hd, kv_stride, scale, NULL);
    else
        attend_tile(attend_run_256, u, n, hd, kv_stride, scale, scratch);
}

void kvg_attend_tile_avx512(const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride, float scale,
                            float *scratch)
{
    if (hd % 16) /* the 512-bit P·V needs whole zmm vectors of head dims; the same bits on 256-bit */
        kvg_attend_tile_avx2(u, n, hd, kv_stride, scale, scratch);
    else if (hd > KVG_ATTN_SIMD_MAX_HD)
        kvg_attend_tile_scalar(u, n, hd, kv_stride, scale, NULL);
    else
        attend_tile(attend_run_512, u, n, hd, kv_stride, scale, scratch);
}
