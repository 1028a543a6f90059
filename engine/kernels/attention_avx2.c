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

/* The 8x8 block r[a][b] -> r[b][a]. */
static inline void transpose8(__m256 r[8])
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

/* kt[i][j] = k_j[i] (row j at k + j * kv_stride) for i < hd, j < nk, and 0
 * for nk <= j < nk_pad (a multiple of 8, <= KVG_ATTN_BLOCK); hd % 8 == 0. */
static void pack_kt(float *kt, const float *k, size_t nk, size_t nk_pad, size_t hd, size_t kv_stride)
{
    for (size_t j0 = 0; j0 < nk_pad; j0 += 8)
        for (size_t i0 = 0; i0 < hd; i0 += 8) {
            __m256 r[8];
            for (size_t a = 0; a < 8; a++)
                r[a] = j0 + a < nk ? _mm256_loadu_ps(k + (j0 + a) * kv_stride + i0) : _mm256_setzero_ps();
            transpose8(r);
            for (size_t a = 0; a < 8; a++)
                _mm256_storeu_ps(kt + (i0 + a) * KVG_ATTN_BLOCK + j0, r[a]);
        }
}

/* The few-unit path's scores (tiles of generation: 1 to KVG_ATTN_FEW
 * queries per run), without pack_kt: s[r][j0 + c] = q_r . k_{j0 + c} for
 * r < MR, c < 8 * NV. Each 8 keys x 8 head dims of the block are loaded and
 * transposed in registers, then used by every query; each (query, key) is
 * scores_block's chain, acc = fma(q_r[i], k_j[i], acc) for i = 0..hd-1 from
 * 0, so the bits are the packed path's. Keys from nk on (past the block's
 * last visible row) count as 0, as pack_kt pads them. */
static inline __attribute__((always_inline)) void scores_few_block(float (*s)[KVG_ATTN_BLOCK],
                                                                   const kvg_attn_query *u, const float *k,
                                                                   size_t nk, size_t j0, size_t hd,
                                                                   size_t kv_stride, const int MR, const int NV)
{
    __m256 acc[KVG_ATTN_FEW][4];
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++)
            acc[r][c] = _mm256_setzero_ps();
    for (size_t i0 = 0; i0 < hd; i0 += 8)
        for (int c = 0; c < NV; c++) {
            const size_t jc = j0 + 8 * (size_t)c;
            const float *kc = k + jc * kv_stride + i0;
            __m256 t[8];
            if (jc + 8 <= nk)
                for (size_t a = 0; a < 8; a++)
                    t[a] = _mm256_loadu_ps(kc + a * kv_stride);
            else
                for (size_t a = 0; a < 8; a++)
                    t[a] = jc + a < nk ? _mm256_loadu_ps(kc + a * kv_stride) : _mm256_setzero_ps();
            transpose8(t); /* t[a]: head dim i0 + a of the 8 keys */
            for (int a = 0; a < 8; a++)
                for (int r = 0; r < MR; r++)
                    acc[r][c] = _mm256_fmadd_ps(_mm256_set1_ps(u[r].q[i0 + a]), t[a], acc[r][c]);
        }
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++)
            _mm256_storeu_ps(s[r] + j0 + 8 * c, acc[r][c]);
}

/* Scores of a run of n <= KVG_ATTN_FEW queries against the key block at k
 * (rows kv_stride apart); query r sees keys j < nb[r], nk = max nb[r]. */
static __attribute__((noinline)) void scores_few(float (*s)[KVG_ATTN_BLOCK], const kvg_attn_query *u, size_t n,
                                                 const float *k, size_t nk, size_t hd, size_t kv_stride)
{
    const size_t nkv = (nk + 7) / 8; /* vectors of 8 keys */
    /* FEW_NV(MR) vectors of keys at a time: independent FMA chains enough to
     * hide the FMA latency, accumulators few enough for 16 registers */
#define FEW_NV(MR) ((MR) == 1 ? 4 : 2)
    for (size_t c = 0; c < nkv;) {
        const size_t left = nkv - c;
#define CALL(MR)                                                                                                     \
    do {                                                                                                           \
        if (left >= FEW_NV(MR))                                                                                    \
            scores_few_block(s, u, k, nk, 8 * c, hd, kv_stride, MR, FEW_NV(MR)), c += FEW_NV(MR);                  \
        else                                                                                                       \
            scores_few_block(s, u, k, nk, 8 * c, hd, kv_stride, MR, 1), c++;                                       \
    } while (0)
        switch (n) {
        case 1: CALL(1); break;
        case 2: CALL(2); break;
        case 3: CALL(3); break;
        default: CALL(4); break;
        }
#undef CALL
#undef FEW_NV
    }
}

/* vp[j][0..hd) = v_j (row j at v + j * kv_stride) for j < nk. */
static void pack_v(float *vp, const float *v, size_t nk, size_t hd, size_t kv_stride)
{
    for (size_t j = 0; j < nk; j++)
        for (size_t c = 0; c < hd; c += 8) /* hd % 8 == 0: no call to memcpy per 64-float row */
            _mm256_storeu_ps(vp + j * hd + c, _mm256_loadu_ps(v + j * kv_stride + c));
}

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
