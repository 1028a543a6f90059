/* matmul_variants.h — every implementation kvg_matmul can run here, for
 * the matmul tests of this folder: the kernel paths, and the AVX2 path with
 * its 512-bit switch on (AVX-512F GEMM; AVX512_VNNI for q8_0 / q4_0). */
#ifndef KVG_TESTS_MATMUL_VARIANTS_H
#define KVG_TESTS_MATMUL_VARIANTS_H

#include <stddef.h>

#include "kernel_path.h"
#include "kernels.h"

static const struct variant {
    kvg_kernel_path path;
    int avx512;
    const char *name;
} variants[] = {
    {KVG_PATH_SCALAR, 0, "scalar"},
    {KVG_PATH_AVX2, 0, "avx2"},
    {KVG_PATH_AVX2, 1, "avx2+avx512"},
    {KVG_PATH_NEON, 0, "neon"},
};
enum { N_VARIANTS = sizeof variants / sizeof *variants };

/* Makes variant v the one kvg_matmul runs; -1 when it is not available here. */
static inline int use_variant(size_t v)
{
    if (!kvg_kernel_path_available(variants[v].path) || kvg_matmul_set_avx512(variants[v].avx512) != 0)
        return -1;
    return kvg_kernel_path_set(variants[v].path);
}

#endif
