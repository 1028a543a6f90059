/* ops_avx2.c — the AVX2+FMA versions of the non-matmul kernels: the
 * *_simd.h bodies compiled against the 8-lane vector layer (attention has
 * its own blocked kernel: attention_avx2.c). */
#include <math.h>

#include "ops_simd.h"
#include "simd_vec_avx2.h"
#include "vmath_simd.h"

#define SIMD_FN(name) name##_avx2

#include "activation_simd.h"
#include "norm_simd.h"
#include "rope_simd.h"
#include "softmax_simd.h"
