/* test_impl_name.c — kvg_matmul_impl_name_for / kvg_matmul_impl_name name
 * what runs: with the 512-bit switch off every dtype runs the kernel path's
 * own kernels (its name); on a CPU with AVX-512 and the switch on, the float
 * GEMM is "avx512", q8_0 / q4_0 are "avx512-vnni" (or "avx2" on a CPU
 * without VNNI), and the all-dtype name joins the two. */
#include <string.h>

#include "kernel_path.h"
#include "kernels.h"
#include "kvg_test.h"

static const kvg_dtype dtypes[] = {KVG_DTYPE_F32, KVG_DTYPE_F16, KVG_DTYPE_BF16, KVG_DTYPE_Q8_0, KVG_DTYPE_Q4_0};

int main(void)
{
    int was_on = kvg_matmul_avx512_active();
    const char *path = kvg_kernel_path_name(kvg_kernel_path_get());
    kvg_matmul_set_avx512(0);
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        CHECK(strcmp(kvg_matmul_impl_name_for(dtypes[i]), path) == 0);
    CHECK(strcmp(kvg_matmul_impl_name(), path) == 0);
    if (kvg_matmul_set_avx512(1) == 0) {
        const char *q = kvg_matmul_impl_name_for(KVG_DTYPE_Q4_0);
        int vnni = strcmp(q, "avx512-vnni") == 0;
        CHECK(vnni || strcmp(q, "avx2") == 0);
        CHECK(strcmp(kvg_matmul_impl_name_for(KVG_DTYPE_Q8_0), q) == 0);
        CHECK(strcmp(kvg_matmul_impl_name_for(KVG_DTYPE_F32), "avx512") == 0);
        CHECK(strcmp(kvg_matmul_impl_name_for(KVG_DTYPE_BF16), "avx512") == 0);
        CHECK(strcmp(kvg_matmul_impl_name(), vnni ? "avx512+vnni" : "avx512") == 0);
    } else {
        CHECK(!kvg_matmul_avx512_active());
    }
    kvg_matmul_set_avx512(was_on);
    return kvg_test_end();
}
