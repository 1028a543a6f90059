/* transformer_state.c — the KV cache and activation scratch a forward pass
 * runs in, sized once for a number of cache rows and a batch size. */
#include <stdlib.h>

#include "transformer.h"

/* Float counts of each buffer; 0 on overflow of the 64-bit product chain
 * (the dimensions are bounded at open, so this only guards absurd requests). */
typedef struct state_sizes {
    uint64_t cache, d, q, kv, ffn, rope;
    uint64_t qx_bytes; /* the quantized product input (0 without q8_0 / q4_0 matrices) */
} state_sizes;

/* Whether any matrix a product reads is q8_0 / q4_0. */
static int has_quantized(const kvg_transformer *m)
{
    int q = kvg_dtype_is_quantized(m->output.type);
    for (uint32_t L = 0; L < m->c.n_layers && !q; L++) {
        const kvg_tf_layer *l = &m->layers[L];
        const kvg_tf_matrix *w[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (size_t i = 0; i < sizeof w / sizeof *w && !q; i++)
            q = kvg_dtype_is_quantized(w[i]->type);
    }
    return q;
}

static state_sizes sizes(const kvg_transformer *m, uint32_t n_rows, uint32_t max_tok)
{
    const kvg_tf_config *c = &m->c;
    state_sizes z;
    uint64_t kv_width = (uint64_t)c->n_kv_heads * c->head_dim;
    z.cache = (uint64_t)c->n_layers * n_rows * kv_width; /* bounded in kvg_tf_state_new */
    z.d = (uint64_t)max_tok * c->d_model;
    z.q = (uint64_t)max_tok * c->n_heads * c->head_dim;
    z.kv = (uint64_t)max_tok * kv_width;
    z.ffn = (uint64_t)max_tok * c->ffn_dim;
    /* RoPE cos/sin rows: positions stay below both n_rows and the context */
    z.rope = (uint64_t)(n_rows < c->context_length ? n_rows : c->context_length) * c->rope.rot_dims;
    /* the widest product input: d (q, k, v, gate, up, output), n_heads*hd (o), ffn (down) */
    uint64_t widest = c->d_model;
    if ((uint64_t)c->n_heads * c->head_dim > widest)
        widest = (uint64_t)c->n_heads * c->head_dim;
    if (c->ffn_dim > widest)
        widest = c->ffn_dim;
    z.qx_bytes = has_quantized(m) ? kvg_qact_bytes(max_tok, widest) : 0;
    return z;
}

uint64_t kvg_tf_state_bytes(const kvg_transformer *m, uint32_t n_rows, uint32_t max_tok)
{
    state_sizes z = sizes(m, n_rows, max_tok);
    return 4 * (2 * z.cache + 3 * z.d + 2 * z.q + 2 * z.kv + 2 * z.ffn + z.rope + max_tok) + z.qx_bytes;
}

static float *alloc_floats(uint64_t n, int *failed)
{
    if (*failed || n > SIZE_MAX / sizeof(float) / 2) {
        *failed = 1;
        return NULL;
    }
    float *p = malloc((size_t)(n ? n : 1) * sizeof *p);
    *failed |= !p;
    return p;
}

int kvg_tf_state_new(const kvg_transformer *m, uint32_t n_rows, uint32_t max_tok, kvg_tf_state **out,
                     kvg_error *err)
{
    *out = NULL;
    if (!n_rows || !max_tok)
        return kvg_errorf(err, NULL, "transformer state: bad size (%u cache rows, batch of %u tokens)", n_rows,
                          max_tok);
    if ((uint64_t)n_rows > (1ull << 40) / ((uint64_t)m->c.n_kv_heads * m->c.head_dim) / m->c.n_layers)
        return kvg_errorf(err, NULL, "transformer state: KV cache of %u rows is too large", n_rows);
    kvg_tf_state *s = calloc(1, sizeof *s);
    if (!s)
        return kvg_errorf(err, NULL, "out of memory");
    state_sizes z = sizes(m, n_rows, max_tok);
    int failed = 0;
    s->n_rows = n_rows;
    s->max_tok = max_tok;
    s->k_cache = alloc_floats(z.cache, &failed);
    s->v_cache = alloc_floats(z.cache, &failed);
    s->x = alloc_floats(z.d, &failed);
    s->xb = alloc_floats(z.d, &failed);
    s->xb2 = alloc_floats(z.d, &failed);
    s->q = alloc_floats(z.q, &failed);
    s->att = alloc_floats(z.q, &failed);
    s->k = alloc_floats(z.kv, &failed);
    s->v = alloc_floats(z.kv, &failed);
    s->hb = alloc_floats(z.ffn, &failed);
    s->hb2 = alloc_floats(z.ffn, &failed);
    s->rope_cs = alloc_floats(z.rope, &failed);
    s->rows = failed ? NULL : malloc((size_t)max_tok * sizeof *s->rows);
    failed |= !s->rows;
    if (!failed && z.qx_bytes) {
        s->qx = z.qx_bytes <= SIZE_MAX / 2 ? malloc((size_t)z.qx_bytes) : NULL;
        failed |= !s->qx;
    }
    if (failed) {
        kvg_tf_state_free(s);
        return kvg_errorf(err, NULL, "out of memory for the transformer state (%llu bytes)",
                          (unsigned long long)kvg_tf_state_bytes(m, n_rows, max_tok));
    }
    *out = s;
    return 0;
}

void kvg_tf_state_free(kvg_tf_state *s)
{
    if (!s)
        return;
    free(s->k_cache);
    free(s->v_cache);
    free(s->x);
    free(s->xb);
    free(s->xb2);
    free(s->q);
    free(s->att);
    free(s->k);
    free(s->v);
    free(s->hb);
    free(s->hb2);
    free(s->rope_cs);
    free(s->rows);
    free(s->qx);
    free(s);
}
