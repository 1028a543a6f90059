/* kernel_path.h — which implementation of the kernels runs: the scalar
 * reference, AVX2+FMA (x86-64) or NEON (AArch64).
 *
 * Chosen once, on first use, as the best path both this build and this CPU
 * support. The environment variable KVG_KERNELS (scalar | avx2 | neon)
 * overrides the choice, so tests and benchmarks can run the same work on
 * every path; a path that is not available here is ignored (the best one is
 * used) and reported by kvg_kernel_path_env_ignored(). Tests may also switch
 * paths with kvg_kernel_path_set between calls (not while kernels run). */
#ifndef KVG_KERNEL_PATH_H
#define KVG_KERNEL_PATH_H

typedef enum kvg_kernel_path { KVG_PATH_SCALAR = 0, KVG_PATH_AVX2 = 1, KVG_PATH_NEON = 2 } kvg_kernel_path;

/* The path kernels use now. */
kvg_kernel_path kvg_kernel_path_get(void);

/* 1 when this build was compiled with the path and this CPU can run it. */
int kvg_kernel_path_available(kvg_kernel_path p);

/* Forces a path. Returns 0, or -1 (nothing changed) when it is not available. */
int kvg_kernel_path_set(kvg_kernel_path p);

/* "scalar", "avx2", "neon". */
const char *kvg_kernel_path_name(kvg_kernel_path p);

/* 1 when KVG_KERNELS was set to a name that is unknown or not available here. */
int kvg_kernel_path_env_ignored(void);

#endif
