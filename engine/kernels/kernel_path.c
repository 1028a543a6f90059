/* kernel_path.c — run-time choice of the kernel implementation. */
#include "kernel_path.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* -1 until first use; then a kvg_kernel_path. Atomic because the first use
 * may come from several threads at once: they all compute the same value. */
static _Atomic int current_path = -1;
static _Atomic int env_ignored = 0;

int kvg_kernel_path_available(kvg_kernel_path p)
{
    switch (p) {
    case KVG_PATH_SCALAR:
        return 1;
    case KVG_PATH_AVX2:
#if defined(KVG_HAVE_AVX2) && (defined(__x86_64__) || defined(__i386__))
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
        return 0;
#endif
    case KVG_PATH_NEON:
#if defined(KVG_HAVE_NEON) && defined(__aarch64__)
        return 1; /* Advanced SIMD is mandatory on AArch64 */
#else
        return 0;
#endif
    }
    return 0;
}

const char *kvg_kernel_path_name(kvg_kernel_path p)
{
    switch (p) {
    case KVG_PATH_SCALAR:
        return "scalar";
    case KVG_PATH_AVX2:
        return "avx2";
    case KVG_PATH_NEON:
        return "neon";
    }
    return "unknown";
}

static kvg_kernel_path best_path(void)
{
    if (kvg_kernel_path_available(KVG_PATH_AVX2))
        return KVG_PATH_AVX2;
    if (kvg_kernel_path_available(KVG_PATH_NEON))
        return KVG_PATH_NEON;
    return KVG_PATH_SCALAR;
}

static kvg_kernel_path choose(void)
{
    const char *env = getenv("KVG_KERNELS");
    if (env && *env) {
        for (int p = KVG_PATH_SCALAR; p <= KVG_PATH_NEON; p++)
            if (strcmp(env, kvg_kernel_path_name((kvg_kernel_path)p)) == 0 &&
                kvg_kernel_path_available((kvg_kernel_path)p))
                return (kvg_kernel_path)p;
        atomic_store(&env_ignored, 1);
    }
    return best_path();
}

kvg_kernel_path kvg_kernel_path_get(void)
{
    int p = atomic_load(&current_path);
    if (p < 0) {
        p = (int)choose();
        atomic_store(&current_path, p);
    }
    return (kvg_kernel_path)p;
}

int kvg_kernel_path_set(kvg_kernel_path p)
{
    if (!kvg_kernel_path_available(p))
        return -1;
    atomic_store(&current_path, (int)p);
    return 0;
}

int kvg_kernel_path_env_ignored(void)
{
    (void)kvg_kernel_path_get();
    return atomic_load(&env_ignored);
}
