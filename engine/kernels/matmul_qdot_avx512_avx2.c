/* matmul_qdot_avx512_avx2.c — quantized activations × q8_0 / q4_0 weights
 * with vpdpbusd on 512-bit registers (AVX512_VNNI + AVX512BW), for the AVX2
 * path when its 512-bit switch is on (kvg_matmul_avx512_active()) and the
 * CPU has VNNI. The math is matmul_qdot.h's; same bits as every other path.
 *
 * vpdpbusd multiplies unsigned bytes by signed bytes, 4 per int32 lane, and
 * adds in int32 (no saturation). The weights are the unsigned side, so qx
 * goes in as it is (a 4-byte broadcast per token per step):
 *   q8_0: u = qw + 128 (0..255, qw XOR 0x80), isum = sum u·qx - 128·sx;
 *   q4_0: u = the nibble (0..15),             isum = sum u·qx -   8·sx.
 * A panel is 16 outputs (one int32 lane each): per 32-block, 8 zmm rows of
 * 64 bytes, row j holding k = 4j .. 4j+3 of each output. A micro-tile is
 * 12 tokens × 16 outputs: 12 int32 block sums and 12 f32 accumulators in
 * zmm registers. Built with the *_avx2.c group's flags; the 512-bit code is
 * enabled per function by a target attribute and runs only after
 * kvg_matmul_qdot_vnni_cpu() said yes. */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"
#include "matmul_qdot.h"
#include "matmul_qdot_pack_avx2.h"

#define TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))

enum {
    QK = 32,
    NR = 16,          /* outputs per panel (int32 lanes of a zmm) */
    MR = 12,          /* tokens per micro-tile */
    PANELS = 4,       /* panels packed before the tokens sweep them */
    TOK_CHUNK = 96,   /* tokens swept over the packed panels at a time */
    BLOCK_BYTES = 512 /* packed bytes per 32-block of a panel */
};

int kvg_matmul_qdot_vnni_cpu(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vnni");
}

/* Packs W rows r0 .. r0+nr-1 (nr <= NR) into dst (n_blocks × BLOCK_BYTES)
 * and dw[n_blocks][NR] (missing rows: zeros, scale 0). AVX2 only. */
static void pack_panel(uint8_t *dst, float *dw, const void *w, kvg_dtype wtype, size_t n_blocks, size_t r0, size_t nr)
{
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (size_t blk = 0; blk < n_blocks; blk++, dst += BLOCK_BYTES, dw += NR)
        for (size_t half = 0; half < 2; half++) {
            __m256i v[8];
            size_t r = r0 + 8 * half, n = nr > 8 * half ? nr - 8 * half : 0;
            qdot_load8(v, dw + 8 * half, w, wtype, n_blocks, r, n < 8 ? n : 8, blk);
            for (size_t j = 0; j < 8; j++)
                _mm256_storeu_si256((__m256i *)(dst + j * 64 + half * 32),
                                    wtype == KVG_DTYPE_Q8_0 ? _mm256_xor_si256(v[j], flip) : v[j]);
        }
    /* q8_0's missing rows: 0 XOR 0x80 = 128 times a zero scale, still 0 (and never stored) */
}

static inline int32_t load4(const int8_t *p)
{
    int32_t u;
    memcpy(&u, p, sizeof u);
    return u;
}

/* c[i][0..15] (i < MR, row stride ldc) = the block chain of tokens tok[i]
 * against one packed panel, + bias[0..15] when bias is not NULL. corr is
 * 128 (q8_0) or 8 (q4_0). */
TARGET_VNNI static void micro(const kvg_qact *qa, const size_t tok[MR], const uint8_t *panel, const float *dw,
                              int32_t corr, float *c, size_t ldc, const float *bias)
{
    const size_t n_blocks = qa->n_blocks;
    const int8_t *qx[MR];
    const float *dx[MR];
    const int32_t *sx[MR];
    __m512 acc[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        qx[i] = qa->q + tok[i] * qa->n_in;
        dx[i] = qa->d + tok[i] * n_blocks;
        sx[i] = qa->s + tok[i] * n_blocks;
        acc[i] = _mm512_setzero_ps();
    }
    for (size_t blk = 0; blk < n_blocks; blk++, panel += BLOCK_BYTES) {
        __m512i s[MR];
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++)
            s[i] = _mm512_set1_epi32(-corr * sx[i][blk]); /* |corr sx| <= 128 · 32 · 127 */
#pragma GCC unroll 1
        for (int j = 0; j < 8; j++) {
            __m512i u = _mm512_loadu_si512((const void *)(panel + j * 64));
#pragma GCC unroll 12
            for (int i = 0; i < MR; i++)
                s[i] = _mm512_dpbusd_epi32(s[i], u, _mm512_set1_epi32(load4(qx[i] + blk * QK + 4 * j)));
        }
        __m512 d = _mm512_loadu_ps(dw + blk * NR);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++)
            acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(dx[i][blk])), _mm512_cvtepi32_ps(s[i]), acc[i]);
    }
    __m512 bv = bias ? _mm512_loadu_ps(bias) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++)
        _mm512_storeu_ps(c + i * ldc, bias ? _mm512_add_ps(acc[i], bv) : acc[i]);
}

/* Tokens t0 .. t1-1 against one packed panel (outputs r0 .. r0+nr-1);
 * ragged tiles run on a local copy (missing tokens repeat the first). */
static void sweep(float *y, const kvg_qact *qa, const uint8_t *panel, const float *dw, int32_t corr, const float *b,
                  size_t n_out, size_t r0, size_t nr, size_t t0, size_t t1)
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
        if (mr == MR && nr == NR) {
            micro(qa, tok, panel, dw, corr, y + i0 * n_out + r0, n_out, bias);
        } else {
            float ct[MR * NR];
            micro(qa, tok, panel, dw, corr, ct, NR, bias);
            for (size_t i = 0; i < mr; i++)
                memcpy(y + (i0 + i) * n_out + r0, ct + i * NR, nr * sizeof *ct);
        }
    }
}

int kvg_matmul_qdot_vnni(float *y, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                         size_t n_out)
{
    const size_t n_panels = (n_out + NR - 1) / NR, n_blocks = qa->n_blocks;
    const int32_t corr = wtype == KVG_DTYPE_Q8_0 ? 128 : 8;
    int failed = 0;
#pragma omp parallel reduction(| : failed) if ((double)n_tok * qa->n_in * n_out >= KVG_PARALLEL_MIN_WORK)
    {
        size_t tid = 0, n_threads = 1;
#ifdef _OPENMP
        tid = (size_t)omp_get_thread_num();
        n_threads = (size_t)omp_get_num_threads();
#endif
        size_t p0 = n_panels * tid / n_threads, p1 = n_panels * (tid + 1) / n_threads;
        uint8_t *packed = p1 > p0 ? malloc(PANELS * n_blocks * BLOCK_BYTES) : NULL;
        float *dws = p1 > p0 ? malloc(PANELS * n_blocks * NR * sizeof *dws) : NULL;
        if (p1 > p0 && (!packed || !dws))
            failed = 1;
        for (size_t jp = p0; jp < p1 && !failed; jp += PANELS) {
            size_t np = p1 - jp < PANELS ? p1 - jp : PANELS;
            for (size_t j = 0; j < np; j++) {
                size_t r0 = (jp + j) * NR;
                pack_panel(packed + j * n_blocks * BLOCK_BYTES, dws + j * n_blocks * NR, w, wtype, n_blocks, r0,
                           n_out - r0 < NR ? n_out - r0 : NR);
            }
            for (size_t t0 = 0; t0 < n_tok; t0 += TOK_CHUNK) {
                size_t t1 = n_tok - t0 < TOK_CHUNK ? n_tok : t0 + TOK_CHUNK;
                for (size_t j = 0; j < np; j++) {
                    size_t r0 = (jp + j) * NR;
                    sweep(y, qa, packed + j * n_blocks * BLOCK_BYTES, dws + j * n_blocks * NR, corr, b, n_out, r0,
                          n_out - r0 < NR ? n_out - r0 : NR, t0, t1);
                }
            }
        }
        free(packed);
        free(dws);
    }
    return failed ? -1 : 0;
}
