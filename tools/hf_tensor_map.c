/* hf_tensor_map.c — the per-architecture tensor lists (see hf_tensor_map.h).
 *
 * Source names are those of the transformers library's modules:
 *   GPT2LMHeadModel    [transformer.]wte, wpe, h.L.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc,
 *                      mlp.c_proj}, ln_f, lm_head   (the original gpt2 files have no "transformer.")
 *   LlamaForCausalLM   model.embed_tokens, model.layers.L.{input_layernorm, self_attn.{q,k,v,o}_proj,
 *                      post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm, lm_head
 *   GPTNeoXForCausalLM gpt_neox.embed_in, gpt_neox.layers.L.{input_layernorm,
 *                      attention.query_key_value, attention.dense, post_attention_layernorm,
 *                      mlp.dense_h_to_4h, mlp.dense_4h_to_h}, gpt_neox.final_layer_norm, embed_out
 * Buffers some checkpoints also hold (attn.bias masks, rotary_emb.inv_freq)
 * are not needed and are ignored, and so is an lm_head beside tied
 * embeddings; any other tensor the plan does not use is an error, so that a
 * config.json that disagrees with its weights (fewer layers, another
 * architecture) cannot silently convert part of a model. */
#include "hf_tensor_map.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvg_dtype.h"

typedef struct builder {
    hf_plan *plan;
    char prefix[32];   /* prepended to every source name: "model.", "transformer.", "" */
    int layer;         /* -1 outside the blocks */
    char src_layer[64];/* the source's layer prefix: "layers.3.", "h.3." */
    int oom;
} builder;

/* A new entry named name (with "blk.L." before it inside a block) taken
 * from src (with the prefixes before it); NULL when memory ran out. */
static hf_tensor_plan *add(builder *b, const char *name, const char *src)
{
    hf_plan *p = b->plan;
    if (b->oom)
        return NULL;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        hf_tensor_plan *t = realloc(p->t, cap * sizeof *t);
        if (!t) {
            b->oom = 1;
            return NULL;
        }
        p->t = t;
        p->cap = cap;
    }
    hf_tensor_plan *e = &p->t[p->n++];
    memset(e, 0, sizeof *e);
    if (b->layer >= 0)
        snprintf(e->name, sizeof e->name, "blk.%d.%s", b->layer, name);
    else
        snprintf(e->name, sizeof e->name, "%s", name);
    snprintf(e->src, sizeof e->src, "%s%s%s", b->prefix, b->layer >= 0 ? b->src_layer : "", src);
    return e;
}

/* A plain copy: a matrix [rows, cols] (cols 0: a vector [rows]). */
static void copy(builder *b, const char *name, const char *src, int is_matrix, uint64_t rows, uint64_t cols)
{
    hf_tensor_plan *e = add(b, name, src);
    if (!e)
        return;
    e->is_matrix = is_matrix;
    e->n_dims = e->src_n_dims = cols ? 2 : 1;
    e->shape[0] = e->src_shape[0] = rows;
    e->shape[1] = e->src_shape[1] = cols;
    e->group = rows;
}

/* Rows gathered out of a source [src_rows, cols] (cols 0: a vector): output
 * row r is source row (r / group) * stride + row0 + r % group. */
static void gather(builder *b, const char *name, const char *src, uint64_t src_rows, uint64_t cols, uint64_t rows,
                   uint64_t group, uint64_t stride, uint64_t row0)
{
    hf_tensor_plan *e = add(b, name, src);
    if (!e)
        return;
    e->is_matrix = cols != 0;
    e->n_dims = e->src_n_dims = cols ? 2 : 1;
    e->src_shape[0] = src_rows;
    e->src_shape[1] = cols;
    e->shape[0] = rows;
    e->shape[1] = cols;
    e->group = group;
    e->group_stride = stride;
    e->row0 = row0;
}

/* Columns [col0, col0 + n) of a Conv1D weight [in, cols], stored as [n, in]. */
static void transposed(builder *b, const char *name, const char *src, uint64_t in, uint64_t cols, uint64_t col0,
                       uint64_t n)
{
    hf_tensor_plan *e = add(b, name, src);
    if (!e)
        return;
    e->is_matrix = 1;
    e->n_dims = e->src_n_dims = 2;
    e->src_shape[0] = in;
    e->src_shape[1] = cols;
    e->shape[0] = n;
    e->shape[1] = in;
    e->transpose = 1;
    e->col0 = col0;
}

static void enter_layer(builder *b, int layer, const char *fmt)
{
    b->layer = layer;
    snprintf(b->src_layer, sizeof b->src_layer, fmt, layer);
}

static void plan_gpt2(builder *b, const hf_config *c, const st_checkpoint *ck)
{
    uint64_t d = c->d_model, f = c->ffn_dim;
    /* The original gpt2 upload names tensors without the "transformer." of GPT2LMHeadModel. */
    snprintf(b->prefix, sizeof b->prefix, "%s", st_find(ck, "wte.weight") ? "" : "transformer.");
    copy(b, "tok_embd.weight", "wte.weight", 1, c->vocab_size, d);
    copy(b, "pos_embd.weight", "wpe.weight", 0, c->context_length, d);
    for (int L = 0; L < (int)c->n_layers; L++) {
        enter_layer(b, L, "h.%d.");
        copy(b, "attn_norm.weight", "ln_1.weight", 0, d, 0);
        copy(b, "attn_norm.bias", "ln_1.bias", 0, d, 0);
        static const char *const qkv[3] = {"attn_q", "attn_k", "attn_v"};
        for (int s = 0; s < 3; s++) {
            char nm[32];
            snprintf(nm, sizeof nm, "%s.weight", qkv[s]);
            transposed(b, nm, "attn.c_attn.weight", d, 3 * d, (uint64_t)s * d, d);
            snprintf(nm, sizeof nm, "%s.bias", qkv[s]);
            gather(b, nm, "attn.c_attn.bias", 3 * d, 0, d, d, 0, (uint64_t)s * d);
        }
        transposed(b, "attn_out.weight", "attn.c_proj.weight", d, d, 0, d);
        copy(b, "attn_out.bias", "attn.c_proj.bias", 0, d, 0);
        copy(b, "ffn_norm.weight", "ln_2.weight", 0, d, 0);
        copy(b, "ffn_norm.bias", "ln_2.bias", 0, d, 0);
        transposed(b, "ffn_up.weight", "mlp.c_fc.weight", d, f, 0, f);
        copy(b, "ffn_up.bias", "mlp.c_fc.bias", 0, f, 0);
        transposed(b, "ffn_down.weight", "mlp.c_proj.weight", f, d, 0, d);
        copy(b, "ffn_down.bias", "mlp.c_proj.bias", 0, d, 0);
    }
    b->layer = -1;
    copy(b, "output_norm.weight", "ln_f.weight", 0, d, 0);
    copy(b, "output_norm.bias", "ln_f.bias", 0, d, 0);
}

static void plan_llama(builder *b, const hf_config *c)
{
    uint64_t d = c->d_model, f = c->ffn_dim, q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
    snprintf(b->prefix, sizeof b->prefix, "model.");
    copy(b, "tok_embd.weight", "embed_tokens.weight", 1, c->vocab_size, d);
    for (int L = 0; L < (int)c->n_layers; L++) {
        enter_layer(b, L, "layers.%d.");
        copy(b, "attn_norm.weight", "input_layernorm.weight", 0, d, 0);
        copy(b, "attn_q.weight", "self_attn.q_proj.weight", 1, q, d);
        copy(b, "attn_k.weight", "self_attn.k_proj.weight", 1, kv, d);
        copy(b, "attn_v.weight", "self_attn.v_proj.weight", 1, kv, d);
        if (c->qkv_bias) {
            copy(b, "attn_q.bias", "self_attn.q_proj.bias", 0, q, 0);
            copy(b, "attn_k.bias", "self_attn.k_proj.bias", 0, kv, 0);
            copy(b, "attn_v.bias", "self_attn.v_proj.bias", 0, kv, 0);
        }
        copy(b, "attn_out.weight", "self_attn.o_proj.weight", 1, d, q);
        if (c->attn_out_bias)
            copy(b, "attn_out.bias", "self_attn.o_proj.bias", 0, d, 0);
        copy(b, "ffn_norm.weight", "post_attention_layernorm.weight", 0, d, 0);
        copy(b, "ffn_gate.weight", "mlp.gate_proj.weight", 1, f, d);
        copy(b, "ffn_up.weight", "mlp.up_proj.weight", 1, f, d);
        copy(b, "ffn_down.weight", "mlp.down_proj.weight", 1, d, f);
    }
    b->layer = -1;
    copy(b, "output_norm.weight", "norm.weight", 0, d, 0);
}

static void plan_gptneox(builder *b, const hf_config *c)
{
    uint64_t d = c->d_model, f = c->ffn_dim, hd = c->head_dim;
    snprintf(b->prefix, sizeof b->prefix, "gpt_neox.");
    copy(b, "tok_embd.weight", "embed_in.weight", 1, c->vocab_size, d);
    for (int L = 0; L < (int)c->n_layers; L++) {
        enter_layer(b, L, "layers.%d.");
        copy(b, "attn_norm.weight", "input_layernorm.weight", 0, d, 0);
        copy(b, "attn_norm.bias", "input_layernorm.bias", 0, d, 0);
        /* query_key_value rows are [n_heads, 3, head_dim]: head h's q, k, v in turn. */
        static const char *const qkv[3] = {"attn_q", "attn_k", "attn_v"};
        for (int s = 0; s < 3; s++) {
            char nm[32];
            snprintf(nm, sizeof nm, "%s.weight", qkv[s]);
            gather(b, nm, "attention.query_key_value.weight", 3 * d, d, d, hd, 3 * hd, (uint64_t)s * hd);
            snprintf(nm, sizeof nm, "%s.bias", qkv[s]);
            gather(b, nm, "attention.query_key_value.bias", 3 * d, 0, d, hd, 3 * hd, (uint64_t)s * hd);
        }
        copy(b, "attn_out.weight", "attention.dense.weight", 1, d, d);
        copy(b, "attn_out.bias", "attention.dense.bias", 0, d, 0);
        copy(b, "ffn_norm.weight", "post_attention_layernorm.weight", 0, d, 0);
        copy(b, "ffn_norm.bias", "post_attention_layernorm.bias", 0, d, 0);
        copy(b, "ffn_up.weight", "mlp.dense_h_to_4h.weight", 1, f, d);
        copy(b, "ffn_up.bias", "mlp.dense_h_to_4h.bias", 0, f, 0);
        copy(b, "ffn_down.weight", "mlp.dense_4h_to_h.weight", 1, d, f);
        copy(b, "ffn_down.bias", "mlp.dense_4h_to_h.bias", 0, d, 0);
    }
    b->layer = -1;
    copy(b, "output_norm.weight", "final_layer_norm.weight", 0, d, 0);
    copy(b, "output_norm.bias", "final_layer_norm.bias", 0, d, 0);
}

/* "[a, b]" */
static const char *shape_str(char *buf, size_t size, uint32_t n_dims, const uint64_t *shape)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (uint32_t i = 0; i < n_dims && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%llu", i ? ", " : "", (unsigned long long)shape[i]);
    if (k < size)
        snprintf(buf + k, size - k, "]");
    return buf;
}

static int check_source(const hf_tensor_plan *e, const st_checkpoint *ck, const char *ck_path, kvg_error *err)
{
    const st_tensor *t = st_find(ck, e->src);
    if (!t)
        return kvg_errorf(err, ck_path, "tensor \"%s\" is missing (needed for %s)", e->src, e->name);
    int same = t->n_dims == e->src_n_dims;
    for (uint32_t i = 0; same && i < t->n_dims; i++)
        same = t->shape[i] == e->src_shape[i];
    if (!same) {
        char got[128], want[128];
        return kvg_errorf(err, t->file, "tensor \"%s\" has shape %s, but config.json makes it %s", e->src,
                          shape_str(got, sizeof got, t->n_dims, t->shape),
                          shape_str(want, sizeof want, e->src_n_dims, e->src_shape));
    }
    if (t->dtype != KVG_DTYPE_F32 && t->dtype != KVG_DTYPE_F16 && t->dtype != KVG_DTYPE_BF16)
        return kvg_errorf(err, t->file, "tensor \"%s\" has dtype %s; only F32, F16 and BF16 are converted", e->src,
                          t->st_dtype);
    return 0;
}

/* Tensors a checkpoint may hold that no .kvg tensor comes from. */
static int is_ignorable(const char *name, const char *unembedding)
{
    static const char *const buffers[] = {".attn.bias", ".attn.masked_bias", ".attention.bias",
                                          ".attention.masked_bias", ".rotary_emb.inv_freq"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++) {
        size_t k = strlen(buffers[i]);
        if (n >= k && strcmp(name + n - k, buffers[i]) == 0)
            return 1;
    }
    return strcmp(name, unembedding) == 0; /* only reached when tied: else the plan uses it */
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Every checkpoint tensor is used by the plan or ignorable. */
static int check_unused(const hf_plan *plan, const st_checkpoint *ck, const hf_config *cfg, const char *ck_path,
                        const char *unembedding, kvg_error *err)
{
    const char **used = malloc((plan->n ? plan->n : 1) * sizeof *used);
    if (!used)
        return kvg_errorf(err, ck_path, "out of memory");
    for (size_t i = 0; i < plan->n; i++)
        used[i] = plan->t[i].src;
    qsort(used, plan->n, sizeof *used, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < st_count(ck) && rc == 0; i++) {
        const st_tensor *t = st_at(ck, i);
        if (!bsearch(&t->name, used, plan->n, sizeof *used, cmp_str) && !is_ignorable(t->name, unembedding))
            rc = kvg_errorf(err, t->file, "tensor \"%s\" is not part of a %s model with %llu layers as config.json "
                            "describes it", t->name, cfg->model_type, (unsigned long long)cfg->n_layers);
    }
    free(used);
    return rc;
}

int hf_plan_build(const hf_config *cfg, const st_checkpoint *ck, const char *ck_path, hf_plan *plan,
                  kvg_error *err)
{
    memset(plan, 0, sizeof *plan);
    builder b;
    memset(&b, 0, sizeof b);
    b.plan = plan;
    b.layer = -1;
    const char *lm_head = "lm_head.weight";
    switch (cfg->arch) {
    case HF_ARCH_GPT2: plan_gpt2(&b, cfg, ck); break;
    case HF_ARCH_LLAMA: plan_llama(&b, cfg); break;
    case HF_ARCH_GPTNEOX: plan_gptneox(&b, cfg); lm_head = "embed_out.weight"; break;
    }
    /* Tied: the config says so, or there is no unembedding to load (HF then ties it too). */
    plan->tied = cfg->tie_word_embeddings || !st_find(ck, lm_head);
    if (!plan->tied) {
        b.prefix[0] = '\0';
        copy(&b, "output.weight", lm_head, 1, cfg->vocab_size, cfg->d_model);
    }
    if (b.oom) {
        hf_plan_free(plan);
        return kvg_errorf(err, ck_path, "out of memory");
    }
    for (size_t i = 0; i < plan->n; i++)
        if (check_source(&plan->t[i], ck, ck_path, err)) {
            hf_plan_free(plan);
            return -1;
        }
    if (check_unused(plan, ck, cfg, ck_path, lm_head, err)) {
        hf_plan_free(plan);
        return -1;
    }
    return 0;
}

void hf_plan_free(hf_plan *plan)
{
    free(plan->t);
    memset(plan, 0, sizeof *plan);
}
