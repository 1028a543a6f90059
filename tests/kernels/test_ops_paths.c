/* test_ops_paths.c — every available SIMD path of the element-wise and row
 * kernels (norms, RoPE, activations, add, log-softmax, log-sum-exp and its
 * parts) against
 * the scalar reference, over many lengths (ragged tails of every size around
 * each vector width) and extreme values. The tolerance of each op is stated
 * next to its check, from the error of both sides:
 *   u = 2^-24 (f32 unit roundoff, 6e-8); vf_exp's relative error <= 1.5e-7
 *   and vf_erfc's absolute error <= 2.5e-7 (test_vmath.c). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kvg_test.h"
#include "paths_util.h"

static const size_t lengths[] = {1, 2, 3, 4, 5, 7, 8, 9, 12, 15, 16, 17, 23, 31, 32, 33, 63, 64, 65, 100, 768, 2051};
#define N_LENGTHS (sizeof lengths / sizeof lengths[0])
static kvg_kernel_path simd; /* the path under test */

/* Counts elements where |ref - got| > tol(i) (NaN must match NaN) and
 * reports the first one; one CHECK per call. */
typedef double tol_fn(size_t i, double ref);
static void compare(const char *what, size_t n, const float *ref, const float *got, tol_fn *tol)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = isnan(ref[i]) ? isnan(got[i]) : (ref[i] == got[i] || fabs((double)ref[i] - got[i]) <= tol(i, ref[i]));
        if (!ok && !bad++)
            first = i;
    }
    if (bad)
        fprintf(stderr, "%s on %s, n %zu: %zu mismatches, first at %zu: scalar %.9g, simd %.9g (tol %.3g)\n", what,
                kvg_kernel_path_name(simd), n, bad, first, ref[first], got[first], tol(first, ref[first]));
    CHECK(bad == 0);
}

static float *copy(const float *x, size_t n)
{
    float *y = malloc(n * sizeof *y);
    memcpy(y, x, n * sizeof *y);
    return y;
}

/* Runs op on a copy of in[n] on the scalar path and on the SIMD path. */
#define RUN_BOTH(ref, got, in, n, CALL)                                                                             \
    do {                                                                                                          \
        ref = copy(in, n);                                                                                        \
        got = copy(in, n);                                                                                        \
        kvg_kernel_path_set(KVG_PATH_SCALAR);                                                                     \
        {                                                                                                         \
            float *x_ = ref;                                                                                      \
            CALL;                                                                                                 \
        }                                                                                                         \
        kvg_kernel_path_set(simd);                                                                                \
        {                                                                                                         \
            float *x_ = got;                                                                                      \
            CALL;                                                                                                 \
        }                                                                                                         \
    } while (0)

static float *random_vec(size_t n, double lo, double hi)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = rng_range(lo, hi);
    return x;
}

/* Inputs for the activations: uniform in [-20, 20], with the extremes
 * sprinkled over the positions (so they land in bodies and in tails). */
static float *activation_input(size_t n)
{
    static const float extremes[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e30f, -1e30f, 87.0f, -87.0f,
                                     90.0f, -90.0f, 120.0f, -120.0f, 5.5f, -5.5f, 1e-4f, -1e-4f};
    float *x = random_vec(n, -20, 20);
    for (size_t i = 0; i < n; i += 3)
        x[i] = extremes[(i / 3) % (sizeof extremes / sizeof extremes[0])];
    return x;
}

static const float *cur_x; /* the activation input, for tolerances that depend on x */
static double tol_zero(size_t i, double ref) { (void)i, (void)ref; return 0; }
/* SiLU, SwiGLU: scalar libm expf (<= 1 ulp) and a division; SIMD vf_exp
 * (1.5e-7) and a division: the results agree to 1.5e-7 + 4u relative. The
 * 1e-37 floor covers results that underflow to subnormals on both sides. */
static double tol_silu(size_t i, double ref) { (void)i; return 4e-7 * fabs(ref) + 1e-37; }
/* GELU (tanh): the reference's 0.5x(1 + tanh u) cancels for x < 0, where
 * 1 + tanh u carries an absolute error up to 2u (tanhf's ulp near -1): |x| u. */
static double tol_gelu_tanh(size_t i, double ref) { return 4e-7 * fabs(ref) + 6e-8 * fabs(cur_x[i]) + 1e-37; }
/* GELU (erf): the reference's 1 + erf cancels likewise (|x| u); the SIMD
 * Phi is within 1.25e-7 absolute (half of vf_erfc's 2.5e-7): 2e-7 |x|. */
static double tol_gelu_erf(size_t i, double ref) { return 4e-7 * fabs(ref) + 2e-7 * fabs(cur_x[i]) + 1e-37; }

static void test_activations(void)
{
    for (size_t li = 0; li < N_LENGTHS; li++) {
        size_t n = lengths[li];
        float *x = activation_input(n), *up = random_vec(n, -3, 3), *ref, *got;
        cur_x = x;
        RUN_BOTH(ref, got, x, n, kvg_silu(x_, n));
        compare("silu", n, ref, got, tol_silu);
        free(ref), free(got);
        RUN_BOTH(ref, got, x, n, kvg_swiglu(x_, up, n));
        compare("swiglu", n, ref, got, tol_silu);
        free(ref), free(got);
        RUN_BOTH(ref, got, x, n, kvg_gelu_tanh(x_, n));
        compare("gelu_tanh", n, ref, got, tol_gelu_tanh);
        free(ref), free(got);
        RUN_BOTH(ref, got, x, n, kvg_gelu_erf(x_, n));
        compare("gelu_erf", n, ref, got, tol_gelu_erf);
        free(ref), free(got);
        RUN_BOTH(ref, got, x, n, kvg_add(x_, up, n)); /* one f32 addition each side: exact match */
        compare("add", n, ref, got, tol_zero);
        free(ref), free(got);
        free(x), free(up);
    }
}

/* Norms: both sides sum the statistics in f64 and then do the same f32
 * operations, so they differ only when the f64 sums (in another order) round
 * the f32 scale differently: 1 ulp of the scale, 2u of each output, here
 * relative to |ref| + |bias| (the LayerNorm output is xs*w + b). */
static const float *cur_bias;
static double tol_norm(size_t i, double ref) { return 2.4e-7 * (fabs(ref) + (cur_bias ? fabs(cur_bias[i]) : 0)) + 1e-37; }

static void test_norms(void)
{
    static const double scales[] = {1.0, 1e-30, 1e30, 1e4};
    for (size_t li = 0; li < N_LENGTHS; li++) {
        for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++) {
            size_t d = lengths[li], n_tok = 1 + li % 3, n = n_tok * d;
            float *x = random_vec(n, -2 * scales[si], 2 * scales[si]);
            if (si == 3) /* a large mean: the variance must not cancel */
                for (size_t i = 0; i < n; i++)
                    x[i] += 3e4f;
            float *w = random_vec(d, -1.5, 1.5), *b = random_vec(d, -1, 1), *ref, *got;
            float *bias_rows = malloc(n * sizeof *bias_rows);
            for (size_t i = 0; i < n; i++)
                bias_rows[i] = b[i % d];
            float *ref_out = malloc(n * sizeof *ref_out), *got_out = malloc(n * sizeof *got_out);
            cur_bias = NULL;
            RUN_BOTH(ref, got, x, n, kvg_rmsnorm(x_, x_, w, n_tok, d, 1e-5f)); /* in place */
            compare("rmsnorm in place", n, ref, got, tol_norm);
            kvg_kernel_path_set(simd);
            kvg_rmsnorm(got_out, x, w, n_tok, d, 1e-5f); /* out of place: the same values */
            compare("rmsnorm out of place", n, got, got_out, tol_zero);
            free(ref), free(got);
            cur_bias = bias_rows;
            RUN_BOTH(ref, got, x, n, kvg_layernorm(x_, x_, w, b, n_tok, d, 1e-5f));
            compare("layernorm", n, ref, got, tol_norm);
            free(ref), free(got);
            cur_bias = NULL;
            kvg_kernel_path_set(KVG_PATH_SCALAR);
            kvg_layernorm(ref_out, x, w, NULL, n_tok, d, 1e-5f);
            kvg_kernel_path_set(simd);
            kvg_layernorm(got_out, x, w, NULL, n_tok, d, 1e-5f);
            compare("layernorm without bias", n, ref_out, got_out, tol_norm);
            free(x), free(w), free(b), free(bias_rows), free(ref_out), free(got_out);
        }
    }
}

/* RoPE: the same f64 angles and f32 arithmetic on both sides: bit-identical. */
static void test_rope(void)
{
    static const uint32_t dims[][2] = {{64, 64}, {64, 16}, {80, 80}, {8, 2}, {256, 256}, {6, 4}, {128, 32}, {34, 34}};
    for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++) {
        kvg_rope r = {dims[di][0], dims[di][1], di % 2 ? 500000.0 : 10000.0, KVG_ROPE_NONE, 1, 0, 0, 0};
        double *inv_freq = malloc(r.rot_dims / 2 * sizeof *inv_freq);
        kvg_rope_frequencies(&r, inv_freq);
        size_t n_tok = 1 + di % 4, n_heads = 1 + di % 3, n = n_tok * n_heads * r.head_dim;
        uint32_t pos[4];
        for (size_t t = 0; t < n_tok; t++)
            pos[t] = (uint32_t)(rng_uniform() * 5000);
        float *x = random_vec(n, -4, 4), *ref, *got;
        RUN_BOTH(ref, got, x, n, kvg_rope_apply(x_, pos, n_tok, n_heads, &r, inv_freq));
        compare("rope", n, ref, got, tol_zero);
        /* From a cos/sin table (filled in two parts, as the forward pass does
         * while positions grow): the same bits as the scalar kvg_rope_apply,
         * on both paths. */
        float *cs = malloc((size_t)5000 * r.rot_dims * sizeof *cs), *ref2, *got2;
        kvg_rope_table(&r, inv_freq, 0, 1234, cs);
        kvg_rope_table(&r, inv_freq, 1234, 5000, cs + (size_t)1234 * r.rot_dims);
        RUN_BOTH(ref2, got2, x, n, kvg_rope_rotate(x_, pos, n_tok, n_heads, &r, cs));
        compare("rope_rotate scalar vs apply", n, ref, ref2, tol_zero);
        compare("rope_rotate simd vs apply", n, ref, got2, tol_zero);
        free(ref), free(got), free(ref2), free(got2), free(x), free(inv_freq), free(cs);
    }
}

/* log-softmax: the SIMD log-sum-exp is within 1.5e-7 + (f64 sum) of the
 * reference's, and it rounds x - max - lse twice in f32 where the reference
 * rounds once: 3.5e-7 absolute + 2u relative to |ref| (|ref| >= lse). */
static double tol_log_softmax(size_t i, double ref) { (void)i; return 3.5e-7 + 1.2e-7 * fabs(ref); }

static void test_softmax(void)
{
    static const size_t widths[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 33, 65, 1000, 50257};
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        for (int kind = 0; kind < 3; kind++) {
            size_t n = widths[wi];
            /* logits-like; offset by 1e4 (max subtraction must be exact); spread over 1e30 */
            float *x = kind == 2 ? random_vec(n, -1e30, 10) : random_vec(n, -30, 30);
            if (kind == 1)
                for (size_t i = 0; i < n; i++)
                    x[i] += 1e4f;
            float *ref, *got;
            RUN_BOTH(ref, got, x, n, kvg_log_softmax(x_, x_, n));
            compare("log_softmax", n, ref, got, tol_log_softmax);
            kvg_kernel_path_set(KVG_PATH_SCALAR);
            double lse_ref = kvg_logsumexp(x, n);
            kvg_kernel_path_set(simd);
            double lse_got = kvg_logsumexp(x, n);
            /* sum of terms each within 1.5e-7 relative: log within 1.5e-7 (+ f64 rounding of max + log) */
            CHECK_NEAR(lse_ref, lse_got, 1.6e-7 + 1e-15 * fabs(lse_ref));
            /* the parts of a log-sum-exp: the max exactly, the sum within vf_exp's 1.5e-7 relative */
            float max_ref, max_got;
            kvg_kernel_path_set(KVG_PATH_SCALAR);
            double sum_ref = kvg_sum_exp_max(x, n, &max_ref);
            kvg_kernel_path_set(simd);
            double sum_got = kvg_sum_exp_max(x, n, &max_got);
            CHECK(max_ref == max_got);
            CHECK_NEAR(sum_ref, sum_got, 1.6e-7 * sum_ref);
            CHECK_NEAR(lse_got, max_got + log(sum_got), 1e-12 * (1 + fabs(lse_got)));
            /* and log-softmax is x - logsumexp, on each path */
            CHECK_NEAR((double)x[n / 2] - lse_got, got[n / 2], 3.5e-7 + 1.2e-7 * fabs(got[n / 2]));
            free(ref), free(got), free(x);
        }
    }
    kvg_kernel_path_set(simd);
    CHECK(isinf(kvg_logsumexp(NULL, 0)) && kvg_logsumexp(NULL, 0) < 0);
    for (int p = 0; p < 2; p++) {
        kvg_kernel_path_set(p ? simd : KVG_PATH_SCALAR);
        float m = 0;
        CHECK(kvg_sum_exp_max(NULL, 0, &m) == 0 && isinf(m) && m < 0);
    }
}

int main(void)
{
    kvg_kernel_path paths[2];
    int n = simd_paths(paths);
    if (!n)
        printf("no SIMD path in this build or on this CPU: nothing to compare\n");
    for (int i = 0; i < n; i++) {
        simd = paths[i];
        printf("path %s\n", kvg_kernel_path_name(simd));
        test_activations();
        test_norms();
        test_rope();
        test_softmax();
    }
    return kvg_test_end();
}
