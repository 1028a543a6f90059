/* matmul_qdot.c — q8_0 / q4_0 products with integer dot products: the
 * activation quantizer every path shares, the scalar reference every SIMD
 * path is tested against (bit for bit), and the choice of path. The math is
 * in matmul_qdot.h.
 *
 * Scalar reference: threads split W's rows (blocks of ROWS outputs, unpacked
 * to int8 once and reused by every token); each output of each token is the
 * block chain of matmul_qdot.h step 4, so the result does not depend on the
 * thread count. NEON runs the same loop nest with vmull_s8 block dots
 * (matmul_qdot_neon.c). */
#include "matmul_qdot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_path.h"
#include "kernels.h"
#include "kernels_simd.h"

enum { QK = 32, ROWS = 16 };

size_t kvg_qact_bytes(size_t n_tok, size_t n_in) { return n_tok * (n_in + 8 * (n_in / QK)); }

/* One token's row, block by block (matmul_qdot.h step 1). */
static void quantize_row_scalar(int8_t *q, float *d, int32_t *s, const float *x, size_t n_blocks)
{
    for (size_t blk = 0; blk < n_blocks; blk++, x += QK, q += QK) {
        float amax = 0.0f;
        for (int k = 0; k < QK; k++)
            amax = fmaxf(amax, fabsf(x[k]));
        float inv = amax != 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (int k = 0; k < QK; k++) {
            float r = rintf(x[k] * inv);
            /* |r| <= 127 for finite x; the test keeps NaN / inf out of the cast (UB). */
            int v = r >= -127.0f && r <= 127.0f ? (int)r : 0;
            q[k] = (int8_t)v;
            sum += v;
        }
        d[blk] = amax / 127.0f;
        s[blk] = sum;
    }
}

void kvg_qact_quantize(kvg_qact *qa, void *scratch, const float *x, size_t n_tok, size_t n_in)
{
    size_t n_blocks = n_in / QK;
    /* d and s first (4-byte items), then the bytes of q. */
    float *d = scratch;
    int32_t *s = (int32_t *)(d + n_tok * n_blocks);
    int8_t *q = (int8_t *)(s + n_tok * n_blocks);
    kvg_qact_row_fn *quantize_row = quantize_row_scalar;
#ifdef KVG_HAVE_AVX2
    if (kvg_kernel_path_get() == KVG_PATH_AVX2)
        quantize_row = kvg_qact_row_avx2;
#endif
    long n = (long)n_tok;
#pragma omp parallel for schedule(static) if ((double)n_tok * n_in >= KVG_PARALLEL_MIN_WORK)
    for (long t = 0; t < n; t++)
        quantize_row(q + (size_t)t * n_in, d + (size_t)t * n_blocks, s + (size_t)t * n_blocks, x + (size_t)t * n_in,
                     n_blocks);
    qa->q = q, qa->d = d, qa->s = s, qa->n_in = n_in, qa->n_blocks = n_blocks;
}

/* Weight block blk of row r as 32 integers (step 2) and its scale. */
static float weight_block(int8_t qw[QK], const void *w, kvg_dtype wtype, size_t n_blocks, size_t r, size_t blk)
{
    if (wtype == KVG_DTYPE_Q8_0) {
        const kvg_block_q8_0 *p = (const kvg_block_q8_0 *)w + r * n_blocks + blk;
        memcpy(qw, p->qs, QK);
        return kvg_f16_to_f32(p->d);
    }
    const kvg_block_q4_0 *p = (const kvg_block_q4_0 *)w + r * n_blocks + blk;
    for (int k = 0; k < QK / 2; k++) {
        qw[k] = (int8_t)((p->qs[k] & 15) - 8);
        qw[k + QK / 2] = (int8_t)((p->qs[k] >> 4) - 8);
    }
    return kvg_f16_to_f32(p->d);
}

/* The scalar block dots (step 3). */
static void block_dots_scalar(int32_t *isum, const int8_t *qw, const int8_t *qx, size_t n_blocks)
{
    for (size_t blk = 0; blk < n_blocks; blk++, qw += QK, qx += QK) {
        int32_t sum = 0;
        for (int k = 0; k < QK; k++)
            sum += qw[k] * qx[k];
        isum[blk] = sum;
    }
}

/* The reference's loop nest with the block dots of a path (the scalar ones,
 * or NEON's): each output's isums, then the f32 chain of step 4. */
static int matmul_qdot_rows(float *y, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b,
                            size_t n_tok, size_t n_out, kvg_qdot_blocks_fn *block_dots, const kvg_epilogue *epi)
{
    const size_t n_blocks = qa->n_blocks, n_in = qa->n_in;
    long n_row_blocks = (long)((n_out + ROWS - 1) / ROWS);
    int failed = 0;
#pragma omp parallel reduction(| : failed) if ((double)n_tok * n_in * n_out >= KVG_PARALLEL_MIN_WORK)
    {
        /* A block of ROWS rows as integers and scales, reused by every token. */
        int8_t *qw = malloc(ROWS * n_in);
        float *dw = malloc(ROWS * n_blocks * sizeof *dw);
        int32_t *isum = malloc(n_blocks * sizeof *isum);
        failed = !qw || !dw || !isum;
#pragma omp for schedule(static)
        for (long rb = 0; rb < n_row_blocks; rb++) {
            if (failed)
                continue;
            size_t r0 = (size_t)rb * ROWS, nr = n_out - r0 < ROWS ? n_out - r0 : ROWS;
            for (size_t r = 0; r < nr; r++)
                for (size_t blk = 0; blk < n_blocks; blk++)
                    dw[r * n_blocks + blk] = weight_block(qw + r * n_in + blk * QK, w, wtype, n_blocks, r0 + r, blk);
            for (size_t t = 0; t < n_tok; t++) {
                const int8_t *qx = qa->q + t * n_in;
                const float *dx = qa->d + t * n_blocks;
                for (size_t r = 0; r < nr; r++) {
                    block_dots(isum, qw + r * n_in, qx, n_blocks);
                    float acc = 0.0f;
                    for (size_t blk = 0; blk < n_blocks; blk++) {
                        float scale = dw[r * n_blocks + blk] * dx[blk];
                        acc = fmaf(scale, (float)isum[blk], acc);
                    }
                    y[t * n_out + r0 + r] = b ? acc + b[r0 + r] : acc;
                }
                if (epi)
                    kvg_epilogue_tile(epi, y, n_out, t, 1, r0, nr);
            }
        }
        free(qw);
        free(dw);
        free(isum);
    }
    return failed ? -1 : 0;
}

int kvg_matmul_qdot(float *y, const float *x, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b,
                    size_t n_tok, size_t n_in, size_t n_out, const kvg_epilogue *epi)
{
    if (n_tok == 0 || n_out == 0)
        return 0;
    void *scratch = NULL;
    kvg_qact own;
    if (!qa) {
        scratch = malloc(kvg_qact_bytes(n_tok, n_in));
        if (!scratch)
            return -1;
        kvg_qact_quantize(&own, scratch, x, n_tok, n_in);
        qa = &own;
    }
    int rc;
    switch (kvg_kernel_path_get()) {
#ifdef KVG_HAVE_AVX2
    case KVG_PATH_AVX2:
        rc = kvg_matmul_qdot_avx2(y, qa, w, wtype, b, n_tok, n_out, epi);
        break;
#endif
#ifdef KVG_HAVE_NEON
    case KVG_PATH_NEON:
        rc = matmul_qdot_rows(y, qa, w, wtype, b, n_tok, n_out, kvg_qdot_blocks_neon, epi);
        break;
#endif
    default:
        rc = matmul_qdot_rows(y, qa, w, wtype, b, n_tok, n_out, block_dots_scalar, epi);
        break;
    }
    free(scratch);
    return rc;
}
