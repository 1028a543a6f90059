/* test_kernels.c — every scalar op of engine/kernels against hand
 * computations (values worked out on paper / from the formulas' closed
 * forms), and the properties they must keep (f16/bf16 weights that are exact
 * in f32 give the f32 result; softmax stays finite for huge scores). */
#include <stdlib.h>

#include "kernels/kernels.h"
#include "kvg_test.h"

static void test_matmul(void)
{
    /* x [2, 3] · W^T, W [2, 3], b [2]:
     *   x0 = (1, 2, 3), x1 = (-1, 0, 2); W0 = (1, 0, -1), W1 = (0.5, 2, 4); b = (10, -1)
     *   y00 = 1 - 3 + 10 = 8    y01 = 0.5 + 4 + 12 - 1 = 15.5
     *   y10 = -1 - 2 + 10 = 7   y11 = -0.5 + 0 + 8 - 1 = 6.5 */
    float x[6] = {1, 2, 3, -1, 0, 2}, w[6] = {1, 0, -1, 0.5f, 2, 4}, b[2] = {10, -1}, y[4];
    CHECK_INT(0, kvg_matmul(y, x, w, KVG_DTYPE_F32, b, 2, 3, 2));
    CHECK_NEAR(8, y[0], 0);
    CHECK_NEAR(15.5, y[1], 0);
    CHECK_NEAR(7, y[2], 0);
    CHECK_NEAR(6.5, y[3], 0);
    uint16_t wh[6], wb[6];
    for (int i = 0; i < 6; i++) {
        wh[i] = kvg_f32_to_f16(w[i]);
        wb[i] = kvg_f32_to_bf16(w[i]);
    }
    float yh[4], yb[4];
    CHECK_INT(0, kvg_matmul(yh, x, wh, KVG_DTYPE_F16, b, 2, 3, 2));
    CHECK_INT(0, kvg_matmul(yb, x, wb, KVG_DTYPE_BF16, b, 2, 3, 2));
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(y[i], yh[i], 0);
        CHECK_NEAR(y[i], yb[i], 0);
    }
    CHECK_INT(-1, kvg_matmul(y, x, w, KVG_DTYPE_Q8_0, NULL, 2, 3, 2)); /* n_in not whole blocks */

    /* A ragged shape (n_in 37, n_out 19 — not multiples of the lanes or row
     * blocks) against a double-precision dot product. */
    enum { T = 5, IN = 37, OUT = 19 };
    float *X = malloc(T * IN * 4), *W = malloc(OUT * IN * 4), *Y = malloc(T * OUT * 4);
    srand(7);
    for (int i = 0; i < T * IN; i++)
        X[i] = (float)(rand() / (double)RAND_MAX) - 0.5f;
    for (int i = 0; i < OUT * IN; i++)
        W[i] = (float)(rand() / (double)RAND_MAX) - 0.5f;
    CHECK_INT(0, kvg_matmul(Y, X, W, KVG_DTYPE_F32, NULL, T, IN, OUT));
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int o = 0; o < OUT; o++) {
            double ref = 0;
            for (int i = 0; i < IN; i++)
                ref += (double)X[t * IN + i] * W[o * IN + i];
            worst = fmax(worst, fabs(ref - Y[t * OUT + o]));
        }
    CHECK_NEAR(0, worst, 1e-5);
    free(X);
    free(W);
    free(Y);
}

/* Quantized weights laid out by hand from the block definitions
 * (format/SPEC.md §4): scale 0.5 (binary16 0x3800), so every weight is
 * exact. The activations are integers in [-127, 127] with 127 in every
 * 32-block, so their 8-bit block quantization (scale 127/127 = 1) is exact
 * too, and y must equal the double-precision sum. */
static void test_matmul_quantized(void)
{
    enum { T = 3, IN = 64, OUT = 5 };
    float X[T * IN], Y8[T * OUT], Y4[T * OUT];
    kvg_block_q8_0 w8[OUT * IN / 32];
    kvg_block_q4_0 w4[OUT * IN / 32];
    for (int i = 0; i < T * IN; i++)
        X[i] = i % 32 == 5 ? 127.0f : (float)((i * 37) % 255) - 127.0f;
    for (int b = 0; b < OUT * IN / 32; b++) {
        w8[b].d = w4[b].d = 0x3800;
        for (int j = 0; j < 32; j++)
            w8[b].qs[j] = (int8_t)((b * 31 + j * 17) % 255 - 127);
        for (int j = 0; j < 16; j++)
            w4[b].qs[j] = (uint8_t)(((b + j) % 16) | ((b * 3 + j * 5) % 16) << 4);
    }
    CHECK_INT(0, kvg_matmul(Y8, X, w8, KVG_DTYPE_Q8_0, NULL, T, IN, OUT));
    CHECK_INT(0, kvg_matmul(Y4, X, w4, KVG_DTYPE_Q4_0, NULL, T, IN, OUT));
    for (int t = 0; t < T; t++)
        for (int o = 0; o < OUT; o++) {
            double r8 = 0, r4 = 0;
            for (int i = 0; i < IN; i++) {
                int b = (o * IN + i) / 32, j = i % 32;
                r8 += X[t * IN + i] * 0.5 * w8[b].qs[j];
                int nib = j < 16 ? w4[b].qs[j] & 15 : w4[b].qs[j - 16] >> 4;
                r4 += X[t * IN + i] * 0.5 * (nib - 8);
            }
            CHECK_NEAR(r8, Y8[t * OUT + o], 0);
            CHECK_NEAR(r4, Y4[t * OUT + o], 0);
        }
}

static void test_norms(void)
{
    /* RMSNorm of (3, 4): mean square 12.5, so (3, 4)/sqrt(12.5) = (0.848528, 1.131371); w = (1, 2). */
    float x[2] = {3, 4}, w[2] = {1, 2}, out[2];
    kvg_rmsnorm(out, x, w, 1, 2, 0);
    CHECK_NEAR(3 / sqrt(12.5), out[0], 1e-6);
    CHECK_NEAR(2 * 4 / sqrt(12.5), out[1], 1e-6);
    /* LayerNorm of (1, 2, 3): mean 2, variance 2/3 -> (-1, 0, 1)/sqrt(2/3) = (-1.224745, 0, 1.224745); then *w + b. */
    float y[3] = {1, 2, 3}, lw[3] = {1, 1, 2}, lb[3] = {0, 0.5f, 0}, lo[3];
    kvg_layernorm(lo, y, lw, lb, 1, 3, 0);
    CHECK_NEAR(-1.224744871391589, lo[0], 1e-6);
    CHECK_NEAR(0.5, lo[1], 1e-6);
    CHECK_NEAR(2 * 1.224744871391589, lo[2], 1e-6);
    /* eps enters under the root: (3, 4) with eps 1 -> /sqrt(13.5). In place. */
    kvg_rmsnorm(x, x, (float[]){1, 1}, 1, 2, 1);
    CHECK_NEAR(3 / sqrt(13.5), x[0], 1e-6);
}

static void test_rope(void)
{
    /* head_dim 4, all rotating, theta 10000: frequencies 1 and 10000^(-1/2) = 0.01.
     * Pairs are (0, 2) and (1, 3). x = (1, 2, 3, 4) at position 2:
     *   x0' = 1 cos 2 - 3 sin 2,  x2' = 3 cos 2 + 1 sin 2,
     *   x1' = 2 cos .02 - 4 sin .02,  x3' = 4 cos .02 + 2 sin .02. */
    kvg_rope r = {4, 4, 10000, KVG_ROPE_NONE, 1, 0, 0, 0};
    double f[2];
    kvg_rope_frequencies(&r, f);
    CHECK_NEAR(1, f[0], 1e-15);
    CHECK_NEAR(0.01, f[1], 1e-15);
    float x[4] = {1, 2, 3, 4};
    uint32_t pos = 2;
    kvg_rope_apply(x, &pos, 1, 1, &r, f);
    CHECK_NEAR(cos(2) - 3 * sin(2), x[0], 1e-6);
    CHECK_NEAR(3 * cos(2) + sin(2), x[2], 1e-6);
    CHECK_NEAR(2 * cos(.02) - 4 * sin(.02), x[1], 1e-6);
    CHECK_NEAR(4 * cos(.02) + 2 * sin(.02), x[3], 1e-6);
    /* Partial rotary (NeoX): head_dim 4, rot_dims 2: pair (0, 1), frequency 1; 2 and 3 untouched. Two heads. */
    kvg_rope pr = {4, 2, 10000, KVG_ROPE_NONE, 1, 0, 0, 0};
    kvg_rope_frequencies(&pr, f);
    float y[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    pos = 1;
    kvg_rope_apply(y, &pos, 1, 2, &pr, f);
    CHECK_NEAR(cos(1) - 2 * sin(1), y[0], 1e-6);
    CHECK_NEAR(2 * cos(1) + sin(1), y[1], 1e-6);
    CHECK_NEAR(3, y[2], 0);
    CHECK_NEAR(4, y[3], 0);
    CHECK_NEAR(5 * cos(1) - 6 * sin(1), y[4], 1e-6);
    CHECK_NEAR(8, y[7], 0);
    /* Position 0 is the identity. */
    float z[4] = {1, 2, 3, 4};
    pos = 0;
    kvg_rope_apply(z, &pos, 1, 1, &r, f);
    CHECK_NEAR(1, z[0], 0);
    CHECK_NEAR(3, z[2], 0);
    /* Linear scaling divides every frequency by the factor. */
    kvg_rope lr = {4, 4, 10000, KVG_ROPE_LINEAR, 4, 0, 0, 0};
    kvg_rope_frequencies(&lr, f);
    CHECK_NEAR(0.25, f[0], 1e-15);
    CHECK_NEAR(0.0025, f[1], 1e-15);
    /* Llama 3: head_dim 8, theta 10000: base frequencies 1, 0.1, 0.01, 0.001
     * (wavelengths 2pi = 6.28, 62.8, 628, 6283). Original context 1000, low 1,
     * high 10, factor 8: wavelengths below 1000/10 = 100 kept (1, 0.1), above
     * 1000/1 = 1000 divided (0.001/8), between blended: 628.3 ->
     * smooth = (1000/628.3 - 1)/(10 - 1) = 0.06573, f = (1-s)*0.01/8 + s*0.01. */
    kvg_rope l3 = {8, 8, 10000, KVG_ROPE_LLAMA3, 8, 1, 10, 1000};
    double g[4];
    kvg_rope_frequencies(&l3, g);
    CHECK_NEAR(1, g[0], 1e-12);
    CHECK_NEAR(0.1, g[1], 1e-12);
    double wl = 2 * 3.14159265358979323846 / 0.01, s = (1000 / wl - 1) / 9;
    CHECK_NEAR((1 - s) * 0.01 / 8 + s * 0.01, g[2], 1e-12);
    CHECK_NEAR(0.001 / 8, g[3], 1e-12);
}

static void test_activations(void)
{
    /* Closed forms at 1 and -2: erf(1/sqrt2) = 0.682689492137086, tanh(sqrt(2/pi) * 1.044715) = 0.682383981216554. */
    float a[2] = {1, -2};
    kvg_gelu_erf(a, 2);
    CHECK_NEAR(0.5 * (1 + 0.682689492137086), a[0], 1e-6);
    CHECK_NEAR(-2 * 0.5 * (1 - 0.954499736103642), a[1], 1e-6); /* erf(sqrt 2) = 0.9544997 */
    float b[1] = {1};
    kvg_gelu_tanh(b, 1);
    CHECK_NEAR(0.5 * (1 + tanh(sqrt(2 / 3.14159265358979323846) * 1.044715)), b[0], 1e-6);
    float c[2] = {1, 0};
    kvg_silu(c, 2);
    CHECK_NEAR(1 / (1 + exp(-1.0)), c[0], 1e-6);
    CHECK_NEAR(0, c[1], 0);
    float g[2] = {1, 2}, u[2] = {3, -1};
    kvg_swiglu(g, u, 2);
    CHECK_NEAR(3 / (1 + exp(-1.0)), g[0], 1e-6);
    CHECK_NEAR(-2 / (1 + exp(-2.0)), g[1], 1e-6);
}

static void test_attention(void)
{
    /* One kv head shared by two query heads (GQA), head_dim 1 (scale 1), one
     * slot of 4 positions. k = (0, ln 3), v = (4, 8). Query 1 at position 1:
     * head 0 (q = 1): weights (1, 3)/4 -> 1 + 6 = 7; head 1 (q = 0): uniform -> 6.
     * Query 0 at position 0 sees only position 0: output 4 for both heads. */
    float k[4] = {0, (float)log(3.0), 0, 0}, v[4] = {4, 8, 0, 0};
    float q[4] = {1, 0, 1, 0}, out[4];
    uint32_t slot[2] = {0, 0}, pos[2] = {1, 0};
    kvg_attn_shape s = {2, 1, 1, 2};
    CHECK_INT(0, kvg_attention(out, q, k, v, slot, pos, 2, &s));
    CHECK_NEAR(7, out[0], 1e-5);
    CHECK_NEAR(6, out[1], 1e-5);
    CHECK_NEAR(4, out[2], 0);
    CHECK_NEAR(4, out[3], 0);
    /* Scores of 1e4 and 1e4 - ln 3 must not overflow: weights (3, 1)/4 -> 4*.75 + 8*.25 = 5. The
     * sequence starts at cache row 4. */
    float k2[8] = {0, 0, 0, 0, 1e4f, 1e4f - (float)log(3.0), 0, 0}, v2[8] = {0, 0, 0, 0, 4, 8, 0, 0};
    float q2[1] = {1}, o2[1];
    uint32_t s1 = 4, p1 = 1;
    kvg_attn_shape s2 = {1, 1, 1, 2};
    CHECK_INT(0, kvg_attention(o2, q2, k2, v2, &s1, &p1, 1, &s2));
    CHECK_NEAR(5, o2[0], 1e-3);
    CHECK(isfinite(o2[0]));
}

static void test_log_softmax(void)
{
    float x[2] = {0, (float)log(3.0)}, out[2];
    kvg_log_softmax(out, x, 2);
    CHECK_NEAR(log(0.25), out[0], 1e-6);
    CHECK_NEAR(log(0.75), out[1], 1e-6);
    float big[3] = {1000, 1000, -1000};
    kvg_log_softmax(big, big, 3);
    CHECK_NEAR(-log(2.0), big[0], 1e-5);
    CHECK(isfinite(big[2]));
}

int main(void)
{
    test_matmul();
    test_matmul_quantized();
    test_norms();
    test_rope();
    test_activations();
    test_attention();
    test_log_softmax();
    return kvg_test_end();
}
