/* matmul_blocked.c — the loop nest, threading and edges of the blocked GEMM
 * (see matmul_blocked.h for the scheme). */
#include "matmul_blocked.h"

#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "kernels_simd.h"
#include "thread_scratch.h"
#include "thread_share.h"

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

void kgemm_pack_w_scalar(float *dst, size_t width, const void *w, kvg_dtype wtype, size_t n_in, size_t r0, size_t nr,
                         size_t k0, size_t k_from, size_t kc)
{
    float row[KGEMM_KC_ONE];
    for (size_t r = 0; r < width; r++) {
        if (r < nr)
            kvg_row_span_to_f32(w, wtype, n_in, r0 + r, k0 + k_from, kc - k_from, row);
        for (size_t k = k_from; k < kc; k++)
            dst[k * width + r] = r < nr ? row[k - k_from] : 0.0f;
    }
}

/* One MR×NR tile of y: tokens i0 .. i0+mr-1, outputs r0 .. r0+nr-1, over
 * k0 .. k0+kc-1. A ragged tile (mr < MR or nr < NR) runs the full
 * micro-kernel on a local copy: missing token rows read token i0's x and
 * missing outputs read the panel's zero rows; neither is stored. epi: the
 * epilogue, passed on the last k block only. */
static void tile(const kgemm_path *path, float *y, const float *x, const float *panel, const float *bias, size_t n_in,
                 size_t n_out, size_t i0, size_t mr, size_t r0, size_t nr, size_t k0, size_t kc, int first,
                 const kvg_epilogue *epi)
{
    const size_t MR = path->mr, NR = path->nr;
    const float *a[KGEMM_MR_MAX];
    for (size_t i = 0; i < MR; i++)
        a[i] = x + (i0 + (i < mr ? i : 0)) * n_in + k0;
    float *c = y + i0 * n_out + r0;
    kvg_epilogue_prefetch(epi, n_out, i0, mr, r0, nr);
    if (mr == MR && nr == NR) {
        path->micro(kc, a, panel, c, n_out, first, bias ? bias + r0 : NULL);
    } else {
        float ct[KGEMM_MR_MAX * KGEMM_NR_MAX] = {0}, bt[KGEMM_NR_MAX] = {0};
        if (!first)
            for (size_t i = 0; i < mr; i++)
                memcpy(ct + i * NR, c + i * n_out, nr * sizeof *ct);
        if (bias)
            memcpy(bt, bias + r0, nr * sizeof *bt);
        path->micro(kc, a, panel, ct, NR, first, bias ? bt : NULL);
        for (size_t i = 0; i < mr; i++)
            memcpy(c + i * n_out, ct + i * NR, nr * sizeof *ct);
    }
    if (epi) /* the last k block: the tile is final and still in L1 */
        kvg_epilogue_tile(epi, y, n_out, i0, mr, r0, nr);
}

/* k per packed block for this n_in. */
static size_t k_block(size_t n_in) { return n_in <= KGEMM_KC_ONE ? n_in : KGEMM_KC; }

/* Panels p0 .. p1-1 of W (NR rows each) against every token, with packed[]
 * holding KGEMM_PACK floats. (Prefetching the next block's W into L2 while
 * the tiles run, as the qdot driver does, made the 512-bit kernel ~4% slower
 * on GPT-2 f32, perf samples of the same work: the 384 KiB of W it brings
 * in evict the packed panels and x, which the tiles stream from L2.) */
static void run_panels(const kgemm_path *path, float *packed, float *y, const float *x, const void *w,
                       kvg_dtype wtype, const float *b, size_t n_tok, size_t n_in, size_t n_out, size_t p0, size_t p1,
                       const kvg_epilogue *epi)
{
    const size_t MR = path->mr, NR = path->nr, KC = k_block(n_in);
    const size_t panels_per_block = min_size(KGEMM_NC, KGEMM_PACK / KC) / NR; /* >= 4: KC <= 768, NR <= 32 */
    for (size_t jp = p0; jp < p1; jp += panels_per_block) {
        size_t n_panels = min_size(panels_per_block, p1 - jp);
        for (size_t k0 = 0; k0 < n_in; k0 += KC) {
            size_t kc = min_size(KC, n_in - k0);
            int first = k0 == 0;
            const float *bias = k0 + kc == n_in ? b : NULL; /* the bias goes on after the last k block */
            const kvg_epilogue *epi_k = k0 + kc == n_in ? epi : NULL; /* and then the epilogue */
            for (size_t j = 0; j < n_panels; j++) {
                size_t r0 = (jp + j) * NR;
                path->pack_w(packed + j * kc * NR, NR, w, wtype, n_in, r0, min_size(NR, n_out - r0), k0, kc);
            }
            for (size_t t0 = 0; t0 < n_tok; t0 += KGEMM_MC) {
                size_t t1 = min_size(t0 + KGEMM_MC, n_tok);
                for (size_t j = 0; j < n_panels; j++) {
                    size_t r0 = (jp + j) * NR, nr = min_size(NR, n_out - r0);
                    for (size_t i0 = t0; i0 < t1; i0 += MR)
                        tile(path, y, x, packed + j * kc * NR, bias, n_in, n_out, i0, min_size(MR, t1 - i0), r0, nr,
                             k0, kc, first, epi_k);
                }
            }
        }
    }
}

int kgemm_run(const kgemm_path *path, float *y, const float *x, const void *w, kvg_dtype wtype, const float *b,
              size_t n_tok, size_t n_in, size_t n_out, const kvg_epilogue *epi)
{
    size_t n_panels = (n_out + path->nr - 1) / path->nr;
    int failed = 0;
#pragma omp parallel reduction(| : failed) if ((double)n_tok * n_in * n_out >= KVG_PARALLEL_MIN_WORK)
    {
        size_t p0, p1; /* contiguous runs of panels, so each thread packs only its own rows */
        kvg_thread_share(n_panels, &p0, &p1);
        if (p1 > p0) {
            /* the thread's own buffer, kept across calls (thread_scratch.h) */
            float *packed = kvg_thread_scratch(KVG_SCRATCH_GEMM_PACK, (size_t)KGEMM_PACK * sizeof *packed);
            if (packed)
                run_panels(path, packed, y, x, w, wtype, b, n_tok, n_in, n_out, p0, p1, epi);
            else
                failed = 1;
        }
    }
    return failed ? -1 : 0;
}
