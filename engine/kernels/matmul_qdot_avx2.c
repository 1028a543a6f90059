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
 * A micro-tile is MR = 6 tokens × 8 outputs: 6 int32 (or int16) block sums
 * and 6 f32 accumulators. After each block the sums go through
 * cvt, × (dw · dx), + acc as one FMA: exactly step 4 of matmul_qdot.h.
 * The loop nest and threads: matmul_qdot_driver.h. */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "matmul_qdot.h"
#include "matmul_qdot_pack_avx2.h"

enum {
    QK = 32,
    NR = 8,          /* outputs per panel */
    MR = 6,          /* tokens per micro-tile */
    PANELS = 4,      /* panels packed before the tokens sweep them */
    TOK_CHUNK = 64,  /* tokens swept over the packed panels at a time (their qx stays in L1/L2) */
};

/* Packed bytes per block of a panel: q8_0 |qw| then qw; q4_0 nibbles. */
static size_t panel_block_bytes(kvg_dtype wtype) { return wtype == KVG_DTYPE_Q8_0 ? 2 * 256 : 256; }

/* Packs W rows r0 .. r0+nr-1 (nr <= NR; missing rows are zeros with scale 0)
 * into dst (n_blocks × panel_block_bytes) and dw[n_blocks][NR]. */
static void pack_panel(uint8_t *dst, float *dw, const void *w, kvg_dtype wtype, size_t n_blocks, size_t r0, size_t nr)
{
    const size_t bytes = panel_block_bytes(wtype);
    for (size_t blk = 0; blk < n_blocks; blk++, dst += bytes, dw += NR) {
        __m256i v[8];
        qdot_prefetch_next(w, wtype, n_blocks, r0 + NR, NR, blk);
        qdot_load8(v, dw, w, wtype, n_blocks, r0, nr, blk);
        for (size_t j = 0; j < 8; j++) {
            if (wtype == KVG_DTYPE_Q8_0) {
                _mm256_storeu_si256((__m256i *)(dst + j * 32), _mm256_abs_epi8(v[j]));
                _mm256_storeu_si256((__m256i *)(dst + 256 + j * 32), v[j]);
            } else {
                _mm256_storeu_si256((__m256i *)(dst + j * 32), v[j]);
            }
        }
    }
}

/* The scalar quantizer's bits: the largest |x| does not depend on the order
 * it is taken in, amax / 127 and 127 / amax are the same scalar divisions,
 * x * inv is one f32 product per element, and vcvtps2dq rounds to nearest
 * even like rintf in the default rounding mode. (NaN / inf: unspecified
 * values in [-127, 127], no fault; the contract leaves such tokens
 * unspecified.) */
void kvg_qact_row_avx2(int8_t *q, float *d, int32_t *s, const float *x, size_t n_blocks)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (size_t blk = 0; blk < n_blocks; blk++, x += QK, q += QK) {
        __m256 v[4], m;
        for (int i = 0; i < 4; i++)
            v[i] = _mm256_loadu_ps(x + 8 * i);
        m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                          _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float amax = _mm_cvtss_f32(h);
        float inv = amax != 0.0f ? 127.0f / amax : 0.0f;
        __m256 vi = _mm256_set1_ps(inv);
        /* The clamp changes nothing for finite x (|x * inv| <= 127); NaN / inf
         * (vcvtps2dq gives INT_MIN) stay in [-127, 127], so sx stays small and
         * the kernels' sums cannot overflow. */
        const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
#define QUANT8(v) _mm256_max_epi32(lo, _mm256_min_epi32(hi, _mm256_cvtps_epi32(_mm256_mul_ps(v, vi))))
        __m256i i0 = QUANT8(v[0]), i1 = QUANT8(v[1]), i2 = QUANT8(v[2]), i3 = QUANT8(v[3]);
#undef QUANT8
        /* sum of the 32 integers */
        __m256i t = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        __m128i t4 = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, _MM_SHUFFLE(1, 0, 3, 2)));
        t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, _MM_SHUFFLE(2, 3, 0, 1)));
        /* int32 -> int8 in element order: packs interleave the 128-bit lanes, the permute undoes it */
        __m256i p16 = _mm256_packs_epi32(i0, i1), p16b = _mm256_packs_epi32(i2, i3);
        __m256i p8 = _mm256_packs_epi16(p16, p16b);
        p8 = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)q, p8);
        d[blk] = amax / 127.0f;
        s[blk] = _mm_cvtsi128_si32(t4);
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
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        qx[i] = qa->q + tok[i] * qa->n_in;
        dx[i] = qa->d + tok[i] * n_blocks;
        sx[i] = qa->s + tok[i] * n_blocks;
        acc[i] = _mm256_setzero_ps();
    }
    const __m256i ones = _mm256_set1_epi16(1);
    for (size_t blk = 0; blk < n_blocks; blk++, panel += bytes) {
        __m256i s[MR];
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++)
            s[i] = _mm256_setzero_si256();
        if (wtype == KVG_DTYPE_Q8_0) {
#pragma GCC unroll 1
            for (int j = 0; j < 8; j++) {
                __m256i wa = _mm256_loadu_si256((const __m256i *)(panel + j * 32));
                __m256i ws = _mm256_loadu_si256((const __m256i *)(panel + 256 + j * 32));
#pragma GCC unroll 8
                for (int i = 0; i < MR; i++) {
                    __m256i x = _mm256_sign_epi8(bcast4(qx[i] + blk * QK + 4 * j), ws);
                    s[i] = _mm256_add_epi32(s[i], _mm256_madd_epi16(_mm256_maddubs_epi16(wa, x), ones));
                }
            }
        } else {
#pragma GCC unroll 1
            for (int j = 0; j < 8; j++) {
                __m256i wa = _mm256_loadu_si256((const __m256i *)(panel + j * 32));
#pragma GCC unroll 8
                for (int i = 0; i < MR; i++)
                    s[i] = _mm256_add_epi16(s[i], _mm256_maddubs_epi16(wa, bcast4(qx[i] + blk * QK + 4 * j)));
            }
#pragma GCC unroll 8
            for (int i = 0; i < MR; i++)
                s[i] = _mm256_sub_epi32(_mm256_madd_epi16(s[i], ones), _mm256_set1_epi32(8 * sx[i][blk]));
        }
        __m256 d = _mm256_loadu_ps(dw + blk * NR);
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++)
            acc[i] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(dx[i][blk])), _mm256_cvtepi32_ps(s[i]), acc[i]);
    }
    __m256 bv = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
        _mm256_storeu_ps(c + i * ldc, bias ? _mm256_add_ps(acc[i], bv) : acc[i]);
}

#include "matmul_qdot_driver.h"

int kvg_matmul_qdot_avx2(float *y, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                         size_t n_out, const kvg_epilogue *epi)
{
    if (kvg_matmul_avx512_active() && kvg_matmul_qdot_vnni_cpu())
        return kvg_matmul_qdot_vnni(y, qa, w, wtype, b, n_tok, n_out, epi);
    return qdot_run(y, qa, w, wtype, b, n_tok, n_out, epi);
}
