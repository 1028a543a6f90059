/* test_attention_decode.c — generation attention: 1 to 4 new tokens at the
 * end of a KV cache of 1 to 513 positions, the decode step. There a run of
 * units sharing a kv head holds 1 to a few queries, and the kernel takes its
 * few-unit path (no packed key block: kvg_attend_set_few_max, ops_simd.h).
 * The invariant pinned here: a query's output has the same bits (memcmp)
 *   - computed in a decode call of 1-4 tokens (few-unit path),
 *   - the same call with the few-unit path switched off (packed blocks),
 *   - inside a batch of 20 tokens of its sequence (large packed tiles),
 * on every SIMD path, on 256- and 512-bit registers, for group sizes 1-8,
 * head dims 8-256 and windows that end before, on and after the 64-position
 * key blocks; and for several sequences decoded in one call (a tile holding
 * runs of different sequences) against each token alone. Accuracy against
 * the f64 definition is test_attention_paths.c's (the packed path). */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"
#include "kernels/ops_simd.h"
#include "kvg_test.h"
#include "paths_util.h"

enum { BATCH = 20 }; /* tokens of the comparison batch */

static float *random_array(size_t n)
{
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = rng_range(-1, 1);
    return x;
}

/* The first element where a and b differ, or n. */
static size_t first_diff(const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof *a))
            return i;
    return n;
}

static void expect_same_bits(const char *what, const float *want, const float *got, size_t n, uint32_t n_heads,
                             uint32_t n_kv, uint32_t hd, size_t window, size_t n_new)
{
    size_t i = first_diff(want, got, n);
    if (i < n)
        fprintf(stderr, "%s (%s%s, heads %u/%u, head_dim %u, window %zu, %zu new): element %zu: %.9g vs %.9g\n", what,
                kvg_kernel_path_name(kvg_kernel_path_get()), kvg_matmul_avx512_active() ? " 512-bit" : "", n_heads,
                n_kv, hd, window, n_new, i, want[i], got[i]);
    CHECK(i == n);
}

/* The register widths to try on the current path: 256 (and 512 where the
 * CPU has AVX-512F) on x86-64, NEON's own. Returns how many; sets the i-th
 * with set_width(i). */
static int n_widths(void)
{
    if (kvg_kernel_path_get() != KVG_PATH_AVX2)
        return 1;
    int n = kvg_matmul_set_avx512(1) == 0 ? 2 : 1;
    kvg_matmul_set_avx512(0);
    return n;
}

static void set_width(int i)
{
    if (kvg_kernel_path_get() == KVG_PATH_AVX2)
        kvg_matmul_set_avx512(i);
}

/* One sequence of `window` cached positions; the last BATCH (or window)
 * positions are queries. */
static void check_window(uint32_t n_heads, uint32_t n_kv, uint32_t hd, size_t window, int path)
{
    const size_t qw = (size_t)n_heads * hd, kvw = (size_t)n_kv * hd, nb = window < BATCH ? window : BATCH;
    const kvg_attn_shape s = {n_heads, n_kv, hd, (uint32_t)window};
    float *k = random_array(window * kvw), *v = random_array(window * kvw), *q = random_array(nb * qw);
    float *big = malloc(nb * qw * sizeof *big), *few = malloc(4 * qw * sizeof *few),
          *packed = malloc(4 * qw * sizeof *packed);
    uint32_t row0[BATCH] = {0}, pos[BATCH];
    for (size_t t = 0; t < nb; t++)
        pos[t] = (uint32_t)(window - nb + t);
    kvg_kernel_path_set((kvg_kernel_path)path);
    for (int w = 0, nw = n_widths(); w < nw; w++) {
        set_width(w);
        CHECK_INT(0, kvg_attention(big, q, k, v, row0, pos, nb, &s));
        for (size_t n_new = 1; n_new <= 4 && n_new <= nb; n_new++) {
            const size_t t0 = nb - n_new; /* the batch's last n_new tokens */
            CHECK_INT(0, kvg_attention(few, q + t0 * qw, k, v, row0, pos + t0, n_new, &s));
            expect_same_bits("decode vs batch", big + t0 * qw, few, n_new * qw, n_heads, n_kv, hd, window, n_new);
            const size_t was = kvg_attend_set_few_max(0);
            CHECK_INT(0, kvg_attention(packed, q + t0 * qw, k, v, row0, pos + t0, n_new, &s));
            kvg_attend_set_few_max(was);
            expect_same_bits("few-unit vs packed", packed, few, n_new * qw, n_heads, n_kv, hd, window, n_new);
        }
        set_width(0);
    }
    free(k), free(v), free(q), free(big), free(few), free(packed);
}

/* Sequences of the given windows, their cache rows one after another; one
 * call decodes the last token of each (a tile holds runs of several
 * sequences), against each token decoded alone. */
static void check_sequences(uint32_t n_heads, uint32_t n_kv, uint32_t hd, const size_t *windows, size_t n_seq,
                            int path)
{
    const size_t qw = (size_t)n_heads * hd, kvw = (size_t)n_kv * hd;
    uint32_t row0[8], pos[8], max_pos = 0, rows = 0;
    for (size_t i = 0; i < n_seq; i++) {
        row0[i] = rows;
        pos[i] = (uint32_t)windows[i] - 1;
        rows += (uint32_t)windows[i];
        if (windows[i] > max_pos)
            max_pos = (uint32_t)windows[i];
    }
    const kvg_attn_shape s = {n_heads, n_kv, hd, max_pos};
    float *k = random_array(rows * kvw), *v = random_array(rows * kvw), *q = random_array(n_seq * qw);
    float *all = malloc(n_seq * qw * sizeof *all), *one = malloc(qw * sizeof *one);
    kvg_kernel_path_set((kvg_kernel_path)path);
    for (int w = 0, nw = n_widths(); w < nw; w++) {
        set_width(w);
        CHECK_INT(0, kvg_attention(all, q, k, v, row0, pos, n_seq, &s));
        for (size_t i = 0; i < n_seq; i++) {
            CHECK_INT(0, kvg_attention(one, q + i * qw, k, v, row0 + i, pos + i, 1, &s));
            expect_same_bits("sequences vs alone", one, all + i * qw, qw, n_heads, n_kv, hd, windows[i], 1);
        }
        set_width(0);
    }
    free(k), free(v), free(q), free(all), free(one);
}

int main(void)
{
    /* {n_heads, n_kv}: 1 to 8 query heads per kv head */
    static const uint32_t heads[][2] = {{1, 1}, {2, 1}, {3, 1}, {4, 1}, {6, 2}, {8, 1}};
    /* multiples of 16 and of 8 only (512-bit hands them to 256-bit), ragged (scalar) */
    static const uint32_t dims[] = {8, 16, 24, 64, 80, 128, 256, 12};
    static const size_t windows[] = {1, 2, 3, 7, 8, 9, 15, 17, 31, 33, 63, 64, 65, 66, 100, 127, 128, 129, 200, 513};
    kvg_kernel_path paths[2];
    const int np = simd_paths(paths);
    for (int pi = 0; pi < np; pi++)
        for (size_t hi = 0; hi < sizeof heads / sizeof heads[0]; hi++)
            for (size_t di = 0; di < sizeof dims / sizeof dims[0]; di++)
                for (size_t wi = 0; wi < sizeof windows / sizeof windows[0]; wi++) {
                    if (dims[di] >= 128 && windows[wi] > 130 && hi % 2) /* keep it quick */
                        continue;
                    check_window(heads[hi][0], heads[hi][1], dims[di], windows[wi], (int)paths[pi]);
                }
    static const size_t seqs[] = {1, 65, 130, 7, 64, 300, 2, 129};
    for (int pi = 0; pi < np; pi++) {
        check_sequences(12, 12, 64, seqs, 8, (int)paths[pi]);
        check_sequences(9, 3, 64, seqs, 5, (int)paths[pi]);
        check_sequences(4, 2, 80, seqs + 2, 6, (int)paths[pi]);
        check_sequences(2, 1, 256, seqs, 3, (int)paths[pi]);
    }
    return kvg_test_end();
}
