/* attention.c — causal grouped-query attention over KV-cache rows, and
 * log-softmax. One (token, head) pair is one unit of work: its scores over
 * positions 0..pos, a max-subtracted softmax, then the weighted sum of V. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

int kvg_attention(float *out, const float *q, const float *k, const float *v, const uint32_t *row0,
                  const uint32_t *pos, size_t n_tok, const kvg_attn_shape *s)
{
    const size_t hd = s->head_dim, q_width = (size_t)s->n_heads * hd, kv_width = (size_t)s->n_kv * hd;
    const size_t group = s->n_heads / s->n_kv;
    const float scale = (float)(1.0 / sqrt((double)hd));
    long n_units = (long)(n_tok * s->n_heads);
    int failed = 0;
    double work = (double)n_tok * s->n_heads * hd * s->max_pos; /* an upper bound: causal rows are shorter */
#pragma omp parallel reduction(| : failed) if (work >= KVG_PARALLEL_MIN_WORK)
    {
        float *att = malloc((size_t)s->max_pos * sizeof *att); /* scores, then weights: [pos+1] */
        failed = !att;
#pragma omp for schedule(static)
        for (long u = 0; u < n_units; u++) {
            if (failed)
                continue;
            size_t t = (size_t)u / s->n_heads, h = (size_t)u % s->n_heads, kvh = h / group;
            const float *qh = q + t * q_width + h * hd;
            const float *kbase = k + (size_t)row0[t] * kv_width + kvh * hd;
            const float *vbase = v + (size_t)row0[t] * kv_width + kvh * hd;
            size_t n_pos = (size_t)pos[t] + 1;
            float max = -INFINITY;
            for (size_t p = 0; p < n_pos; p++) {
                const float *kp = kbase + p * kv_width;
                float dot = 0;
                for (size_t i = 0; i < hd; i++)
                    dot += qh[i] * kp[i];
                att[p] = dot * scale;
                if (att[p] > max)
                    max = att[p];
            }
            float sum = 0;
            for (size_t p = 0; p < n_pos; p++) {
                att[p] = expf(att[p] - max);
                sum += att[p];
            }
            float *oh = out + t * q_width + h * hd;
            memset(oh, 0, hd * sizeof *oh);
            for (size_t p = 0; p < n_pos; p++) {
                const float *vp = vbase + p * kv_width;
                float wgt = att[p] / sum;
                for (size_t i = 0; i < hd; i++)
                    oh[i] += wgt * vp[i];
            }
        }
        free(att);
    }
    return failed ? -1 : 0;
}

void kvg_log_softmax(float *out, const float *x, size_t n)
{
    float max = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (x[i] > max)
            max = x[i];
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += exp((double)x[i] - max);
    /* (x - max) first: subtracting a large log-sum-exp in one step would lose
     * the small differences to rounding at the magnitude of max. */
    double log_sum = log(sum);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)((double)(x[i] - max) - log_sum);
}
