/* matmul_matvec.h — what the matrix-vector route shares across the SIMD
 * paths (matmul_avx2.c, matmul_neon.c): the driver (blocks of MV_ROWS outputs
 * over the team, each of the few tokens in turn, then the epilogue on the
 * block's outputs) and the scalar finish of a block. Include it in a path's file after MV_ROWS; the path then defines
 *     static void matvec_rows(float *yt, const float *xt, const void *w, kvg_dtype wtype,
 *                             const float *b, size_t n_in, size_t r0, size_t nr);
 * (y[r0 .. r0+nr-1] of one token, nr <= MV_ROWS). Not a public header. */
#ifndef KVG_MATMUL_MATVEC_H
#define KVG_MATMUL_MATVEC_H

#include <math.h>
#include <stddef.h>

#include "kernels.h"
#include "kernels_simd.h"
#include "matmul_blocked.h"

static void matvec_rows(float *yt, const float *xt, const void *w, kvg_dtype wtype, const float *b, size_t n_in,
                        size_t r0, size_t nr);

/* The end of a block: sums[r] holds row r0+r's vector FMA chains over
 * k < kv; the ragged k tail (float types only: quantized rows are whole
 * blocks, so kv = n_in) goes on as scalar FMAs, then the bias, then the store. */
static inline void matvec_finish(float *yt, const float *xt, float *sums, const void *w, kvg_dtype wtype,
                                 const float *b, size_t n_in, size_t r0, size_t nr, size_t kv)
{
    for (size_t r = 0; r < nr; r++) {
        if (kv < n_in) {
            float tail[32]; /* n_in - kv < the path's vector width */
            kvg_row_span_to_f32(w, wtype, n_in, r0 + r, kv, n_in - kv, tail);
            for (size_t k = kv; k < n_in; k++)
                sums[r] = fmaf(xt[k], tail[k - kv], sums[r]);
        }
        yt[r0 + r] = b ? sums[r] + b[r0 + r] : sums[r];
    }
}

static void matvec(float *y, const float *x, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                   size_t n_in, size_t n_out, const kvg_epilogue *epi)
{
    long n_blocks = (long)((n_out + MV_ROWS - 1) / MV_ROWS);
#pragma omp parallel for schedule(static) if ((double)n_tok * n_in * n_out >= KVG_PARALLEL_MIN_WORK)
    for (long blk = 0; blk < n_blocks; blk++) {
        size_t r0 = (size_t)blk * MV_ROWS, nr = n_out - r0 < MV_ROWS ? n_out - r0 : MV_ROWS;
        for (size_t t = 0; t < n_tok; t++) {
            float *yt = y + t * n_out;
            const float *xt = x + t * n_in;
            /* Constant dtype and row count let the compiler drop the
             * per-element switch and row checks from the hot loop. */
#define MV_CASE(T)                                                   \
    case T:                                                          \
        if (nr == MV_ROWS)                                           \
            matvec_rows(yt, xt, w, T, b, n_in, r0, MV_ROWS);         \
        else                                                         \
            matvec_rows(yt, xt, w, T, b, n_in, r0, nr);              \
        break
            switch (wtype) {
                MV_CASE(KVG_DTYPE_F16);
                MV_CASE(KVG_DTYPE_BF16);
                MV_CASE(KVG_DTYPE_Q8_0);
                MV_CASE(KVG_DTYPE_Q4_0);
            default:
                MV_CASE(KVG_DTYPE_F32);
            }
#undef MV_CASE
            if (epi)
                kvg_epilogue_tile(epi, y, n_out, t, 1, r0, nr);
        }
    }
}

#endif
