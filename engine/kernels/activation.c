/* activation.c — element-wise ops: GELU (tanh and erf forms), SiLU, SwiGLU,
 * residual add. */
#include <math.h>

#include "ops_simd.h"

void kvg_gelu_tanh(float *x, size_t n)
{
    KVG_DISPATCH(kvg_gelu_tanh, x, n);
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
    }
}

void kvg_gelu_erf(float *x, size_t n)
{
    KVG_DISPATCH(kvg_gelu_erf, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
}

void kvg_silu(float *x, size_t n)
{
    KVG_DISPATCH(kvg_silu, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] / (1.0f + expf(-x[i]));
}

void kvg_swiglu(float *gate, const float *up, size_t n)
{
    KVG_DISPATCH(kvg_swiglu, gate, up, n);
    for (size_t i = 0; i < n; i++)
        gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void kvg_add(float *x, const float *y, size_t n)
{
    KVG_DISPATCH(kvg_add, x, y, n);
    for (size_t i = 0; i < n; i++)
        x[i] += y[i];
}
