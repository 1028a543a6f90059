/* test_matmul_paths.c — kvg_matmul on every available path (scalar, AVX2,
 * NEON) against a double-precision reference and against the scalar path,
 * over many shapes: every n_tok from 1 to 13 and batches that cross the
 * blocking (MC = 96 tokens; one k block up to n_in = 768, else blocks of 256;
 * 128-256 outputs per packed block), n_in arbitrary for float weights and
 * whole 32-blocks for quantized ones, n_out not a multiple of 16 or 32, with
 * and without bias, for f32 / f16 / bf16 weights. (q8_0 / q4_0 weights
 * take integer dot products with quantized activations: their exact bits
 * are tested in test_matmul_qdot.c; here only their refusals.)
 * Plus: the result bits do not depend on the thread count.
 *
 * Tolerance. Every path converts a weight exactly (an f16/bf16 value is
 * exact in f32), so the paths differ
 * only in the order they add the n_in products in f32. Any order of n
 * rounded multiply-adds has |error| <= gamma * (sum_k |x_k w_k| + |b|) with
 * gamma = (n + 2) u, u = 2^-24 (the standard forward bound for recursive
 * summation, one more rounding for the bias). So a path differs from the
 * exact (double) value by at most that, and from the scalar path by at most
 * twice that. Wrong indexing moves a result by a whole term, which is far
 * larger for these random inputs (checked by test_tolerance_bites). */
#include <stdlib.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernel_path.h"
#include "kernels.h"
#include "kvg_dtype.h"
#include "kvg_test.h"
#include "matmul_variants.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* Uniform in [-1, 1) (xorshift64*). */
static float uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545f4914f6cdd1dull;
    return (float)((double)(r >> 40) / (double)(1ull << 23) - 1.0);
}

/* A random [n_out, n_in] weight in wtype, and the same values as f32 read
 * back through the format's own conversion (what every path must use). */
typedef struct weight {
    void *data;
    float *f32;
} weight;

static weight make_weight(kvg_dtype wtype, size_t n_in, size_t n_out)
{
    const kvg_dtype_traits *t = kvg_dtype_get(wtype);
    size_t n = n_in * n_out;
    float *src = malloc((n ? n : 1) * sizeof *src);
    for (size_t i = 0; i < n; i++)
        src[i] = uniform();
    weight w;
    w.data = malloc((n ? n : 1) / t->block_elems * t->block_bytes + 1);
    w.f32 = malloc((n ? n : 1) * sizeof *w.f32);
    t->from_f32(src, w.data, n);
    t->to_f32(w.data, w.f32, n);
    free(src);
    return w;
}

static void free_weight(weight *w)
{
    free(w->data);
    free(w->f32);
}

static const kvg_dtype dtypes[] = {KVG_DTYPE_F32, KVG_DTYPE_F16, KVG_DTYPE_BF16};

/* Runs one shape on every available path; compares each with the double
 * reference and with the scalar path. Returns the number of elements out of
 * tolerance (each is also reported once per shape). */
static int check_shape(kvg_dtype wtype, size_t n_tok, size_t n_in, size_t n_out, int with_bias)
{
    weight w = make_weight(wtype, n_in, n_out);
    float *x = malloc((n_tok * n_in + 1) * sizeof *x);
    float *b = malloc(n_out * sizeof *b);
    for (size_t i = 0; i < n_tok * n_in; i++)
        x[i] = uniform();
    for (size_t i = 0; i < n_out; i++)
        b[i] = uniform();
    double *exact = malloc(n_tok * n_out * sizeof *exact), *bound = malloc(n_tok * n_out * sizeof *bound);
    const double u = 1.0 / (double)(1u << 24);
    for (size_t t = 0; t < n_tok; t++)
        for (size_t r = 0; r < n_out; r++) {
            double s = with_bias ? b[r] : 0.0, mag = with_bias ? fabs(b[r]) : 0.0;
            for (size_t k = 0; k < n_in; k++) {
                double p = (double)x[t * n_in + k] * (double)w.f32[r * n_in + k];
                s += p;
                mag += fabs(p);
            }
            exact[t * n_out + r] = s;
            bound[t * n_out + r] = (double)(n_in + 2) * u * mag;
        }
    float *ys = malloc(n_tok * n_out * sizeof *ys), *y = malloc(n_tok * n_out * sizeof *y);
    use_variant(0);
    CHECK_INT(0, kvg_matmul(ys, x, w.data, wtype, with_bias ? b : NULL, n_tok, n_in, n_out));
    int bad = 0;
    for (size_t p = 0; p < N_VARIANTS; p++) {
        if (use_variant(p) != 0)
            continue;
        for (size_t i = 0; i < n_tok * n_out; i++)
            y[i] = NAN;
        CHECK_INT(0, kvg_matmul(y, x, w.data, wtype, with_bias ? b : NULL, n_tok, n_in, n_out));
        int reported = 0;
        for (size_t i = 0; i < n_tok * n_out; i++) {
            int ok = fabs(y[i] - exact[i]) <= bound[i] && fabs((double)y[i] - ys[i]) <= 2 * bound[i];
            if (!ok && !reported++) {
                fprintf(stderr,
                        "%s %s n_tok %zu n_in %zu n_out %zu bias %d: y[%zu,%zu] = %.9g, scalar %.9g, "
                        "exact %.9g, bound %.3g\n",
                        variants[p].name, kvg_dtype_get(wtype)->name, n_tok, n_in, n_out, with_bias,
                        i / n_out, i % n_out, y[i], ys[i], exact[i], bound[i]);
            }
            bad += !ok;
        }
    }
    free_weight(&w);
    free(x), free(b), free(exact), free(bound), free(ys), free(y);
    return bad;
}

static void test_shapes(void)
{
    static const size_t toks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 97};
    static const size_t ins[] = {1, 3, 7, 8, 17, 64, 100, 255, 256, 300, 520, 768, 777};
    static const size_t outs[] = {1, 5, 16, 17, 31, 33, 100, 300};
    const size_t n_toks = sizeof toks / sizeof *toks, n_outs = sizeof outs / sizeof *outs;
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
        const size_t n_ins = sizeof ins / sizeof *ins;
        int bad = 0;
        for (size_t ti = 0; ti < n_toks; ti++)
            for (size_t ki = 0; ki < n_ins; ki++) {
                /* Big batches with the biggest n_in and n_out would be slow under sanitizers: cap the work. */
                size_t n_out = outs[(ti * 3 + ki) % n_outs];
                if (toks[ti] * ins[ki] * n_out > 500000)
                    n_out = 33; /* ragged for NR = 16 and 32 */
                bad += check_shape(dtypes[d], toks[ti], ins[ki], n_out, (int)((ti + ki) % 2));
            }
        /* One shape that crosses every block boundary at once. */
        bad += check_shape(dtypes[d], 101, 790, 275, 1);
        CHECK_INT(0, bad);
    }
}

/* The tolerance is tight enough to see one wrong term: a product with one
 * weight moved by 1/4 (a typical |x w|) is out of bounds on every path. */
static void test_tolerance_bites(void)
{
    enum { T = 7, IN = 544, OUT = 19 };
    weight w = make_weight(KVG_DTYPE_F32, IN, OUT);
    static float x[T * IN], y[T * OUT];
    for (size_t i = 0; i < T * IN; i++)
        x[i] = uniform() * 0.5f + (uniform() > 0 ? 0.5f : -0.5f); /* |x| >= 0.5 */
    const double u = 1.0 / (double)(1u << 24);
    for (size_t p = 0; p < N_VARIANTS; p++) {
        if (use_variant(p) != 0)
            continue;
        float *wp = w.data;
        float saved = wp[5 * IN + 300];
        wp[5 * IN + 300] += 0.25f;
        CHECK_INT(0, kvg_matmul(y, x, wp, KVG_DTYPE_F32, NULL, T, IN, OUT));
        wp[5 * IN + 300] = saved;
        for (size_t t = 0; t < T; t++) {
            double exact = 0, mag = 0;
            for (size_t k = 0; k < IN; k++) {
                exact += (double)x[t * IN + k] * wp[5 * IN + k];
                mag += fabs((double)x[t * IN + k] * wp[5 * IN + k]);
            }
            CHECK(fabs(y[t * OUT + 5] - exact) > (IN + 2) * u * mag);
        }
    }
    free_weight(&w);
}

/* Same bits for 1, 2, 3 and 4 threads, on the batch path and the
 * single-token path. */
static void test_thread_determinism(void)
{
#ifdef _OPENMP
    static const size_t shapes[][3] = {{50, 320, 200}, {1, 320, 2100}, {2, 96, 1000}, {13, 64, 999}};
    int saved = omp_get_max_threads();
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            size_t n_tok = shapes[s][0], n_in = shapes[s][1], n_out = shapes[s][2];
            weight w = make_weight(dtypes[d], n_in, n_out);
            float *x = malloc(n_tok * n_in * sizeof *x), *b = malloc(n_out * sizeof *b);
            float *y1 = malloc(n_tok * n_out * sizeof *y1), *yn = malloc(n_tok * n_out * sizeof *yn);
            for (size_t i = 0; i < n_tok * n_in; i++)
                x[i] = uniform();
            for (size_t i = 0; i < n_out; i++)
                b[i] = uniform();
            for (size_t p = 0; p < N_VARIANTS; p++) {
                if (use_variant(p) != 0)
                    continue;
                omp_set_num_threads(1);
                CHECK_INT(0, kvg_matmul(y1, x, w.data, dtypes[d], b, n_tok, n_in, n_out));
                for (int threads = 2; threads <= 4; threads++) {
                    omp_set_num_threads(threads);
                    CHECK_INT(0, kvg_matmul(yn, x, w.data, dtypes[d], b, n_tok, n_in, n_out));
                    if (memcmp(y1, yn, n_tok * n_out * sizeof *y1) != 0) {
                        fprintf(stderr, "%s %s %zux%zux%zu: %d threads differ from 1\n",
                                variants[p].name, kvg_dtype_get(dtypes[d])->name, n_tok, n_in, n_out,
                                threads);
                        CHECK(0);
                    }
                }
            }
            omp_set_num_threads(saved);
            free_weight(&w);
            free(x), free(b), free(y1), free(yn);
        }
#endif
}

/* A token's outputs have the same bits whether it is computed alone, in a
 * small batch or in a big one (generation and scoring agree exactly): on
 * every path each output is one fixed-order sum over k. */
static void test_batch_independence(void)
{
    enum { T = 14, MAX_IN = 801, OUT = 37 };
    static float x[T * MAX_IN], b[OUT], yb[T * OUT], ys[3 * OUT];
    for (size_t i = 0; i < T * MAX_IN; i++)
        x[i] = uniform();
    for (size_t i = 0; i < OUT; i++)
        b[i] = uniform();
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
        size_t IN = 801; /* several k blocks and a ragged k tail */
        weight w = make_weight(dtypes[d], IN, OUT);
        for (size_t p = 0; p < N_VARIANTS; p++) {
            if (use_variant(p) != 0)
                continue;
            CHECK_INT(0, kvg_matmul(yb, x, w.data, dtypes[d], b, T, IN, OUT));
            for (size_t n = 1; n <= 3; n++)
                for (size_t t = 0; t + n <= T; t += n) {
                    CHECK_INT(0, kvg_matmul(ys, x + t * IN, w.data, dtypes[d], b, n, IN, OUT));
                    if (memcmp(ys, yb + t * OUT, n * OUT * sizeof *ys) != 0) {
                        fprintf(stderr, "%s %s: tokens %zu..%zu alone differ from the batch\n",
                                variants[p].name, kvg_dtype_get(dtypes[d])->name, t, t + n - 1);
                        CHECK(0);
                    }
                }
        }
        free_weight(&w);
    }
}

/* The AVX2 path's GEMM has the same bits on 512-bit registers as on 256-bit
 * ones (each output is the same FMA chain over k), over shapes with ragged
 * tiles of both (12×32 and 6×16) and several k blocks. */
static void test_avx512_same_bits(void)
{
    if (use_variant(2) != 0)
        return; /* no AVX-512 here */
    static const size_t shapes[][3] = {{97, 544, 275}, {13, 800, 70}, {30, 96, 33}, {4, 1056, 129}};
    for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            size_t n_tok = shapes[s][0], n_in = shapes[s][1], n_out = shapes[s][2];
            n_in -= 3; /* a ragged k tail too */
            weight w = make_weight(dtypes[d], n_in, n_out);
            float *x = malloc(n_tok * n_in * sizeof *x), *b = malloc(n_out * sizeof *b);
            float *y256 = malloc(n_tok * n_out * sizeof *y256), *y512 = malloc(n_tok * n_out * sizeof *y512);
            for (size_t i = 0; i < n_tok * n_in; i++)
                x[i] = uniform();
            for (size_t i = 0; i < n_out; i++)
                b[i] = uniform();
            use_variant(1);
            CHECK_INT(0, kvg_matmul(y256, x, w.data, dtypes[d], s % 2 ? b : NULL, n_tok, n_in, n_out));
            use_variant(2);
            CHECK_INT(0, kvg_matmul(y512, x, w.data, dtypes[d], s % 2 ? b : NULL, n_tok, n_in, n_out));
            if (memcmp(y256, y512, n_tok * n_out * sizeof *y256) != 0) {
                fprintf(stderr, "%s %zux%zux%zu: avx512 differs from avx2\n", kvg_dtype_get(dtypes[d])->name, n_tok,
                        n_in, n_out);
                CHECK(0);
            }
            free_weight(&w);
            free(x), free(b), free(y256), free(y512);
        }
}

/* Bad shapes and dtypes are refused the same way on every path; n_in = 0
 * gives the bias. */
static void test_refusals(void)
{
    float x[4 * 40] = {0}, y[4 * 3], b[3] = {1, 2, 3};
    unsigned char w[3 * 40 * 4] = {0};
    for (size_t p = 0; p < N_VARIANTS; p++) {
        if (use_variant(p) != 0)
            continue;
        CHECK_INT(-1, kvg_matmul(y, x, w, KVG_DTYPE_Q8_0, NULL, 4, 40, 3));
        CHECK_INT(-1, kvg_matmul(y, x, w, KVG_DTYPE_Q4_0, NULL, 4, 33, 3));
        CHECK_INT(-1, kvg_matmul(y, x, w, KVG_DTYPE_I32, NULL, 4, 32, 3));
        CHECK_INT(0, kvg_matmul(y, x, w, KVG_DTYPE_F32, b, 4, 0, 3));
        for (int i = 0; i < 12; i++)
            CHECK_NEAR(b[i % 3], y[i], 0);
    }
}

int main(void)
{
    printf("paths here:");
    for (size_t p = 0; p < N_VARIANTS; p++)
        if (use_variant(p) == 0)
            printf(" %s", variants[p].name);
    printf("\n");
    test_tolerance_bites();
    test_refusals();
    test_shapes();
    test_batch_independence();
    test_thread_determinism();
    test_avx512_same_bits();
    return kvg_test_end();
}
