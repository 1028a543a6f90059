/* transformer_config.c — the transformer.* metadata of SPEC §9: written by
 * converters (kvg_tf_config_write), read and range-checked at open. This
 * file is the one place that knows the key names. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "transformer.h"
#include "transformer_internal.h"

static const char *const arch_names[] = {"gpt2", "llama", "gptneox"};
static const char *const act_names[] = {"gelu_tanh", "gelu", "silu"};
static const char *const scaling_names[] = {"none", "linear", "llama3"};

const char *kvg_arch_name(kvg_arch a) { return (unsigned)a < 3 ? arch_names[a] : "?"; }
const char *kvg_activation_name(kvg_activation a) { return (unsigned)a < 3 ? act_names[a] : "?"; }

int kvg_tf_config_write(const kvg_tf_config *c, kvg_writer *w, kvg_error *err)
{
    const char *arch = kvg_arch_name(c->arch), *act = kvg_activation_name(c->activation);
    const char *scaling = scaling_names[c->rope.scaling];
    const kvg_dtype_traits *wt = kvg_dtype_get(c->weight_type);
    struct { const char *key; uint64_t v; } u[] = {
        {"transformer.n_layers", c->n_layers},
        {"transformer.d_model", c->d_model},
        {"transformer.n_heads", c->n_heads},
        {"transformer.n_kv_heads", c->n_kv_heads},
        {"transformer.head_dim", c->head_dim},
        {"transformer.ffn_dim", c->ffn_dim},
        {"transformer.vocab_size", c->vocab_size},
        {"transformer.context_length", c->context_length},
        {"transformer.rope_dims", c->rope.rot_dims},
        {"transformer.rope_llama3_original_context", (uint64_t)c->rope.original_context},
        {"transformer.tied_embeddings", (uint64_t)!!c->tied_embeddings},
        {"transformer.qkv_bias", (uint64_t)!!c->qkv_bias},
        {"transformer.parallel_residual", (uint64_t)!!c->parallel_residual},
    };
    struct { const char *key; double v; } f[] = {
        {"transformer.norm_eps", c->norm_eps},
        {"transformer.rope_theta", c->rope.theta},
        {"transformer.rope_scaling_factor", c->rope.factor},
        {"transformer.rope_llama3_low_freq_factor", c->rope.low_freq_factor},
        {"transformer.rope_llama3_high_freq_factor", c->rope.high_freq_factor},
    };
    if (!wt)
        return kvg_errorf(err, NULL, "transformer config: unknown weight type %u", (unsigned)c->weight_type);
    if (kvg_writer_meta_str(w, "general.kind", "transformer", 11, err) ||
        kvg_writer_meta_str(w, "transformer.arch", arch, strlen(arch), err) ||
        kvg_writer_meta_str(w, "transformer.activation", act, strlen(act), err) ||
        kvg_writer_meta_str(w, "transformer.rope_scaling", scaling, strlen(scaling), err) ||
        kvg_writer_meta_str(w, "transformer.weight_type", wt->name, strlen(wt->name), err))
        return -1;
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++)
        if (kvg_writer_meta_u64(w, u[i].key, u[i].v, err))
            return -1;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (kvg_writer_meta_f64(w, f[i].key, f[i].v, err))
            return -1;
    return 0;
}

/* A string key that must be one of names[0..n): its index, or -1 with err. */
static int get_enum(const kvg_file *f, const char *key, const char *const *names, int n, int *out, kvg_error *err)
{
    const char *s;
    uint64_t len;
    if (kvg_meta_get_str(f, key, &s, &len, err))
        return -1;
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
            *out = i;
            return 0;
        }
    char list[128] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
    return kvg_errorf(err, kvg_path(f), "%s is \"%.*s\"; supported: %s", key, (int)(len < 64 ? len : 64), s, list);
}

/* A u64 key in [lo, hi]. */
static int get_u32(const kvg_file *f, const char *key, uint64_t lo, uint64_t hi, uint32_t *out, kvg_error *err)
{
    uint64_t v;
    if (kvg_meta_get_u64(f, key, &v, err))
        return -1;
    if (v < lo || v > hi)
        return kvg_errorf(err, kvg_path(f), "%s = %llu is out of range [%llu, %llu]", key, (unsigned long long)v,
                          (unsigned long long)lo, (unsigned long long)hi);
    *out = (uint32_t)v;
    return 0;
}

/* An f64 key, finite, in (lo, hi]. */
static int get_f64(const kvg_file *f, const char *key, double lo, double hi, double *out, kvg_error *err)
{
    if (kvg_meta_get_f64(f, key, out, err))
        return -1;
    if (!(*out > lo && *out <= hi))
        return kvg_errorf(err, kvg_path(f), "%s = %g is out of range (%g, %g]", key, *out, lo, hi);
    return 0;
}

int kvg_tf_config_read(const kvg_file *f, kvg_tf_config *c, kvg_error *err)
{
    const char *path = kvg_path(f);
    const char *kind;
    uint64_t kind_len;
    memset(c, 0, sizeof *c);
    if (kvg_meta_get_str(f, "general.kind", &kind, &kind_len, err))
        return -1;
    if (kind_len != 11 || memcmp(kind, "transformer", 11) != 0)
        return kvg_errorf(err, path, "not a transformer model (general.kind is \"%.*s\")",
                          (int)(kind_len < 64 ? kind_len : 64), kind);
    int arch = 0, act = 0, scaling = 0, wt = 0;
    static const char *const wt_names[] = {"f32", "f16", "bf16", "q8_0", "q4_0"};
    uint32_t flag[3] = {0, 0, 0}, orig_ctx = 0;
    const uint32_t big = 1u << 20; /* generous bound on every dimension: sizes below must not overflow */
    if (get_enum(f, "transformer.arch", arch_names, 3, &arch, err) ||
        get_enum(f, "transformer.activation", act_names, 3, &act, err) ||
        get_enum(f, "transformer.weight_type", wt_names, 5, &wt, err) ||
        get_u32(f, "transformer.n_layers", 1, 4096, &c->n_layers, err) ||
        get_u32(f, "transformer.d_model", 1, big, &c->d_model, err) ||
        get_u32(f, "transformer.n_heads", 1, 4096, &c->n_heads, err) ||
        get_u32(f, "transformer.n_kv_heads", 1, 4096, &c->n_kv_heads, err) ||
        get_u32(f, "transformer.head_dim", 1, 65536, &c->head_dim, err) ||
        get_u32(f, "transformer.ffn_dim", 1, big, &c->ffn_dim, err) ||
        get_u32(f, "transformer.vocab_size", 1, 1u << 24, &c->vocab_size, err) ||
        get_u32(f, "transformer.context_length", 1, big, &c->context_length, err) ||
        get_f64(f, "transformer.norm_eps", 0, 1, &c->norm_eps, err) ||
        get_u32(f, "transformer.tied_embeddings", 0, 1, &flag[0], err) ||
        get_u32(f, "transformer.qkv_bias", 0, 1, &flag[1], err) ||
        get_u32(f, "transformer.parallel_residual", 0, 1, &flag[2], err))
        return -1;
    c->arch = (kvg_arch)arch;
    c->activation = (kvg_activation)act;
    c->weight_type = (kvg_dtype)wt;
    c->tied_embeddings = (int)flag[0];
    c->qkv_bias = (int)flag[1];
    c->parallel_residual = (int)flag[2];
    if (c->n_heads % c->n_kv_heads)
        return kvg_errorf(err, path, "transformer.n_heads = %u is not a multiple of transformer.n_kv_heads = %u",
                          c->n_heads, c->n_kv_heads);
    if ((uint64_t)c->n_heads * c->head_dim > big)
        return kvg_errorf(err, path, "transformer.n_heads x head_dim = %llu is too large",
                          (unsigned long long)c->n_heads * c->head_dim);
    c->rope.head_dim = c->head_dim;
    if (c->arch == KVG_ARCH_GPT2)
        return 0;
    if (get_u32(f, "transformer.rope_dims", 2, c->head_dim, &c->rope.rot_dims, err) ||
        get_f64(f, "transformer.rope_theta", 1, 1e300, &c->rope.theta, err))
        return -1;
    scaling = KVG_ROPE_NONE; /* an absent transformer.rope_scaling means none */
    if (kvg_meta_find(f, "transformer.rope_scaling") &&
        get_enum(f, "transformer.rope_scaling", scaling_names, 3, &scaling, err))
        return -1;
    if (c->rope.rot_dims % 2)
        return kvg_errorf(err, path, "transformer.rope_dims = %u is odd", c->rope.rot_dims);
    c->rope.scaling = (kvg_rope_scaling)scaling;
    c->rope.factor = 1;
    if (c->rope.scaling != KVG_ROPE_NONE &&
        get_f64(f, "transformer.rope_scaling_factor", 0, 1e9, &c->rope.factor, err))
        return -1;
    if (c->rope.scaling == KVG_ROPE_LLAMA3) {
        if (get_f64(f, "transformer.rope_llama3_low_freq_factor", 0, 1e9, &c->rope.low_freq_factor, err) ||
            get_f64(f, "transformer.rope_llama3_high_freq_factor", 0, 1e9, &c->rope.high_freq_factor, err) ||
            get_u32(f, "transformer.rope_llama3_original_context", 1, 1u << 30, &orig_ctx, err))
            return -1;
        if (!(c->rope.high_freq_factor > c->rope.low_freq_factor))
            return kvg_errorf(err, path, "transformer.rope_llama3_high_freq_factor must exceed the low one");
        c->rope.original_context = orig_ctx;
    }
    return 0;
}
