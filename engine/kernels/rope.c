/* rope.c — rotary position embeddings in the rotate_half convention
 * (element i of a head pairs with i + rot_dims/2), with HF's frequency
 * scalings: linear (positions divided by a factor) and Llama 3's
 * wavelength-dependent blend. Angles are computed in double. */
#include <math.h>

#include "ops_simd.h"

void kvg_rope_frequencies(const kvg_rope *r, double *inv_freq)
{
    uint32_t half = r->rot_dims / 2;
    for (uint32_t i = 0; i < half; i++) {
        double f = 1.0 / pow(r->theta, (double)(2 * i) / (double)r->rot_dims);
        if (r->scaling == KVG_ROPE_LINEAR) {
            f /= r->factor;
        } else if (r->scaling == KVG_ROPE_LLAMA3) {
            /* Long wavelengths (low frequencies) are slowed by factor, short
             * ones kept, the band between blended linearly in context/wavelength. */
            double wavelen = 2.0 * 3.14159265358979323846 / f;
            double low_wavelen = r->original_context / r->low_freq_factor;
            double high_wavelen = r->original_context / r->high_freq_factor;
            if (wavelen > low_wavelen) {
                f /= r->factor;
            } else if (wavelen >= high_wavelen) {
                double smooth = (r->original_context / wavelen - r->low_freq_factor) /
                                (r->high_freq_factor - r->low_freq_factor);
                f = (1.0 - smooth) * f / r->factor + smooth * f;
            }
        }
        inv_freq[i] = f;
    }
}

void kvg_rope_apply(float *x, const uint32_t *pos, size_t n_tok, size_t n_heads, const kvg_rope *r,
                    const double *inv_freq)
{
    KVG_DISPATCH(kvg_rope_apply, x, pos, n_tok, n_heads, r, inv_freq);
    size_t half = r->rot_dims / 2;
    for (size_t t = 0; t < n_tok; t++) {
        for (size_t i = 0; i < half; i++) {
            double angle = (double)pos[t] * inv_freq[i];
            float c = (float)cos(angle), s = (float)sin(angle);
            for (size_t h = 0; h < n_heads; h++) {
                float *xh = x + (t * n_heads + h) * r->head_dim;
                float a = xh[i], b = xh[i + half];
                xh[i] = a * c - b * s;
                xh[i + half] = b * c + a * s;
            }
        }
    }
}

void kvg_rope_table(const kvg_rope *r, const double *inv_freq, uint32_t p0, uint32_t p1, float *cs)
{
    const size_t half = r->rot_dims / 2;
    for (uint32_t p = p0; p < p1; p++, cs += r->rot_dims)
        for (size_t i = 0; i < half; i++) {
            double angle = (double)p * inv_freq[i];
            cs[i] = (float)cos(angle);
            cs[half + i] = (float)sin(angle);
        }
}

void kvg_rope_rotate(float *x, const uint32_t *pos, size_t n_tok, size_t n_heads, const kvg_rope *r,
                     const float *cs)
{
    KVG_DISPATCH(kvg_rope_rotate, x, pos, n_tok, n_heads, r, cs);
    const size_t half = r->rot_dims / 2;
    for (size_t t = 0; t < n_tok; t++) {
        const float *c = cs + (size_t)pos[t] * r->rot_dims, *s = c + half;
        for (size_t h = 0; h < n_heads; h++) {
            float *xh = x + (t * n_heads + h) * r->head_dim;
            for (size_t i = 0; i < half; i++) {
                float a = xh[i], b = xh[i + half];
                xh[i] = a * c[i] - b * s[i];
                xh[i + half] = b * c[i] + a * s[i];
            }
        }
    }
}
