/* test_attention_paths.c — kvg_attention (online softmax over key blocks)
 * against a direct f64 attention written here from the definition, on
 * every path; each SIMD path against the scalar path; results independent
 * of the thread count. Shapes: GQA and plain heads, head dims that are and
 * are not multiples of the vector width (1 to 264), windows that end before,
 * on and after the 64-position block boundaries, two sequences in one batch
 * at different cache rows, and scores large enough to overflow a naive
 * softmax. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kvg_test.h"
#include "paths_util.h"

typedef struct batch {
    kvg_attn_shape s;
    size_t n_tok, n_rows;
    uint32_t *row0, *pos;
    float *q, *k, *v;
} batch;

/* Two sequences: lengths len_a and len_b tokens, every position a query;
 * the second sequence's rows start at row len_a + 3 (a gap of unused rows). */
static batch make_batch(uint32_t n_heads, uint32_t n_kv, uint32_t hd, size_t len_a, size_t len_b, float q_scale)
{
    batch b;
    memset(&b, 0, sizeof b);
    b.n_tok = len_a + len_b;
    b.n_rows = len_a + 3 + len_b;
    b.s = (kvg_attn_shape){n_heads, n_kv, hd, (uint32_t)(len_a > len_b ? len_a : len_b)};
    b.row0 = malloc(b.n_tok * sizeof *b.row0);
    b.pos = malloc(b.n_tok * sizeof *b.pos);
    for (size_t t = 0; t < b.n_tok; t++) {
        b.row0[t] = t < len_a ? 0 : (uint32_t)(len_a + 3);
        b.pos[t] = (uint32_t)(t < len_a ? t : t - len_a);
    }
    size_t nq = b.n_tok * n_heads * hd, nkv = b.n_rows * n_kv * hd;
    b.q = malloc(nq * sizeof *b.q);
    b.k = malloc(nkv * sizeof *b.k);
    b.v = malloc(nkv * sizeof *b.v);
    for (size_t i = 0; i < nq; i++)
        b.q[i] = q_scale * rng_range(-1, 1);
    for (size_t i = 0; i < nkv; i++) {
        b.k[i] = rng_range(-1, 1);
        b.v[i] = rng_range(-1, 1);
    }
    return b;
}

static void free_batch(batch *b)
{
    free(b->row0), free(b->pos), free(b->q), free(b->k), free(b->v);
}

/* The definition, in f64: full softmax of the scaled scores over 0..pos[t]. */
static void attention_f64(const batch *b, double *out, double *bound)
{
    const size_t hd = b->s.head_dim, H = b->s.n_heads, group = H / b->s.n_kv, kvw = b->s.n_kv * hd;
    const double scale = 1.0 / sqrt((double)hd), u = 0x1p-24;
    double *sc = malloc((b->s.max_pos + 1) * sizeof *sc);
    for (size_t t = 0; t < b->n_tok; t++) {
        for (size_t h = 0; h < H; h++) {
            const float *q = b->q + (t * H + h) * hd;
            size_t n_pos = b->pos[t] + 1, base = (size_t)b->row0[t] * kvw + (h / group) * hd;
            double max = -INFINITY, sum = 0, smax_abs = 0;
            for (size_t p = 0; p < n_pos; p++) {
                const float *k = b->k + base + p * kvw;
                double dot = 0, dot_abs = 0;
                for (size_t i = 0; i < hd; i++) {
                    dot += (double)q[i] * k[i];
                    dot_abs += fabs((double)q[i] * k[i]);
                }
                sc[p] = dot * scale;
                if (sc[p] > max)
                    max = sc[p];
                if (dot_abs * scale > smax_abs)
                    smax_abs = dot_abs * scale;
            }
            for (size_t p = 0; p < n_pos; p++)
                sum += exp(sc[p] - max);
            double *o = out + (t * H + h) * hd;
            for (size_t i = 0; i < hd; i++)
                o[i] = 0;
            for (size_t p = 0; p < n_pos; p++)
                for (size_t i = 0; i < hd; i++)
                    o[i] += exp(sc[p] - max) / sum * b->v[base + p * kvw + i];
            /* f32 error bound, to first order, for |v| <= 1: each score is off
             * by <= hd u sum|q k| scale, so each weight by twice that
             * relatively (its exponent and the denominator's), plus the exp's
             * 1.5e-7; the weighted sum adds <= n_pos u; the rescalings and the
             * division a few u more. */
            bound[t * H + h] = 2 * hd * u * smax_abs + 2 * 1.5e-7 + 2 * n_pos * u + 8 * u;
        }
    }
    free(sc);
}

static void run(const batch *b, kvg_kernel_path p, float *out)
{
    kvg_kernel_path_set(p);
    CHECK_INT(0, kvg_attention(out, b->q, b->k, b->v, b->row0, b->pos, b->n_tok, &b->s));
}

/* |got[i] - want[i]| <= factor * bound[unit of i] for every element; reports
 * the first that is not. */
static void compare_out(const char *what, const batch *b, const float *got, const double *want, const double *bound,
                        double factor)
{
    const size_t hd = b->s.head_dim, n = b->n_tok * b->s.n_heads * hd;
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= factor * bound[i / hd]) && !bad++)
            first = i;
    if (bad)
        fprintf(stderr, "%s (heads %u/%u, head_dim %zu, %zu tokens): %zu bad, first at %zu: want %.9g got %.9g "
                        "(tol %.3g)\n", what, b->s.n_heads, b->s.n_kv, hd, b->n_tok, bad, first, want[first],
                got[first], factor * bound[first / hd]);
    CHECK(bad == 0);
}

static void test_shape(uint32_t n_heads, uint32_t n_kv, uint32_t hd, size_t len_a, size_t len_b, float q_scale)
{
    batch b = make_batch(n_heads, n_kv, hd, len_a, len_b, q_scale);
    size_t n = b.n_tok * n_heads * hd;
    double *truth = malloc(n * sizeof *truth), *bound = malloc(b.n_tok * n_heads * sizeof *bound);
    double *scalar_d = malloc(n * sizeof *scalar_d);
    float *scalar = malloc(n * sizeof *scalar), *got = malloc(n * sizeof *got);
    attention_f64(&b, truth, bound);
    run(&b, KVG_PATH_SCALAR, scalar);
    compare_out("scalar vs f64", &b, scalar, truth, bound, 1);
    for (size_t i = 0; i < n; i++)
        scalar_d[i] = scalar[i];
    kvg_kernel_path paths[2];
    int np = simd_paths(paths);
    for (int pi = 0; pi < np; pi++) {
        run(&b, paths[pi], got);
        compare_out(kvg_kernel_path_name(paths[pi]), &b, got, truth, bound, 1);
        /* both sides are within the bound of the truth */
        compare_out("simd vs scalar", &b, got, scalar_d, bound, 2);
    }
    free_batch(&b), free(truth), free(bound), free(scalar_d), free(scalar), free(got);
}

/* Same bits on 1 and 3 threads, on every path (units are never split). */
static void test_threads(void)
{
    batch b = make_batch(12, 4, 64, 150, 70, 1);
    size_t n = b.n_tok * 12 * 64;
    float *one = malloc(n * sizeof *one), *three = malloc(n * sizeof *three);
    kvg_kernel_path paths[3] = {KVG_PATH_SCALAR};
    int np = 1 + simd_paths(paths + 1);
    for (int pi = 0; pi < np; pi++) {
        omp_set_num_threads(1);
        run(&b, paths[pi], one);
        omp_set_num_threads(3);
        run(&b, paths[pi], three);
        CHECK(memcmp(one, three, n * sizeof *one) == 0);
    }
    free_batch(&b), free(one), free(three);
}

/* Scores near 1e4 (q scaled up): a softmax without the max subtracted would
 * overflow; the online one must stay finite and match the f64 definition. */
static void test_large_scores(void)
{
    test_shape(2, 1, 16, 70, 3, 2500); /* scores up to 2500 * 16 / 4 = 1e4 */
}

int main(void)
{
    static const uint32_t heads[][3] = {{2, 1, 1},  {4, 2, 8},  {3, 3, 12}, {12, 12, 64}, {9, 3, 64},
                                        {4, 1, 128}, {2, 2, 80}, {2, 1, 256}, {1, 1, 264},  {2, 1, 6}};
    static const size_t lens[][2] = {{1, 1}, {5, 2}, {63, 64}, {65, 1}, {130, 20}, {200, 129}};
    for (size_t hi = 0; hi < sizeof heads / sizeof heads[0]; hi++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            if (heads[hi][2] >= 128 && lens[li][0] > 100) /* keep the f64 reference quick */
                continue;
            test_shape(heads[hi][0], heads[hi][1], heads[hi][2], lens[li][0], lens[li][1], 1);
        }
    test_large_scores();
    test_threads();
    return kvg_test_end();
}
