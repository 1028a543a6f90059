/* test_matmul_fused.c — kvg_matmul_ex: pre-quantized activations and the
 * activation epilogue give exactly the bits of the unfused ops, on every
 * path (scalar, AVX2 on 256-bit, with AVX-512, NEON), for 1, 2 and 3
 * threads, over shapes that reach every route: 1-3 tokens (matrix-vector),
 * ragged tiles (n_tok % MR, n_out % NR), several k blocks (n_in > 768),
 * n_in not a multiple of 8 (float weights), every weight dtype.
 *
 * The oracle is a property, computed with the unfused public ops:
 *   qa:  kvg_matmul_ex(qa = kvg_qact_quantize(x)) == kvg_matmul(x), memcmp,
 *        also when qa holds more tokens than the product reads;
 *   epi: kvg_matmul_ex(epi) == kvg_matmul, then kvg_gelu_tanh / kvg_gelu_erf /
 *        kvg_silu over the whole [n_tok, n_out] buffer at once (kvg_swiglu
 *        for SWIGLU), memcmp. The epilogue runs on tiles and rows of other
 *        sizes and offsets than that one call, so this also pins that an
 *        activation's bits do not depend on where an element sits; that is
 *        checked directly too, element by element (test_activation_is_elementwise).
 * And the refusals: no input, qa for another width, SWIGLU without gate. */
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernel_path.h"
#include "kernels.h"
#include "kvg_dtype.h"
#include "kvg_test.h"
#include "matmul_variants.h"

static uint64_t rng_state = 0x3c6ef372fe94f82bull;

/* Uniform in [-scale, scale) (xorshift64*). */
static float uniform(float scale)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
    return scale * (float)((double)(r >> 40) / (double)(1ull << 23) - 1.0);
}

/* A random [n_out, n_in] weight in wtype (through the format's conversion). */
static void *make_weight(kvg_dtype wtype, size_t n_in, size_t n_out)
{
    const kvg_dtype_traits *t = kvg_dtype_get(wtype);
    size_t n = n_in * n_out;
    float *src = malloc((n ? n : 1) * sizeof *src);
    for (size_t i = 0; i < n; i++)
        src[i] = uniform(1.0f);
    void *w = malloc((n ? n : 1) / t->block_elems * t->block_bytes + 64);
    t->from_f32(src, w, n);
    free(src);
    return w;
}

static float *random_floats(size_t n, float scale)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = uniform(scale);
    return x;
}

static int is_quantized(kvg_dtype t) { return t == KVG_DTYPE_Q8_0 || t == KVG_DTYPE_Q4_0; }

static const int thread_counts[] = {1, 2, 3};
enum { N_THREADS = sizeof thread_counts / sizeof *thread_counts };

static void set_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

/* Where two outputs first differ, for the report; -1 when they are the same bits. */
static long first_difference(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof *a) != 0)
            return (long)i;
    return -1;
}

static void report(const char *what, const char *variant, kvg_dtype wtype, size_t n_tok, size_t n_in, size_t n_out,
                   int threads, const float *expected, const float *actual, long at)
{
    fprintf(stderr, "%s %s %s n_tok %zu n_in %zu n_out %zu threads %d: y[%ld] = %.9g, expected %.9g\n", what,
            variant, kvg_dtype_get(wtype)->name, n_tok, n_in, n_out, threads, at, actual[at], expected[at]);
}

/* kvg_matmul_ex with x quantized once (qa holding extra tokens past n_tok)
 * against kvg_matmul, for every variant and thread count. */
static void check_qact_shape(kvg_dtype wtype, size_t n_tok, size_t n_in, size_t n_out)
{
    const size_t extra = 2; /* qa has tokens the product does not read */
    void *w = make_weight(wtype, n_in, n_out);
    float *x = random_floats((n_tok + extra) * n_in, 3.0f), *b = random_floats(n_out, 1.0f);
    float *ref = malloc(n_tok * n_out * sizeof *ref), *y = malloc(n_tok * n_out * sizeof *y);
    void *scratch = malloc(kvg_qact_bytes(n_tok + extra, n_in));
    for (size_t v = 0; v < N_VARIANTS; v++) {
        if (use_variant(v) != 0)
            continue;
        kvg_qact qa;
        kvg_qact_quantize(&qa, scratch, x, n_tok + extra, n_in);
        for (int ti = 0; ti < N_THREADS; ti++) {
            set_threads(thread_counts[ti]);
            CHECK_INT(0, kvg_matmul(ref, x, w, wtype, b, n_tok, n_in, n_out));
            memset(y, 0xff, n_tok * n_out * sizeof *y);
            CHECK_INT(0, kvg_matmul_ex(y, NULL, &qa, w, wtype, b, n_tok, n_in, n_out, NULL));
            long at = first_difference(ref, y, n_tok * n_out);
            CHECK(at < 0);
            if (at >= 0)
                report("qact", variants[v].name, wtype, n_tok, n_in, n_out, thread_counts[ti], ref, y, at);
        }
    }
    set_threads(1);
    free(scratch);
    free(ref);
    free(y);
    free(x);
    free(b);
    free(w);
}

static void test_qact_same_bits(void)
{
    static const size_t toks[] = {1, 2, 3, 4, 7, 13, 37, 100};
    static const size_t ins[] = {32, 96, 832};
    static const size_t outs[] = {1, 7, 16, 33, 100};
    static const kvg_dtype types[] = {KVG_DTYPE_Q8_0, KVG_DTYPE_Q4_0};
    for (size_t a = 0; a < 2; a++)
        for (size_t i = 0; i < sizeof toks / sizeof *toks; i++)
            for (size_t j = 0; j < sizeof ins / sizeof *ins; j++)
                for (size_t k = 0; k < sizeof outs / sizeof *outs; k++)
                    check_qact_shape(types[a], toks[i], ins[j], outs[k]);
}

static const char *op_name(kvg_epi_op op)
{
    return op == KVG_EPI_GELU_TANH ? "gelu_tanh" : op == KVG_EPI_GELU_ERF ? "gelu_erf" : op == KVG_EPI_SILU ? "silu"
                                                                                                             : "swiglu";
}

/* The unfused ops on y[n] (gate: a copy of the gate, overwritten). */
static void unfused(kvg_epi_op op, float *y, float *gate, size_t n)
{
    switch (op) {
    case KVG_EPI_GELU_TANH: kvg_gelu_tanh(y, n); break;
    case KVG_EPI_GELU_ERF: kvg_gelu_erf(y, n); break;
    case KVG_EPI_SILU: kvg_silu(y, n); break;
    case KVG_EPI_SWIGLU:
        kvg_swiglu(gate, y, n);
        memcpy(y, gate, n * sizeof *y);
        break;
    case KVG_EPI_NONE: break;
    }
}

/* kvg_matmul_ex(epi), with and without qa, against kvg_matmul + the
 * unfused op, for every variant and thread count. */
static void check_epi_shape(kvg_dtype wtype, kvg_epi_op op, size_t n_tok, size_t n_in, size_t n_out, int with_bias)
{
    const size_t n = n_tok * n_out;
    void *w = make_weight(wtype, n_in, n_out);
    /* spread wide enough to reach the activations' tails (|x| up to ~10 after the product) */
    float *x = random_floats(n_tok * n_in, 0.5f), *b = random_floats(n_out, 4.0f), *gate = random_floats(n, 8.0f);
    float *ref = malloc(n * sizeof *ref), *y = malloc(n * sizeof *y), *g = malloc(n * sizeof *g);
    void *scratch = is_quantized(wtype) ? malloc(kvg_qact_bytes(n_tok, n_in)) : NULL;
    kvg_epilogue epi = {op, op == KVG_EPI_SWIGLU ? gate : NULL};
    for (size_t v = 0; v < N_VARIANTS; v++) {
        if (use_variant(v) != 0)
            continue;
        kvg_qact qa;
        if (scratch)
            kvg_qact_quantize(&qa, scratch, x, n_tok, n_in);
        for (int ti = 0; ti < N_THREADS; ti++) {
            set_threads(thread_counts[ti]);
            CHECK_INT(0, kvg_matmul(ref, x, w, wtype, with_bias ? b : NULL, n_tok, n_in, n_out));
            memcpy(g, gate, n * sizeof *g);
            unfused(op, ref, g, n);
            for (int use_qa = 0; use_qa <= (scratch != NULL); use_qa++) {
                memset(y, 0xff, n * sizeof *y);
                CHECK_INT(0, kvg_matmul_ex(y, x, use_qa ? &qa : NULL, w, wtype, with_bias ? b : NULL, n_tok, n_in,
                                           n_out, &epi));
                long at = first_difference(ref, y, n);
                CHECK(at < 0);
                if (at >= 0)
                    report(op_name(op), variants[v].name, wtype, n_tok, n_in, n_out, thread_counts[ti], ref, y, at);
            }
        }
    }
    set_threads(1);
    free(scratch);
    free(ref);
    free(y);
    free(g);
    free(x);
    free(b);
    free(gate);
    free(w);
}

static void test_epilogue_same_bits(void)
{
    static const kvg_epi_op ops[] = {KVG_EPI_GELU_TANH, KVG_EPI_GELU_ERF, KVG_EPI_SILU, KVG_EPI_SWIGLU};
    static const kvg_dtype types[] = {KVG_DTYPE_F32, KVG_DTYPE_F16, KVG_DTYPE_BF16, KVG_DTYPE_Q8_0, KVG_DTYPE_Q4_0};
    /* (n_tok, n_in, n_out): matrix-vector, ragged tiles, one and several k blocks */
    static const size_t shapes[][3] = {{1, 64, 40},   {3, 96, 33},   {5, 64, 70},   {13, 160, 100},
                                       {26, 32, 129}, {40, 800, 37}, {100, 96, 65}, {7, 21, 19}};
    for (size_t o = 0; o < sizeof ops / sizeof *ops; o++)
        for (size_t t = 0; t < sizeof types / sizeof *types; t++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
                if (is_quantized(types[t]) && shapes[s][1] % 32)
                    continue;
                check_epi_shape(types[t], ops[o], shapes[s][0], shapes[s][1], shapes[s][2], (int)(s % 2));
            }
}

/* Each activation kernel gives an element the same bits whatever the call
 * it is in: the whole array at once equals one call per element and calls
 * on ragged pieces (the SIMD body, its partial-vector tail, and the scalar
 * path all agree element by element). */
static void test_activation_is_elementwise(void)
{
    enum { N = 203 };
    static void (*const acts[])(float *, size_t) = {kvg_gelu_tanh, kvg_gelu_erf, kvg_silu};
    float *x = random_floats(N, 12.0f), *gate = random_floats(N, 12.0f);
    float whole[N], one[N], pieces[N], g[N];
    for (size_t v = 0; v < N_VARIANTS; v++) {
        if (use_variant(v) != 0)
            continue;
        for (size_t a = 0; a < 3; a++) {
            memcpy(whole, x, sizeof whole);
            acts[a](whole, N);
            memcpy(one, x, sizeof one);
            for (size_t i = 0; i < N; i++)
                acts[a](one + i, 1);
            memcpy(pieces, x, sizeof pieces);
            for (size_t i = 0, len = 1; i < N; i += len, len = len * 2 + 1)
                acts[a](pieces + i, len < N - i ? len : N - i);
            CHECK(first_difference(whole, one, N) < 0);
            CHECK(first_difference(whole, pieces, N) < 0);
        }
        memcpy(whole, gate, sizeof whole);
        kvg_swiglu(whole, x, N);
        for (size_t i = 0; i < N; i++) {
            g[i] = gate[i];
            kvg_swiglu(g + i, x + i, 1);
        }
        CHECK(first_difference(whole, g, N) < 0);
    }
    free(x);
    free(gate);
}

static void test_refusals(void)
{
    use_variant(0);
    const size_t n_in = 64, n_out = 8, n_tok = 4;
    void *wq = make_weight(KVG_DTYPE_Q8_0, n_in, n_out), *wf = make_weight(KVG_DTYPE_F32, n_in, n_out);
    float *x = random_floats(n_tok * n_in, 1.0f), y[4 * 8];
    void *scratch = malloc(kvg_qact_bytes(n_tok, 32));
    kvg_qact qa;
    kvg_qact_quantize(&qa, scratch, x, n_tok, 32); /* a width of 32, not 64 */
    CHECK_INT(-1, kvg_matmul_ex(y, NULL, NULL, wq, KVG_DTYPE_Q8_0, NULL, n_tok, n_in, n_out, NULL));
    CHECK_INT(-1, kvg_matmul_ex(y, NULL, NULL, wf, KVG_DTYPE_F32, NULL, n_tok, n_in, n_out, NULL));
    CHECK_INT(-1, kvg_matmul_ex(y, NULL, &qa, wf, KVG_DTYPE_F32, NULL, n_tok, n_in, n_out, NULL)); /* f32 reads x */
    CHECK_INT(-1, kvg_matmul_ex(y, x, &qa, wq, KVG_DTYPE_Q8_0, NULL, n_tok, n_in, n_out, NULL));
    kvg_epilogue no_gate = {KVG_EPI_SWIGLU, NULL};
    CHECK_INT(-1, kvg_matmul_ex(y, x, NULL, wf, KVG_DTYPE_F32, NULL, n_tok, n_in, n_out, &no_gate));
    kvg_epilogue none = {KVG_EPI_NONE, NULL};
    float ref[4 * 8];
    CHECK_INT(0, kvg_matmul(ref, x, wf, KVG_DTYPE_F32, NULL, n_tok, n_in, n_out));
    CHECK_INT(0, kvg_matmul_ex(y, x, NULL, wf, KVG_DTYPE_F32, NULL, n_tok, n_in, n_out, &none));
    CHECK(first_difference(ref, y, n_tok * n_out) < 0);
    free(scratch);
    free(x);
    free(wq);
    free(wf);
}

int main(void)
{
    test_refusals();
    test_activation_is_elementwise();
    test_qact_same_bits();
    test_epilogue_same_bits();
    return kvg_test_end();
}
