/* vmath.c — exp and erfc over arrays on the current kernel path: libm on
 * the scalar path, the SIMD ops' own approximations (vmath_simd.h) on the
 * others. Only the accuracy tests call these; the ops inline the vector
 * versions. */
#include <math.h>

#include "ops_simd.h"

void kvg_vec_exp(float *y, const float *x, size_t n)
{
    KVG_DISPATCH(kvg_vec_exp, y, x, n);
    for (size_t i = 0; i < n; i++)
        y[i] = expf(x[i]);
}

void kvg_vec_erfc(float *y, const float *x, size_t n)
{
    KVG_DISPATCH(kvg_vec_erfc, y, x, n);
    for (size_t i = 0; i < n; i++)
        y[i] = erfcf(x[i]);
}
