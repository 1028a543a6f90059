/* hf_convert.c — a Hugging Face checkpoint folder -> transformer .kvg (see hf_convert.h).
 *
 * Stages: read config.json (hf_config), open the safetensors headers
 * (safetensors), list and check the tensors (hf_tensor_map), load the
 * tokenizer (engine/tokenizer.h), then write: metadata (the engine's
 * kvg_tf_config_write), tokenizer, and each tensor streamed in
 * blocks of rows — decoded to f32, moved (gather / transpose), encoded to
 * the target dtype, appended. */
#include "hf_convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "hf_config.h"
#include "hf_tensor_map.h"
#include "kvg_dtype.h"
#include "kvg_writer.h"
#include "safetensors.h"
#include "tokenizer.h"
#include "transformer.h"

/* Elements decoded per block (4 MiB of f32): whole rows, at least one. */
#define BLOCK_ELEMS (1u << 20)

/* ---- one tensor, streamed ----------------------------------------------- */

typedef struct stream_buf {
    float *f32;      /* a block of output rows, decoded */
    float *col;      /* transpose: one source row's slice (one element per output row of the block) */
    void *out;       /* the block encoded to the target dtype */
    size_t elems;    /* capacity of f32 and out, in elements */
} stream_buf;

/* Output rows [r, r + n) of a row gather into dst (n * row_len floats). */
static int gather_rows(const hf_tensor_plan *e, const st_tensor *t, uint64_t r, uint64_t n, uint64_t row_len,
                       float *dst, kvg_error *err)
{
    while (n) {
        /* A run of rows that are consecutive in the source: up to the group's end. */
        uint64_t in_group = r % e->group, run = e->group - in_group;
        if (run > n)
            run = n;
        uint64_t src_row = (r / e->group) * e->group_stride + e->row0 + in_group;
        if (st_to_f32(t, src_row * row_len, (size_t)(run * row_len), dst, err))
            return -1;
        /* Rows are read once, in order: drop them from memory as we go. */
        st_release_elems(t, src_row * row_len, run * row_len);
        dst += run * row_len;
        r += run;
        n -= run;
    }
    return 0;
}

/* Output rows [r, r + n) of a transpose: row r + i is source column col0 + r + i
 * of the source [in, cols]; dst is n * in floats. */
static int transpose_rows(const hf_tensor_plan *e, const st_tensor *t, uint64_t r, uint64_t n, float *col,
                          float *dst, kvg_error *err)
{
    uint64_t in = e->src_shape[0], cols = e->src_shape[1];
    for (uint64_t k = 0; k < in; k++) {
        if (st_to_f32(t, k * cols + e->col0 + r, (size_t)n, col, err))
            return -1;
        for (uint64_t i = 0; i < n; i++)
            dst[i * in + k] = col[i];
    }
    return 0;
}

static int write_tensor(kvg_writer *w, const hf_tensor_plan *e, const st_tensor *t, kvg_dtype dt, stream_buf *b,
                        kvg_error *err)
{
    uint64_t rows = e->shape[0], row_len = e->n_dims == 2 ? e->shape[1] : 1;
    uint64_t per_block = b->elems / row_len; /* >= 1: the buffer holds the longest row */
    const kvg_dtype_traits *tr = kvg_dtype_get(dt);
    if (kvg_writer_tensor_begin(w, e->name, dt, e->n_dims, e->shape, err))
        return -1;
    for (uint64_t r = 0; r < rows; r += per_block) {
        uint64_t n = rows - r < per_block ? rows - r : per_block;
        int rc = e->transpose ? transpose_rows(e, t, r, n, b->col, b->f32, err)
                              : gather_rows(e, t, r, n, row_len, b->f32, err);
        if (rc)
            return -1;
        size_t count = (size_t)(n * row_len); /* whole rows: whole blocks (tf_matrix_type checked) */
        tr->from_f32(b->f32, b->out, count);
        if (kvg_writer_tensor_write(w, b->out, count / tr->block_elems * tr->block_bytes, err))
            return -1;
    }
    st_release(t);
    return kvg_writer_tensor_end(w, err);
}

/* ---- metadata ------------------------------------------------------------ */

/* The engine's config (whose writer owns the transformer.* key names) for cfg. */
static void to_tf_config(const hf_config *c, const hf_plan *plan, kvg_dtype wt, kvg_tf_config *tf)
{
    memset(tf, 0, sizeof *tf);
    tf->arch = c->arch == HF_ARCH_GPT2 ? KVG_ARCH_GPT2 : c->arch == HF_ARCH_LLAMA ? KVG_ARCH_LLAMA : KVG_ARCH_GPTNEOX;
    /* Every dimension is at most 2^24 (hf_config checks it): the casts keep the values. */
    tf->n_layers = (uint32_t)c->n_layers;
    tf->d_model = (uint32_t)c->d_model;
    tf->n_heads = (uint32_t)c->n_heads;
    tf->n_kv_heads = (uint32_t)c->n_kv_heads;
    tf->head_dim = (uint32_t)c->head_dim;
    tf->ffn_dim = (uint32_t)c->ffn_dim;
    tf->vocab_size = (uint32_t)c->vocab_size;
    tf->context_length = (uint32_t)c->context_length;
    tf->norm_eps = c->norm_eps;
    tf->rope.head_dim = (uint32_t)c->head_dim;
    tf->rope.rot_dims = (uint32_t)c->rope_dims;
    tf->rope.theta = c->rope_theta;
    tf->rope.scaling = !strcmp(c->rope_scaling, "llama3")   ? KVG_ROPE_LLAMA3
                       : !strcmp(c->rope_scaling, "linear") ? KVG_ROPE_LINEAR
                                                            : KVG_ROPE_NONE;
    tf->rope.factor = c->rope_factor;
    tf->rope.low_freq_factor = c->rope_low_freq_factor;
    tf->rope.high_freq_factor = c->rope_high_freq_factor;
    tf->rope.original_context = (double)c->rope_original_context;
    tf->tied_embeddings = plan->tied;
    tf->qkv_bias = c->qkv_bias;
    tf->parallel_residual = c->parallel_residual;
    tf->activation = !strcmp(c->activation, "silu") ? KVG_ACT_SILU
                     : !strcmp(c->activation, "gelu") ? KVG_ACT_GELU
                                                      : KVG_ACT_GELU_TANH;
    tf->weight_type = wt;
}

static int write_metadata(kvg_writer *w, const hf_config *c, const hf_plan *plan, kvg_dtype wt, const char *dir,
                          kvg_error *err)
{
    const char *converter = "kvgram " KVG_VERSION " hf";
    kvg_tf_config tf;
    to_tf_config(c, plan, wt, &tf);
    return kvg_tf_config_write(&tf, w, err) || kvg_writer_meta_str(w, "general.source", dir, strlen(dir), err) ||
                   kvg_writer_meta_str(w, "general.converter", converter, strlen(converter), err)
               ? -1
               : 0;
}

/* ---- tokenizer ----------------------------------------------------------- */

/* The folder's tokenizer (contract B), loaded before anything is written;
 * its ids must all index the embedding. */
static int load_tokenizer(const char *dir, const hf_config *c, kvg_tokenizer **tok, kvg_error *err)
{
    if (kvg_tokenizer_from_hf(dir, tok, err))
        return -1;
    uint32_t n = kvg_tokenizer_n_tokens(*tok);
    if (n > c->vocab_size)
        return kvg_errorf(err, dir, "the tokenizer has %u tokens, more than config.json's vocab_size %llu", n,
                          (unsigned long long)c->vocab_size);
    return 0;
}

/* ---- the whole conversion ------------------------------------------------ */

static void progress(const hf_convert_options *opt, const char *dir, size_t i, size_t n, uint64_t bytes,
                     time_t *last)
{
    if (!opt->progress || !cli_progress_due(last, i == n))
        return;
    fprintf(stderr, "\rkvgram convert: %s: tensor %zu/%zu, %llu MiB written   %s", dir, i, n,
            (unsigned long long)(bytes >> 20), i == n ? "\n" : "");
}

int hf_convert(const char *dir, const char *out_path, const hf_convert_options *opt, kvg_error *err)
{
    hf_config cfg;
    hf_plan plan;
    memset(&plan, 0, sizeof plan);
    st_checkpoint *ck = NULL;
    kvg_writer *w = NULL;
    kvg_tokenizer *tok = NULL;
    stream_buf buf;
    memset(&buf, 0, sizeof buf);
    int rc = -1;

    if (!tf_types_ok(&opt->types))
        return kvg_errorf(err, NULL, "conversion writes matrices in f32, f16, bf16, q8_0 or q4_0");
    char *config_path = st_join_path(dir, "config.json");
    if (!config_path)
        return kvg_errorf(err, dir, "out of memory");
    if (access(config_path, F_OK) != 0) {
        kvg_errorf(err, dir, "is a directory without config.json: not a Hugging Face checkpoint");
        goto done;
    }
    if (hf_config_load(config_path, &cfg, err) || st_open(dir, &ck, err) ||
        hf_plan_build(&cfg, ck, dir, &plan, err) || load_tokenizer(dir, &cfg, &tok, err))
        goto done;

    tf_types types = opt->types;
    if (types.type < 0)
        types.type = (int)st_find(ck, plan.t[0].src)->dtype; /* t[0]: tok_embd */
    kvg_dtype wt = (kvg_dtype)types.type;
    /* Buffers for the longest row (and a block of rows when rows are short). */
    size_t elems = BLOCK_ELEMS;
    for (size_t i = 0; i < plan.n; i++) {
        const hf_tensor_plan *e = &plan.t[i];
        uint64_t row_len = e->n_dims == 2 ? e->shape[1] : 1;
        if (row_len > elems)
            elems = (size_t)row_len;
    }
    buf.elems = elems;
    buf.f32 = malloc(elems * sizeof(float));
    buf.out = malloc(elems * sizeof(float));
    buf.col = malloc(elems * sizeof(float)); /* a transpose block has at most elems / in rows */
    if (!buf.f32 || !buf.out || !buf.col) {
        kvg_errorf(err, dir, "out of memory");
        goto done;
    }

    if (kvg_writer_open(out_path, 0, &w, err) || write_metadata(w, &cfg, &plan, wt, dir, err) ||
        kvg_tokenizer_write(tok, w, err))
        goto done;
    time_t last = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < plan.n; i++) {
        const hf_tensor_plan *e = &plan.t[i];
        const st_tensor *t = st_find(ck, e->src);
        uint64_t cols = e->n_dims == 2 ? e->shape[1] : 1;
        int fell_back_from = -1;
        kvg_dtype dt = e->is_matrix ? tf_matrix_type(&types, e->name, plan.tied, cols, &fell_back_from) : KVG_DTYPE_F32;
        if (fell_back_from >= 0 && opt->notes)
            tf_note_fallback("convert", dir, e->name, cols, (kvg_dtype)fell_back_from);
        progress(opt, dir, i, plan.n, bytes, &last);
        if (write_tensor(w, e, t, dt, &buf, err))
            goto done;
        uint64_t nb = 0;
        kvg_dtype_nbytes(dt, e->shape[0] * (e->n_dims == 2 ? e->shape[1] : 1), &nb);
        bytes += nb;
    }
    progress(opt, dir, plan.n, plan.n, bytes, &last);
    rc = kvg_writer_finish(w, err);
    w = NULL;
done:
    if (w)
        kvg_writer_abort(w);
    free(buf.f32);
    free(buf.out);
    free(buf.col);
    kvg_tokenizer_free(tok);
    hf_plan_free(&plan);
    st_close(ck);
    free(config_path);
    return rc;
}
