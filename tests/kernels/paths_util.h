/* paths_util.h — what the kernel path tests in this folder share: the list
 * of SIMD paths this build and CPU can run, and a seeded random source (the
 * same inputs on every machine, so a failure can be replayed). */
#ifndef KVG_TESTS_PATHS_UTIL_H
#define KVG_TESTS_PATHS_UTIL_H

#include <stdint.h>

#include "kernels/kernel_path.h"

/* Fills paths[] with the available non-scalar paths; returns how many. */
static inline int simd_paths(kvg_kernel_path paths[2])
{
    int n = 0;
    if (kvg_kernel_path_available(KVG_PATH_AVX2))
        paths[n++] = KVG_PATH_AVX2;
    if (kvg_kernel_path_available(KVG_PATH_NEON))
        paths[n++] = KVG_PATH_NEON;
    return n;
}

/* xorshift64*: uniform doubles in [0, 1). */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static inline double rng_uniform(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1Du) >> 11) / 9007199254740992.0;
}
/* Uniform in [lo, hi). */
static inline float rng_range(double lo, double hi) { return (float)(lo + (hi - lo) * rng_uniform()); }

#endif
