/* kvg_sample.h — small valid .kvg files for tests and the fuzz seed corpus,
 * written with the real writer. One definition, used by test_bad_files.c,
 * make_sample_kvg.c (for the shell tests and the fuzz corpus).
 *
 * Variants:
 *   "full"  — seven tensors of seven dtypes (q8_0, f32, f16, bf16 with 4 dims,
 *             q4_0, i32, u8 [7] last so the metadata needs padding) and eleven
 *             metadata entries of every type: two strings, u64, i64, f64, arrays
 *             of strings, u64, i64, f64, an empty array, and a u64 last. About
 *             1.4 KB with alignment 64.
 *   "tiny"  — one f32 [2] tensor "w" and one u64 key "n".
 *   "empty" — no tensors and no metadata: the 128-byte header alone.
 * Tensor bytes are a fixed pseudo-random sequence, so every file is the same
 * on every run. Two tensor names and two keys have equal lengths, so a test can
 * make them collide by copying bytes. */
#ifndef KVG_SAMPLE_H
#define KVG_SAMPLE_H

#include <stdint.h>
#include <string.h>

#include "kvg_writer.h"

/* The "full" sample's tensors in file order; the first two names are 15 bytes. */
#define KVG_SAMPLE_N_TENSORS 7
static const char *const kvg_sample_tensor_names[KVG_SAMPLE_N_TENSORS] = {
    "tok_embd.weight", "out_norm.weight", "attn.f16", "attn.bf16", "q4", "ids", "bytes",
};

static void kvg_sample_fill(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (uint8_t)(seed >> 56);
    }
}

/* One tensor of the given dtype and shape, filled with bytes from seed. */
static int kvg_sample_tensor(kvg_writer *w, const char *name, kvg_dtype dtype, uint32_t n_dims,
                             const uint64_t *shape, uint64_t seed, kvg_error *err)
{
    uint64_t n = 1, bytes;
    for (uint32_t d = 0; d < n_dims; d++)
        n *= shape[d];
    uint8_t buf[512];
    if (kvg_dtype_nbytes(dtype, n, &bytes) || bytes > sizeof buf)
        return kvg_errorf(err, name, "sample tensor too large");
    kvg_sample_fill(buf, (size_t)bytes, seed);
    return kvg_writer_tensor(w, name, dtype, n_dims, shape, buf, err);
}

static int kvg_sample_full(kvg_writer *w, kvg_error *err)
{
    static const uint64_t s_q8[] = {4, 64}, s_f32[] = {5}, s_f16[] = {3, 3}, s_bf16[] = {2, 1, 1, 3},
                          s_q4[] = {32}, s_i32[] = {2, 2, 2}, s_u8[] = {7};
    const char *const *nm = kvg_sample_tensor_names;
    if (kvg_sample_tensor(w, nm[0], KVG_DTYPE_Q8_0, 2, s_q8, 1, err) ||
        kvg_sample_tensor(w, nm[1], KVG_DTYPE_F32, 1, s_f32, 2, err) ||
        kvg_sample_tensor(w, nm[2], KVG_DTYPE_F16, 2, s_f16, 3, err) ||
        kvg_sample_tensor(w, nm[3], KVG_DTYPE_BF16, 4, s_bf16, 4, err) ||
        kvg_sample_tensor(w, nm[4], KVG_DTYPE_Q4_0, 1, s_q4, 5, err) ||
        kvg_sample_tensor(w, nm[5], KVG_DTYPE_I32, 3, s_i32, 6, err) ||
        kvg_sample_tensor(w, nm[6], KVG_DTYPE_U8, 1, s_u8, 7, err))
        return -1;

    static const char *const tokens[] = {"<s>", "hello", "", "w\xc3\xb6rld\x01"};
    static const size_t token_lens[] = {3, 5, 0, 7};
    static const uint64_t ids_u[] = {1, 2, 3};
    static const int64_t ids_i[] = {-1, 5};
    static const double scales[] = {0.5, 2.0};
    if (kvg_writer_meta_str(w, "general.arch", "llama", 5, err) ||
        kvg_writer_meta_str(w, "general.name", "kvg sample", 10, err) ||
        kvg_writer_meta_u64(w, "n.vocab", 32000, err) || kvg_writer_meta_i64(w, "bias", -7, err) ||
        kvg_writer_meta_f64(w, "eps", 1e-5, err) ||
        kvg_writer_meta_str_array(w, "tokens", tokens, token_lens, 4, err) ||
        kvg_writer_meta_u64_array(w, "ids.u", ids_u, 3, err) ||
        kvg_writer_meta_i64_array(w, "ids.i", ids_i, 2, err) ||
        kvg_writer_meta_f64_array(w, "scales", scales, 2, err) ||
        kvg_writer_meta_u64_array(w, "empty.arr", NULL, 0, err) || kvg_writer_meta_u64(w, "n.ctx", 2048, err))
        return -1;
    return 0;
}

static int kvg_sample_tiny(kvg_writer *w, kvg_error *err)
{
    static const uint64_t shape[] = {2};
    return kvg_sample_tensor(w, "w", KVG_DTYPE_F32, 1, shape, 9, err) || kvg_writer_meta_u64(w, "n", 1, err);
}

/* Writes the sample `variant` ("full", "tiny", "empty") to path with the
 * given alignment (0: default). 0 on success, -1 with err filled. */
static int kvg_sample_write(const char *path, const char *variant, uint32_t alignment, kvg_error *err)
{
    int (*fill)(kvg_writer *, kvg_error *);
    if (strcmp(variant, "full") == 0)
        fill = kvg_sample_full;
    else if (strcmp(variant, "tiny") == 0)
        fill = kvg_sample_tiny;
    else if (strcmp(variant, "empty") == 0)
        fill = NULL;
    else
        return kvg_errorf(err, path, "unknown sample variant \"%s\" (full, tiny, empty)", variant);
    kvg_writer *w;
    if (kvg_writer_open(path, alignment, &w, err))
        return -1;
    if (fill && fill(w, err)) {
        kvg_writer_abort(w);
        return -1;
    }
    return kvg_writer_finish(w, err);
}

#endif
