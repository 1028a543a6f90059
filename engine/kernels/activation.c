/* activation.c — element-wise ops: GELU (tanh and erf forms), SiLU, SwiGLU,
 * residual add; and the matmul epilogue, the same activations on a tile of
 * a product's output. */
#include <math.h>

#include "kernels_simd.h"
#include "ops_simd.h"

/* One element of each activation on the scalar path: the array kernels and
 * the epilogue both use these, so they agree bit for bit. */
static inline float gelu_tanh_1(float v)
{
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
}
static inline float gelu_erf_1(float v) { return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f)); }
static inline float silu_1(float v) { return v / (1.0f + expf(-v)); }

void kvg_gelu_tanh(float *x, size_t n)
{
    KVG_DISPATCH(kvg_gelu_tanh, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = gelu_tanh_1(x[i]);
}

void kvg_gelu_erf(float *x, size_t n)
{
    KVG_DISPATCH(kvg_gelu_erf, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = gelu_erf_1(x[i]);
}

void kvg_silu(float *x, size_t n)
{
    KVG_DISPATCH(kvg_silu, x, n);
    for (size_t i = 0; i < n; i++)
        x[i] = silu_1(x[i]);
}

void kvg_swiglu(float *gate, const float *up, size_t n)
{
    KVG_DISPATCH(kvg_swiglu, gate, up, n);
    for (size_t i = 0; i < n; i++)
        gate[i] = silu_1(gate[i]) * up[i];
}

void kvg_add(float *x, const float *y, size_t n)
{
    KVG_DISPATCH(kvg_add, x, y, n);
    for (size_t i = 0; i < n; i++)
        x[i] += y[i];
}

void kvg_epilogue_tile(const kvg_epilogue *epi, float *y, size_t ld, size_t i0, size_t rows, size_t j0, size_t n)
{
    KVG_DISPATCH(kvg_epilogue_tile, epi, y, ld, i0, rows, j0, n);
    for (size_t i = i0; i < i0 + rows; i++) {
        float *r = y + i * ld + j0;
        const float *g = epi->gate ? epi->gate + i * ld + j0 : NULL;
        for (size_t j = 0; j < n; j++) {
            switch (epi->op) {
            case KVG_EPI_GELU_TANH: r[j] = gelu_tanh_1(r[j]); break;
            case KVG_EPI_GELU_ERF: r[j] = gelu_erf_1(r[j]); break;
            case KVG_EPI_SILU: r[j] = silu_1(r[j]); break;
            case KVG_EPI_SWIGLU: r[j] = silu_1(g[j]) * r[j]; break;
            case KVG_EPI_NONE: break;
            }
        }
    }
}
