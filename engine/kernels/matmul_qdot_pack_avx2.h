/* matmul_qdot_pack_avx2.h — what the AVX2 and AVX-512 integer-dot kernels
 * (matmul_qdot_avx2.c, matmul_qdot_avx512_avx2.c) share: reading 8 rows of
 * a q8_0 / q4_0 block into the interleaved layout both pack. Internal; for
 * files built with AVX2 flags only. */
#ifndef KVG_MATMUL_QDOT_PACK_AVX2_H
#define KVG_MATMUL_QDOT_PACK_AVX2_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "kvg_dtype.h"
#include "transpose_avx2.h"

/* v[0..7] (8 rows of 8 int32) become their transpose: v[j] holds column j. */
static inline void qdot_transpose8(__m256i v[8])
{
    __m256 r[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_castsi256_ps(v[i]);
    kvg_transpose8_ps(r);
    for (int i = 0; i < 8; i++)
        v[i] = _mm256_castps_si256(r[i]);
}

/* The 32 integers of block blk of W rows r0 .. r0+7 (rows >= nr: zeros,
 * scale 0), transposed for vpmaddubsw / vpdpbusd: v[j] holds k = 4j .. 4j+3
 * of output o in bytes 4o .. 4o+3 (q8_0: qw as int8; q4_0: the unsigned
 * nibbles 0..15); dw[0..7] = the rows' scales as f32. */
static inline void qdot_load8(__m256i v[8], float dw[8], const void *w, kvg_dtype wtype, size_t n_blocks, size_t r0,
                              size_t nr, size_t blk)
{
    for (size_t o = 0; o < 8; o++) {
        if (o >= nr) {
            v[o] = _mm256_setzero_si256();
            dw[o] = 0.0f;
        } else if (wtype == KVG_DTYPE_Q8_0) {
            const kvg_block_q8_0 *p = (const kvg_block_q8_0 *)w + (r0 + o) * n_blocks + blk;
            v[o] = _mm256_loadu_si256((const __m256i *)p->qs);
            dw[o] = _cvtsh_ss(p->d);
        } else {
            const kvg_block_q4_0 *p = (const kvg_block_q4_0 *)w + (r0 + o) * n_blocks + blk;
            __m128i q = _mm_loadu_si128((const __m128i *)p->qs), m = _mm_set1_epi8(15);
            /* low half: k 0..15 (low nibbles); high half: k 16..31 (high nibbles) */
            v[o] = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), m), _mm_and_si128(q, m));
            dw[o] = _cvtsh_ss(p->d);
        }
    }
    qdot_transpose8(v);
}

/* While a packer reads block blk of n_rows rows (one panel), prefetches
 * slice blk of the next panel's bytes: rows r_next .. r_next+n_rows-1 are
 * contiguous in W, n_rows blocks' worth per slice, so the next panel is in
 * L1 when its packing starts, whatever order the packer reads it in. (W is
 * read once per product, from DRAM; the packer reads n_rows streams 18 or
 * 34 bytes at a time, which the hardware prefetchers do not follow: without
 * this it waits on nearly every load.) Integer arithmetic: rows past the
 * end are only prefetched, which never faults. */
static inline void qdot_prefetch_next(const void *w, kvg_dtype wtype, size_t n_blocks, size_t r_next, size_t n_rows,
                                      size_t blk)
{
    const size_t block_bytes = wtype == KVG_DTYPE_Q8_0 ? sizeof(kvg_block_q8_0) : sizeof(kvg_block_q4_0);
    const uintptr_t start = (uintptr_t)w + r_next * n_blocks * block_bytes + blk * n_rows * block_bytes;
    for (uintptr_t a = start & ~(uintptr_t)63; a < start + n_rows * block_bytes; a += 64)
        _mm_prefetch((const char *)a, _MM_HINT_T0);
}

#endif
