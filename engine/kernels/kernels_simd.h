/* kernels_simd.h — the per-path (AVX2, NEON) implementations behind the
 * public kernels of kernels.h. Internal to engine/kernels: the public
 * functions switch on kvg_kernel_path_get() and call these; nothing else
 * should. Each group is declared only where the build compiles its files
 * (KVG_HAVE_AVX2: *_avx2.c on x86-64; KVG_HAVE_NEON: *_neon.c on AArch64).
 * Every function here has the contract of the public kernel it stands in
 * for (same arguments, checks already done by the caller). */
#ifndef KVG_KERNELS_SIMD_H
#define KVG_KERNELS_SIMD_H

#include "kernels.h"

/* activation.c: epi (kernels.h) on rows i0 .. i0+rows-1, columns j0 ..
 * j0+n-1 of y[*][ld] (epi->gate indexed the same way), on the current path:
 * what every matmul path runs on each finished tile of y. The bits of each
 * element do not depend on the tile it is in. */
void kvg_epilogue_tile(const kvg_epilogue *epi, float *y, size_t ld, size_t i0, size_t rows, size_t j0, size_t n);

/* Asks for the gate rows kvg_epilogue_tile will read (SWIGLU) before the
 * tile's product runs: they come from a [T, ffn] buffer far out of cache
 * and would otherwise stall the epilogue (measured: fused SwiGLU slower
 * than the separate pass without this). Prefetches never fault. */
static inline void kvg_epilogue_prefetch(const kvg_epilogue *epi, size_t ld, size_t i0, size_t rows, size_t j0,
                                         size_t n)
{
    if (!epi || !epi->gate)
        return;
    for (size_t i = i0; i < i0 + rows; i++)
        for (size_t j = 0; j < n; j += 16) /* one 64-byte line per 16 floats */
            __builtin_prefetch(epi->gate + i * ld + j0 + j, 0, 0); /* read once: non-temporal */
}

#ifdef KVG_HAVE_AVX2
/* matmul_avx2.c: kvg_matmul for every weight dtype; wtype and n_in already
 * checked; epi as kvg_matmul_ex. Returns 0, or -1 when scratch memory runs
 * out. */
int kvg_matmul_avx2(float *y, const float *x, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                    size_t n_in, size_t n_out, const kvg_epilogue *epi);
#endif

#ifdef KVG_HAVE_NEON
/* matmul_neon.c: as kvg_matmul_avx2. */
int kvg_matmul_neon(float *y, const float *x, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                    size_t n_in, size_t n_out, const kvg_epilogue *epi);
#endif

#endif
