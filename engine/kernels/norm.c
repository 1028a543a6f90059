/* norm.c — RMSNorm and LayerNorm over the rows of a [n_tok, d] matrix.
 * Statistics are accumulated in double: d is a few thousand at most, and
 * the reference should not be the place where rounding differs. */
#include <math.h>

#include "ops_simd.h"

void kvg_rmsnorm(float *out, const float *x, const float *w, size_t n_tok, size_t d, float eps)
{
    KVG_DISPATCH(kvg_rmsnorm, out, x, w, n_tok, d, eps);
    for (size_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * d;
        float *ot = out + t * d;
        double ss = 0;
        for (size_t i = 0; i < d; i++)
            ss += (double)xt[i] * xt[i];
        float scale = (float)(1.0 / sqrt(ss / (double)d + (double)eps));
        for (size_t i = 0; i < d; i++)
            ot[i] = xt[i] * scale * w[i];
    }
}

void kvg_layernorm(float *out, const float *x, const float *w, const float *b, size_t n_tok, size_t d, float eps)
{
    KVG_DISPATCH(kvg_layernorm, out, x, w, b, n_tok, d, eps);
    for (size_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * d;
        float *ot = out + t * d;
        double mean = 0, var = 0;
        for (size_t i = 0; i < d; i++)
            mean += xt[i];
        mean /= (double)d;
        for (size_t i = 0; i < d; i++)
            var += ((double)xt[i] - mean) * ((double)xt[i] - mean);
        var /= (double)d;
        double inv = 1.0 / sqrt(var + (double)eps);
        for (size_t i = 0; i < d; i++)
            ot[i] = (float)(((double)xt[i] - mean) * inv) * w[i] + (b ? b[i] : 0.0f);
    }
}
