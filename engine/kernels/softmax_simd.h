/* softmax_simd.h — log-softmax and log-sum-exp over a row on vector lanes
 * (body for ops_avx2.c / ops_neon.c; see ops_simd.h). The max is exact; the
 * terms e^(x - max) come from vf_exp (relative error ~2.5e-7 each) and are
 * summed in f64, so log-sum-exp is within ~3e-7 absolute of the exact value. */

static float row_max(const float *x, size_t n)
{
    vf m = vf_set1(-INFINITY);
    size_t i = 0;
    for (; i + VF_N <= n; i += VF_N)
        m = vf_max(m, vf_load(x + i));
    float r = vf_hmax(m);
    for (; i < n; i++)
        if (x[i] > r)
            r = x[i];
    return r;
}

/* sum of e^(x[i] - max) over the row, in f64. */
static double sum_exp(const float *x, size_t n, float max)
{
    const vf mv = vf_set1(max);
    vd s = vd_zero();
    size_t i = 0;
    for (; i + VF_N <= n; i += VF_N)
        s = vd_add(s, vf_exp(vf_sub(vf_load(x + i), mv)));
    if (i < n) /* padding lanes are -inf: e^-inf = 0 */
        s = vd_add(s, vf_exp(vf_sub(vf_load_part(x + i, n - i, -INFINITY), mv)));
    return vd_hsum(s);
}

double SIMD_FN(kvg_logsumexp)(const float *x, size_t n)
{
    if (!n)
        return -INFINITY;
    float max = row_max(x, n);
    return (double)max + log(sum_exp(x, n, max));
}

double SIMD_FN(kvg_sum_exp_max)(const float *x, size_t n, float *max)
{
    if (!n) {
        *max = -INFINITY;
        return 0;
    }
    *max = row_max(x, n);
    return sum_exp(x, n, *max);
}

void SIMD_FN(kvg_log_softmax)(float *out, const float *x, size_t n)
{
    if (!n)
        return;
    float max = row_max(x, n), log_sum = (float)log(sum_exp(x, n, max));
    const vf mv = vf_set1(max), ls = vf_set1(log_sum);
    size_t i = 0;
    for (; i + VF_N <= n; i += VF_N)
        vf_store(out + i, vf_sub(vf_sub(vf_load(x + i), mv), ls));
    for (; i < n; i++)
        out[i] = (x[i] - max) - log_sum;
}
