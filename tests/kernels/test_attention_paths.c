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
            for (size_t p = 0; p < n_pos; p++) {
                const double w = exp(sc[p] - max) / sum;
                for (size_t i = 0; i < hd; i++)
                    o[i] += w * b->v[base + p * kvw + i];
            }
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

/* Every path against the f64 definition, and each SIMD path against the scalar one. */
static void check_batch(batch b)
{
    const size_t n_heads = b.s.n_heads, n = b.n_tok * n_heads * b.s.head_dim;
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

static void test_shape(uint32_t n_heads, uint32_t n_kv, uint32_t hd, size_t len_a, size_t len_b, float q_scale)
{
    check_batch(make_batch(n_heads, n_kv, hd, len_a, len_b, q_scale));
}

static int same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

/* Same bits on 1, 2 and 3 threads, on every path (units are never split;
 * the scalar path only when asked: it is slow under the sanitizers). */
static void test_threads(uint32_t n_heads, uint32_t n_kv, uint32_t hd, size_t len_a, size_t len_b, int scalar)
{
    batch b = make_batch(n_heads, n_kv, hd, len_a, len_b, 1);
    size_t n = b.n_tok * n_heads * hd;
    float *one = malloc(n * sizeof *one), *more = malloc(n * sizeof *more);
    kvg_kernel_path paths[3] = {KVG_PATH_SCALAR};
    int np = 1 + simd_paths(paths + 1);
    for (int pi = !scalar; pi < np; pi++) {
        omp_set_num_threads(1);
        run(&b, paths[pi], one);
        for (int threads = 2; threads <= 3; threads++) {
            omp_set_num_threads(threads);
            run(&b, paths[pi], more);
            CHECK(same_bits(one, more, n));
        }
    }
    omp_set_num_threads(1);
    free_batch(&b), free(one), free(more);
}

/* A unit's result does not depend on its tile: tokens scored one at a time
 * (n_tok = 1) and as part of a batch shifted by a few tokens (so the tiles
 * group them differently) give the same bits as the whole batch. */
static void test_tile_independence(uint32_t n_heads, uint32_t n_kv, uint32_t hd, size_t len_a, size_t len_b,
                                   int scalar)
{
    batch b = make_batch(n_heads, n_kv, hd, len_a, len_b, 1);
    const size_t w = (size_t)n_heads * hd, n = b.n_tok * w;
    float *all = malloc(n * sizeof *all), *part = malloc(n * sizeof *part);
    kvg_kernel_path paths[3] = {KVG_PATH_SCALAR};
    int np = 1 + simd_paths(paths + 1);
    for (int pi = !scalar; pi < np; pi++) {
        run(&b, paths[pi], all);
        for (size_t t = 0; t < b.n_tok; t += 7) { /* alone */
            CHECK_INT(0, kvg_attention(part, b.q + t * w, b.k, b.v, b.row0 + t, b.pos + t, 1, &b.s));
            CHECK(same_bits(part, all + t * w, w));
        }
        for (size_t skip = 1; skip < 6; skip += 2) { /* the batch less its first tokens */
            CHECK_INT(0, kvg_attention(part, b.q + skip * w, b.k, b.v, b.row0 + skip, b.pos + skip, b.n_tok - skip,
                                       &b.s));
            CHECK(same_bits(part, all + skip * w, (b.n_tok - skip) * w));
        }
    }
    free_batch(&b), free(all), free(part);
}

/* x86-64: the 512-bit kernel (AVX-512F CPUs) gives the same bits as the
 * 256-bit one. */
static void test_avx512_same_bits(uint32_t n_heads, uint32_t n_kv, uint32_t hd, size_t len_a, size_t len_b)
{
    if (!kvg_kernel_path_available(KVG_PATH_AVX2) || kvg_matmul_set_avx512(1) != 0)
        return;
    batch b = make_batch(n_heads, n_kv, hd, len_a, len_b, 1);
    size_t n = b.n_tok * n_heads * hd;
    float *wide = malloc(n * sizeof *wide), *narrow = malloc(n * sizeof *narrow);
    run(&b, KVG_PATH_AVX2, wide);
    CHECK_INT(0, kvg_matmul_set_avx512(0));
    run(&b, KVG_PATH_AVX2, narrow);
    CHECK(same_bits(wide, narrow, n));
    free_batch(&b), free(wide), free(narrow);
}

/* Scores near 1e4 (q scaled up): a softmax without the max subtracted would
 * overflow; the online one must stay finite and match the f64 definition. */
static void test_large_scores(void)
{
    test_shape(2, 1, 16, 70, 3, 2500); /* scores up to 2500 * 16 / 4 = 1e4 */
    test_shape(9, 3, 64, 150, 20, 300); /* up to 300 * 64 / 8 = 2400 */
}

/* Key rows that grow with the position (k_p scaled by 1 + p/8, q by 20):
 * every block's max is far above the last one, so each block rescales what
 * came before by e^(m_old - m_new) down to 0 (underflow), and the weights of
 * a block's early keys underflow too. */
static void test_growing_scores(uint32_t n_heads, uint32_t n_kv, uint32_t hd)
{
    batch b = make_batch(n_heads, n_kv, hd, 300, 70, 20);
    const size_t kvw = (size_t)n_kv * hd;
    for (size_t r = 0; r < b.n_rows; r++)
        for (size_t i = 0; i < kvw; i++)
            b.k[r * kvw + i] *= 1.0f + (float)(r < 303 ? r : r - 303) / 8;
    check_batch(b);
}

int main(void)
{
    omp_set_num_threads(1);
    /* {n_heads, n_kv, head_dim}: group sizes 1, 2, 3, 4, 8; head dims that
     * are multiples of 16, of 8 only (the 512-bit kernel hands them to the
     * 256-bit one), ragged (the scalar unit) and above the SIMD limit. */
    static const uint32_t heads[][3] = {{2, 1, 1},  {4, 2, 8},    {3, 3, 12}, {12, 12, 64}, {9, 3, 64},
                                        {4, 1, 128}, {2, 2, 80},   {2, 1, 256}, {1, 1, 264}, {2, 1, 6},
                                        {8, 1, 32},  {24, 3, 64},  {6, 2, 80},  {16, 2, 128}, {3, 1, 40}};
    /* Two sequences per batch: windows that end before, on and after the
     * 64-position blocks, token counts that are not multiples of a tile. */
    static const size_t lens[][2] = {{1, 1}, {5, 2}, {63, 64}, {65, 1}, {130, 20}, {200, 129}};
    for (size_t hi = 0; hi < sizeof heads / sizeof heads[0]; hi++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            if (heads[hi][2] >= 128 && lens[li][0] > 100) /* keep the f64 reference quick */
                continue;
            test_shape(heads[hi][0], heads[hi][1], heads[hi][2], lens[li][0], lens[li][1], 1);
        }
    /* long windows (up to 600 positions), one shape per group size */
    test_shape(2, 2, 64, 600, 3, 1);
    test_shape(3, 1, 32, 37, 521, 1);
    test_shape(8, 1, 64, 200, 77, 1);
    test_large_scores();
    test_growing_scores(4, 4, 64);
    test_growing_scores(6, 2, 32);
    static const uint32_t bit_heads[][3] = {{4, 4, 64}, {9, 3, 64}, {16, 2, 64}, {2, 2, 80}, {4, 1, 128}, {3, 1, 40}};
    for (size_t hi = 0; hi < sizeof bit_heads / sizeof bit_heads[0]; hi++) {
        const uint32_t *h = bit_heads[hi];
        test_threads(h[0], h[1], h[2], 150, 70, hi == 1);
        test_tile_independence(h[0], h[1], h[2], 140, 75, hi == 1);
        test_avx512_same_bits(h[0], h[1], h[2], 300, 41);
    }
    return kvg_test_end();
}
