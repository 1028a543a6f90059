/* test_matmul_qdot.c — kvg_matmul with q8_0 / q4_0 weights (integer dot
 * products, activations quantized per 32-block) gives exactly the bits of
 * the math in /work/coord CONTRACTS / engine/kernels/matmul_qdot.h, on every
 * path (scalar, AVX2 on 256-bit, with AVX-512, NEON), for any thread count,
 * batch size and slice of W's rows.
 *
 * The expected values come from an oracle written here from the contract
 * (its own f16 decoding, quantizer, nibble decoding and libm fmaf chain), not
 * from the code under test. Every step of the contract is exact integer
 * arithmetic or one IEEE f32 operation, so the comparison is bit equality,
 * no tolerance. Inputs: random blocks (q8_0 including -128; random f16
 * scales over many binades), random activations with rows of all zeros,
 * huge (1e30) and tiny (1e-30) magnitudes, and one block holding a single
 * non-zero. Rows with NaN / inf only must not crash (results unspecified). */
#include <math.h>
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

static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t next_u64(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Uniform in [-1, 1). */
static float uniform(void) { return (float)((double)(next_u64() >> 40) / (double)(1ull << 23) - 1.0); }

/* IEEE binary16 bits as a double, decoded here (not with the format's helper). */
static double f16_value(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return sign ? -v : v;
}

/* A random finite normal f16 scale between about 2^-10 and 2^3. */
static uint16_t random_scale(void)
{
    uint64_t r = next_u64();
    return (uint16_t)((r >> 63) << 15 | (uint16_t)(5 + (r >> 20) % 13) << 10 | (r & 1023));
}

/* Random [n_out, n_in] weights in q8_0 or q4_0 blocks. */
static void *make_weight(kvg_dtype wtype, size_t n_in, size_t n_out)
{
    size_t n_blocks = n_out * (n_in / 32);
    if (wtype == KVG_DTYPE_Q8_0) {
        kvg_block_q8_0 *w = malloc(n_blocks * sizeof *w + 1);
        for (size_t i = 0; i < n_blocks; i++) {
            w[i].d = random_scale();
            for (int k = 0; k < 32; k++)
                w[i].qs[k] = (int8_t)(next_u64() >> 56); /* all of -128..127 */
        }
        return w;
    }
    kvg_block_q4_0 *w = malloc(n_blocks * sizeof *w + 1);
    for (size_t i = 0; i < n_blocks; i++) {
        w[i].d = random_scale();
        for (int k = 0; k < 16; k++)
            w[i].qs[k] = (uint8_t)(next_u64() >> 56);
    }
    return w;
}

/* Activations: uniform, with special rows: token t % 7 == 3 all zeros,
 * t % 7 == 5 huge, t % 7 == 6 tiny, and in every token one block with a
 * single non-zero element. */
static float *make_x(size_t n_tok, size_t n_in)
{
    float *x = malloc((n_tok * n_in + 1) * sizeof *x);
    for (size_t t = 0; t < n_tok; t++) {
        float scale = t % 7 == 5 ? 1e30f : t % 7 == 6 ? 1e-30f : t % 7 == 3 ? 0.0f : 1.0f;
        for (size_t k = 0; k < n_in; k++)
            x[t * n_in + k] = uniform() * scale;
        size_t blk = t % (n_in / 32);
        for (size_t k = 0; k < 32; k++)
            x[t * n_in + blk * 32 + k] = k == t % 32 ? 3.5f * scale : 0.0f;
    }
    return x;
}

/* The contract, written out: y[n_tok, n_out]. */
static void oracle(float *y, const float *x, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                   size_t n_in, size_t n_out)
{
    size_t nb = n_in / 32;
    for (size_t t = 0; t < n_tok; t++)
        for (size_t o = 0; o < n_out; o++) {
            float acc = 0.0f;
            for (size_t blk = 0; blk < nb; blk++) {
                const float *xb = x + t * n_in + blk * 32;
                float amax = 0.0f;
                for (int k = 0; k < 32; k++)
                    if (fabsf(xb[k]) > amax)
                        amax = fabsf(xb[k]);
                float dx = amax / 127.0f, inv = amax != 0.0f ? 127.0f / amax : 0.0f;
                long isum = 0;
                float dw;
                for (int k = 0; k < 32; k++) {
                    long qx = lrintf(xb[k] * inv), qw;
                    if (wtype == KVG_DTYPE_Q8_0) {
                        const kvg_block_q8_0 *p = (const kvg_block_q8_0 *)w + o * nb + blk;
                        qw = p->qs[k];
                        dw = (float)f16_value(p->d);
                    } else {
                        const kvg_block_q4_0 *p = (const kvg_block_q4_0 *)w + o * nb + blk;
                        qw = (k < 16 ? p->qs[k] & 15 : p->qs[k - 16] >> 4) - 8;
                        dw = (float)f16_value(p->d);
                    }
                    isum += qw * qx;
                }
                float scale = dw * dx;
                acc = fmaf(scale, (float)isum, acc);
            }
            y[t * n_out + o] = b ? acc + b[o] : acc;
        }
}


static const kvg_dtype qtypes[] = {KVG_DTYPE_Q8_0, KVG_DTYPE_Q4_0};

/* Bit equality of want and got (n floats); reports the first difference. */
static int same_bits(const float *want, const float *got, size_t n, size_t n_out, const char *what, size_t n_tok,
                     size_t n_in)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(want + i, got + i, sizeof *want) != 0) {
            fprintf(stderr, "%s n_tok %zu n_in %zu n_out %zu: y[%zu,%zu] = %.9g, want %.9g\n", what, n_tok, n_in,
                    n_out, i / n_out, i % n_out, got[i], want[i]);
            return 0;
        }
    return 1;
}

/* Every variant equals the oracle over one shape. */
static int check_shape(kvg_dtype wtype, size_t n_tok, size_t n_in, size_t n_out, int with_bias)
{
    void *w = make_weight(wtype, n_in, n_out);
    float *x = make_x(n_tok, n_in), *b = malloc(n_out * sizeof *b);
    for (size_t i = 0; i < n_out; i++)
        b[i] = uniform();
    float *want = malloc(n_tok * n_out * sizeof *want), *y = malloc(n_tok * n_out * sizeof *y);
    oracle(want, x, w, wtype, with_bias ? b : NULL, n_tok, n_in, n_out);
    int bad = 0;
    for (size_t v = 0; v < N_VARIANTS; v++) {
        if (use_variant(v) != 0)
            continue;
        for (size_t i = 0; i < n_tok * n_out; i++)
            y[i] = NAN;
        CHECK_INT(0, kvg_matmul(y, x, w, wtype, with_bias ? b : NULL, n_tok, n_in, n_out));
        char what[64];
        snprintf(what, sizeof what, "%s %s bias %d", variants[v].name, kvg_dtype_get(wtype)->name, with_bias);
        bad += !same_bits(want, y, n_tok * n_out, n_out, what, n_tok, n_in);
    }
    free(w), free(x), free(b), free(want), free(y);
    return bad;
}

static void test_shapes(void)
{
    static const size_t toks[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17, 40, 65, 130};
    static const size_t ins[] = {32, 64, 96, 256, 288, 800};
    static const size_t outs[] = {1, 7, 8, 15, 17, 33, 64, 100};
    const size_t n_toks = sizeof toks / sizeof *toks, n_ins = sizeof ins / sizeof *ins,
                 n_outs = sizeof outs / sizeof *outs;
    for (size_t d = 0; d < 2; d++) {
        int bad = 0;
        for (size_t ti = 0; ti < n_toks; ti++)
            for (size_t ki = 0; ki < n_ins; ki++) {
                size_t n_out = outs[(ti * 5 + ki) % n_outs];
                if (toks[ti] * ins[ki] * n_out > 400000)
                    n_out = 17; /* keep the oracle and sanitizers quick */
                bad += check_shape(qtypes[d], toks[ti], ins[ki], n_out, (int)((ti + ki) % 2));
            }
        bad += check_shape(qtypes[d], 512, 64, 23, 1); /* a scoring-sized batch */
        CHECK_INT(0, bad);
    }
}

/* Same bits for 1, 2 and 3 threads. */
static void test_threads(void)
{
#ifdef _OPENMP
    static const size_t shapes[][3] = {{50, 320, 200}, {1, 320, 2100}, {3, 96, 1000}, {13, 64, 999}};
    int saved = omp_get_max_threads();
    for (size_t d = 0; d < 2; d++)
        for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
            size_t n_tok = shapes[s][0], n_in = shapes[s][1], n_out = shapes[s][2];
            void *w = make_weight(qtypes[d], n_in, n_out);
            float *x = make_x(n_tok, n_in), *b = malloc(n_out * sizeof *b);
            float *y1 = malloc(n_tok * n_out * sizeof *y1), *yn = malloc(n_tok * n_out * sizeof *yn);
            for (size_t i = 0; i < n_out; i++)
                b[i] = uniform();
            for (size_t v = 0; v < N_VARIANTS; v++) {
                if (use_variant(v) != 0)
                    continue;
                omp_set_num_threads(1);
                CHECK_INT(0, kvg_matmul(y1, x, w, qtypes[d], b, n_tok, n_in, n_out));
                for (int threads = 2; threads <= 3; threads++) {
                    omp_set_num_threads(threads);
                    CHECK_INT(0, kvg_matmul(yn, x, w, qtypes[d], b, n_tok, n_in, n_out));
                    CHECK(same_bits(y1, yn, n_tok * n_out, n_out, variants[v].name, n_tok, n_in));
                }
            }
            omp_set_num_threads(saved);
            free(w), free(x), free(b), free(y1), free(yn);
        }
#endif
}

/* A token alone (1-3 tokens: the generation route) and a slice of W's rows
 * give the bits of the whole batch and the whole W. */
static void test_batch_and_slices(void)
{
    enum { T = 14, IN = 800, OUT = 37 };
    float *x = make_x(T, IN), b[OUT], yb[T * OUT], ys[3 * OUT];
    for (size_t i = 0; i < OUT; i++)
        b[i] = uniform();
    for (size_t d = 0; d < 2; d++) {
        unsigned char *w = make_weight(qtypes[d], IN, OUT);
        size_t row_bytes = IN / 32 * kvg_dtype_get(qtypes[d])->block_bytes;
        for (size_t v = 0; v < N_VARIANTS; v++) {
            if (use_variant(v) != 0)
                continue;
            CHECK_INT(0, kvg_matmul(yb, x, w, qtypes[d], b, T, IN, OUT));
            for (size_t n = 1; n <= 3; n++)
                for (size_t t = 0; t + n <= T; t += n) {
                    CHECK_INT(0, kvg_matmul(ys, x + t * IN, w, qtypes[d], b, n, IN, OUT));
                    CHECK(same_bits(yb + t * OUT, ys, n * OUT, OUT, "alone vs batch", n, IN));
                }
            /* rows 5 .. 5+11 of W on their own */
            float yslice[T * 11];
            CHECK_INT(0, kvg_matmul(yslice, x, w + 5 * row_bytes, qtypes[d], b + 5, T, IN, 11));
            for (size_t t = 0; t < T; t++)
                CHECK(same_bits(yb + t * OUT + 5, yslice + t * 11, 11, 11, "slice vs whole", T, IN));
        }
        free(w);
    }
    free(x);
}

/* NaN and inf activations: no crash, no sanitizer report; other tokens keep their bits. */
static void test_non_finite(void)
{
    enum { T = 9, IN = 96, OUT = 19 };
    float *x = make_x(T, IN), want[T * OUT], y[T * OUT];
    for (size_t d = 0; d < 2; d++) {
        void *w = make_weight(qtypes[d], IN, OUT);
        oracle(want, x, w, qtypes[d], NULL, T, IN, OUT);
        x[2 * IN + 40] = NAN;
        x[4 * IN + 3] = INFINITY;
        x[7 * IN + 70] = -INFINITY;
        for (size_t v = 0; v < N_VARIANTS; v++) {
            if (use_variant(v) != 0)
                continue;
            CHECK_INT(0, kvg_matmul(y, x, w, qtypes[d], NULL, T, IN, OUT));
            for (size_t t = 0; t < T; t++)
                if (t != 2 && t != 4 && t != 7)
                    CHECK(same_bits(want + t * OUT, y + t * OUT, OUT, OUT, "finite token next to non-finite", T, IN));
        }
        x[2 * IN + 40] = x[4 * IN + 3] = x[7 * IN + 70] = 0.5f;
        free(w);
    }
    free(x);
}

int main(void)
{
    printf("paths here:");
    for (size_t v = 0; v < N_VARIANTS; v++)
        if (use_variant(v) == 0)
            printf(" %s", variants[v].name);
    printf("\n");
    test_shapes();
    test_batch_and_slices();
    test_threads();
    test_non_finite();
    return kvg_test_end();
}
