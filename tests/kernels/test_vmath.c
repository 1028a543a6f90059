/* test_vmath.c — the SIMD paths' own exp and erfc (engine/kernels/
 * vmath_simd.h) against libm in double, over dense grids covering every
 * range the kernels feed them, plus the special values. The bounds checked
 * here are the ones vmath_simd.h states. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/ops_simd.h"
#include "kvg_test.h"
#include "paths_util.h"

/* Grid x[i] = lo + i * step, i < n. */
static float *grid(double lo, double step, size_t n)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(lo + (double)i * step);
    return x;
}

static void test_exp(kvg_kernel_path p)
{
    /* Every 1/4096 from -110 to 90 (819200 points), odd count for a ragged tail. */
    const size_t n = 819201;
    float *x = grid(-110, 1.0 / 4096, n), *y = malloc(n * sizeof *y);
    kvg_vec_exp(y, x, n);
    double worst_rel = 0, worst_abs_sub = 0;
    float at = 0;
    int bad_special = 0;
    for (size_t i = 0; i < n; i++) {
        double e = exp((double)x[i]);
        if (e >= FLT_MIN && e <= FLT_MAX) { /* normal results: relative error */
            double rel = fabs(y[i] - e) / e;
            if (rel > worst_rel) {
                worst_rel = rel;
                at = x[i];
            }
        } else if (e < FLT_MIN) { /* subnormal or 0: absolute error */
            if (fabs(y[i] - e) > worst_abs_sub)
                worst_abs_sub = fabs(y[i] - e);
        } else if (!(isinf(y[i]) && y[i] > 0)) {
            bad_special++;
        }
    }
    printf("%s exp: max relative error %.3g (at x = %.6g), subnormal range max abs error %.3g\n",
           kvg_kernel_path_name(p), worst_rel, at, worst_abs_sub);
    /* Bound: the polynomial's 2e-9 plus the reduction's and Horner's f32
     * roundings, about 1.3 ulp (measured 8.7e-8 on AVX2). */
    CHECK(worst_rel <= 1.5e-7);
    CHECK(worst_abs_sub <= 2e-38);
    CHECK_INT(0, bad_special);
    /* Exact and special points. */
    float sx[6] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 88.72284f}, sy[6];
    kvg_vec_exp(sy, sx, 6);
    CHECK_NEAR(1.0, sy[0], 0);
    CHECK_NEAR(1.0, sy[1], 0);
    CHECK(isinf(sy[2]) && sy[2] > 0);
    CHECK_NEAR(0.0, sy[3], 0);
    CHECK(isnan(sy[4]));
    CHECK(isinf(sy[5]));
    free(x);
    free(y);
}

static void test_erfc(kvg_kernel_path p)
{
    /* Every 1/8192 from -8 to 12 (163841 points): erfc(12) = 1.4e-64 is 0 in f32. */
    const size_t n = 163841;
    float *x = grid(-8, 1.0 / 8192, n), *y = malloc(n * sizeof *y);
    kvg_vec_erfc(y, x, n);
    double worst_scaled = 0, worst_abs = 0;
    float at = 0;
    for (size_t i = 0; i < n; i++) {
        double e = erfc((double)x[i]), z = fabs((double)x[i]);
        if (fabs(y[i] - e) > worst_abs)
            worst_abs = fabs(y[i] - e);
        if (e >= FLT_MIN) {
            /* relative error, allowing for z^2 rounded to f32 in the exponent */
            double scaled = fabs(y[i] - e) / e / (z * z > 1 ? z * z : 1);
            if (scaled > worst_scaled) {
                worst_scaled = scaled;
                at = x[i];
            }
        } else {
            CHECK(fabs(y[i] - e) <= 2e-38);
        }
    }
    printf("%s erfc: max relative error / max(1, x^2) %.3g (at x = %.6g), max absolute error %.3g\n",
           kvg_kernel_path_name(p), worst_scaled, at, worst_abs);
    /* measured 2.4e-7 (AVX2): the fit's 1e-8 plus f32 rounding of t, G and exp */
    CHECK(worst_scaled <= 5e-7);
    CHECK(worst_abs <= 2.5e-7); /* so erf = 1 - erfc is within this too */
    float sx[4] = {0.0f, INFINITY, -INFINITY, NAN}, sy[4];
    kvg_vec_erfc(sy, sx, 4);
    CHECK_NEAR(1.0, sy[0], 1.2e-7);
    CHECK_NEAR(0.0, sy[1], 3e-45); /* z clamps to 10: erfc(10) = 2.1e-45, a subnormal */
    CHECK_NEAR(2.0, sy[2], 2.4e-7);
    CHECK(isnan(sy[3]));
    free(x);
    free(y);
}

int main(void)
{
    kvg_kernel_path paths[2];
    int n = simd_paths(paths);
    if (!n)
        printf("no SIMD path in this build or on this CPU: nothing to compare\n");
    for (int i = 0; i < n; i++) {
        CHECK_INT(0, kvg_kernel_path_set(paths[i]));
        test_exp(paths[i]);
        test_erfc(paths[i]);
    }
    return kvg_test_end();
}
