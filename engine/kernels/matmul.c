/* matmul.c — y = x W^T + b for f32 / f16 / bf16 / q8_0 / q4_0 weights: the
 * argument checks, the choice of path (kernel_path.h) and the scalar
 * reference every SIMD path is tested against.
 *
 * Scalar reference: W's rows are converted to f32 a block at a time (ROWS
 * rows, into a per-thread buffer) and each converted row is used for every
 * token of the batch before moving on, so the weight is read once per batch,
 * not once per token. Threads split W's rows; each y element is one dot
 * product computed in a fixed order (8 interleaved partial sums, added
 * pairwise), so results do not depend on the thread count. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernel_path.h"
#include "kernels.h"
#include "kernels_simd.h"
#include "matmul_blocked.h"
#include "matmul_qdot.h"

enum { ROWS = 16, LANES = 8 };

void kvg_row_span_to_f32(const void *w, kvg_dtype wtype, size_t n_in, size_t i, size_t k0, size_t n, float *out)
{
    switch (wtype) {
    case KVG_DTYPE_F32:
        memcpy(out, (const float *)w + i * n_in + k0, n * sizeof *out);
        break;
    case KVG_DTYPE_F16: {
        const uint16_t *r = (const uint16_t *)w + i * n_in + k0;
        for (size_t j = 0; j < n; j++)
            out[j] = kvg_f16_to_f32(r[j]);
        break;
    }
    case KVG_DTYPE_BF16: {
        const uint16_t *r = (const uint16_t *)w + i * n_in + k0;
        for (size_t j = 0; j < n; j++)
            out[j] = kvg_bf16_to_f32(r[j]);
        break;
    }
    case KVG_DTYPE_Q8_0:
    case KVG_DTYPE_Q4_0: {
        /* A row is n_in / 32 whole blocks (kvg_matmul checks n_in % 32 == 0). */
        const kvg_dtype_traits *t = kvg_dtype_get(wtype);
        size_t row_bytes = n_in / t->block_elems * t->block_bytes;
        t->to_f32((const unsigned char *)w + i * row_bytes + k0 / t->block_elems * t->block_bytes, out, n);
        break;
    }
    default:
        memset(out, 0, n * sizeof *out);
        break;
    }
}

void kvg_row_to_f32(const void *w, kvg_dtype wtype, size_t n, size_t i, float *out)
{
    kvg_row_span_to_f32(w, wtype, n, i, 0, n, out);
}

/* sum_j a[j] b[j] over n values: LANES partial sums (lane l takes j ≡ l mod
 * LANES), then the tail, then the lanes added pairwise. */
static float dot(const float *a, const float *b, size_t n)
{
    float acc[LANES] = {0};
    size_t j = 0;
    for (; j + LANES <= n; j += LANES)
        for (int l = 0; l < LANES; l++)
            acc[l] += a[j + l] * b[j + l];
    for (int l = 0; j < n; j++, l++)
        acc[l] += a[j] * b[j];
    for (int width = LANES / 2; width > 0; width /= 2)
        for (int l = 0; l < width; l++)
            acc[l] += acc[l + width];
    return acc[0];
}

static int matmul_scalar(float *y, const float *x, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
                         size_t n_in, size_t n_out, const kvg_epilogue *epi)
{
    int failed = 0;
    long n_blocks = (long)((n_out + ROWS - 1) / ROWS);
#pragma omp parallel reduction(| : failed) if ((double)n_tok * n_in * n_out >= KVG_PARALLEL_MIN_WORK)
    {
        /* f32 weights are used in place; the others are converted per block. */
        float *rows = wtype == KVG_DTYPE_F32 ? NULL : malloc(ROWS * n_in * sizeof *rows);
        failed = wtype != KVG_DTYPE_F32 && !rows;
#pragma omp for schedule(static)
        for (long blk = 0; blk < n_blocks; blk++) {
            if (failed)
                continue;
            size_t r0 = (size_t)blk * ROWS, nr = n_out - r0 < ROWS ? n_out - r0 : ROWS;
            const float *wr = (const float *)w + r0 * n_in;
            if (rows) {
                for (size_t r = 0; r < nr; r++)
                    kvg_row_to_f32(w, wtype, n_in, r0 + r, rows + r * n_in);
                wr = rows;
            }
            for (size_t t = 0; t < n_tok; t++) {
                const float *xt = x + t * n_in;
                float *yt = y + t * n_out + r0;
                for (size_t r = 0; r < nr; r++)
                    yt[r] = dot(wr + r * n_in, xt, n_in) + (b ? b[r0 + r] : 0.0f);
                if (epi)
                    kvg_epilogue_tile(epi, y, n_out, t, 1, r0, nr);
            }
        }
        free(rows);
    }
    return failed ? -1 : 0;
}

/* -1 until first asked; then 1 when the AVX2 path's GEMM uses AVX-512. */
static _Atomic int avx512_state = -1;

static int avx512_available(void)
{
#ifdef KVG_HAVE_AVX2
    return kvg_kernel_path_available(KVG_PATH_AVX2) && kvg_matmul_avx512_cpu();
#else
    return 0;
#endif
}

int kvg_matmul_avx512_active(void)
{
    int s = atomic_load(&avx512_state);
    if (s < 0) {
        const char *env = getenv("KVG_MATMUL_AVX512");
        s = avx512_available() && !(env && strcmp(env, "0") == 0);
        atomic_store(&avx512_state, s);
    }
    return s;
}

int kvg_matmul_set_avx512(int on)
{
    if (on && !avx512_available())
        return -1;
    atomic_store(&avx512_state, on != 0);
    return 0;
}

const char *kvg_matmul_impl_name_for(kvg_dtype wtype)
{
    kvg_kernel_path p = kvg_kernel_path_get();
#ifdef KVG_HAVE_AVX2
    if (p == KVG_PATH_AVX2 && kvg_matmul_avx512_active()) {
        if (!kvg_dtype_is_quantized(wtype))
            return "avx512";
        return kvg_matmul_qdot_vnni_cpu() ? "avx512-vnni" : "avx2"; /* matmul_qdot_avx2.c's choice */
    }
#endif
    (void)wtype;
    return kvg_kernel_path_name(p);
}

const char *kvg_matmul_impl_name(void)
{
    const char *f = kvg_matmul_impl_name_for(KVG_DTYPE_F32), *q = kvg_matmul_impl_name_for(KVG_DTYPE_Q8_0);
    if (strcmp(f, q) == 0)
        return f;
    return strcmp(q, "avx512-vnni") == 0 ? "avx512+vnni" : "avx512"; /* the only mixes there are */
}

int kvg_matmul_ex(float *y, const float *x, const kvg_qact *qa, const void *w, kvg_dtype wtype, const float *b,
                  size_t n_tok, size_t n_in, size_t n_out, const kvg_epilogue *epi)
{
    const int quantized = kvg_dtype_is_quantized(wtype);
    if (wtype != KVG_DTYPE_F32 && wtype != KVG_DTYPE_F16 && wtype != KVG_DTYPE_BF16 && !quantized)
        return -1;
    if (quantized && n_in % 32 != 0)
        return -1; /* quantized rows are whole 32-element blocks */
    if (!quantized)
        qa = NULL;
    if ((qa && qa->n_in != n_in) || (!x && (!qa || n_in == 0)))
        return -1;
    if (epi && epi->op == KVG_EPI_NONE)
        epi = NULL;
    if (epi && epi->op == KVG_EPI_SWIGLU && !epi->gate)
        return -1;
    if (n_in == 0) /* y = b: no k blocks for the blocked paths to run */
        return matmul_scalar(y, x, w, wtype, b, n_tok, n_in, n_out, epi);
    if (quantized) /* integer dot products, every path */
        return kvg_matmul_qdot(y, x, qa, w, wtype, b, n_tok, n_in, n_out, epi);
    switch (kvg_kernel_path_get()) {
#ifdef KVG_HAVE_AVX2
    case KVG_PATH_AVX2:
        return kvg_matmul_avx2(y, x, w, wtype, b, n_tok, n_in, n_out, epi);
#endif
#ifdef KVG_HAVE_NEON
    case KVG_PATH_NEON:
        return kvg_matmul_neon(y, x, w, wtype, b, n_tok, n_in, n_out, epi);
#endif
    default:
        return matmul_scalar(y, x, w, wtype, b, n_tok, n_in, n_out, epi);
    }
}

int kvg_matmul(float *y, const float *x, const void *w, kvg_dtype wtype, const float *b, size_t n_tok,
               size_t n_in, size_t n_out)
{
    return kvg_matmul_ex(y, x, NULL, w, wtype, b, n_tok, n_in, n_out, NULL);
}
