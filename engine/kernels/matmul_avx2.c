/* matmul_avx2.c — kvg_matmul on AVX2 + FMA (+ F16C for f16 weights): the
 * blocked GEMM of matmul_blocked.h with an AVX2 packer (8×8 tiles of W
 * converted to f32 and transposed in registers) and a 6×16 micro-kernel:
 * 12 ymm accumulators, 2 panel loads and 6 broadcasts per k, 12 FMAs.
 *
 * One to three tokens (generation) take a matrix-vector route that skips the
 * packing. Both routes compute each output as one FMA chain over k in
 * increasing order, then + bias, so a token's outputs have the same bits
 * whether it is scored alone or in a batch. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "kernels_simd.h"
#include "matmul_blocked.h"
#include "transpose_avx2.h"

/* Up to MV_MAX_TOK tokens take the matrix-vector route, MV_ROWS outputs at a
 * time (4 independent FMA chains to cover the FMA latency). */
enum { MV_MAX_TOK = 3, MV_ROWS = 16 };
#include "matmul_matvec.h"

/* Bytes per row of a quantized [*, n_in] matrix. */
static size_t q_row_bytes(kvg_dtype wtype, size_t n_in)
{
    return n_in / 32 * (wtype == KVG_DTYPE_Q8_0 ? sizeof(kvg_block_q8_0) : sizeof(kvg_block_q4_0));
}

/* Elements k .. k+7 of row r of W as f32 (k % 8 == 0; k + 8 <= n_in). */
static inline __attribute__((always_inline)) __m256 load8(const void *w, kvg_dtype wtype, size_t n_in, size_t r, size_t k)
{
    switch (wtype) {
    case KVG_DTYPE_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + r * n_in + k)));
    case KVG_DTYPE_BF16: {
        __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)w + r * n_in + k));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    case KVG_DTYPE_Q8_0: {
        const kvg_block_q8_0 *blk =
            (const kvg_block_q8_0 *)((const unsigned char *)w + r * q_row_bytes(wtype, n_in)) + k / 32;
        __m128i q = _mm_loadl_epi64((const __m128i *)(blk->qs + k % 32));
        __m256 d = _mm256_set1_ps(_cvtsh_ss(blk->d));
        return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
    }
    case KVG_DTYPE_Q4_0: {
        const kvg_block_q4_0 *blk =
            (const kvg_block_q4_0 *)((const unsigned char *)w + r * q_row_bytes(wtype, n_in)) + k / 32;
        size_t o = k % 32; /* elements 0..15: low nibbles of bytes 0..15; 16..31: high nibbles */
        __m256i q = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(blk->qs + o % 16)));
        q = o < 16 ? _mm256_and_si256(q, _mm256_set1_epi32(15)) : _mm256_srli_epi32(q, 4);
        q = _mm256_sub_epi32(q, _mm256_set1_epi32(8));
        return _mm256_mul_ps(_mm256_set1_ps(_cvtsh_ss(blk->d)), _mm256_cvtepi32_ps(q));
    }
    default:
        return _mm256_loadu_ps((const float *)w + r * n_in + k);
    }
}

/* Where element k of row r of W lives, as an address for a prefetch (which
 * never faults, so r may be past the last row; integer arithmetic, no
 * out-of-range pointer is formed). */
static inline const void *elem_addr(const void *w, kvg_dtype wtype, size_t n_in, size_t r, size_t k)
{
    uintptr_t base = (uintptr_t)w;
    switch (wtype) {
    case KVG_DTYPE_F16:
    case KVG_DTYPE_BF16:
        return (const void *)(base + (r * n_in + k) * 2);
    case KVG_DTYPE_Q8_0:
    case KVG_DTYPE_Q4_0:
        return (const void *)(base + r * q_row_bytes(wtype, n_in) + k / 32 * (q_row_bytes(wtype, 32)));
    default:
        return (const void *)(base + (r * n_in + k) * 4);
    }
}

/* Any panel width that is a multiple of 8 (16 for the 256-bit micro-kernel,
 * 32 for the 512-bit one). While a group of 8 rows is packed, 8 rows further
 * on (of this panel or the next one) are prefetched at the same k, once per
 * cache line: W comes from DRAM once per product, and its 8+ row streams
 * with short runs (kc elements) are more than the hardware prefetchers keep
 * ahead of. How far: 16 rows for f32, 8 for 2-byte types (bench_pack.cc,
 * PackW from DRAM, Zen 5: f32 ~15 -> ~19 GB/s with 16 rows instead of 8;
 * f16 no better). */
static inline __attribute__((always_inline)) void pack_w_body(float *dst, size_t width, const void *w,
                                                              kvg_dtype wtype, size_t n_in, size_t r0, size_t nr,
                                                              size_t k0, size_t kc)
{
    const size_t kv = kc / 8 * 8, ahead = wtype == KVG_DTYPE_F32 ? 16 : 8;
    /* k steps per 64-byte line (quantized rows: a prefetch per 16 k, as the blocks are not line-aligned) */
    const size_t line_k = wtype == KVG_DTYPE_F16 || wtype == KVG_DTYPE_BF16 ? 32 : 16;
    for (size_t rh = 0; rh < width; rh += 8) { /* rows rh .. rh+7 of the panel */
        for (size_t k = 0; k < kv; k += 8) {
            if ((k0 + k) % line_k == 0)
                for (size_t i = 0; i < 8; i++)
                    _mm_prefetch(elem_addr(w, wtype, n_in, r0 + rh + ahead + i, k0 + k), _MM_HINT_T0);
            __m256 v[8];
            for (size_t i = 0; i < 8; i++)
                v[i] = rh + i < nr ? load8(w, wtype, n_in, r0 + rh + i, k0 + k) : _mm256_setzero_ps();
            kvg_transpose8_ps(v);
            for (size_t j = 0; j < 8; j++)
                _mm256_storeu_ps(dst + (k + j) * width + rh, v[j]);
        }
    }
    if (kv < kc) /* float types only: quantized n_in is whole blocks of 32 */
        kgemm_pack_w_scalar(dst, width, w, wtype, n_in, r0, nr, k0, kv, kc);
}

/* The packer with the dtype a constant, so the compiler drops the
 * per-element switch of load8. */
KGEMM_PACK_W_PER_DTYPE(pack_w_avx2, pack_w_body)

enum { KGEMM_MR_256 = 6, NR = 16 }; /* the 256-bit micro-kernel's tile: 6 tokens × 16 outputs */

static void micro_avx2(size_t kc, const float *const a[KGEMM_MR_MAX], const float *panel, float *c, size_t ldc, int first,
                       const float *bias)
{
    __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    if (first) {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
    } else {
#define LOAD_ROW(i) c##i##0 = _mm256_loadu_ps(c + i * ldc), c##i##1 = _mm256_loadu_ps(c + i * ldc + 8)
        LOAD_ROW(0); LOAD_ROW(1); LOAD_ROW(2); LOAD_ROW(3); LOAD_ROW(4); LOAD_ROW(5);
#undef LOAD_ROW
    }
    const float *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5];
    for (size_t k = 0; k < kc; k++, panel += NR) {
        __m256 b0 = _mm256_loadu_ps(panel), b1 = _mm256_loadu_ps(panel + 8), x;
#define FMA_ROW(i)                                  \
    x = _mm256_broadcast_ss(a##i + k);              \
    c##i##0 = _mm256_fmadd_ps(x, b0, c##i##0);      \
    c##i##1 = _mm256_fmadd_ps(x, b1, c##i##1)
        FMA_ROW(0); FMA_ROW(1); FMA_ROW(2); FMA_ROW(3); FMA_ROW(4); FMA_ROW(5);
#undef FMA_ROW
    }
    if (bias) {
        __m256 b0 = _mm256_loadu_ps(bias), b1 = _mm256_loadu_ps(bias + 8);
#define ADD_BIAS(i) c##i##0 = _mm256_add_ps(c##i##0, b0), c##i##1 = _mm256_add_ps(c##i##1, b1)
        ADD_BIAS(0); ADD_BIAS(1); ADD_BIAS(2); ADD_BIAS(3); ADD_BIAS(4); ADD_BIAS(5);
#undef ADD_BIAS
    }
#define STORE_ROW(i) _mm256_storeu_ps(c + i * ldc, c##i##0), _mm256_storeu_ps(c + i * ldc + 8, c##i##1)
    STORE_ROW(0); STORE_ROW(1); STORE_ROW(2); STORE_ROW(3); STORE_ROW(4); STORE_ROW(5);
#undef STORE_ROW
}

/* y[r0 .. r0+nr-1] for one token (nr <= MV_ROWS): the same FMA chains as the
 * GEMM (per output, k in increasing order, then + bias), but each 8×8 tile
 * of W goes from the transpose straight into the FMAs instead of through a
 * packed panel: one token has no reuse to pay for packing. */
static inline __attribute__((always_inline)) void matvec_rows(float *yt, const float *xt, const void *w,
                                                              kvg_dtype wtype, const float *b, size_t n_in, size_t r0,
                                                              size_t nr)
{
    __m256 acc[MV_ROWS / 8];
    size_t n_groups = (nr + 7) / 8, kv = n_in / 8 * 8;
    for (size_t g = 0; g < n_groups; g++)
        acc[g] = _mm256_setzero_ps();
    for (size_t k = 0; k < kv; k += 8)
        for (size_t g = 0; g < n_groups; g++) {
            __m256 v[8];
            for (size_t i = 0; i < 8; i++)
                v[i] = g * 8 + i < nr ? load8(w, wtype, n_in, r0 + g * 8 + i, k) : _mm256_setzero_ps();
            kvg_transpose8_ps(v);
            for (size_t j = 0; j < 8; j++)
                acc[g] = _mm256_fmadd_ps(_mm256_broadcast_ss(xt + k + j), v[j], acc[g]);
        }
    float sums[MV_ROWS];
    for (size_t g = 0; g < n_groups; g++)
        _mm256_storeu_ps(sums + g * 8, acc[g]);
    matvec_finish(yt, xt, sums, w, wtype, b, n_in, r0, nr, kv);
}

const kgemm_path *kvg_matmul_avx2_path(void)
{
    static const kgemm_path path256 = {KGEMM_MR_256, NR, pack_w_avx2, micro_avx2};
    static const kgemm_path path512 = {KVG_MATMUL_AVX512_MR, KVG_MATMUL_AVX512_NR, pack_w_avx2,
                                       kvg_matmul_avx512_micro};
    return kvg_matmul_avx512_active() ? &path512 : &path256;
}

int kvg_matmul_avx2(float *y, const float *x, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                    size_t n_in, size_t n_out, const kvg_epilogue *epi)
{
    if (n_tok <= MV_MAX_TOK) {
        matvec(y, x, w, wtype, b, n_tok, n_in, n_out, epi);
        return 0;
    }
    return kgemm_run(kvg_matmul_avx2_path(), y, x, w, wtype, b, n_tok, n_in, n_out, epi);
}
