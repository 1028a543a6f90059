/* rope_simd.h — rotary embeddings on vector lanes (body for ops_avx2.c /
 * ops_neon.c; see ops_simd.h). cos and sin of each angle are computed in
 * f64 as in the scalar reference and the rotation is the same f32
 * multiplies and adds (no fused multiply-add), so the result is bit-for-bit
 * the reference's; only the rotation is vectorized, across pairs i. */

/* lo[i], hi[i] = lo c - hi s, hi c + lo s for i < m (rot_dims/2 pairs of one head). */
static inline void rotate_pairs(float *lo, float *hi, const float *c, const float *s, size_t m)
{
    size_t i = 0;
    for (; i + VF_N <= m; i += VF_N) {
        vf a = vf_load(lo + i), b = vf_load(hi + i), vc = vf_load(c + i), vs = vf_load(s + i);
        vf_store(lo + i, vf_sub(vf_mul(a, vc), vf_mul(b, vs)));
        vf_store(hi + i, vf_add(vf_mul(b, vc), vf_mul(a, vs)));
    }
    for (; i < m; i++) {
        float a = lo[i], b = hi[i];
        lo[i] = a * c[i] - b * s[i];
        hi[i] = b * c[i] + a * s[i];
    }
}

void SIMD_FN(kvg_rope_rotate)(float *x, const uint32_t *pos, size_t n_tok, size_t n_heads, const kvg_rope *r,
                              const float *cs)
{
    const size_t half = r->rot_dims / 2, hd = r->head_dim;
    for (size_t t = 0; t < n_tok; t++) {
        const float *c = cs + (size_t)pos[t] * r->rot_dims;
        for (size_t h = 0; h < n_heads; h++) {
            float *lo = x + (t * n_heads + h) * hd;
            rotate_pairs(lo, lo + half, c, c + half, half);
        }
    }
}

void SIMD_FN(kvg_rope_apply)(float *x, const uint32_t *pos, size_t n_tok, size_t n_heads, const kvg_rope *r,
                             const double *inv_freq)
{
    enum { CHUNK = 64 }; /* pairs whose cos/sin are held at once */
    const size_t half = r->rot_dims / 2, hd = r->head_dim;
    float c[CHUNK], s[CHUNK];
    for (size_t t = 0; t < n_tok; t++) {
        for (size_t i0 = 0; i0 < half; i0 += CHUNK) {
            size_t m = half - i0 < CHUNK ? half - i0 : CHUNK;
            for (size_t i = 0; i < m; i++) {
                double angle = (double)pos[t] * inv_freq[i0 + i];
                c[i] = (float)cos(angle);
                s[i] = (float)sin(angle);
            }
            for (size_t h = 0; h < n_heads; h++) {
                float *lo = x + (t * n_heads + h) * hd + i0;
                rotate_pairs(lo, lo + half, c, s, m);
            }
        }
    }
}
