/* matmul_blocked.h — the cache-blocked GEMM loop nest shared by the SIMD
 * matmul paths (internal to engine/kernels).
 *
 * y[n_tok, n_out] = x[n_tok, n_in] · W^T + b is computed BLIS-style:
 *   - W is taken kc columns (k) by nc rows (outputs) at a time (kc = n_in up
 *     to KGEMM_KC_ONE, else KGEMM_KC; nc*kc <= KGEMM_PACK) and
 *     packed, converted to f32 (so any dtype is converted once per weight per
 *     call), into panels of NR rows laid out [k][NR];
 *   - a micro-kernel keeps an MR tokens × NR outputs tile of y in registers
 *     and adds one outer product per k: MR broadcasts of x times one NR-wide
 *     row of the panel (MR and NR are the path's: 6×16 on AVX2 and NEON,
 *     12×32 with AVX-512 registers);
 *   - x is read in place (row-major, one row pointer per token of the tile).
 * One k block for n_in <= 768 (measured on Zen 5, best of interleaved runs:
 * ~8% faster with 512-bit registers at K = 576 / 768 than kc = 256, no
 * difference with 256-bit ones): y is then written once, never reloaded,
 * and the panel streams from L2 instead of L1, which the prefetchers hide.
 * Threads split W's rows (whole NR panels, contiguous runs: each thread packs
 * only its own rows, x is shared, no barrier inside); every y element is one
 * chain of multiply-adds over k in increasing order (stored to y between k
 * blocks, which is exact), so the result does not depend on the thread count
 * nor on kc.
 * A path supplies the packing and the micro-kernel; the loop nest, the
 * threading and the ragged edges (n_tok % MR, n_out % NR) live here. */
#ifndef KVG_MATMUL_BLOCKED_H
#define KVG_MATMUL_BLOCKED_H

#include <stddef.h>

#include "kernels.h"
#include "kvg_dtype.h"

enum {
    KGEMM_MR_MAX = 12,  /* most tokens per micro-tile (any path) */
    KGEMM_NR_MAX = 32,  /* most outputs per micro-tile (= panel width) */
    KGEMM_KC = 256,     /* k per packed block when n_in > KGEMM_KC_ONE (multiple of 32: whole q blocks) */
    KGEMM_KC_ONE = 768, /* n_in up to this is one k block: y is stored once, never reloaded (GPT-2, SmolLM) */
    KGEMM_NC = 256,     /* most outputs per packed block (a multiple of every NR) */
    KGEMM_PACK = 98304, /* floats in a thread's packed block (384 KiB, L2): NC shrinks as kc grows */
    KGEMM_MC = 96,      /* tokens swept per panel before the next panel (a multiple of every MR): x in L2 */
};

typedef struct kgemm_path {
    size_t mr, nr; /* micro-tile: tokens (<= KGEMM_MR_MAX) × outputs (<= KGEMM_NR_MAX, a multiple of 8) */
    /* dst[kc][width] = elements k0 .. k0+kc-1 of W rows r0 .. r0+nr-1 as f32
     * (W is [*, n_in] in wtype; k0 % KC == 0); rows nr .. width-1 are
     * zeros. width is the path's NR. */
    void (*pack_w)(float *dst, size_t width, const void *w, kvg_dtype wtype, size_t n_in, size_t r0, size_t nr,
                   size_t k0, size_t kc);
    /* c[i][j] (i < MR, j < NR, row stride ldc) = (first ? 0 : c[i][j])
     *   + sum over k < kc of a[i][k] * panel[k][j], in increasing k,
     *   then + bias[j] when bias is not NULL. */
    void (*micro)(size_t kc, const float *const a[KGEMM_MR_MAX], const float *panel, float *c, size_t ldc, int first,
                  const float *bias);
} kgemm_path;

/* A path's pack_w that calls body(dst, width, w, DTYPE, n_in, r0, nr, k0, kc)
 * with the dtype a constant in each branch, so that an always-inline body
 * is compiled once per dtype without its per-element dtype switch. */
#define KGEMM_PACK_W_PER_DTYPE(name, body)                                                                     \
    static void name(float *dst, size_t width, const void *w, kvg_dtype wtype, size_t n_in, size_t r0,       \
                     size_t nr, size_t k0, size_t kc)                                                        \
    {                                                                                                        \
        switch (wtype) {                                                                                     \
        case KVG_DTYPE_F16: body(dst, width, w, KVG_DTYPE_F16, n_in, r0, nr, k0, kc); break;                  \
        case KVG_DTYPE_BF16: body(dst, width, w, KVG_DTYPE_BF16, n_in, r0, nr, k0, kc); break;                \
        case KVG_DTYPE_Q8_0: body(dst, width, w, KVG_DTYPE_Q8_0, n_in, r0, nr, k0, kc); break;                \
        case KVG_DTYPE_Q4_0: body(dst, width, w, KVG_DTYPE_Q4_0, n_in, r0, nr, k0, kc); break;                \
        default: body(dst, width, w, KVG_DTYPE_F32, n_in, r0, nr, k0, kc); break;                             \
        }                                                                                                    \
    }

/* The blocked product with one path's pieces. Arguments as kvg_matmul_ex
 * (already checked); epi runs on each tile after its last k block. Returns
 * 0, or -1 when scratch memory runs out.
 * n_tok = 0 (y and x unused) packs every panel of W, on the calling thread,
 * and multiplies nothing: bench/bench_pack.cc times the packing that way. */
int kgemm_run(const kgemm_path *path, float *y, const float *x, const void *w, kvg_dtype wtype, const float *b,
              size_t n_tok, size_t n_in, size_t n_out, const kvg_epilogue *epi);

/* pack_w's work with scalar conversions, for panel columns k_from .. kc-1
 * only: k_from = 0 packs it all (paths without a vector packer), a vector
 * packer passes its ragged tail. */
void kgemm_pack_w_scalar(float *dst, size_t width, const void *w, kvg_dtype wtype, size_t n_in, size_t r0, size_t nr,
                         size_t k0, size_t k_from, size_t kc);

/* out[n] = elements k0 .. k0+n-1 of row i of a [*, n_in] matrix in wtype,
 * as f32 (quantized types: k0 and n multiples of 32). matmul.c. */
void kvg_row_span_to_f32(const void *w, kvg_dtype wtype, size_t n_in, size_t i, size_t k0, size_t n, float *out);

/* matmul_avx2.c (x86-64 builds only): the path kvg_matmul's AVX2 GEMM runs
 * now (the 256-bit or the 512-bit micro-kernel, kvg_matmul_avx512_active),
 * for benchmarks of its pieces. */
const kgemm_path *kvg_matmul_avx2_path(void);

#ifdef KVG_HAVE_AVX2
/* matmul_avx512_avx2.c: the 512-bit micro-kernel of the AVX2 path (a
 * kgemm_path micro with MR × NR = 12 × 32), and whether this CPU and OS run
 * AVX-512F. */
enum { KVG_MATMUL_AVX512_MR = 12, KVG_MATMUL_AVX512_NR = 32 };
int kvg_matmul_avx512_cpu(void);
void kvg_matmul_avx512_micro(size_t kc, const float *const a[KGEMM_MR_MAX], const float *panel, float *c, size_t ldc,
                             int first, const float *bias);
#endif

#endif
