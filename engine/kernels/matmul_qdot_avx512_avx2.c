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
 * zmm registers; the loop nest and threads are matmul_qdot_driver.h's.
 * Built with the *_avx2.c group's flags; the 512-bit code is
 * enabled per function by a target attribute and runs only after
 * kvg_matmul_qdot_vnni_cpu() said yes. */
#include <immintrin.h>
#include <string.h>

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

static size_t panel_block_bytes(kvg_dtype wtype)
{
    (void)wtype;
    return BLOCK_BYTES;
}

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
    for (size_t blk = 0; blk < n_blocks; blk++, dst += BLOCK_BYTES, dw += NR) {
        qdot_prefetch_next(w, wtype, n_blocks, r0 + NR, NR, blk);
        for (size_t half = 0; half < 2; half++) {
            __m256i v[8];
            size_t r = r0 + 8 * half, n = nr > 8 * half ? nr - 8 * half : 0;
            qdot_load8(v, dw + 8 * half, w, wtype, n_blocks, r, n < 8 ? n : 8, blk);
            for (size_t j = 0; j < 8; j++)
                _mm256_storeu_si256((__m256i *)(dst + j * 64 + half * 32),
                                    wtype == KVG_DTYPE_Q8_0 ? _mm256_xor_si256(v[j], flip) : v[j]);
        }
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
 * against one packed panel, + bias[0..15] when bias is not NULL. */
TARGET_VNNI static void micro(kvg_dtype wtype, const kvg_qact *qa, const size_t tok[MR], const uint8_t *panel,
                              const float *dw, float *c, size_t ldc, const float *bias)
{
    const int32_t corr = wtype == KVG_DTYPE_Q8_0 ? 128 : 8; /* the unsigned side's offset */
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

#include "matmul_qdot_driver.h"

int kvg_matmul_qdot_vnni(float *y, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                         size_t n_out, const kvg_epilogue *epi)
{
    return qdot_run(y, qa, w, wtype, b, n_tok, n_out, epi);
}
