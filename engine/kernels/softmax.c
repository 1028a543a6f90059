/* softmax.c — log-softmax and log-sum-exp over one row of logits: the
 * scoring path needs only log p(target) = x[target] - logsumexp(x). */
#include <math.h>

#include "ops_simd.h"

void kvg_log_softmax(float *out, const float *x, size_t n)
{
    KVG_DISPATCH(kvg_log_softmax, out, x, n);
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
    float max = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (x[i] > max)
            max = x[i];
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += exp((double)x[i] - max);
    return (double)max + log(sum);
}
