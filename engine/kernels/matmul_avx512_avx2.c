/* matmul_avx512_avx2.c — the AVX2 path's GEMM micro-kernel on 512-bit
 * registers, for x86-64 CPUs that also have AVX-512F (Zen 4/5, Intel since
 * Skylake-SP): twice the multiply-adds per instruction of the 256-bit kernel.
 *
 * The file is in the *_avx2.c group (built with AVX2 flags); AVX-512F is
 * enabled per function by a target attribute, so nothing here runs before
 * kvg_matmul_avx512_cpu() said yes. The packing (matmul_avx2.c) and the loop
 * nest (matmul_blocked.c) are shared with the 256-bit kernel; only the tile
 * differs: 12 tokens × 32 outputs, 24 zmm accumulators, per k 2 panel loads,
 * 12 broadcasts and 24 FMAs (32 registers hold it all). Each output is the
 * same FMA chain over k in increasing order as on the 256-bit kernel and the
 * matrix-vector route, so results have the same bits with or without it. */
#include <immintrin.h>

#include "kernels_simd.h"
#include "matmul_blocked.h"

#define TARGET_AVX512 __attribute__((target("avx512f")))

int kvg_matmul_avx512_cpu(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f"); /* libgcc also checks that the OS saves zmm state */
}

enum { NR = KVG_MATMUL_AVX512_NR };

/* The 12 rows of the tile, one macro call each. */
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

TARGET_AVX512 void kvg_matmul_avx512_micro(size_t kc, const float *const a[KGEMM_MR_MAX], const float *panel, float *c,
                                           size_t ldc, int first, const float *bias)
{
#define DECLARE(i) __m512 c##i##_0, c##i##_1; const float *a##i = a[i];
    ROWS(DECLARE)
#undef DECLARE
    if (first) {
#define ZERO(i) c##i##_0 = c##i##_1 = _mm512_setzero_ps();
        ROWS(ZERO)
#undef ZERO
    } else {
#define LOAD(i) c##i##_0 = _mm512_loadu_ps(c + i * ldc), c##i##_1 = _mm512_loadu_ps(c + i * ldc + 16);
        ROWS(LOAD)
#undef LOAD
    }
    for (size_t k = 0; k < kc; k++, panel += NR) {
        __m512 b0 = _mm512_loadu_ps(panel), b1 = _mm512_loadu_ps(panel + 16), x;
#define FMA(i)                                  \
    x = _mm512_set1_ps(a##i[k]);                \
    c##i##_0 = _mm512_fmadd_ps(x, b0, c##i##_0); \
    c##i##_1 = _mm512_fmadd_ps(x, b1, c##i##_1);
        ROWS(FMA)
#undef FMA
    }
    if (bias) {
        __m512 b0 = _mm512_loadu_ps(bias), b1 = _mm512_loadu_ps(bias + 16);
#define ADD_BIAS(i) c##i##_0 = _mm512_add_ps(c##i##_0, b0), c##i##_1 = _mm512_add_ps(c##i##_1, b1);
        ROWS(ADD_BIAS)
#undef ADD_BIAS
    }
#define STORE(i) _mm512_storeu_ps(c + i * ldc, c##i##_0), _mm512_storeu_ps(c + i * ldc + 16, c##i##_1);
    ROWS(STORE)
#undef STORE
}
