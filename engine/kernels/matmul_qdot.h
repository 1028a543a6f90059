/* matmul_qdot.h — kvg_matmul for q8_0 / q4_0 weights with integer dot
 * products (internal to engine/kernels).
 *
 * The math (every path computes exactly this, so every path, batch size and
 * thread count gives the same bits):
 *  1. each token's row x[0..n_in) is quantized per 32-element block b:
 *       amax = max |x_k|, dx = amax / 127, inv = amax ? 127 / amax : 0,
 *       qx_k = rint(x_k * inv) as int8 (in [-127, 127]), sx = sum_k qx_k;
 *  2. a weight block is an f16 scale dw and 32 integers qw (q8_0: int8;
 *     q4_0: nibble - 8, low nibbles are k < 16, high nibbles k >= 16);
 *  3. isum = sum_k qw_k qx_k, exact in int32 (any method: it is an integer);
 *  4. acc = 0; for b in increasing order: acc = fmaf(dw_b * dx_b, (float)isum_b, acc);
 *     y = acc + bias (no bias: y = acc).
 * Non-finite x: the affected token's outputs are unspecified (no UB, no crash). */
#ifndef KVG_MATMUL_QDOT_H
#define KVG_MATMUL_QDOT_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "kvg_dtype.h"

/* kvg_qact, kvg_qact_bytes and kvg_qact_quantize (step 1) are public:
 * kernels.h. */

/* kvg_matmul_ex for wtype Q8_0 / Q4_0 (n_in % 32 == 0, n_in > 0, checked by
 * the caller) on the current kernel path: qa when given, else x quantized
 * into scratch allocated for the call. Returns 0, or -1 when scratch memory
 * runs out. */
int kvg_matmul_qdot(float *y, const float *x, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b,
                    size_t n_tok, size_t n_in, size_t n_out, const kvg_epilogue *epi);

/* Quantizes one token's row of n_blocks 32-blocks (step 1): q[32 n_blocks],
 * d[n_blocks], s[n_blocks]. */
typedef void kvg_qact_row_fn(int8_t *q, float *d, int32_t *s, const float *x, size_t n_blocks);

/* isum[b] = sum_k qw[32 b + k] qx[32 b + k] for b < n_blocks (step 3). */
typedef void kvg_qdot_blocks_fn(int32_t *isum, const int8_t *qw, const int8_t *qx, size_t n_blocks);

#ifdef KVG_HAVE_NEON
/* matmul_qdot_neon.c: the block dots with vmull_s8 / vpadalq_s16 (baseline
 * ARMv8, no dot-product extension). */
kvg_qdot_blocks_fn kvg_qdot_blocks_neon;
#endif

#ifdef KVG_HAVE_AVX2
/* matmul_qdot_avx2.c: the row quantizer with the scalar one's bits. */
kvg_qact_row_fn kvg_qact_row_avx2;

/* matmul_qdot_avx2.c: the product of quantized activations with q8_0 /
 * q4_0 weights on AVX2 (vpmaddubsw; only AVX2 instructions when the
 * 512-bit switch is off, KVG_MATMUL_AVX512=0: no AVX-VNNI either), or on
 * AVX-512 VNNI when kvg_matmul_avx512_active() and the CPU has it. Same
 * bits as the scalar reference. Returns 0, or -1 when scratch memory runs
 * out. */
int kvg_matmul_qdot_avx2(float *y, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                         size_t n_out, const kvg_epilogue *epi);

/* matmul_qdot_avx512_avx2.c: the same product with AVX512_VNNI vpdpbusd on
 * zmm registers (kvg_matmul_qdot_avx2 calls it when the 512-bit switch is on
 * and kvg_matmul_qdot_vnni_cpu() says this CPU and OS run AVX512F, BW and
 * VNNI). */
int kvg_matmul_qdot_vnni_cpu(void);
int kvg_matmul_qdot_vnni(float *y, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                         size_t n_out, const kvg_epilogue *epi);
#endif

#endif
