/* hf_convert.c — a Hugging Face checkpoint folder -> transformer .kvg (see hf_convert.h).
 *
 * Stages: read config.json (hf_config), open the safetensors headers
 * (safetensors), list and check the tensors (hf_tensor_map), load the
 * tokenizer, then write: metadata, tokenizer, and each tensor streamed in
 * blocks of rows — decoded to f32, moved (gather / transpose), encoded to
 * the target dtype, appended. */
#include "hf_convert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hf_config.h"
#include "hf_tensor_map.h"
#include "kvg_dtype.h"
#include "kvg_writer.h"
#include "safetensors.h"

/* Elements decoded per block (4 MiB of f32): whole rows, at least one. */
#define BLOCK_ELEMS (1u << 20)

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    if (a == 0 || dir[a - 1] != '/')
        p[a++] = '/';
    memcpy(p + a, name, b + 1);
    return p;
}

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
        size_t count = (size_t)(n * row_len);
        tr->from_f32(b->f32, b->out, count);
        if (kvg_writer_tensor_write(w, b->out, count * tr->block_bytes, err))
            return -1;
    }
    st_release(t);
    return kvg_writer_tensor_end(w, err);
}

/* ---- metadata ------------------------------------------------------------ */

static int write_metadata(kvg_writer *w, const hf_config *c, const hf_plan *plan, kvg_dtype wt, const char *dir,
                          kvg_error *err)
{
    const char *converter = "kvgram " KVG_VERSION " hf";
    const char *wt_name = kvg_dtype_get(wt)->name;
#define U64(k, v) kvg_writer_meta_u64(w, "transformer." k, (uint64_t)(v), err)
#define F64(k, v) kvg_writer_meta_f64(w, "transformer." k, (double)(v), err)
#define STR(k, v) kvg_writer_meta_str(w, k, (v), strlen(v), err)
    if (STR("general.kind", "transformer") || STR("general.source", dir) || STR("general.converter", converter) ||
        STR("transformer.arch", c->arch_name) || U64("n_layers", c->n_layers) || U64("d_model", c->d_model) ||
        U64("n_heads", c->n_heads) || U64("n_kv_heads", c->n_kv_heads) || U64("head_dim", c->head_dim) ||
        U64("ffn_dim", c->ffn_dim) || U64("vocab_size", c->vocab_size) ||
        U64("context_length", c->context_length) || F64("norm_eps", c->norm_eps) ||
        U64("tied_embeddings", plan->tied) || U64("qkv_bias", c->qkv_bias) ||
        U64("parallel_residual", c->parallel_residual) || STR("transformer.weight_type", wt_name) ||
        STR("transformer.activation", c->activation))
        return -1;
    if (c->arch == HF_ARCH_GPT2)
        return 0;
    if (F64("rope_theta", c->rope_theta) || U64("rope_dims", c->rope_dims) ||
        STR("transformer.rope_scaling", c->rope_scaling) || F64("rope_scaling_factor", c->rope_factor))
        return -1;
    if (strcmp(c->rope_scaling, "llama3") == 0 &&
        (F64("rope_llama3_low_freq_factor", c->rope_low_freq_factor) ||
         F64("rope_llama3_high_freq_factor", c->rope_high_freq_factor) ||
         U64("rope_llama3_original_context", c->rope_original_context)))
        return -1;
#undef U64
#undef F64
#undef STR
    return 0;
}

/* ---- tokenizer ----------------------------------------------------------- */

/* The tokenizer is loaded before anything is written and stored through
 * contract B (engine/tokenizer.h); until that API is on main the weights are
 * converted alone. */
static int load_tokenizer(const char *dir, const hf_config *c, void **tok, kvg_error *err)
{
    (void)dir;
    (void)c;
    (void)err;
    *tok = NULL;
    return 0;
}

static int write_tokenizer(kvg_writer *w, void *tok, kvg_error *err)
{
    (void)w;
    (void)tok;
    (void)err;
    return 0;
}

static void free_tokenizer(void *tok) { (void)tok; }

/* ---- the whole conversion ------------------------------------------------ */

static void progress(const hf_convert_options *opt, const char *dir, size_t i, size_t n, uint64_t bytes,
                     time_t *last)
{
    if (!opt->progress)
        return;
    time_t now = time(NULL);
    if (i < n && now == *last)
        return;
    *last = now;
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
    void *tok = NULL;
    stream_buf buf;
    memset(&buf, 0, sizeof buf);
    int rc = -1;

    char *config_path = join_path(dir, "config.json");
    if (!config_path)
        return kvg_errorf(err, dir, "out of memory");
    if (access(config_path, F_OK) != 0) {
        kvg_errorf(err, dir, "is a directory without config.json: not a Hugging Face checkpoint");
        goto done;
    }
    if (hf_config_load(config_path, &cfg, err) || st_open(dir, &ck, err) ||
        hf_plan_build(&cfg, ck, dir, &plan, err) || load_tokenizer(dir, &cfg, &tok, err))
        goto done;

    kvg_dtype wt = opt->weight_type >= 0 ? (kvg_dtype)opt->weight_type
                                         : (kvg_dtype)st_find(ck, plan.t[0].src)->dtype; /* t[0]: tok_embd */
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
        write_tokenizer(w, tok, err))
        goto done;
    time_t last = 0;
    uint64_t bytes = 0;
    for (size_t i = 0; i < plan.n; i++) {
        const hf_tensor_plan *e = &plan.t[i];
        const st_tensor *t = st_find(ck, e->src);
        kvg_dtype dt = e->is_matrix ? wt : KVG_DTYPE_F32;
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
    free_tokenizer(tok);
    hf_plan_free(&plan);
    st_close(ck);
    free(config_path);
    return rc;
}
