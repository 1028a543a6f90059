/* synth_model.c — the shapes `kvgram synth` knows and the streaming writer
 * of random-weight models (see synth_model.h).
 *
 * Randomness: every row of every tensor has its own generator, seeded from
 * (seed, tensor number, row), so rows can be drawn on any thread in any
 * order and the file is the same for a seed whatever the thread count.
 * Normals come from Marsaglia's polar method over a xoshiro256** stream:
 * exact N(0, 1) up to float rounding, and cheap (no trigonometry). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kvg_writer.h"
#include "synth_model.h"
#include "tokenizer.h"

#define WEIGHT_STD 0.02f
#define CHUNK_FLOATS (1u << 20) /* rows drawn and written per step: about 4 MiB of f32 */

/* ---- shapes ---- */

typedef struct named_shape {
    const char *name;
    kvg_tf_config c;
} named_shape;

/* d_model, layers, heads, kv heads, head_dim, ffn, vocab, context as the
 * published configs give them (GPT-2: openai-community/gpt2; SmolLM:
 * HuggingFaceTB/SmolLM-135M; TinyLlama: TinyLlama-1.1B-Chat-v1.0). */
#define GPT2(L, d, h, ffn, V, ctx)                                                                                \
    {                                                                                                             \
        .arch = KVG_ARCH_GPT2, .n_layers = L, .d_model = d, .n_heads = h, .n_kv_heads = h, .head_dim = d / h,    \
        .ffn_dim = ffn, .vocab_size = V, .context_length = ctx, .norm_eps = 1e-5, .rope = {d / h, 0, 0, 0, 0, 0, 0, 0}, \
        .tied_embeddings = 1, .qkv_bias = 1, .activation = KVG_ACT_GELU_TANH                                      \
    }
#define LLAMA(L, d, h, kv, ffn, V, ctx, tied)                                                                     \
    {                                                                                                             \
        .arch = KVG_ARCH_LLAMA, .n_layers = L, .d_model = d, .n_heads = h, .n_kv_heads = kv, .head_dim = d / h,  \
        .ffn_dim = ffn, .vocab_size = V, .context_length = ctx, .norm_eps = 1e-5,                                 \
        .rope = {d / h, d / h, 10000.0, KVG_ROPE_NONE, 1.0, 0, 0, 0}, .tied_embeddings = tied,                      \
        .activation = KVG_ACT_SILU                                                                                \
    }

static const named_shape shapes[] = {
    {"gpt2-124m", GPT2(12, 768, 12, 3072, 50257, 1024)},
    {"smollm-135m", LLAMA(30, 576, 9, 3, 1536, 49152, 2048, 1)},
    {"tinyllama-1.1b", LLAMA(22, 2048, 32, 4, 5632, 32000, 2048, 0)},
    /* small stand-ins of the two families, for tests */
    {"tiny-gpt2", GPT2(2, 64, 4, 256, 512, 128)},
    {"tiny-llama", LLAMA(2, 64, 4, 2, 160, 512, 128, 0)},
};

const kvg_tf_config *synth_shape(const char *name)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (!strcmp(name, shapes[i].name))
            return &shapes[i].c;
    return NULL;
}

const char *synth_shape_names(void)
{
    return "gpt2-124m, smollm-135m, tinyllama-1.1b, tiny-gpt2, tiny-llama";
}

/* ---- random normals ---- */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static rng rng_for(uint64_t seed, uint64_t tensor, uint64_t row)
{
    uint64_t x = seed ^ splitmix64(&(uint64_t){tensor * 0x100000001B3ull + row});
    rng r;
    for (int i = 0; i < 4; i++)
        r.s[i] = splitmix64(&x);
    return r;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next_u64(rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* A uniform in (-1, 1) from 32 random bits. */
static float uniform_pm1(uint32_t bits) { return ((float)bits + 0.5f) * (2.0f / 4294967296.0f) - 1.0f; }

/* out[n] ~ N(0, std^2): Marsaglia's polar method, two normals per accepted pair. */
static void normals(rng *r, float *out, size_t n, float std)
{
    size_t i = 0;
    while (i < n) {
        uint64_t bits = next_u64(r);
        float u = uniform_pm1((uint32_t)bits), v = uniform_pm1((uint32_t)(bits >> 32));
        float s = u * u + v * v;
        if (s >= 1.0f || s == 0.0f)
            continue;
        float f = sqrtf(-2.0f * logf(s) / s) * std;
        out[i++] = u * f;
        if (i < n)
            out[i++] = v * f;
    }
}

/* ---- the plan ---- */

typedef struct plan {
    synth_tensor *t;
    size_t n, cap;
    int failed;
    const tf_types *types;
    int tied;
} plan;

/* A matrix, dtype by the types rule, or a vector / positions (f32). */
#define MATRIX (-1)
static void add(plan *p, int dtype, uint64_t rows, uint64_t cols, synth_fill fill, const char *fmt, int layer)
{
    if (p->failed)
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        synth_tensor *t = realloc(p->t, cap * sizeof *t);
        if (!t) {
            p->failed = 1;
            return;
        }
        p->t = t, p->cap = cap;
    }
    synth_tensor *t = &p->t[p->n++];
    snprintf(t->name, sizeof t->name, fmt, layer);
    int fell_back_from;
    t->dtype = dtype == MATRIX ? tf_matrix_type(p->types, t->name, p->tied, cols, &fell_back_from) : (kvg_dtype)dtype;
    if (dtype == MATRIX && fell_back_from >= 0)
        t->dtype = (kvg_dtype)fell_back_from; /* refused below: synth makes exactly what was asked */
    t->rows = rows, t->cols = cols, t->fill = fill;
}

int synth_plan(const kvg_tf_config *c, const synth_options *o, synth_tensor **out, size_t *n, kvg_error *err)
{
    const int gpt2 = c->arch == KVG_ARCH_GPT2, ln = c->arch != KVG_ARCH_LLAMA;
    const uint64_t d = c->d_model, ffn = c->ffn_dim, V = c->vocab_size, q = (uint64_t)c->n_heads * c->head_dim,
                   kv = (uint64_t)c->n_kv_heads * c->head_dim;
    const int T = MATRIX, F = KVG_DTYPE_F32;
    plan p = {NULL, 0, 0, 0, &o->types, c->tied_embeddings};
    *out = NULL;
    *n = 0;
    add(&p, T, V, d, SYNTH_NORMAL, "tok_embd.weight", 0);
    if (gpt2)
        add(&p, F, c->context_length, d, SYNTH_NORMAL, "pos_embd.weight", 0);
    for (uint32_t L = 0; L < c->n_layers; L++) {
        add(&p, F, 0, d, SYNTH_ONES, "blk.%d.attn_norm.weight", (int)L);
        if (ln)
            add(&p, F, 0, d, SYNTH_ZEROS, "blk.%d.attn_norm.bias", (int)L);
        add(&p, T, q, d, SYNTH_NORMAL, "blk.%d.attn_q.weight", (int)L);
        add(&p, T, kv, d, SYNTH_NORMAL, "blk.%d.attn_k.weight", (int)L);
        add(&p, T, kv, d, SYNTH_NORMAL, "blk.%d.attn_v.weight", (int)L);
        if (c->qkv_bias) {
            add(&p, F, 0, q, SYNTH_ZEROS, "blk.%d.attn_q.bias", (int)L);
            add(&p, F, 0, kv, SYNTH_ZEROS, "blk.%d.attn_k.bias", (int)L);
            add(&p, F, 0, kv, SYNTH_ZEROS, "blk.%d.attn_v.bias", (int)L);
        }
        add(&p, T, d, q, SYNTH_NORMAL, "blk.%d.attn_out.weight", (int)L);
        if (gpt2)
            add(&p, F, 0, d, SYNTH_ZEROS, "blk.%d.attn_out.bias", (int)L);
        add(&p, F, 0, d, SYNTH_ONES, "blk.%d.ffn_norm.weight", (int)L);
        if (ln)
            add(&p, F, 0, d, SYNTH_ZEROS, "blk.%d.ffn_norm.bias", (int)L);
        if (!gpt2)
            add(&p, T, ffn, d, SYNTH_NORMAL, "blk.%d.ffn_gate.weight", (int)L);
        add(&p, T, ffn, d, SYNTH_NORMAL, "blk.%d.ffn_up.weight", (int)L);
        add(&p, T, d, ffn, SYNTH_NORMAL, "blk.%d.ffn_down.weight", (int)L);
        if (gpt2) {
            add(&p, F, 0, ffn, SYNTH_ZEROS, "blk.%d.ffn_up.bias", (int)L);
            add(&p, F, 0, d, SYNTH_ZEROS, "blk.%d.ffn_down.bias", (int)L);
        }
    }
    add(&p, F, 0, d, SYNTH_ONES, "output_norm.weight", 0);
    if (ln)
        add(&p, F, 0, d, SYNTH_ZEROS, "output_norm.bias", 0);
    if (!c->tied_embeddings)
        add(&p, T, V, d, SYNTH_NORMAL, "output.weight", 0);
    if (p.failed) {
        free(p.t);
        return kvg_errorf(err, NULL, "out of memory");
    }
    for (size_t i = 0; i < p.n; i++) {
        const kvg_dtype_traits *tr = kvg_dtype_get(p.t[i].dtype);
        if (p.t[i].cols % tr->block_elems || p.t[i].cols > CHUNK_FLOATS) {
            kvg_errorf(err, NULL, "%s: rows of %llu elements cannot be %s (blocks of %u)", p.t[i].name,
                       (unsigned long long)p.t[i].cols, tr->name, tr->block_elems);
            free(p.t);
            return -1;
        }
    }
    *out = p.t;
    *n = p.n;
    return 0;
}

/* ---- writing ---- */

typedef struct synth {
    kvg_writer *w;
    const synth_options *o;
    kvg_error *err;
    float *f32;         /* [CHUNK_FLOATS] */
    unsigned char *enc; /* the chunk in the tensor's dtype */
} synth;

/* Streams tensor number `index` of the plan: blocks of rows are drawn (in
 * parallel, each row from its own generator), converted, written. */
static int put(synth *s, const synth_tensor *t, uint64_t index)
{
    const kvg_dtype_traits *tr = kvg_dtype_get(t->dtype);
    const uint64_t cols = t->cols, n_rows = t->rows ? t->rows : 1;
    uint64_t shape[2] = {t->rows ? t->rows : cols, cols};
    if (kvg_writer_tensor_begin(s->w, t->name, t->dtype, t->rows ? 2 : 1, shape, s->err))
        return -1;
    const uint64_t per_chunk = CHUNK_FLOATS / cols;
    const size_t row_bytes = (size_t)(cols / tr->block_elems * tr->block_bytes);
    for (uint64_t r0 = 0; r0 < n_rows; r0 += per_chunk) {
        long nr = (long)(n_rows - r0 < per_chunk ? n_rows - r0 : per_chunk);
#pragma omp parallel for schedule(static) if (t->fill == SYNTH_NORMAL && nr > 1)
        for (long r = 0; r < nr; r++) {
            float *row = s->f32 + (size_t)r * cols;
            if (t->fill == SYNTH_NORMAL) {
                rng g = rng_for(s->o->seed, index, r0 + (uint64_t)r);
                normals(&g, row, cols, WEIGHT_STD);
            } else {
                for (uint64_t j = 0; j < cols; j++)
                    row[j] = t->fill == SYNTH_ONES ? 1.0f : 0.0f;
            }
            if (t->dtype != KVG_DTYPE_F32)
                tr->from_f32(row, s->enc + (size_t)r * row_bytes, cols);
        }
        const void *data = t->dtype == KVG_DTYPE_F32 ? (const void *)s->f32 : s->enc;
        if (kvg_writer_tensor_write(s->w, data, (size_t)nr * row_bytes, s->err))
            return -1;
    }
    return kvg_writer_tensor_end(s->w, s->err);
}

int synth_write(const char *path, const kvg_tf_config *shape, const synth_options *o, kvg_error *err)
{
    kvg_tf_config c = *shape;
    c.weight_type = (kvg_dtype)o->types.type;
    synth s = {NULL, o, err, NULL, NULL};
    synth_tensor *plan;
    size_t n;
    kvg_tokenizer *tok = NULL;
    time_t last = 0;
    if (synth_plan(&c, o, &plan, &n, err))
        return -1;
    s.f32 = malloc(CHUNK_FLOATS * sizeof *s.f32);
    s.enc = malloc(CHUNK_FLOATS * sizeof *s.f32); /* every other dtype is smaller than f32 */
    int rc = -1;
    if (!s.f32 || !s.enc) {
        kvg_errorf(err, NULL, "out of memory");
        goto done;
    }
    if (kvg_tokenizer_synthetic(c.vocab_size, &tok, err) || kvg_writer_open(path, 0, &s.w, err))
        goto done;
    if (kvg_tf_config_write(&c, s.w, err) || kvg_tokenizer_write(tok, s.w, err) ||
        kvg_writer_meta_str(s.w, "general.name", "synthetic", 9, err) ||
        kvg_writer_meta_u64(s.w, "synth.seed", o->seed, err))
        goto fail;
    for (size_t i = 0; i < n; i++) {
        if (o->progress && cli_progress_due(&last, i == 0))
            fprintf(stderr, "kvgram synth: %s (%zu of %zu tensors)\n", plan[i].name, i + 1, n);
        if (put(&s, &plan[i], i))
            goto fail;
    }
    rc = kvg_writer_finish(s.w, err);
    s.w = NULL;
    goto done;
fail:
    kvg_writer_abort(s.w);
done:
    kvg_tokenizer_free(tok);
    free(plan);
    free(s.f32);
    free(s.enc);
    return rc;
}
