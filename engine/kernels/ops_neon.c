/* ops_neon.c — the AArch64 Advanced SIMD (NEON) versions of the non-matmul kernels: the
 * *_simd.h bodies compiled against the 4-lane vector layer (attention has
 * its own blocked kernel: attention_neon.c). */
#include <math.h>

#include "ops_simd.h"
#include "simd_vec_neon.h"
#include "vmath_simd.h"

#define SIMD_FN(name) name##_neon

#include "activation_simd.h"
#include "norm_simd.h"
#include "rope_simd.h"
#include "softmax_simd.h"
