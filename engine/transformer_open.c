/* transformer_open.c — points every weight of a transformer .kvg into the
 * mapping, in one place, after checking each tensor's presence, dtype and
 * shape against the config (SPEC §9). Nothing is copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transformer.h"
#include "transformer_internal.h"

/* Finds `name` and checks it is 1-D or 2-D with the given shape (d1 = 0 for
 * 1-D). f32_only: norms, biases, positions. Returns the tensor or NULL with
 * err set. optional: absence is not an error (NULL, err untouched). */
static const kvg_tensor *get_tensor(const kvg_file *f, const char *name, uint64_t d0, uint64_t d1, int f32_only,
                                    int optional, kvg_error *err)
{
    const kvg_tensor *t = kvg_tensor_find(f, name);
    if (!t) {
        if (!optional)
            kvg_errorf(err, kvg_path(f), "missing tensor %s", name);
        return NULL;
    }
    uint32_t want_dims = d1 ? 2 : 1;
    if (t->n_dims != want_dims || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        char got[96] = "", want[48];
        for (uint32_t i = 0; i < t->n_dims; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%llu", i ? ", " : "",
                     (unsigned long long)t->shape[i]);
        if (d1)
            snprintf(want, sizeof want, "%llu, %llu", (unsigned long long)d0, (unsigned long long)d1);
        else
            snprintf(want, sizeof want, "%llu", (unsigned long long)d0);
        kvg_errorf(err, kvg_path(f), "tensor %s has shape [%s], expected [%s]", name, got, want);
        return NULL;
    }
    const int quantized = kvg_dtype_is_quantized(t->dtype);
    int ok = f32_only ? t->dtype == KVG_DTYPE_F32
                      : t->dtype == KVG_DTYPE_F32 || t->dtype == KVG_DTYPE_F16 || t->dtype == KVG_DTYPE_BF16 ||
                            quantized;
    const kvg_dtype_traits *tr = kvg_dtype_get(t->dtype);
    if (!ok) {
        kvg_errorf(err, kvg_path(f), "tensor %s has dtype %s, expected %s", name, tr ? tr->name : "?",
                   f32_only ? "f32" : "f32, f16, bf16, q8_0 or q4_0");
        return NULL;
    }
    /* The reader already refuses a last dimension that is not whole blocks;
     * kvg_matmul and kvg_row_to_f32 rely on it, so it is stated here too. */
    if (quantized && d1 % tr->block_elems) {
        kvg_errorf(err, kvg_path(f), "tensor %s is %s with rows of %llu elements, not whole %u-element blocks",
                   name, tr->name, (unsigned long long)d1, tr->block_elems);
        return NULL;
    }
    return t;
}

/* Loader state: the file, the first error, and a name buffer. */
typedef struct loader {
    const kvg_file *f;
    kvg_error *err;
    int failed;
    char name[64];
} loader;

static const char *layer_name(loader *ld, uint32_t layer, const char *what)
{
    snprintf(ld->name, sizeof ld->name, "blk.%u.%s", layer, what);
    return ld->name;
}

/* An f32 tensor [d0] (d1 = 0) or [d0, d1]. */
static const float *f32_tensor(loader *ld, const char *name, uint64_t d0, uint64_t d1, int optional)
{
    if (ld->failed)
        return NULL;
    const kvg_tensor *t = get_tensor(ld->f, name, d0, d1, 1, optional, ld->err);
    ld->failed = !t && !optional;
    return t ? t->data : NULL;
}

static const float *vec(loader *ld, const char *name, uint64_t n, int optional)
{
    return f32_tensor(ld, name, n, 0, optional);
}

static kvg_tf_matrix mat(loader *ld, const char *name, uint64_t rows, uint64_t cols)
{
    kvg_tf_matrix m = {NULL, KVG_DTYPE_F32};
    if (ld->failed)
        return m;
    const kvg_tensor *t = get_tensor(ld->f, name, rows, cols, 0, 0, ld->err);
    ld->failed = !t;
    if (t) {
        m.data = t->data;
        m.type = (kvg_dtype)t->dtype;
    }
    return m;
}

int kvg_transformer_open(const kvg_file *f, kvg_transformer **out, kvg_error *err)
{
    *out = NULL;
    kvg_transformer *m = calloc(1, sizeof *m);
    if (!m)
        return kvg_errorf(err, kvg_path(f), "out of memory");
    if (kvg_tf_config_read(f, &m->c, err)) {
        free(m);
        return -1;
    }
    const kvg_tf_config *c = &m->c;
    m->layers = calloc(c->n_layers, sizeof *m->layers);
    m->inv_freq = calloc(c->rope.rot_dims / 2 + 1, sizeof *m->inv_freq);
    if (!m->layers || !m->inv_freq) {
        kvg_transformer_free(m);
        return kvg_errorf(err, kvg_path(f), "out of memory");
    }
    kvg_rope_frequencies(&c->rope, m->inv_freq);

    const uint64_t d = c->d_model, V = c->vocab_size, ffn = c->ffn_dim;
    const uint64_t q_out = (uint64_t)c->n_heads * c->head_dim, kv_out = (uint64_t)c->n_kv_heads * c->head_dim;
    const int layer_norm = c->arch != KVG_ARCH_LLAMA;        /* LayerNorm (with bias) vs RMSNorm */
    const int out_bias = c->arch != KVG_ARCH_LLAMA;          /* gpt2 / gptneox: biases on out and ffn */
    loader ld = {f, err, 0, ""};

    m->tok_embd = mat(&ld, "tok_embd.weight", V, d);
    if (c->arch == KVG_ARCH_GPT2)
        m->pos_embd = f32_tensor(&ld, "pos_embd.weight", c->context_length, d, 0);
    for (uint32_t L = 0; L < c->n_layers && !ld.failed; L++) {
        kvg_tf_layer *l = &m->layers[L];
        l->attn_norm = vec(&ld, layer_name(&ld, L, "attn_norm.weight"), d, 0);
        if (layer_norm)
            l->attn_norm_b = vec(&ld, layer_name(&ld, L, "attn_norm.bias"), d, 0);
        l->wq = mat(&ld, layer_name(&ld, L, "attn_q.weight"), q_out, d);
        l->wk = mat(&ld, layer_name(&ld, L, "attn_k.weight"), kv_out, d);
        l->wv = mat(&ld, layer_name(&ld, L, "attn_v.weight"), kv_out, d);
        if (c->qkv_bias) {
            l->bq = vec(&ld, layer_name(&ld, L, "attn_q.bias"), q_out, 0);
            l->bk = vec(&ld, layer_name(&ld, L, "attn_k.bias"), kv_out, 0);
            l->bv = vec(&ld, layer_name(&ld, L, "attn_v.bias"), kv_out, 0);
        }
        l->wo = mat(&ld, layer_name(&ld, L, "attn_out.weight"), d, q_out);
        l->bo = vec(&ld, layer_name(&ld, L, "attn_out.bias"), d, !out_bias);
        l->ffn_norm = vec(&ld, layer_name(&ld, L, "ffn_norm.weight"), d, 0);
        if (layer_norm)
            l->ffn_norm_b = vec(&ld, layer_name(&ld, L, "ffn_norm.bias"), d, 0);
        if (c->arch == KVG_ARCH_LLAMA)
            l->w_gate = mat(&ld, layer_name(&ld, L, "ffn_gate.weight"), ffn, d);
        l->w_up = mat(&ld, layer_name(&ld, L, "ffn_up.weight"), ffn, d);
        l->w_down = mat(&ld, layer_name(&ld, L, "ffn_down.weight"), d, ffn);
        if (out_bias) {
            l->b_up = vec(&ld, layer_name(&ld, L, "ffn_up.bias"), ffn, 0);
            l->b_down = vec(&ld, layer_name(&ld, L, "ffn_down.bias"), d, 0);
        }
    }
    m->out_norm = vec(&ld, "output_norm.weight", d, 0);
    if (layer_norm)
        m->out_norm_b = vec(&ld, "output_norm.bias", d, 0);
    if (c->tied_embeddings) {
        m->output = m->tok_embd;
        if (!ld.failed && kvg_tensor_find(f, "output.weight")) {
            kvg_errorf(err, kvg_path(f), "output.weight is present but transformer.tied_embeddings = 1");
            ld.failed = 1;
        }
    } else {
        m->output = mat(&ld, "output.weight", V, d);
    }
    if (ld.failed) {
        kvg_transformer_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void kvg_transformer_free(kvg_transformer *m)
{
    if (!m)
        return;
    free(m->layers);
    free(m->inv_freq);
    free(m);
}
