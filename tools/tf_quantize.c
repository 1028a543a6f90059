/* tf_quantize.c — re-encode a transformer .kvg's matrices (see tf_quantize.h).
 *
 * Stages: open and check the input (kvg_open, kvg_transformer_open), refuse
 * an output that is the input, then write: every metadata key in order
 * (transformer.weight_type replaced), every tensor in order — copied, or
 * re-encoded in blocks of rows through one f32 buffer. */
#include "tf_quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "kvg_mmap.h"
#include "kvg_reader.h"
#include "kvg_writer.h"
#include "transformer.h"

/* Elements re-encoded per step (4 MiB of f32): whole rows, at least one. */
#define BLOCK_ELEMS (1u << 20)

/* ---- metadata ------------------------------------------------------------ */

static int copy_array(kvg_writer *w, const kvg_meta *m, kvg_error *err)
{
    size_t n = (size_t)m->count;
    int rc = -1;
    if (m->elem_type == KVG_META_STR) {
        const char **s = malloc((n ? n : 1) * sizeof *s);
        size_t *len = malloc((n ? n : 1) * sizeof *len);
        if (s && len) {
            kvg_meta_str_iter it = kvg_meta_str_begin(m);
            uint64_t l;
            for (size_t i = 0; i < n && kvg_meta_str_next(&it, &s[i], &l); i++)
                len[i] = (size_t)l;
            rc = kvg_writer_meta_str_array(w, m->key, s, len, n, err);
        } else {
            kvg_errorf(err, NULL, "out of memory copying metadata %s", m->key);
        }
        free(s);
        free(len);
        return rc;
    }
    void *v = malloc((n ? n : 1) * 8);
    if (!v)
        return kvg_errorf(err, NULL, "out of memory copying metadata %s", m->key);
    for (size_t i = 0; i < n; i++) {
        if (m->elem_type == KVG_META_U64)
            ((uint64_t *)v)[i] = kvg_meta_arr_u64(m, i);
        else if (m->elem_type == KVG_META_I64)
            ((int64_t *)v)[i] = kvg_meta_arr_i64(m, i);
        else
            ((double *)v)[i] = kvg_meta_arr_f64(m, i);
    }
    rc = m->elem_type == KVG_META_U64   ? kvg_writer_meta_u64_array(w, m->key, v, n, err)
         : m->elem_type == KVG_META_I64 ? kvg_writer_meta_i64_array(w, m->key, v, n, err)
                                        : kvg_writer_meta_f64_array(w, m->key, v, n, err);
    free(v);
    return rc;
}

/* Every key of f, in order; transformer.weight_type becomes wt's name. */
static int copy_metadata(const kvg_file *f, kvg_writer *w, kvg_dtype wt, kvg_error *err)
{
    for (size_t i = 0; i < kvg_meta_count(f); i++) {
        const kvg_meta *m = kvg_meta_at(f, i);
        int rc;
        if (!strcmp(m->key, "transformer.weight_type")) {
            const char *name = kvg_dtype_get(wt)->name;
            rc = kvg_writer_meta_str(w, m->key, name, strlen(name), err);
        } else if (m->type == KVG_META_U64) {
            uint64_t v;
            rc = kvg_meta_get_u64(f, m->key, &v, err) || kvg_writer_meta_u64(w, m->key, v, err);
        } else if (m->type == KVG_META_I64) {
            int64_t v;
            rc = kvg_meta_get_i64(f, m->key, &v, err) || kvg_writer_meta_i64(w, m->key, v, err);
        } else if (m->type == KVG_META_F64) {
            double v;
            rc = kvg_meta_get_f64(f, m->key, &v, err) || kvg_writer_meta_f64(w, m->key, v, err);
        } else if (m->type == KVG_META_STR) {
            rc = kvg_writer_meta_str(w, m->key, (const char *)m->value, (size_t)m->count, err);
        } else {
            rc = copy_array(w, m, err);
        }
        if (rc)
            return -1;
    }
    return 0;
}

/* ---- tensors --------------------------------------------------------------- */

/* Re-encodes matrix t [rows, cols] into dt, block of rows by block. buf
 * holds `cap` floats (>= cols), out at least cap * 4 bytes. */
static int reencode(kvg_writer *w, const kvg_tensor *t, kvg_dtype dt, float *buf, void *out, size_t cap,
                    kvg_error *err)
{
    const kvg_dtype_traits *from = kvg_dtype_get(t->dtype), *to = kvg_dtype_get(dt);
    const uint64_t rows = t->shape[0], cols = t->shape[1], per = cap / cols;
    const unsigned char *src = t->data;
    if (kvg_writer_tensor_begin(w, t->name, dt, 2, t->shape, err))
        return -1;
    for (uint64_t r = 0; r < rows; r += per) {
        uint64_t n = rows - r < per ? rows - r : per;
        size_t count = (size_t)(n * cols); /* whole rows of whole blocks, in both dtypes */
        size_t in_bytes = count / from->block_elems * from->block_bytes;
        from->to_f32(src, buf, count);
        to->from_f32(buf, out, count);
        if (kvg_writer_tensor_write(w, out, count / to->block_elems * to->block_bytes, err))
            return -1;
        kvg_release_pages(src, in_bytes); /* rows are read once, in order */
        src += in_bytes;
    }
    return kvg_writer_tensor_end(w, err);
}

/* ---- the whole file ---------------------------------------------------------- */

/* -1 (err set) when out_path is in_path's file (same device and inode). */
static int refuse_same_file(const char *in_path, const char *out_path, kvg_error *err)
{
    struct stat a, b;
    if (stat(in_path, &a) == 0 && stat(out_path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
        return kvg_errorf(err, out_path, "is the input file; write the quantized model to another path");
    return 0;
}

int tf_quantize(const char *in_path, const char *out_path, const tf_quantize_options *opt, kvg_error *err)
{
    if (opt->types.type < 0 || !tf_types_ok(&opt->types))
        return kvg_errorf(err, NULL, "quantize writes matrices in f32, f16, bf16, q8_0 or q4_0");
    if (refuse_same_file(in_path, out_path, err))
        return -1;
    kvg_file *f = NULL;
    kvg_transformer *m = NULL;
    kvg_writer *w = NULL;
    float *buf = NULL;
    void *out = NULL;
    int rc = -1;
    if (kvg_open(in_path, &f, err) || kvg_transformer_open(f, &m, err))
        goto done;
    const size_t n = kvg_tensor_count(f);
    size_t cap = BLOCK_ELEMS;
    for (size_t i = 0; i < n; i++) {
        const kvg_tensor *t = kvg_tensor_at(f, i);
        if (tf_is_matrix(t->name, t->n_dims) && t->shape[1] > cap)
            cap = (size_t)t->shape[1];
    }
    buf = malloc(cap * sizeof *buf);
    out = malloc(cap * sizeof(float));
    if (!buf || !out) {
        kvg_errorf(err, in_path, "out of memory");
        goto done;
    }
    if (kvg_writer_open(out_path, kvg_alignment(f), &w, err) ||
        copy_metadata(f, w, (kvg_dtype)opt->types.type, err))
        goto done;
    time_t last = 0;
    for (size_t i = 0; i < n; i++) {
        const kvg_tensor *t = kvg_tensor_at(f, i);
        if (opt->progress && cli_progress_due(&last, i + 1 == n))
            fprintf(stderr, "\rkvgram quantize: %s: tensor %zu/%zu   %s", in_path, i + 1, n, i + 1 == n ? "\n" : "");
        if (kvg_verify_tensor(f, t, err))
            goto done;
        kvg_dtype dt = (kvg_dtype)t->dtype;
        /* A matrix the engine reads is a float or quantized type (kvg_transformer_open checked); any
         * other rank-2 "*.weight" without a conversion is extra data, copied as it is. */
        if (tf_is_matrix(t->name, t->n_dims) && kvg_dtype_get(t->dtype)->to_f32) {
            int fell_back_from = -1;
            dt = tf_matrix_type(&opt->types, t->name, m->c.tied_embeddings, t->shape[1], &fell_back_from);
            if (fell_back_from >= 0 && opt->notes)
                tf_note_fallback("quantize", in_path, t->name, t->shape[1], (kvg_dtype)fell_back_from);
        }
        if (dt == t->dtype ? kvg_writer_tensor(w, t->name, dt, t->n_dims, t->shape, t->data, err)
                           : reencode(w, t, dt, buf, out, cap, err))
            goto done;
        kvg_release_pages(t->data, (size_t)t->size);
    }
    rc = kvg_writer_finish(w, err);
    w = NULL;
done:
    if (w)
        kvg_writer_abort(w);
    free(buf);
    free(out);
    kvg_transformer_free(m);
    kvg_close(f);
    return rc;
}
