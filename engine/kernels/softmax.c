/* softmax.c — log-softmax and log-sum-exp over one row of logits: the
 * scoring path needs only log p(target) = x[target] - logsumexp(x). */
#include <math.h>

#include "ops_simd.h"

/* *max = the row's max; returns the sum of e^(x - max), in double. */
static double sum_exp_shifted(const float *x, size_t n, float *max)
{
    float m = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (x[i] > m)
            m = x[i];
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += exp((double)x[i] - m);
    *max = m;
    return sum;
}

void kvg_log_softmax(float *out, const float *x, size_t n)
{
    KVG_DISPATCH(kvg_log_softmax, out, x, n);
    float max;
    double log_sum = log(sum_exp_shifted(x, n, &max));
    /* (x - max) first: subtracting a large log-sum-exp in one step would lose
     * the small differences to rounding at the magnitude of max. */
    for (size_t i = 0; i < n; i++)
        out[i] = (float)((double)(x[i] - max) - log_sum);
}

double kvg_logsumexp(const float *x, size_t n)
{
    switch (kvg_kernel_path_get()) {
    case KVG_PATH_AVX2:
        KVG_IF_AVX2(return kvg_logsumexp_avx2(x, n);)
        break;
    case KVG_PATH_NEON:
        KVG_IF_NEON(return kvg_logsumexp_neon(x, n);)
        break;
    case KVG_PATH_SCALAR:
        break;
    }
    if (!n)
        return -INFINITY;
    float max;
    double log_sum = log(sum_exp_shifted(x, n, &max));
    return (double)max + log_sum;
}

double kvg_sum_exp_max(const float *x, size_t n, float *max)
{
    switch (kvg_kernel_path_get()) {
    case KVG_PATH_AVX2:
        KVG_IF_AVX2(return kvg_sum_exp_max_avx2(x, n, max);)
        break;
    case KVG_PATH_NEON:
        KVG_IF_NEON(return kvg_sum_exp_max_neon(x, n, max);)
        break;
    case KVG_PATH_SCALAR:
        break;
    }
    if (!n) {
        *max = -INFINITY;
        return 0;
    }
    return sum_exp_shifted(x, n, max);
}
