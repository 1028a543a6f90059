/* matmul_neon.c — kvg_matmul on AArch64 Advanced SIMD: the blocked GEMM of
 * matmul_blocked.h with a 6×16 micro-kernel of 24 float32x4 accumulators
 * (4 panel loads and 6 broadcasts per k, 24 FMAs; 32 vector registers hold
 * it all) and a packer that widens every dtype in registers (f16 with vcvt,
 * bf16 with a shift, q8_0 / q4_0 by integer widening times the block scale)
 * and transposes 4×4 tiles into the panel.
 *
 * One to three tokens (generation) take a matrix-vector route that skips the
 * packing. As on AVX2, every output is one FMA chain over k in increasing
 * order, then + bias: the same bits as the AVX2 path, whatever the batch or
 * thread count. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "kernels_simd.h"
#include "matmul_blocked.h"
#include "simd_vec_neon.h"

enum { MR = 6, NR = 16 }; /* the micro-tile: 6 tokens × 16 outputs */

/* Up to MV_MAX_TOK tokens take the matrix-vector route, MV_ROWS outputs at a
 * time (4 independent FMA chains to cover the FMA latency). */
enum { MV_MAX_TOK = 3, MV_ROWS = 16 };
#include "matmul_matvec.h"

/* Bytes per row of a quantized [*, n_in] matrix. */
static size_t q_row_bytes(kvg_dtype wtype, size_t n_in)
{
    return n_in / 32 * (wtype == KVG_DTYPE_Q8_0 ? sizeof(kvg_block_q8_0) : sizeof(kvg_block_q4_0));
}

/* Four bytes as the low lanes of a vector (no read past them). */
static inline uint8x8_t load_bytes4(const void *p)
{
    uint32_t u;
    memcpy(&u, p, sizeof u);
    return vreinterpret_u8_u32(vdup_n_u32(u));
}

/* Elements k .. k+3 of row r of W as f32 (k % 4 == 0; k + 4 <= n_in). The
 * quantized values are scale × integer, one rounding like the format's
 * to_f32 (and exact: an f16 scale times |q| <= 128 fits in f32). */
static inline __attribute__((always_inline)) float32x4_t load4(const void *w, kvg_dtype wtype, size_t n_in, size_t r,
                                                               size_t k)
{
    switch (wtype) {
    case KVG_DTYPE_F16:
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)w + r * n_in + k)));
    case KVG_DTYPE_BF16:
        return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)w + r * n_in + k), 16));
    case KVG_DTYPE_Q8_0: {
        const kvg_block_q8_0 *blk =
            (const kvg_block_q8_0 *)((const unsigned char *)w + r * q_row_bytes(wtype, n_in)) + k / 32;
        int16x8_t q16 = vmovl_s8(vreinterpret_s8_u8(load_bytes4(blk->qs + k % 32)));
        float32x4_t q = vcvtq_f32_s32(vmovl_s16(vget_low_s16(q16)));
        return vmulq_n_f32(q, kvg_f16_to_f32(blk->d));
    }
    case KVG_DTYPE_Q4_0: {
        const kvg_block_q4_0 *blk =
            (const kvg_block_q4_0 *)((const unsigned char *)w + r * q_row_bytes(wtype, n_in)) + k / 32;
        size_t o = k % 32; /* elements 0..15: low nibbles of bytes 0..15; 16..31: high nibbles */
        uint8x8_t b = load_bytes4(blk->qs + o % 16);
        b = o < 16 ? vand_u8(b, vdup_n_u8(15)) : vshr_n_u8(b, 4);
        int16x8_t q16 = vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(b)), vdupq_n_s16(8));
        float32x4_t q = vcvtq_f32_s32(vmovl_s16(vget_low_s16(q16)));
        return vmulq_n_f32(q, kvg_f16_to_f32(blk->d));
    }
    default:
        return vld1q_f32((const float *)w + r * n_in + k);
    }
}

static void pack_w_neon(float *dst, size_t width, const void *w, kvg_dtype wtype, size_t n_in, size_t r0, size_t nr,
                        size_t k0, size_t kc)
{
    /* 4×4 tiles: four rows of 4 elements become four k rows of the panel. */
    size_t kv = kc / 4 * 4;
    for (size_t r = 0; r < width; r += 4) {
        for (size_t k = 0; k < kv; k += 4) {
            float32x4_t v[4];
            for (size_t i = 0; i < 4; i++)
                v[i] = r + i < nr ? load4(w, wtype, n_in, r0 + r + i, k0 + k) : vdupq_n_f32(0.0f);
            vf_transpose(v); /* v[j] = column j */
            for (size_t j = 0; j < 4; j++)
                vst1q_f32(dst + (k + j) * width + r, v[j]);
        }
    }
    if (kv < kc) /* float types only: quantized n_in is whole blocks of 32 */
        kgemm_pack_w_scalar(dst, width, w, wtype, n_in, r0, nr, k0, kv, kc);
}

/* The packer with the dtype a constant, so the compiler drops the switch. */
KGEMM_PACK_W_PER_DTYPE(pack_w_neon_any, pack_w_neon)

static void micro_neon(size_t kc, const float *const a[KGEMM_MR_MAX], const float *panel, float *c, size_t ldc,
                       int first, const float *bias)
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

/* y[r0 .. r0+nr-1] for one token (nr <= MV_ROWS): the same FMA chains as the
 * GEMM (per output, k in increasing order, then + bias), but each 4×4 tile
 * of W goes from the transpose straight into the FMAs instead of through a
 * packed panel: one token has no reuse to pay for packing. */
static inline __attribute__((always_inline)) void matvec_rows(float *yt, const float *xt, const void *w,
                                                              kvg_dtype wtype, const float *b, size_t n_in, size_t r0,
                                                              size_t nr)
{
    float32x4_t acc[MV_ROWS / 4];
    size_t n_groups = (nr + 3) / 4, kv = n_in / 4 * 4;
    for (size_t g = 0; g < n_groups; g++)
        acc[g] = vdupq_n_f32(0.0f);
    for (size_t k = 0; k < kv; k += 4)
        for (size_t g = 0; g < n_groups; g++) {
            float32x4_t v[4];
            for (size_t i = 0; i < 4; i++)
                v[i] = g * 4 + i < nr ? load4(w, wtype, n_in, r0 + g * 4 + i, k) : vdupq_n_f32(0.0f);
            vf_transpose(v); /* v[j] = column j */
            for (size_t j = 0; j < 4; j++)
                acc[g] = vfmaq_n_f32(acc[g], v[j], xt[k + j]);
        }
    float sums[MV_ROWS];
    for (size_t g = 0; g < n_groups; g++)
        vst1q_f32(sums + g * 4, acc[g]);
    matvec_finish(yt, xt, sums, w, wtype, b, n_in, r0, nr, kv);
}

int kvg_matmul_neon(float *y, const float *x, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                    size_t n_in, size_t n_out, const kvg_epilogue *epi)
{
    if (n_tok <= MV_MAX_TOK) {
        matvec(y, x, w, wtype, b, n_tok, n_in, n_out, epi);
        return 0;
    }
    static const kgemm_path path = {MR, NR, pack_w_neon_any, micro_neon};
    return kgemm_run(&path, y, x, w, wtype, b, n_tok, n_in, n_out, epi);
}
