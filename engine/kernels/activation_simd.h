/* activation_simd.h — element-wise ops on vector lanes (body for
 * ops_avx2.c / ops_neon.c; see ops_simd.h), on vf_exp / vf_erfc:
 *   silu(x)      = x / (1 + e^-x)
 *   gelu_tanh(x) = x / (1 + e^-2u), u = sqrt(2/pi)(x + 0.044715 x^3): the
 *                  same function as 0.5x(1 + tanh u), since 1 + tanh u =
 *                  2 / (1 + e^-2u), without tanh's cancellation for x << 0;
 *   gelu_erf(x)  = x Phi(x), Phi(x) = 1 - erfc(z)/2 for x >= 0 and erfc(z)/2
 *                  for x < 0, z = |x|/sqrt 2, again without cancellation.
 * Each is a few f32 roundings on top of vf_exp's error: relative error
 * within ~1e-6 of the exact value (tests/kernels/test_ops_paths.c). */

/* y = f(x) for n floats; the ragged tail goes through the same vector code. */
#define MAP_UNARY(f, y, x, n)                                                                                        \
    do {                                                                                                           \
        size_t i_ = 0;                                                                                             \
        for (; i_ + VF_N <= (n); i_ += VF_N)                                                                       \
            vf_store((y) + i_, f(vf_load((x) + i_)));                                                              \
        if (i_ < (n))                                                                                              \
            vf_store_part((y) + i_, f(vf_load_part((x) + i_, (n) - i_, 0.0f)), (n) - i_);                          \
    } while (0)

static inline vf silu_v(vf x)
{
    return vf_div(x, vf_add(vf_set1(1.0f), vf_exp(vf_sub(vf_set1(0.0f), x))));
}

static inline vf gelu_tanh_v(vf x)
{
    /* -2u = x (k1 + k2 x^2), k1 = -2 sqrt(2/pi), k2 = -2 sqrt(2/pi) 0.044715 */
    const vf k1 = vf_set1(-1.5957691216057308f), k2 = vf_set1(-0.0713548162726009f);
    vf minus_2u = vf_mul(x, vf_fma(vf_mul(x, x), k2, k1));
    return vf_div(x, vf_add(vf_set1(1.0f), vf_exp(minus_2u)));
}

static inline vf gelu_erf_v(vf x)
{
    vf half_erfc = vf_mul(vf_set1(0.5f), vf_erfc_pos(vf_mul(vf_abs(x), vf_set1(0.70710678118654752f))));
    vf phi = vf_select(vf_ge(x, vf_set1(0.0f)), vf_sub(vf_set1(1.0f), half_erfc), half_erfc);
    return vf_mul(x, phi);
}

void SIMD_FN(kvg_silu)(float *x, size_t n) { MAP_UNARY(silu_v, x, x, n); }
void SIMD_FN(kvg_gelu_tanh)(float *x, size_t n) { MAP_UNARY(gelu_tanh_v, x, x, n); }
void SIMD_FN(kvg_gelu_erf)(float *x, size_t n) { MAP_UNARY(gelu_erf_v, x, x, n); }
void SIMD_FN(kvg_vec_exp)(float *y, const float *x, size_t n) { MAP_UNARY(vf_exp, y, x, n); }
void SIMD_FN(kvg_vec_erfc)(float *y, const float *x, size_t n) { MAP_UNARY(vf_erfc, y, x, n); }

/* out[i] = silu(gate[i]) * up[i] (out may be gate or up). */
static inline void swiglu_span(float *out, const float *gate, const float *up, size_t n)
{
    size_t i = 0;
    for (; i + VF_N <= n; i += VF_N)
        vf_store(out + i, vf_mul(silu_v(vf_load(gate + i)), vf_load(up + i)));
    if (i < n)
        vf_store_part(out + i, vf_mul(silu_v(vf_load_part(gate + i, n - i, 0.0f)), vf_load_part(up + i, n - i, 0.0f)),
                      n - i);
}

void SIMD_FN(kvg_swiglu)(float *gate, const float *up, size_t n) { swiglu_span(gate, gate, up, n); }

/* The matmul epilogue (kernels_simd.h): each row of the tile as the array
 * kernels above would do it, so the bits are theirs. */
void SIMD_FN(kvg_epilogue_tile)(const kvg_epilogue *epi, float *y, size_t ld, size_t i0, size_t rows, size_t j0,
                                size_t n)
{
    for (size_t i = i0; i < i0 + rows; i++) {
        float *r = y + i * ld + j0;
        switch (epi->op) {
        case KVG_EPI_GELU_TANH: MAP_UNARY(gelu_tanh_v, r, r, n); break;
        case KVG_EPI_GELU_ERF: MAP_UNARY(gelu_erf_v, r, r, n); break;
        case KVG_EPI_SILU: MAP_UNARY(silu_v, r, r, n); break;
        case KVG_EPI_SWIGLU: swiglu_span(r, epi->gate + i * ld + j0, r, n); break;
        case KVG_EPI_NONE: break;
        }
    }
}

void SIMD_FN(kvg_add)(float *x, const float *y, size_t n)
{
    size_t i = 0;
    for (; i + VF_N <= n; i += VF_N)
        vf_store(x + i, vf_add(vf_load(x + i), vf_load(y + i)));
    for (; i < n; i++)
        x[i] += y[i];
}
