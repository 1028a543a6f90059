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
