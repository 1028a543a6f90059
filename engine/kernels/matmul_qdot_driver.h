/* matmul_qdot_driver.h — the loop nest and threading of the packed
 * integer-dot GEMMs (matmul_qdot_avx2.c, matmul_qdot_avx512_avx2.c), which
 * differ only in their tile, packing and micro-kernel. Include it in a
 * kernel's file after defining the enum constants MR (tokens per tile), NR
 * (outputs per panel), PANELS (panels packed before the tokens sweep them)
 * and TOK_CHUNK (tokens swept at a time), and declaring
 *   static size_t panel_block_bytes(kvg_dtype wtype);   packed bytes per 32-block of a panel
 *   static void pack_panel(uint8_t *dst, float *dw, const void *w, kvg_dtype wtype, size_t n_blocks,
 *                          size_t r0, size_t nr);       W rows r0 .. r0+nr-1 (nr <= NR) and their scales
 *   static void micro(kvg_dtype wtype, const kvg_qact *qa, const size_t tok[MR], const uint8_t *panel,
 *                     const float *dw, float *c, size_t ldc, const float *bias);
 *                                                       c[i][0..NR) for tokens tok[i], + bias
 * epi (kernels.h's epilogue, NULL for none) runs on each tile as soon as it
 * is stored.
 * Threads split W's panels (contiguous runs, each thread packs its own);
 * every output is computed by one thread in the fixed order of the math, so
 * the bits do not depend on the thread count. Not a public header. */
#ifndef KVG_MATMUL_QDOT_DRIVER_H
#define KVG_MATMUL_QDOT_DRIVER_H

#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "kernels_simd.h"
#include "matmul_qdot.h"
#include "prefetch_span.h"
#include "thread_scratch.h"
#include "thread_share.h"

/* Tokens t0 .. t1-1 against one packed panel (outputs r0 .. r0+nr-1). A
 * ragged tile (fewer than MR tokens or NR outputs) runs the full micro-tile
 * on a local copy: missing tokens repeat the first one; neither missing
 * tokens nor missing outputs are stored. */
static inline __attribute__((always_inline)) void qdot_sweep(kvg_dtype wtype, float *y, const kvg_qact *qa,
                                                        const uint8_t *panel, const float *dw, const float *b,
                                                        size_t n_out, size_t r0, size_t nr, size_t t0, size_t t1,
                                                        const kvg_epilogue *epi)
{
    float bt[NR] = {0};
    const float *bias = b ? b + r0 : NULL;
    if (b && nr < NR) {
        memcpy(bt, b + r0, nr * sizeof *bt);
        bias = bt;
    }
    for (size_t i0 = t0; i0 < t1; i0 += MR) {
        size_t mr = t1 - i0 < MR ? t1 - i0 : MR, tok[MR];
        for (size_t i = 0; i < MR; i++)
            tok[i] = i0 + (i < mr ? i : 0);
        kvg_epilogue_prefetch(epi, n_out, i0, mr, r0, nr);
        if (mr == MR && nr == NR) {
            micro(wtype, qa, tok, panel, dw, y + i0 * n_out + r0, n_out, bias);
        } else {
            float ct[MR * NR];
            micro(wtype, qa, tok, panel, dw, ct, NR, bias);
            for (size_t i = 0; i < mr; i++)
                memcpy(y + (i0 + i) * n_out + r0, ct + i * NR, nr * sizeof *ct);
        }
        /* on the tile just stored, while it is in L1 (a block of the whole
         * sweep measured no better: its rows, n_out floats apart, fight
         * over the same L1 sets) */
        if (epi)
            kvg_epilogue_tile(epi, y, n_out, i0, mr, r0, nr);
    }
}

/* Panels p0 .. p1-1 against every token; packed holds PANELS panels. */
static void qdot_panels(kvg_dtype wtype, uint8_t *packed, float *dws, float *y, const kvg_qact *qa, const void *w,
                       const float *b, size_t n_tok, size_t n_out, size_t p0, size_t p1, const kvg_epilogue *epi)
{
    const size_t n_blocks = qa->n_blocks, panel_bytes = n_blocks * panel_block_bytes(wtype);
    for (size_t jp = p0; jp < p1; jp += PANELS) {
        size_t n_panels = p1 - jp < PANELS ? p1 - jp : PANELS;
        for (size_t j = 0; j < n_panels; j++) {
            size_t r0 = (jp + j) * NR;
            pack_panel(packed + j * panel_bytes, dws + j * n_blocks * NR, w, wtype, n_blocks, r0,
                       n_out - r0 < NR ? n_out - r0 : NR);
        }
        /* the next PANELS panels' rows (contiguous in W), prefetched while these are swept: prefetch_span.h */
        kvg_prefetch_span next;
        size_t r_next = (jp + PANELS) * NR, row_bytes = n_blocks * (wtype == KVG_DTYPE_Q8_0 ? sizeof(kvg_block_q8_0)
                                                                                             : sizeof(kvg_block_q4_0));
        size_t next_rows = jp + PANELS < p1 ? (n_out - r_next < PANELS * NR ? n_out - r_next : PANELS * NR) : 0;
        kvg_prefetch_span_init(&next, (uintptr_t)w + r_next * row_bytes, 0, next_rows * row_bytes, next_rows ? 1 : 0,
                               n_panels * ((n_tok + TOK_CHUNK - 1) / TOK_CHUNK));
        for (size_t t0 = 0; t0 < n_tok; t0 += TOK_CHUNK) {
            size_t t1 = n_tok - t0 < TOK_CHUNK ? n_tok : t0 + TOK_CHUNK;
            for (size_t j = 0; j < n_panels; j++) {
                kvg_prefetch_span_step(&next);
                size_t r0 = (jp + j) * NR, nr = n_out - r0 < NR ? n_out - r0 : NR;
                const uint8_t *panel = packed + j * panel_bytes;
                const float *dw = dws + j * n_blocks * NR;
                /* The dtype a constant in each call, so the compiler drops the branch in the loop. */
                if (wtype == KVG_DTYPE_Q8_0)
                    qdot_sweep(KVG_DTYPE_Q8_0, y, qa, panel, dw, b, n_out, r0, nr, t0, t1, epi);
                else
                    qdot_sweep(KVG_DTYPE_Q4_0, y, qa, panel, dw, b, n_out, r0, nr, t0, t1, epi);
            }
        }
    }
}

/* The product on this kernel (matmul_qdot.h's kvg_matmul_qdot_avx2 contract). */
static int qdot_run(float *y, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                    size_t n_out, const kvg_epilogue *epi)
{
    const size_t n_panels = (n_out + NR - 1) / NR, n_blocks = qa->n_blocks;
    int failed = 0;
#pragma omp parallel reduction(| : failed) if ((double)n_tok * qa->n_in * n_out >= KVG_PARALLEL_MIN_WORK)
    {
        size_t p0, p1;
        kvg_thread_share(n_panels, &p0, &p1);
        if (p1 > p0) {
            /* the thread's own buffers, kept across calls (thread_scratch.h) */
            uint8_t *packed = kvg_thread_scratch(KVG_SCRATCH_QDOT_PACK, PANELS * n_blocks * panel_block_bytes(wtype));
            float *dws = kvg_thread_scratch(KVG_SCRATCH_QDOT_SCALES, PANELS * n_blocks * NR * sizeof *dws);
            if (packed && dws)
                qdot_panels(wtype, packed, dws, y, qa, w, b, n_tok, n_out, p0, p1, epi);
            else
                failed = 1;
        }
    }
    return failed ? -1 : 0;
}

#endif
