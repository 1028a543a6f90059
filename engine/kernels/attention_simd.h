/* attention_simd.h — one (token, head) unit of attention on vector lanes
 * (body for ops_avx2.c / ops_neon.c; see ops_simd.h and kvg_attend_scalar,
 * whose online-softmax algorithm and block size this follows). The query and
 * the output accumulator stay in registers (head_dim / VF_N vectors each);
 * scores are dot products of 4 key rows at a time, reduced together. */

static inline __attribute__((always_inline)) void attend_body(float *out, const float *q, const float *k,
                                                              const float *v, size_t n_pos, const size_t hd,
                                                              size_t kv_stride, float scale)
{
    enum { MAXV = KVG_ATTN_SIMD_MAX_HD / VF_N };
    const size_t nv = hd / VF_N;
    vf qv[MAXV], acc[MAXV];
    for (size_t c = 0; c < nv; c++) {
        qv[c] = vf_load(q + c * VF_N);
        acc[c] = vf_set1(0.0f);
    }
    float s[KVG_ATTN_BLOCK]; /* the block's scores, then its weights e^(s - m) */
    float m = -INFINITY, l = 0; /* running max score and softmax denominator */
    for (size_t b0 = 0; b0 < n_pos; b0 += KVG_ATTN_BLOCK) {
        const size_t nb = n_pos - b0 < KVG_ATTN_BLOCK ? n_pos - b0 : KVG_ATTN_BLOCK;
        const float *kb = k + b0 * kv_stride, *vb = v + b0 * kv_stride;
        size_t j = 0;
        for (; j + 4 <= nb; j += 4) {
            const float *k0 = kb + j * kv_stride, *k1 = k0 + kv_stride, *k2 = k1 + kv_stride, *k3 = k2 + kv_stride;
            vf a0 = vf_set1(0.0f), a1 = a0, a2 = a0, a3 = a0;
            for (size_t c = 0; c < nv; c++) {
                a0 = vf_fma(qv[c], vf_load(k0 + c * VF_N), a0);
                a1 = vf_fma(qv[c], vf_load(k1 + c * VF_N), a1);
                a2 = vf_fma(qv[c], vf_load(k2 + c * VF_N), a2);
                a3 = vf_fma(qv[c], vf_load(k3 + c * VF_N), a3);
            }
            vf_hsum4(a0, a1, a2, a3, s + j);
        }
        for (; j < nb; j++) {
            const float *kj = kb + j * kv_stride;
            vf a = vf_set1(0.0f);
            for (size_t c = 0; c < nv; c++)
                a = vf_fma(qv[c], vf_load(kj + c * VF_N), a);
            s[j] = vf_hsum(a);
        }
        float bmax = -INFINITY;
        for (j = 0; j < nb; j++) {
            s[j] *= scale;
            if (s[j] > bmax)
                bmax = s[j];
        }
        for (j = nb; j % VF_N; j++) /* pad to whole vectors: weight e^-inf = 0 */
            s[j] = -INFINITY;
        const float m_new = bmax > m ? bmax : m;
        const float corr = expf(m - m_new); /* 0 on the first block (m = -inf) */
        l *= corr;
        if (corr != 1.0f)
            for (size_t c = 0; c < nv; c++)
                acc[c] = vf_mul(acc[c], vf_set1(corr));
        const vf mv = vf_set1(m_new);
        vf lsum = vf_set1(0.0f);
        for (j = 0; j < nb; j += VF_N) {
            vf p = vf_exp(vf_sub(vf_load(s + j), mv));
            vf_store(s + j, p);
            lsum = vf_add(lsum, p);
        }
        l += vf_hsum(lsum);
        for (j = 0; j < nb; j++) {
            const vf p = vf_set1(s[j]);
            const float *vj = vb + j * kv_stride;
            for (size_t c = 0; c < nv; c++)
                acc[c] = vf_fma(p, vf_load(vj + c * VF_N), acc[c]);
        }
        m = m_new;
    }
    const vf lv = vf_set1(l);
    for (size_t c = 0; c < nv; c++)
        vf_store(out + c * VF_N, vf_div(acc[c], lv));
}

void SIMD_FN(kvg_attend)(float *out, const float *q, const float *k, const float *v, size_t n_pos, size_t hd,
                         size_t kv_stride, float scale)
{
    /* Constant head dims let the compiler keep qv and acc in registers. */
    if (hd == 64)
        attend_body(out, q, k, v, n_pos, 64, kv_stride, scale);
    else if (hd == 128)
        attend_body(out, q, k, v, n_pos, 128, kv_stride, scale);
    else if (hd % VF_N == 0 && hd <= KVG_ATTN_SIMD_MAX_HD)
        attend_body(out, q, k, v, n_pos, hd, kv_stride, scale);
    else
        kvg_attend_scalar(out, q, k, v, n_pos, hd, kv_stride, scale);
}
