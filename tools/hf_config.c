/* hf_config.c — config.json -> hf_config (see hf_config.h).
 *
 * Key names and defaults follow the transformers library's config classes
 * (GPT2Config, LlamaConfig, MistralConfig, Qwen2Config, GPTNeoXConfig). */
#include "hf_config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SUPPORTED "supported: gpt2, llama, mistral, qwen2, gpt_neox"
#define DIM_MAX (1ull << 24)    /* larger dimensions are not a real model's; keeps products far from overflow */
#define LAYERS_MAX 4096ull

/* What every lookup needs for its messages. */
typedef struct cfg_ctx {
    const char *path;
    const json_t *root;
    const char *model_type;
    kvg_error *err;
} cfg_ctx;

/* The value of the first of keys[] present and not null, or NULL; *which is its name. */
static const json_t *lookup(const cfg_ctx *c, const char *const *keys, const char **which)
{
    for (; *keys; keys++) {
        const json_t *v = json_object_get(c->root, *keys);
        if (v && !json_is_null(v)) {
            *which = *keys;
            return v;
        }
    }
    return NULL;
}

/* A positive integer under one of keys (aliases, the preferred first), or
 * the default dflt when none is present (dflt 0: the key is required). */
static int get_dim(const cfg_ctx *c, const char *const *keys, uint64_t dflt, uint64_t max, uint64_t *out)
{
    const char *k = keys[0];
    const json_t *v = lookup(c, keys, &k);
    if (!v) {
        if (dflt == 0)
            return kvg_errorf(c->err, c->path, "missing key \"%s\" (needed for model_type %s)", keys[0],
                              c->model_type);
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || (uint64_t)json_integer_value(v) > max)
        return kvg_errorf(c->err, c->path, "key \"%s\" must be an integer from 1 to %llu", k,
                          (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* A finite number > 0 (integer or real); required when has_dflt is 0. */
static int get_pos_real(const cfg_ctx *c, const char *const *keys, int has_dflt, double dflt, double *out)
{
    const char *k = keys[0];
    const json_t *v = lookup(c, keys, &k);
    if (!v) {
        if (!has_dflt)
            return kvg_errorf(c->err, c->path, "missing key \"%s\" (needed for model_type %s)", keys[0],
                              c->model_type);
        *out = dflt;
        return 0;
    }
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) <= 0)
        return kvg_errorf(c->err, c->path, "key \"%s\" must be a number greater than 0", k);
    *out = json_number_value(v);
    return 0;
}

static int get_bool(const cfg_ctx *c, const char *key, int dflt, int *out)
{
    const json_t *v = json_object_get(c->root, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v))
        return kvg_errorf(c->err, c->path, "key \"%s\" must be true or false", key);
    *out = json_is_true(v);
    return 0;
}

/* A string value, or dflt when absent; NULL (with err set) when not a string. */
static const char *get_str(const cfg_ctx *c, const char *key, const char *dflt)
{
    const json_t *v = json_object_get(c->root, key);
    if (!v || json_is_null(v))
        return dflt;
    if (!json_is_string(v)) {
        kvg_errorf(c->err, c->path, "key \"%s\" must be a string", key);
        return NULL;
    }
    return json_string_value(v);
}

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* hidden_act / activation_function -> the activation name of contract A. */
static int get_activation(const cfg_ctx *c, const char *key, const char *dflt, int allow_gelu, hf_config *cfg)
{
    const char *a = get_str(c, key, dflt);
    if (!a)
        return -1;
    /* gelu_new, gelu_fast and gelu_pytorch_tanh are one function, the tanh approximation. */
    if (allow_gelu && (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_fast") || !strcmp(a, "gelu_pytorch_tanh")))
        cfg->activation = "gelu_tanh";
    else if (allow_gelu && !strcmp(a, "gelu"))
        cfg->activation = "gelu";
    else if (!allow_gelu && !strcmp(a, "silu"))
        cfg->activation = "silu";
    else
        return kvg_errorf(c->err, c->path, "%s \"%s\" is not supported for model_type %s (supported: %s)", key, a,
                          c->model_type, allow_gelu ? "gelu, gelu_new, gelu_fast, gelu_pytorch_tanh" : "silu");
    return 0;
}

/* rope_scaling: null, or {"rope_type" (or "type"): "default" | "linear" | "llama3", "factor", ...}. */
static int get_rope_scaling(const cfg_ctx *c, hf_config *cfg)
{
    cfg->rope_scaling = "none";
    cfg->rope_factor = 1.0;
    const json_t *rs = json_object_get(c->root, "rope_scaling");
    if (!rs || json_is_null(rs))
        return 0;
    if (!json_is_object(rs))
        return kvg_errorf(c->err, c->path, "key \"rope_scaling\" must be an object or null");
    const json_t *t = json_object_get(rs, "rope_type");
    if (!t)
        t = json_object_get(rs, "type");
    if (!json_is_string(t))
        return kvg_errorf(c->err, c->path, "rope_scaling has no \"rope_type\" string");
    const char *type = json_string_value(t);
    if (!strcmp(type, "default"))
        return 0;
    int llama3 = !strcmp(type, "llama3");
    if (!llama3 && strcmp(type, "linear") != 0)
        return kvg_errorf(c->err, c->path, "rope_scaling type \"%s\" is not supported (supported: linear, llama3)",
                          type);
    cfg_ctx sub = *c;
    sub.root = rs;
    if (get_pos_real(&sub, KEYS("factor"), 0, 0, &cfg->rope_factor))
        return kvg_errorf(c->err, c->path, "rope_scaling needs a \"factor\" greater than 0");
    cfg->rope_scaling = llama3 ? "llama3" : "linear";
    if (!llama3)
        return 0;
    if (get_pos_real(&sub, KEYS("low_freq_factor"), 0, 0, &cfg->rope_low_freq_factor) ||
        get_pos_real(&sub, KEYS("high_freq_factor"), 0, 0, &cfg->rope_high_freq_factor) ||
        get_dim(&sub, KEYS("original_max_position_embeddings"), 0, DIM_MAX, &cfg->rope_original_context))
        return kvg_errorf(c->err, c->path, "rope_scaling llama3 needs low_freq_factor, high_freq_factor and "
                          "original_max_position_embeddings (positive numbers)");
    if (cfg->rope_high_freq_factor <= cfg->rope_low_freq_factor)
        return kvg_errorf(c->err, c->path, "rope_scaling llama3: high_freq_factor must exceed low_freq_factor");
    return 0;
}

static int load_gpt2(const cfg_ctx *c, hf_config *cfg)
{
    if (get_dim(c, KEYS("n_layer"), 0, LAYERS_MAX, &cfg->n_layers) ||
        get_dim(c, KEYS("n_embd"), 0, DIM_MAX, &cfg->d_model) ||
        get_dim(c, KEYS("n_head"), 0, DIM_MAX, &cfg->n_heads) ||
        get_dim(c, KEYS("vocab_size"), 0, DIM_MAX, &cfg->vocab_size) ||
        get_dim(c, KEYS("n_positions", "n_ctx"), 0, DIM_MAX, &cfg->context_length) ||
        get_pos_real(c, KEYS("layer_norm_epsilon"), 0, 0, &cfg->norm_eps) ||
        get_activation(c, "activation_function", "gelu_new", 1, cfg) ||
        get_bool(c, "tie_word_embeddings", 1, &cfg->tie_word_embeddings))
        return -1;
    if (get_dim(c, KEYS("n_inner"), 4 * cfg->d_model, DIM_MAX, &cfg->ffn_dim))
        return -1;
    int scale = 1, by_layer = 0, upcast = 0;
    if (get_bool(c, "scale_attn_weights", 1, &scale) || get_bool(c, "scale_attn_by_inverse_layer_idx", 0, &by_layer) ||
        get_bool(c, "reorder_and_upcast_attn", 0, &upcast))
        return -1;
    if (!scale || by_layer)
        return kvg_errorf(c->err, c->path, "%s is not supported (attention must be scaled by 1/sqrt(head_dim))",
                          !scale ? "scale_attn_weights = false" : "scale_attn_by_inverse_layer_idx = true");
    if (cfg->d_model % cfg->n_heads)
        return kvg_errorf(c->err, c->path, "n_embd %llu is not a multiple of n_head %llu",
                          (unsigned long long)cfg->d_model, (unsigned long long)cfg->n_heads);
    cfg->n_kv_heads = cfg->n_heads;
    cfg->head_dim = cfg->d_model / cfg->n_heads;
    cfg->qkv_bias = 1;
    return 0;
}

/* The dimensions Llama-style and NeoX configs name alike, and the norm epsilon. */
static int load_dims(const cfg_ctx *c, const char *eps_key, hf_config *cfg)
{
    return get_dim(c, KEYS("num_hidden_layers"), 0, LAYERS_MAX, &cfg->n_layers) ||
                   get_dim(c, KEYS("hidden_size"), 0, DIM_MAX, &cfg->d_model) ||
                   get_dim(c, KEYS("num_attention_heads"), 0, DIM_MAX, &cfg->n_heads) ||
                   get_dim(c, KEYS("intermediate_size"), 0, DIM_MAX, &cfg->ffn_dim) ||
                   get_dim(c, KEYS("vocab_size"), 0, DIM_MAX, &cfg->vocab_size) ||
                   get_dim(c, KEYS("max_position_embeddings"), 0, DIM_MAX, &cfg->context_length) ||
                   get_pos_real(c, (const char *const[]){eps_key, NULL}, 0, 0, &cfg->norm_eps)
               ? -1
               : 0;
}

/* Llama, Mistral, Qwen2 (and everything of model_type llama: SmolLM, TinyLlama). */
static int load_llama(const cfg_ctx *c, hf_config *cfg)
{
    int is_qwen2 = !strcmp(cfg->model_type, "qwen2"), is_mistral = !strcmp(cfg->model_type, "mistral");
    if (load_dims(c, "rms_norm_eps", cfg) ||
        get_dim(c, KEYS("num_key_value_heads"), cfg->n_heads, DIM_MAX, &cfg->n_kv_heads) ||
        get_pos_real(c, KEYS("rope_theta"), 1, 10000.0, &cfg->rope_theta) ||
        get_activation(c, "hidden_act", "silu", 0, cfg) ||
        get_bool(c, "tie_word_embeddings", 0, &cfg->tie_word_embeddings) || get_rope_scaling(c, cfg))
        return -1;
    if (!lookup(c, KEYS("head_dim"), &(const char *){NULL}) && cfg->d_model % cfg->n_heads)
        return kvg_errorf(c->err, c->path, "hidden_size %llu is not a multiple of num_attention_heads %llu",
                          (unsigned long long)cfg->d_model, (unsigned long long)cfg->n_heads);
    if (get_dim(c, KEYS("head_dim"), cfg->d_model / cfg->n_heads, DIM_MAX, &cfg->head_dim))
        return -1;
    if (cfg->n_heads % cfg->n_kv_heads)
        return kvg_errorf(c->err, c->path, "num_attention_heads %llu is not a multiple of num_key_value_heads %llu",
                          (unsigned long long)cfg->n_heads, (unsigned long long)cfg->n_kv_heads);
    if (cfg->head_dim % 2)
        return kvg_errorf(c->err, c->path, "head_dim %llu is odd; rotary embeddings need pairs",
                          (unsigned long long)cfg->head_dim);
    cfg->rope_dims = cfg->head_dim;

    /* Biases: Qwen2 always has q/k/v biases (and none on o_proj); Llama's
     * attention_bias puts them on q, k, v and o_proj (stored as attn_out.bias). */
    int attn_bias = 0, mlp_bias = 0;
    if (get_bool(c, "attention_bias", 0, &attn_bias) || get_bool(c, "mlp_bias", 0, &mlp_bias))
        return -1;
    if (mlp_bias)
        return kvg_errorf(c->err, c->path, "mlp_bias = true is not supported for model_type %s", cfg->model_type);
    cfg->qkv_bias = is_qwen2 || attn_bias;
    cfg->attn_out_bias = !is_qwen2 && attn_bias;

    /* Sliding-window attention equals full attention while a sequence fits the
     * window, so Mistral's window becomes the context length. Qwen2's
     * per-layer windows (use_sliding_window) are another matter. */
    if (is_qwen2) {
        int sw = 0;
        if (get_bool(c, "use_sliding_window", 0, &sw))
            return -1;
        if (sw)
            return kvg_errorf(c->err, c->path, "use_sliding_window = true is not supported for model_type qwen2");
    } else if (is_mistral) {
        uint64_t window;
        if (get_dim(c, KEYS("sliding_window"), DIM_MAX, DIM_MAX, &window))
            return -1;
        if (window < cfg->context_length)
            cfg->context_length = window;
    }
    return 0;
}

static int load_gptneox(const cfg_ctx *c, hf_config *cfg)
{
    double pct = 0.25;
    int attn_bias = 1;
    if (load_dims(c, "layer_norm_eps", cfg) ||
        get_pos_real(c, KEYS("rope_theta", "rotary_emb_base"), 1, 10000.0, &cfg->rope_theta) ||
        get_pos_real(c, KEYS("partial_rotary_factor", "rotary_pct"), 1, 0.25, &pct) ||
        get_activation(c, "hidden_act", "gelu", 1, cfg) ||
        get_bool(c, "use_parallel_residual", 1, &cfg->parallel_residual) ||
        get_bool(c, "tie_word_embeddings", 0, &cfg->tie_word_embeddings) ||
        get_bool(c, "attention_bias", 1, &attn_bias) || get_rope_scaling(c, cfg))
        return -1;
    if (!strcmp(cfg->rope_scaling, "llama3"))
        return kvg_errorf(c->err, c->path, "rope_scaling llama3 is not supported for model_type gpt_neox");
    if (!attn_bias)
        return kvg_errorf(c->err, c->path, "attention_bias = false is not supported for model_type gpt_neox");
    if (cfg->d_model % cfg->n_heads)
        return kvg_errorf(c->err, c->path, "hidden_size %llu is not a multiple of num_attention_heads %llu",
                          (unsigned long long)cfg->d_model, (unsigned long long)cfg->n_heads);
    if (pct > 1.0)
        return kvg_errorf(c->err, c->path, "rotary_pct %g is above 1", pct);
    cfg->n_kv_heads = cfg->n_heads;
    cfg->head_dim = cfg->d_model / cfg->n_heads;
    /* As GPTNeoXAttention computes it: int(head_size * rotary_pct), truncated. */
    cfg->rope_dims = (uint64_t)((double)cfg->head_dim * pct);
    if (cfg->rope_dims % 2)
        return kvg_errorf(c->err, c->path, "rotary dims %llu (head_dim x rotary_pct) is odd; rotary embeddings "
                          "need pairs", (unsigned long long)cfg->rope_dims);
    cfg->qkv_bias = 1;
    return 0;
}

/* model_type, or the family named by architectures[0] when it is absent. */
static int find_model_type(const cfg_ctx *c, hf_config *cfg)
{
    static const struct {
        const char *cls, *type;
    } classes[] = {{"GPT2LMHeadModel", "gpt2"},        {"LlamaForCausalLM", "llama"},
                   {"MistralForCausalLM", "mistral"},  {"Qwen2ForCausalLM", "qwen2"},
                   {"GPTNeoXForCausalLM", "gpt_neox"}};
    const char *mt = get_str(c, "model_type", NULL);
    if (!mt && json_object_get(c->root, "model_type") && !json_is_null(json_object_get(c->root, "model_type")))
        return -1;
    const json_t *archs = json_object_get(c->root, "architectures");
    const char *cls = json_is_array(archs) && json_is_string(json_array_get(archs, 0))
                          ? json_string_value(json_array_get(archs, 0))
                          : NULL;
    if (!mt) {
        if (!cls)
            return kvg_errorf(c->err, c->path, "missing key \"model_type\" (and no \"architectures\" to go by); "
                              SUPPORTED);
        for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
            if (!strcmp(cls, classes[i].cls))
                mt = classes[i].type;
        if (!mt)
            return kvg_errorf(c->err, c->path, "unsupported architecture \"%s\" (no model_type); " SUPPORTED, cls);
    }
    snprintf(cfg->model_type, sizeof cfg->model_type, "%s", mt);
    if (!strcmp(mt, "gpt2")) {
        cfg->arch = HF_ARCH_GPT2;
        cfg->arch_name = "gpt2";
    } else if (!strcmp(mt, "llama") || !strcmp(mt, "mistral") || !strcmp(mt, "qwen2")) {
        cfg->arch = HF_ARCH_LLAMA;
        cfg->arch_name = "llama";
    } else if (!strcmp(mt, "gpt_neox")) {
        cfg->arch = HF_ARCH_GPTNEOX;
        cfg->arch_name = "gptneox";
    } else {
        return kvg_errorf(c->err, c->path, "unsupported model_type \"%s\"%s%s%s; " SUPPORTED, mt,
                          cls ? " (" : "", cls ? cls : "", cls ? ")" : "");
    }
    return 0;
}

int hf_config_load(const char *path, hf_config *cfg, kvg_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    json_error_t je;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (je.line <= 0) /* not a parse error: the file itself */
            return kvg_errorf(err, path, "cannot read: %s", je.text);
        return kvg_errorf(err, path, "JSON does not parse at line %d, column %d: %s", je.line, je.column, je.text);
    }
    cfg_ctx c = {path, root, "?", err};
    int rc = -1;
    if (!json_is_object(root)) {
        kvg_errorf(err, path, "not a JSON object");
        goto done;
    }
    if (find_model_type(&c, cfg))
        goto done;
    c.model_type = cfg->model_type;
    cfg->rope_scaling = "none";
    cfg->rope_factor = 1.0;
    rc = cfg->arch == HF_ARCH_GPT2 ? load_gpt2(&c, cfg) : cfg->arch == HF_ARCH_LLAMA ? load_llama(&c, cfg)
                                                                                     : load_gptneox(&c, cfg);
done:
    json_decref(root);
    /* The strings point into static tables, never into the freed JSON. */
    return rc;
}
