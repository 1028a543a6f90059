/* matmul_neon.c — kvg_matmul on AArch64 Advanced SIMD: the blocked GEMM of
 * matmul_blocked.h with a 6×16 micro-kernel of 24 float32x4 accumulators
 * (4 panel loads and 6 broadcasts per k, 24 FMAs; 32 vector registers hold
 * it all) and a packer that widens f16 with vcvt and bf16 with a shift.
 *
 * As on AVX2, every batch size takes this one route and each output is one
 * FMA chain over k in increasing order, then + bias: the same bits as the
 * AVX2 path, whatever the batch or thread count. */
#include <arm_neon.h>

#include "kernels.h"
#include "kernels_simd.h"
#include "matmul_blocked.h"

/* Elements k .. k+3 of row r of an f16 or bf16 [*, n_in] matrix as f32. */
static inline float32x4_t load4_half(const void *w, kvg_dtype wtype, size_t n_in, size_t r, size_t k)
{
    uint16x4_t h = vld1_u16((const uint16_t *)w + r * n_in + k);
    if (wtype == KVG_DTYPE_BF16)
        return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

enum { MR = 6, NR = 16 }; /* the micro-tile: 6 tokens × 16 outputs */

static void pack_w_neon(float *dst, size_t width, const void *w, kvg_dtype wtype, size_t n_in, size_t r0, size_t nr,
                        size_t k0, size_t kc)
{
    if (wtype != KVG_DTYPE_F16 && wtype != KVG_DTYPE_BF16) {
        kgemm_pack_w_scalar(dst, width, w, wtype, n_in, r0, nr, k0, 0, kc);
        return;
    }
    /* 4×4 tiles: four rows of 4 elements become four k rows of the panel. */
    size_t kv = kc / 4 * 4;
    for (size_t r = 0; r < width; r += 4) {
        for (size_t k = 0; k < kv; k += 4) {
            float32x4_t v[4];
            for (size_t i = 0; i < 4; i++)
                v[i] = r + i < nr ? load4_half(w, wtype, n_in, r0 + r + i, k0 + k) : vdupq_n_f32(0.0f);
            float32x4x2_t p = vtrnq_f32(v[0], v[1]), q = vtrnq_f32(v[2], v[3]);
            vst1q_f32(dst + (k + 0) * width + r, vcombine_f32(vget_low_f32(p.val[0]), vget_low_f32(q.val[0])));
            vst1q_f32(dst + (k + 1) * width + r, vcombine_f32(vget_low_f32(p.val[1]), vget_low_f32(q.val[1])));
            vst1q_f32(dst + (k + 2) * width + r, vcombine_f32(vget_high_f32(p.val[0]), vget_high_f32(q.val[0])));
            vst1q_f32(dst + (k + 3) * width + r, vcombine_f32(vget_high_f32(p.val[1]), vget_high_f32(q.val[1])));
        }
    }
    if (kv < kc)
        kgemm_pack_w_scalar(dst, width, w, wtype, n_in, r0, nr, k0, kv, kc);
}

static void micro_neon(size_t kc, const float *const a[KGEMM_MR_MAX], const float *panel, float *c, size_t ldc, int first,
                       const float *bias)
{
    float32x4_t acc[MR][4];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 4; j++)
            acc[i][j] = first ? vdupq_n_f32(0.0f) : vld1q_f32(c + (size_t)i * ldc + 4 * j);
    for (size_t k = 0; k < kc; k++, panel += NR) {
        float32x4_t b0 = vld1q_f32(panel), b1 = vld1q_f32(panel + 4), b2 = vld1q_f32(panel + 8),
                    b3 = vld1q_f32(panel + 12);
        for (int i = 0; i < MR; i++) {
            float32x4_t x = vld1q_dup_f32(a[i] + k);
            acc[i][0] = vfmaq_f32(acc[i][0], x, b0);
            acc[i][1] = vfmaq_f32(acc[i][1], x, b1);
            acc[i][2] = vfmaq_f32(acc[i][2], x, b2);
            acc[i][3] = vfmaq_f32(acc[i][3], x, b3);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < 4; j++) {
            float32x4_t v = bias ? vaddq_f32(acc[i][j], vld1q_f32(bias + 4 * j)) : acc[i][j];
            vst1q_f32(c + (size_t)i * ldc + 4 * j, v);
        }
}

int kvg_matmul_neon(float *y, const float *x, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                    size_t n_in, size_t n_out)
{
    static const kgemm_path path = {MR, NR, pack_w_neon, micro_neon};
    return kgemm_run(&path, y, x, w, wtype, b, n_tok, n_in, n_out);
}
