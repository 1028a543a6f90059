/* matmul_qdot_neon.c — the block dots of q8_0 / q4_0 products on AArch64
 * Advanced SIMD (baseline ARMv8: no dot-product extension needed). The loop
 * nest, the activation quantizer and the f32 chain are the scalar
 * reference's (matmul_qdot.c); only step 3 of matmul_qdot.h runs here:
 * vmull_s8 / vmlal_s8 give int16 lanes holding two products each
 * (|sum| <= 2 · 128 · 127 = 32512: no overflow), vpadalq_s16 widens them into
 * int32, and the four lanes add up to the exact isum. */
#include <arm_neon.h>

#include "matmul_qdot.h"

void kvg_qdot_blocks_neon(int32_t *isum, const int8_t *qw, const int8_t *qx, size_t n_blocks)
{
    for (size_t blk = 0; blk < n_blocks; blk++, qw += 32, qx += 32) {
        int8x16_t w0 = vld1q_s8(qw), w1 = vld1q_s8(qw + 16), x0 = vld1q_s8(qx), x1 = vld1q_s8(qx + 16);
        int16x8_t p0 = vmlal_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)), vget_high_s8(w0), vget_high_s8(x0));
        int16x8_t p1 = vmlal_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(x1)), vget_high_s8(w1), vget_high_s8(x1));
        isum[blk] = vaddvq_s32(vpadalq_s16(vpaddlq_s16(p0), p1));
    }
}
