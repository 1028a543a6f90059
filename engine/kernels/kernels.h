/* kernels.h — the scalar reference ops every transformer family is built from.
 *
 * Each op works on a whole batch of tokens at once: activations are row-major
 * matrices [n_tok, width] of f32, one row per token. These are the reference
 * implementations: plain C, written for clarity and exactness first; each
 * dispatches at run time to its AVX2 or NEON version (kernel_path.h), which
 * is tested against it (tests/kernels/).
 *
 * Parallelism: kvg_matmul and kvg_attention open their own OpenMP parallel
 * region (omp_get_max_threads() threads; call them from serial code) when the
 * work is large enough to pay for waking the team (KVG_PARALLEL_MIN_WORK
 * multiply-adds), else run on the calling thread. Every output element is
 * computed by one thread in a fixed order, so results are bit-identical for
 * any thread count. */
#define KVG_PARALLEL_MIN_WORK (1u << 16)
#ifndef KVG_KERNELS_H
#define KVG_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_dtype.h"

/* y[n_tok, n_out] = x[n_tok, n_in] · W^T + b.
 * W is [n_out, n_in] row-major in wtype (f32, f16, bf16, or q8_0 / q4_0
 * blocks of 32 along each row), like torch nn.Linear's weight; b is [n_out]
 * f32 or NULL. y must not alias x.
 * f32 / f16 / bf16 weights: paths are the scalar reference (matmul.c), AVX2
 * and NEON (matmul_avx2.c, matmul_neon.c on the blocked GEMM of
 * matmul_blocked.h); W is converted to f32 once per weight per call (while
 * packing) and activations stay f32. On the SIMD paths each output is one
 * FMA chain over k in increasing order, then + bias, so a token's outputs
 * have the same bits whatever the batch size or thread count; the paths
 * differ from each other by f32 rounding only (bound: tests/kernels/
 * test_matmul_paths.c).
 * q8_0 / q4_0 weights: integer dot products (matmul_qdot.h has the exact
 * math). Each token's row of x is quantized to 8 bits per 32-element block
 * (dx = max|x| / 127, qx = rint(x * 127 / max|x|)); each block's integer dot
 * product isum with the weight block is exact, and y = the f32 chain
 * acc = fmaf(dw * dx, isum, acc) over blocks in order, + bias. Every path
 * (scalar, AVX2 vpmaddubsw, AVX-512 VNNI vpdpbusd, NEON vmull_s8 block
 * dots in the scalar loop nest), batch size, thread count and slice of W's
 * rows gives the same bits (tests/kernels/test_matmul_qdot.c). The activation quantization adds an error of at most
 * dx / 2 per element to what f32 activations would give. Scratch: per call
 * (freed before returning) n_tok * (n_in + 8 * n_in / 32) bytes for the
 * quantized activations (none with kvg_matmul_ex's qa); per thread, kept
 * from one call to the next and freed when the thread exits
 * (thread_scratch.h), the packed panels of W: 384 KiB for f32 / f16 / bf16,
 * at most n_in * 68 bytes (AVX2) or n_in * 72 bytes (AVX-512) plus their
 * scales for q8_0 / q4_0.
 * Returns 0, or -1 for an unsupported wtype or a quantized wtype with
 * n_in % 32 != 0 (nothing written), or when scratch memory runs out. */
int kvg_matmul(float *y, const float *x, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
               size_t n_in, size_t n_out);

/* Activations x[n_tok][n_in] quantized per 32-element block for q8_0 / q4_0
 * products (step 1 of matmul_qdot.h: qx = int8, dx = block scale, sx = sum
 * of the block's qx). Made once by kvg_qact_quantize and read by any number
 * of kvg_matmul_ex calls with quantized weights and the same input, instead
 * of each product quantizing x again (q, k and v; gate and up; the slices of
 * the output layer). */
typedef struct kvg_qact {
    const int8_t *q;  /* [n_tok][n_in] qx */
    const float *d;   /* [n_tok][n_blocks] dx */
    const int32_t *s; /* [n_tok][n_blocks] sx */
    size_t n_in, n_blocks;
} kvg_qact;

/* Bytes of caller scratch for n_tok tokens of n_in (n_in % 32 == 0):
 * n_tok * (n_in + 8 * n_in / 32). */
size_t kvg_qact_bytes(size_t n_tok, size_t n_in);

/* Quantizes x[n_tok][n_in] (n_in % 32 == 0) into scratch (kvg_qact_bytes,
 * 4-byte aligned; it must outlive *qa) and describes it in *qa. Opens its own
 * OpenMP region when the batch is large (call it from serial code). The bits
 * are those kvg_matmul quantizes to internally, on every path. */
void kvg_qact_quantize(kvg_qact *qa, void *scratch, const float *x, size_t n_tok, size_t n_in);

/* What a product does to each finished tile of y (after + b), while the
 * tile is still in L1, instead of a separate pass over y:
 *   GELU_TANH / GELU_ERF / SILU: y = act(y), the same bits as kvg_gelu_tanh /
 *     kvg_gelu_erf / kvg_silu on y afterwards (they are element-wise and
 *     every path computes an element the same way wherever it sits);
 *   SWIGLU: y = silu(gate) * y with gate [n_tok][n_out] (may not alias y):
 *     the same bits as kvg_swiglu(gate, y) into gate. */
typedef enum kvg_epi_op { KVG_EPI_NONE, KVG_EPI_GELU_TANH, KVG_EPI_GELU_ERF, KVG_EPI_SILU, KVG_EPI_SWIGLU } kvg_epi_op;
typedef struct kvg_epilogue {
    kvg_epi_op op;
    const float *gate; /* SWIGLU only */
} kvg_epilogue;

/* kvg_matmul with two options, each NULL for none:
 *   qa:  for q8_0 / q4_0 weights, x already quantized by kvg_qact_quantize
 *        (qa->n_in == n_in, at least n_tok rows); x is then not read and may
 *        be NULL. Ignored for f32 / f16 / bf16 weights (x is read). The same
 *        bits as kvg_matmul(x) on every path, batch size and thread count,
 *        and no per-call scratch for the activations.
 *   epi: the epilogue above, on every path (scalar, AVX2 256 / 512-bit,
 *        NEON, integer dots, the matrix-vector route of 1-3 tokens).
 * Returns 0, or -1 as kvg_matmul, and for a missing input (x NULL where it
 * is read) or qa->n_in != n_in. */
int kvg_matmul_ex(float *y, const float *x, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b,
                  size_t n_tok, size_t n_in, size_t n_out, const kvg_epilogue *epi);

/* x86-64: the AVX2 path's batch GEMM (and attention) uses 512-bit
 * registers (AVX-512F) when this CPU has them; the results have the same
 * bits either way. Setting the
 * environment variable KVG_MATMUL_AVX512=0 before the first product, or
 * kvg_matmul_set_avx512(0) between products, keeps it to 256-bit (tests,
 * benchmarks). For q8_0 / q4_0 weights the switch also decides between
 * AVX512_VNNI vpdpbusd (on, where the CPU has VNNI) and pure AVX2 vpmaddubsw
 * (off: no VNNI of any kind, AVX-VNNI included: the like-for-like
 * comparison with llama.cpp's AVX2 build).
 * kvg_matmul_set_avx512 returns 0, or -1 (nothing changed) when
 * asked for 512-bit where it is not available; kvg_matmul_avx512_active
 * says whether it is in use now (0 off x86-64 or without AVX-512F). */
int kvg_matmul_set_avx512(int on);
int kvg_matmul_avx512_active(void);

/* The implementation a batch kvg_matmul with wtype weights runs now, for
 * reports: "avx512" (f32 / f16 / bf16 on the AVX2 path's 512-bit
 * registers), "avx512-vnni" (q8_0 / q4_0 with AVX512_VNNI vpdpbusd),
 * "avx2", "neon" or "scalar". */
const char *kvg_matmul_impl_name_for(kvg_dtype wtype);
/* The same for every dtype at once: "avx512+vnni" when the float GEMM runs
 * on 512-bit registers and the integer one on AVX512_VNNI, "avx512" when
 * only the float GEMM does (a CPU without VNNI), else the one name all
 * dtypes share ("avx2", "neon", "scalar"). */
const char *kvg_matmul_impl_name(void);

/* Row i of a [rows, n] matrix in wtype, converted to f32 into out[n]
 * (quantized types: n % 32 == 0). */
void kvg_row_to_f32(const void *w, kvg_dtype wtype, size_t n, size_t i, float *out);

/* out[n_tok, d] = x / sqrt(mean(x^2) + eps) * w        (RMSNorm, per row). out may be x. */
void kvg_rmsnorm(float *out, const float *x, const float *w, size_t n_tok, size_t d, float eps);

/* out[n_tok, d] = (x - mean) / sqrt(var + eps) * w + b (LayerNorm, biased variance). out may be x. */
void kvg_layernorm(float *out, const float *x, const float *w, const float *b, size_t n_tok, size_t d, float eps);

/* Rotary position embedding parameters for one model. */
typedef enum { KVG_ROPE_NONE, KVG_ROPE_LINEAR, KVG_ROPE_LLAMA3 } kvg_rope_scaling;
typedef struct kvg_rope {
    uint32_t head_dim;        /* elements per head */
    uint32_t rot_dims;        /* leading elements of each head that rotate (even, <= head_dim) */
    double theta;             /* base, e.g. 10000 */
    kvg_rope_scaling scaling;
    double factor;            /* linear / llama3: positions (frequencies) divided by it */
    double low_freq_factor, high_freq_factor; /* llama3 */
    double original_context;  /* llama3: original max position embeddings */
} kvg_rope;

/* inv_freq[rot_dims/2]: the per-pair angular frequency (radians per
 * position) after scaling, as HF's rope_init functions compute them. */
void kvg_rope_frequencies(const kvg_rope *r, double *inv_freq);

/* Rotates x[n_tok, n_heads, head_dim] in place, token t at position pos[t],
 * in the "rotate_half" convention: within the first rot_dims of a head,
 * element i pairs with element i + rot_dims/2 (i < rot_dims/2):
 *   x'[i]      = x[i] cos(p f_i) - x[i+h] sin(p f_i)
 *   x'[i + h]  = x[i+h] cos(p f_i) + x[i] sin(p f_i),   h = rot_dims/2.
 * inv_freq from kvg_rope_frequencies. */
void kvg_rope_apply(float *x, const uint32_t *pos, size_t n_tok, size_t n_heads, const kvg_rope *r,
                    const double *inv_freq);

/* The angles of kvg_rope_apply computed once: for positions p = p0..p1-1,
 * row p - p0 of cs[.., rot_dims] holds cos(p f_i) for i < rot_dims/2, then
 * sin(p f_i) (angle in double, stored as f32: the values kvg_rope_apply
 * rotates with). The forward pass keeps these rows for its whole window
 * instead of calling cos and sin for every token of every layer. */
void kvg_rope_table(const kvg_rope *r, const double *inv_freq, uint32_t p0, uint32_t p1, float *cs);

/* kvg_rope_apply with the cos/sin of position pos[t] read from row pos[t]
 * of a kvg_rope_table (cs = the row of position 0): the same bits. */
void kvg_rope_rotate(float *x, const uint32_t *pos, size_t n_tok, size_t n_heads, const kvg_rope *r,
                     const float *cs);

/* Element-wise activations over n values, in place. */
void kvg_gelu_tanh(float *x, size_t n); /* 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) (GPT-2 gelu_new) */
void kvg_gelu_erf(float *x, size_t n);  /* 0.5x(1 + erf(x/sqrt 2)) */
void kvg_silu(float *x, size_t n);      /* x / (1 + e^-x) */
/* SwiGLU: gate[i] = silu(gate[i]) * up[i], n values. */
void kvg_swiglu(float *gate, const float *up, size_t n);
/* x[i] += y[i] (residual adds), n values. */
void kvg_add(float *x, const float *y, size_t n);

/* Causal multi-head attention with grouped-query heads, over a batch whose
 * tokens belong to independent sequences, each stored in a run of cache rows.
 *   q    [n_tok, n_heads * head_dim]    queries (already rotated)
 *   k, v [n_rows, n_kv * head_dim]      caches: the sequence of token t holds
 *        its position p at row row0[t] + p, for every p <= pos[t]
 *   out  [n_tok, n_heads * head_dim]
 * Token t attends to positions 0..pos[t] of its sequence; head h reads kv
 * head h / (n_heads / n_kv). Scores are scaled by 1/sqrt(head_dim). The
 * softmax is computed online over blocks of 64 positions (running max and
 * denominator, flash-attention style): numerically stable, and the scratch
 * does not grow with the window: 64 floats per (token, head) unit (on the
 * stack), and on the SIMD paths the key and value block packed once per
 * tile (2 x 64 x head_dim floats per thread, allocated per call). A tile
 * (up to 64 units: consecutive tokens x the heads of one kv group)
 * computes its scores and weighted values as register-blocked GEMMs (AVX2,
 * NEON), on 512-bit registers when kvg_matmul_avx512_active()
 * (KVG_MATMUL_AVX512=0 keeps it to 256-bit; the same bits); runs of 1 to 4
 * units sharing a kv head (generation) skip the packing. Each unit's result is computed the same way
 * whatever its tile and thread: the same bits for any thread count, and
 * for a token scored alone or in a batch. Returns 0, or -1 when the
 * scratch cannot be allocated (out then incomplete). */
typedef struct kvg_attn_shape {
    uint32_t n_heads, n_kv, head_dim;
    uint32_t max_pos; /* > every pos[t]: bounds the work (decides whether threads pay) */
} kvg_attn_shape;
int kvg_attention(float *out, const float *q, const float *k, const float *v, const uint32_t *row0,
                  const uint32_t *pos, size_t n_tok, const kvg_attn_shape *s);

/* out[n] = log softmax(x[n]) (max subtracted, sum in double). out may be x. */
void kvg_log_softmax(float *out, const float *x, size_t n);

/* The two parts of a log-sum-exp, for merging slices of a row: returns
 * sum_i e^(x[i] - max) in double with *max = the largest x[i], so that
 * logsumexp(x) = max + log(sum) (n = 0: *max = -inf, returns 0). Scoring
 * computes the logits a slice of the vocabulary at a time and merges the
 * slices' parts. */
double kvg_sum_exp_max(const float *x, size_t n, float *max);

/* log(sum_i e^x[i]) in double (max subtracted first; -inf for n = 0). The
 * scoring path's log p(target) is x[target] - kvg_logsumexp(x, V): one pass
 * less than a full log-softmax, and the row is left as it was. */
double kvg_logsumexp(const float *x, size_t n);

#endif
