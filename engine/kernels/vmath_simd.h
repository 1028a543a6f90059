/* vmath_simd.h — exp and erfc on vector lanes, for the SIMD ops. Written
 * against the vector layer (simd_vec_avx2.h / simd_vec_neon.h), which the
 * including file has included. Coefficients: tests/reference/
 * fit_vmath_coefficients.py (Chebyshev fits, errors printed there).
 *
 * Accuracy (measured against libm in double over dense grids by
 * tests/kernels/test_vmath.c, which enforces these bounds):
 *   vf_exp:  relative error <= 1.5e-7 (~1.3 ulp; measured 8.7e-8) where the
 *            result is a normal float (x in [-87.3, 88.7]); below, a
 *            subnormal or 0 (absolute error < 2e-38); +inf above 88.73;
 *            NaN stays NaN.
 *   vf_erfc: relative error <= 5e-7 * max(1, x^2) (measured 2.4e-7; the x^2
 *            in the exponent is rounded to f32) and absolute error <= 2.5e-7,
 *            so erf = 1 - erfc is within 2.5e-7 too. */
#ifndef KVG_VMATH_SIMD_H
#define KVG_VMATH_SIMD_H

#include <string.h>

/* The first n < VF_N floats of p in the low lanes, fill in the others:
 * ragged tails go through the same vector code as the body, so an element's
 * result does not depend on where in the array it sits. */
static inline vf vf_load_part(const float *p, size_t n, float fill)
{
    float b[VF_N];
    for (size_t i = 0; i < VF_N; i++)
        b[i] = i < n ? p[i] : fill;
    return vf_load(b);
}
static inline void vf_store_part(float *p, vf x, size_t n)
{
    float b[VF_N];
    vf_store(b, x);
    memcpy(p, b, n * sizeof *p);
}

/* e^x. */
static inline vf vf_exp(vf x)
{
    /* x = n ln2 + r with |r| <= ln2/2; ln2 split in two so n * LN2_HI is
     * exact for |n| < 2^15. Clamping to [-104, 89] keeps n in [-150, 129];
     * 2^n is applied as two factors so each stays a normal float, and the
     * product underflows (to subnormals, then 0) and overflows (to inf) by
     * itself. */
    const vf ln2_hi = vf_set1(0.693359375f), ln2_lo = vf_set1(-2.12194440e-4f);
    vf xc = vf_min(vf_max(x, vf_set1(-104.0f)), vf_set1(89.0f));
    vf n = vf_round(vf_mul(xc, vf_set1(1.44269504089f)));
    vf r = vf_fnma(n, ln2_hi, xc);
    r = vf_fnma(n, ln2_lo, r);
    vf p = vf_set1(0.0013941108434f);
    p = vf_fma(p, r, vf_set1(0.0083751263982f));
    p = vf_fma(p, r, vf_set1(0.041666352897f));
    p = vf_fma(p, r, vf_set1(0.16666415515f));
    p = vf_fma(p, r, vf_set1(0.50000000471f));
    p = vf_fma(p, r, vf_set1(1.0000000377f));
    p = vf_fma(p, r, vf_set1(1.0f));
    vf n1 = vf_round(vf_mul(n, vf_set1(0.5f))), n2 = vf_sub(n, n1);
    vf y = vf_mul(vf_mul(p, vf_pow2i(n1)), vf_pow2i(n2));
    return vf_select(vf_isnan(x), x, y);
}

/* erfc(z) for z >= 0 (NaN for NaN). */
static inline vf vf_erfc_pos(vf z)
{
    /* erfc(z) = t exp(G(t) - z^2), t = 1/(1 + z/2), G fitted in u = t - 7/12
     * on z in [0, 10]; erfc(10) = 2e-45 is 0 in f32, so larger z clamp to it. */
    vf zc = vf_min(z, vf_set1(10.0f));
    vf t = vf_div(vf_set1(1.0f), vf_fma(zc, vf_set1(0.5f), vf_set1(1.0f)));
    vf u = vf_sub(t, vf_set1(0.58333333333f));
    vf g = vf_set1(-0.1530061439f);
    g = vf_fma(g, u, vf_set1(0.14499530877f));
    g = vf_fma(g, u, vf_set1(0.14647934306f));
    g = vf_fma(g, u, vf_set1(-0.24509056418f));
    g = vf_fma(g, u, vf_set1(-0.053275450866f));
    g = vf_fma(g, u, vf_set1(0.29521590153f));
    g = vf_fma(g, u, vf_set1(-0.034655286237f));
    g = vf_fma(g, u, vf_set1(-0.40739811028f));
    g = vf_fma(g, u, vf_set1(0.090690890185f));
    g = vf_fma(g, u, vf_set1(1.3687370495f));
    g = vf_fma(g, u, vf_set1(-0.55859535113f));
    vf y = vf_mul(t, vf_exp(vf_fnma(zc, zc, g)));
    return vf_select(vf_isnan(z), z, y);
}

/* erfc(x) for any x: erfc(-z) = 2 - erfc(z). */
static inline vf vf_erfc(vf x)
{
    vf e = vf_erfc_pos(vf_abs(x));
    return vf_select(vf_ge(x, vf_set1(0.0f)), e, vf_sub(vf_set1(2.0f), e));
}

#endif
