/* ops_simd.h — internal: the per-path versions of the non-matmul kernels
 * (norms, RoPE, activations, softmax, attention; matmul's are in
 * kernels_simd.h). The public functions in kernels.h dispatch to them on
 * kvg_kernel_path_get(); each has the meaning and signature of its public
 * counterpart. The bodies are written once against a small vector layer
 * (simd_vec_avx2.h, simd_vec_neon.h) in the *_simd.h files, which
 * ops_avx2.c and ops_neon.c compile for their ISA. */
#ifndef KVG_OPS_SIMD_H
#define KVG_OPS_SIMD_H

#include <stddef.h>
#include <stdint.h>

#include "kernel_path.h"
#include "kernels.h"

/* Key positions whose scores one attention unit holds at a time: its whole
 * scratch, whatever the window length. A multiple of every VF_N. */
#define KVG_ATTN_BLOCK 64
/* The SIMD attention handles head dims up to this, multiples of 8 (NEON:
 * a head's accumulator in stack arrays); larger or ragged head dims use
 * the scalar unit. */
#define KVG_ATTN_SIMD_MAX_HD 256

/* Units of attention whose key blocks are walked together (a tile): at
 * most this many, e.g. the heads of one kv group for several tokens. The
 * x86-64 kernel packs each key block once per tile: larger tiles share it
 * among more queries. */
#define KVG_ATTN_TILE 64

/* The x86-64 kernel's few-unit path: runs (units sharing their K/V rows) of
 * at most this many units, generation's 1 to a few queries per kv head,
 * compute their scores from K's rows directly instead of packing each key
 * block first (the packing costs more than so few queries' scores). The
 * same bits either way. kvg_attend_set_few_max(n) moves the crossover, for
 * tests and benchmarks (0: always pack; at most KVG_ATTN_FEW; call it
 * outside parallel regions); returns the previous value. */
#define KVG_ATTN_FEW 4
size_t kvg_attend_set_few_max(size_t n);
size_t kvg_attend_few_max(void);

/* One (token, head) unit of attention:
 *   out[hd] = softmax(scale * q[hd] · k[p]) over p < n_pos, weighting v[p],
 * where k[p] = k + p * kv_stride (same for v). */
typedef struct kvg_attn_query {
    const float *q, *k, *v;
    float *out;
    size_t n_pos;
} kvg_attn_query;

/* The scalar reference for one unit. Online softmax over blocks of
 * KVG_ATTN_BLOCK positions: running max m and denominator l, the
 * accumulator rescaled by e^(m_old - m_new) when the max grows. */
void kvg_attend_scalar(const kvg_attn_query *u, size_t hd, size_t kv_stride, float scale);
/* n <= KVG_ATTN_TILE units, each computed as by itself; the per-path
 * versions walk their key blocks together so shared K/V rows stay in cache.
 * scratch: kvg_attend_scratch_floats(hd) floats for the calling thread (the
 * scalar and NEON versions need none). */
size_t kvg_attend_scratch_floats(size_t hd);
void kvg_attend_tile_scalar(const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride, float scale, float *scratch);

/* exp and erfc of n floats on the current path (libm on the scalar path);
 * for the accuracy tests (tests/kernels/test_vmath.c). */
void kvg_vec_exp(float *y, const float *x, size_t n);
void kvg_vec_erfc(float *y, const float *x, size_t n);

#define KVG_SIMD_OPS_DECLARE(S)                                                                                      \
    void kvg_rmsnorm_##S(float *out, const float *x, const float *w, size_t n_tok, size_t d, float eps);            \
    void kvg_layernorm_##S(float *out, const float *x, const float *w, const float *b, size_t n_tok, size_t d,     \
                           float eps);                                                                             \
    void kvg_rope_apply_##S(float *x, const uint32_t *pos, size_t n_tok, size_t n_heads, const kvg_rope *r,         \
                            const double *inv_freq);                                                               \
    void kvg_rope_rotate_##S(float *x, const uint32_t *pos, size_t n_tok, size_t n_heads, const kvg_rope *r,        \
                             const float *cs);                                                                     \
    void kvg_gelu_tanh_##S(float *x, size_t n);                                                                    \
    void kvg_gelu_erf_##S(float *x, size_t n);                                                                     \
    void kvg_silu_##S(float *x, size_t n);                                                                         \
    void kvg_swiglu_##S(float *gate, const float *up, size_t n);                                                   \
    void kvg_epilogue_tile_##S(const kvg_epilogue *epi, float *y, size_t ld, size_t i0, size_t rows, size_t j0,    \
                               size_t n);                                                                          \
    void kvg_add_##S(float *x, const float *y, size_t n);                                                          \
    void kvg_log_softmax_##S(float *out, const float *x, size_t n);                                                \
    double kvg_logsumexp_##S(const float *x, size_t n);                                                            \
    double kvg_sum_exp_max_##S(const float *x, size_t n, float *max);                                              \
    void kvg_vec_exp_##S(float *y, const float *x, size_t n);                                                      \
    void kvg_vec_erfc_##S(float *y, const float *x, size_t n);                                                     \
    void kvg_attend_tile_##S(const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride, float scale, float *scratch);

#ifdef KVG_HAVE_AVX2
KVG_SIMD_OPS_DECLARE(avx2)
/* attention_avx2.c: kvg_attend_tile_avx2 on 512-bit registers (AVX-512F;
 * only when kvg_matmul_avx512_active()): the same bits. Both need
 * kvg_attend_scratch_avx2(hd) floats of scratch (the packed key and value
 * blocks; 0 for head dims they hand to the scalar unit). */
size_t kvg_attend_scratch_avx2(size_t hd);
void kvg_attend_tile_avx512(const kvg_attn_query *u, size_t n, size_t hd, size_t kv_stride, float scale, float *scratch);
#define KVG_IF_AVX2(...) __VA_ARGS__
#else
#define KVG_IF_AVX2(...)
#endif
#ifdef KVG_HAVE_NEON
KVG_SIMD_OPS_DECLARE(neon)
/* attention_neon.c: the scratch of kvg_attend_tile_neon (as on AVX2). */
size_t kvg_attend_scratch_neon(size_t hd);
#define KVG_IF_NEON(...) __VA_ARGS__
#else
#define KVG_IF_NEON(...)
#endif

/* In a void kernel: runs name_avx2 / name_neon with the arguments and
 * returns, when that path is compiled in and chosen; else falls through to
 * the scalar code that follows. */
#define KVG_DISPATCH(name, ...)                                                                                      \
    do {                                                                                                           \
        switch (kvg_kernel_path_get()) {                                                                           \
        case KVG_PATH_AVX2:                                                                                        \
            KVG_IF_AVX2(name##_avx2(__VA_ARGS__); return;)                                                         \
            break;                                                                                                 \
        case KVG_PATH_NEON:                                                                                        \
            KVG_IF_NEON(name##_neon(__VA_ARGS__); return;)                                                         \
            break;                                                                                                 \
        case KVG_PATH_SCALAR:                                                                                      \
            break;                                                                                                 \
        }                                                                                                          \
    } while (0)

#endif
