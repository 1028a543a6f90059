/* attention_neon.c — the AArch64 path's attention tile: the blocked kernel
 * of attention_blocked.h on 128-bit registers (4 f32 lanes; 32 of them hold
 * a 6-query x 16-key register block), with the few-unit path for
 * generation, and the online softmax of attention_blocked_vf.h. As on
 * x86-64, every score, weight and output element is one fixed chain of
 * operations whatever the tile, run or thread, so a token has the same bits
 * alone or in a batch and on any thread count. Head dims that are not a
 * multiple of 4 or above KVG_ATTN_SIMD_MAX_HD use the scalar unit. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "ops_simd.h"
#include "simd_vec_neon.h"
#include "vmath_simd.h"

#include "attention_blocked_vf.h"

/* kt[i][j] = k_j[i] (row j at k + j * kv_stride) for i < hd, j < nk, and 0
 * for nk <= j < nk_pad (a multiple of 4, <= KVG_ATTN_BLOCK); hd % 4 == 0. */
static void pack_kt(float *kt, const float *k, size_t nk, size_t nk_pad, size_t hd, size_t kv_stride)
{
    for (size_t j0 = 0; j0 < nk_pad; j0 += 4)
        for (size_t i0 = 0; i0 < hd; i0 += 4) {
            vf r[4];
            for (size_t a = 0; a < 4; a++)
                r[a] = j0 + a < nk ? vf_load(k + (j0 + a) * kv_stride + i0) : vf_set1(0.0f);
            vf_transpose4(r);
            for (size_t a = 0; a < 4; a++)
                vf_store(kt + (i0 + a) * KVG_ATTN_BLOCK + j0, r[a]);
        }
}

/* vp[j][0..hd) = v_j (row j at v + j * kv_stride) for j < nk. */
static void pack_v(float *vp, const float *v, size_t nk, size_t hd, size_t kv_stride)
{
    for (size_t j = 0; j < nk; j++)
        for (size_t c = 0; c < hd; c += 4)
            vf_store(vp + j * hd + c, vf_load(v + j * kv_stride + c));
}

/* The few-unit path's scores (see attention_avx2.c's): s[r][j0 + c] =
 * q_r . k_{j0 + c} for r < MR, c < 4 * NV, from 4 keys x 4 head dims
 * transposed in registers; each (query, key) is scores_block's chain over
 * i = 0..hd-1 from 0. Keys from nk on count as 0. */
static inline __attribute__((always_inline)) void scores_few_block(float (*s)[KVG_ATTN_BLOCK],
                                                                   const kvg_attn_query *u, const float *k,
                                                                   size_t nk, size_t j0, size_t hd,
                                                                   size_t kv_stride, const int MR, const int NV)
{
    vf acc[KVG_ATTN_FEW][4];
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++)
            acc[r][c] = vf_set1(0.0f);
    for (size_t i0 = 0; i0 < hd; i0 += 4)
        for (int c = 0; c < NV; c++) {
            const size_t jc = j0 + 4 * (size_t)c;
            const float *kc = k + jc * kv_stride + i0;
            vf t[4];
            for (size_t a = 0; a < 4; a++)
                t[a] = jc + a < nk ? vf_load(kc + a * kv_stride) : vf_set1(0.0f);
            vf_transpose4(t); /* t[a]: head dim i0 + a of the 4 keys */
            for (int a = 0; a < 4; a++)
                for (int r = 0; r < MR; r++)
                    acc[r][c] = vf_fma(vf_set1(u[r].q[i0 + a]), t[a], acc[r][c]);
        }
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NV; c++)
            vf_store(s[r] + j0 + 4 * c, acc[r][c]);
}

/* Scores of a run of n <= KVG_ATTN_FEW queries against the key block at k
 * (rows kv_stride apart); query r sees keys j < nb[r], nk = max nb[r]. Four
 * vectors of keys at a time (at most 16 accumulators of 32 registers). */
static __attribute__((noinline)) void scores_few(float (*s)[KVG_ATTN_BLOCK], const kvg_attn_query *u, size_t n,
                                                 const float *k, size_t nk, size_t hd, size_t kv_stride)
{
    const size_t nkv = (nk + 3) / 4; /* vectors of 4 keys */
    for (size_t c = 0; c < nkv;) {
        const size_t left = nkv - c;
#define CALL(MR)                                                                                                     \
    do {                                                                                                           \
        if (left >= 4)                                                                                             \
            scores_few_block(s, u, k, nk, 4 * c, hd, kv_stride, MR, 4), c += 4;                                    \
        else                                                                                                       \
            scores_few_block(s, u, k, nk, 4 * c, hd, kv_stride, MR, 1), c++;                                       \
    } while (0)
        switch (n) {
        case 1: CALL(1); break;
        case 2: CALL(2); break;
        case 3: CALL(3); break;
        default: CALL(4); break;
        }
#undef CALL
    }
}

/* 6 queries x 4 vectors = 24 accumulators of 32 registers. */
#define AB_FN(name) name##_128
#define AB_TARGET
#define av float32x4_t
#define AV_N 4
#define av_zero() vdupq_n_f32(0.0f)
#define av_load(p) vld1q_f32(p)
#define av_store(p, x) vst1q_f32(p, x)
#define av_set1(x) vdupq_n_f32(x)
#define av_mul(a, b) vmulq_f32(a, b)
#define av_fma(a, b, c) vfmaq_f32(c, a, b)
#define AB_MR_S 6
#define AB_MR_PV 6
#define AB_SOFTMAX_ROW softmax_row_vf
#include "attention_blocked.h"

size_t kvg_attend_scratch_neon(size_t hd)
{
    return hd % 4 || hd > KVG_ATTN_SIMD_MAX_HD ? 0 : 2 * KVG_ATTN_BLOCK * hd;
}

void kvg_attend_tile_neon(const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride, float scale, float *scratch)
{
    if (hd % 4 || hd > KVG_ATTN_SIMD_MAX_HD)
        kvg_attend_tile_scalar(u, n, hd, kv_stride, scale, NULL);
    else
        attend_tile(attend_run_128, u, n, hd, kv_stride, scale, scratch);
}
