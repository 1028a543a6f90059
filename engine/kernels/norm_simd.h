/* norm_simd.h — RMSNorm and LayerNorm on vector lanes (body for
 * ops_avx2.c / ops_neon.c; see ops_simd.h). Like the scalar reference, the
 * row statistics are summed in f64 and the output arithmetic is the same
 * f32 operations in the same order, so results differ from it only where the
 * f64 sums, added in another order, round the scale differently. */

void SIMD_FN(kvg_rmsnorm)(float *out, const float *x, const float *w, size_t n_tok, size_t d, float eps)
{
    for (size_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * d;
        float *ot = out + t * d;
        vd ss = vd_zero();
        size_t i = 0;
        for (; i + VF_N <= d; i += VF_N)
            ss = vd_add_sq(ss, vf_load(xt + i), 0.0);
        if (i < d)
            ss = vd_add_sq(ss, vf_load_part(xt + i, d - i, 0.0f), 0.0);
        vf scale = vf_set1((float)(1.0 / sqrt(vd_hsum(ss) / (double)d + (double)eps)));
        for (i = 0; i + VF_N <= d; i += VF_N)
            vf_store(ot + i, vf_mul(vf_mul(vf_load(xt + i), scale), vf_load(w + i)));
        if (i < d)
            vf_store_part(ot + i, vf_mul(vf_mul(vf_load_part(xt + i, d - i, 0.0f), scale),
                                         vf_load_part(w + i, d - i, 0.0f)), d - i);
    }
}

void SIMD_FN(kvg_layernorm)(float *out, const float *x, const float *w, const float *b, size_t n_tok, size_t d,
                            float eps)
{
    for (size_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * d;
        float *ot = out + t * d;
        vd sum = vd_zero();
        size_t i = 0;
        for (; i + VF_N <= d; i += VF_N)
            sum = vd_add(sum, vf_load(xt + i));
        if (i < d)
            sum = vd_add(sum, vf_load_part(xt + i, d - i, 0.0f));
        double mean = vd_hsum(sum) / (double)d;
        vd var = vd_zero();
        double var_tail = 0;
        for (i = 0; i + VF_N <= d; i += VF_N)
            var = vd_add_sq(var, vf_load(xt + i), mean);
        for (size_t j = i; j < d; j++)
            var_tail += ((double)xt[j] - mean) * ((double)xt[j] - mean);
        double inv = 1.0 / sqrt((vd_hsum(var) + var_tail) / (double)d + (double)eps);
        const vf zero = vf_set1(0.0f);
        for (i = 0; i + VF_N <= d; i += VF_N) {
            vf xs = vf_center_scale(vf_load(xt + i), mean, inv);
            vf_store(ot + i, vf_add(vf_mul(xs, vf_load(w + i)), b ? vf_load(b + i) : zero));
        }
        if (i < d) {
            size_t m = d - i;
            vf xs = vf_center_scale(vf_load_part(xt + i, m, 0.0f), mean, inv);
            vf bias = b ? vf_load_part(b + i, m, 0.0f) : zero;
            vf_store_part(ot + i, vf_add(vf_mul(xs, vf_load_part(w + i, m, 0.0f)), bias), m);
        }
    }
}
