/* matmul_qdot_avx2.c — quantized activations × q8_0 / q4_0 weights with
 * 8-bit integer dot products on AVX2 (the math: matmul_qdot.h).
 *
 * W is packed per call, a panel of NR = 8 outputs at a time, into an
 * interleaved int8 layout: for each 32-block, 8 rows of 32 bytes where row j
 * holds k = 4j .. 4j+3 of each of the 8 outputs (output o in bytes 4o ..
 * 4o+3), plus the 8 scales dw as f32. A token then needs one 4-byte
 * broadcast of qx per row j, and one vpmaddubsw multiplies it with all 8
 * outputs (32 multiply-adds):
 *   q4_0: the panel holds the unsigned nibbles (0..15); pairs of nibble × qx
 *     are <= 2·15·127, so int16 lanes add up a whole block (<= 30480) before
 *     one vpmaddwd; isum = that - 8·sx.
 *   q8_0: the panel holds |qw| (u8) and qw; vpsignb moves qw's sign onto qx;
 *     pairs are <= 2·128·127 = 32512, so each step widens with vpmaddwd.
 * A micro-tile is MR = 4 tokens × 8 outputs: 4 int32 (or int16) block sums
 * and 4 f32 accumulators in registers. After each block the sums go through
 * cvt, × (dw · dx), + acc as one FMA: exactly step 4 of matmul_qdot.h.
 * Threads split W's panels (contiguous runs, each thread packs its own). */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"
#include "matmul_qdot.h"

enum {
    QK = 32,
    NR = 8,          /* outputs per panel */
    MR = 4,          /* tokens per micro-tile */
    PANELS = 4,      /* panels packed before the tokens sweep them */
    TOK_CHUNK = 64,  /* tokens swept over the packed panels at a time (their qx stays in L1/L2) */
};

/* Packed bytes per block of a panel: q8_0 |qw| then qw; q4_0 nibbles. */
static size_t panel_block_bytes(kvg_dtype wtype) { return wtype == KVG_DTYPE_Q8_0 ? 2 * 256 : 256; }

/* v[0..7] (8 rows of 8 int32) become their transpose: v[j] holds column j. */
static inline void transpose8(__m256i v[8])
{
    __m256 r[8], t[8], s[8];
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_castsi256_ps(v[i]);
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        s[4 * i + 0] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        s[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        s[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int j = 0; j < 4; j++) {
        v[j] = _mm256_castps_si256(_mm256_permute2f128_ps(s[j], s[j + 4], 0x20));
        v[j + 4] = _mm256_castps_si256(_mm256_permute2f128_ps(s[j], s[j + 4], 0x31));
    }
}

/* Packs W rows r0 .. r0+nr-1 (nr <= NR; missing rows are zeros with scale 0)
 * into dst (n_blocks × panel_block_bytes) and dw[n_blocks][NR]. */
static void pack_panel(uint8_t *dst, float *dw, const void *w, kvg_dtype wtype, size_t n_blocks, size_t r0, size_t nr)
{
    const size_t bytes = panel_block_bytes(wtype);
    for (size_t blk = 0; blk < n_blocks; blk++, dst += bytes, dw += NR) {
        __m256i v[NR];
        for (size_t o = 0; o < NR; o++) {
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
        transpose8(v);
        for (size_t j = 0; j < NR; j++) {
            if (wtype == KVG_DTYPE_Q8_0) {
                _mm256_storeu_si256((__m256i *)(dst + j * 32), _mm256_abs_epi8(v[j]));
                _mm256_storeu_si256((__m256i *)(dst + 256 + j * 32), v[j]);
            } else {
                _mm256_storeu_si256((__m256i *)(dst + j * 32), v[j]);
            }
        }
    }
}

/* 4 bytes of qx as every int32 lane. */
static inline __m256i bcast4(const int8_t *p)
{
    int32_t u;
    memcpy(&u, p, sizeof u);
    return _mm256_set1_epi32(u);
}

/* c[i][0..7] (i < MR, row stride ldc) = the block chain of tokens tok[i]
 * against one packed panel, + bias[0..7] when bias is not NULL. */
static inline __attribute__((always_inline)) void micro(kvg_dtype wtype, const kvg_qact *qa, const size_t tok[MR],
                                                        const uint8_t *panel, const float *dw, float *c, size_t ldc,
                                                        const float *bias)
{
    const size_t n_blocks = qa->n_blocks, bytes = panel_block_bytes(wtype);
    const int8_t *qx[MR];
    const float *dx[MR];
    const int32_t *sx[MR];
    __m256 acc[MR];
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++) {
        qx[i] = qa->q + tok[i] * qa->n_in;
        dx[i] = qa->d + tok[i] * n_blocks;
        sx[i] = qa->s + tok[i] * n_blocks;
        acc[i] = _mm256_setzero_ps();
    }
    const __m256i ones = _mm256_set1_epi16(1);
    for (size_t blk = 0; blk < n_blocks; blk++, panel += bytes) {
        __m256i s[MR];
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++)
            s[i] = _mm256_setzero_si256();
        if (wtype == KVG_DTYPE_Q8_0) {
#pragma GCC unroll 1
            for (int j = 0; j < 8; j++) {
                __m256i wa = _mm256_loadu_si256((const __m256i *)(panel + j * 32));
                __m256i ws = _mm256_loadu_si256((const __m256i *)(panel + 256 + j * 32));
#pragma GCC unroll 4
                for (int i = 0; i < MR; i++) {
                    __m256i x = _mm256_sign_epi8(bcast4(qx[i] + blk * QK + 4 * j), ws);
                    s[i] = _mm256_add_epi32(s[i], _mm256_madd_epi16(_mm256_maddubs_epi16(wa, x), ones));
                }
            }
        } else {
#pragma GCC unroll 1
            for (int j = 0; j < 8; j++) {
                __m256i wa = _mm256_loadu_si256((const __m256i *)(panel + j * 32));
#pragma GCC unroll 4
                for (int i = 0; i < MR; i++)
                    s[i] = _mm256_add_epi16(s[i], _mm256_maddubs_epi16(wa, bcast4(qx[i] + blk * QK + 4 * j)));
            }
#pragma GCC unroll 4
            for (int i = 0; i < MR; i++)
                s[i] = _mm256_sub_epi32(_mm256_madd_epi16(s[i], ones), _mm256_set1_epi32(8 * sx[i][blk]));
        }
        __m256 d = _mm256_loadu_ps(dw + blk * NR);
#pragma GCC unroll 4
        for (int i = 0; i < MR; i++)
            acc[i] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(dx[i][blk])), _mm256_cvtepi32_ps(s[i]), acc[i]);
    }
    __m256 bv = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
#pragma GCC unroll 4
    for (int i = 0; i < MR; i++)
        _mm256_storeu_ps(c + i * ldc, bias ? _mm256_add_ps(acc[i], bv) : acc[i]);
}

/* Tokens t0 .. t1-1 against one packed panel (outputs r0 .. r0+nr-1). A
 * ragged tile (fewer than MR tokens or NR outputs) runs the full micro-tile
 * on a local copy: missing tokens repeat the first one; neither missing
 * tokens nor missing outputs are stored. */
static inline __attribute__((always_inline)) void sweep(kvg_dtype wtype, float *y, const kvg_qact *qa,
                                                        const uint8_t *panel, const float *dw, const float *b,
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
            micro(wtype, qa, tok, panel, dw, y + i0 * n_out + r0, n_out, bias);
        } else {
            float ct[MR * NR];
            micro(wtype, qa, tok, panel, dw, ct, NR, bias);
            for (size_t i = 0; i < mr; i++)
                memcpy(y + (i0 + i) * n_out + r0, ct + i * NR, nr * sizeof *ct);
        }
    }
}

/* Panels p0 .. p1-1 against every token; packed holds PANELS panels. */
static void run_panels(kvg_dtype wtype, uint8_t *packed, float *dws, float *y, const kvg_qact *qa, const void *w,
                       const float *b, size_t n_tok, size_t n_out, size_t p0, size_t p1)
{
    const size_t n_blocks = qa->n_blocks, panel_bytes = n_blocks * panel_block_bytes(wtype);
    for (size_t jp = p0; jp < p1; jp += PANELS) {
        size_t n_panels = p1 - jp < PANELS ? p1 - jp : PANELS;
        for (size_t j = 0; j < n_panels; j++) {
            size_t r0 = (jp + j) * NR;
            pack_panel(packed + j * panel_bytes, dws + j * n_blocks * NR, w, wtype, n_blocks, r0,
                       n_out - r0 < NR ? n_out - r0 : NR);
        }
        for (size_t t0 = 0; t0 < n_tok; t0 += TOK_CHUNK) {
            size_t t1 = n_tok - t0 < TOK_CHUNK ? n_tok : t0 + TOK_CHUNK;
            for (size_t j = 0; j < n_panels; j++) {
                size_t r0 = (jp + j) * NR, nr = n_out - r0 < NR ? n_out - r0 : NR;
                const uint8_t *panel = packed + j * panel_bytes;
                const float *dw = dws + j * n_blocks * NR;
                /* The dtype a constant in each call, so the compiler drops the branch in the loop. */
                if (wtype == KVG_DTYPE_Q8_0)
                    sweep(KVG_DTYPE_Q8_0, y, qa, panel, dw, b, n_out, r0, nr, t0, t1);
                else
                    sweep(KVG_DTYPE_Q4_0, y, qa, panel, dw, b, n_out, r0, nr, t0, t1);
            }
        }
    }
}

int kvg_matmul_qdot_avx2(float *y, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                         size_t n_out)
{
    const size_t n_panels = (n_out + NR - 1) / NR, n_blocks = qa->n_blocks;
    int failed = 0;
#pragma omp parallel reduction(| : failed) if ((double)n_tok * qa->n_in * n_out >= KVG_PARALLEL_MIN_WORK)
    {
        size_t tid = 0, n_threads = 1;
#ifdef _OPENMP
        tid = (size_t)omp_get_thread_num();
        n_threads = (size_t)omp_get_num_threads();
#endif
        size_t p0 = n_panels * tid / n_threads, p1 = n_panels * (tid + 1) / n_threads;
        if (p1 > p0) {
            uint8_t *packed = malloc(PANELS * n_blocks * panel_block_bytes(wtype));
            float *dws = malloc(PANELS * n_blocks * NR * sizeof *dws);
            if (packed && dws)
                run_panels(wtype, packed, dws, y, qa, w, b, n_tok, n_out, p0, p1);
            else
                failed = 1;
            free(packed);
            free(dws);
        }
    }
    return failed ? -1 : 0;
}
