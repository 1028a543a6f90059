/* transformer_forward.c — the forward pass of each family, on shared ops.
 *
 * Shapes: a batch of T tokens; x is the residual stream [T, d]. Each family's
 * function reads top to bottom in the order the computation happens; the
 * pieces they share (embedding, the attention sub-block, the MLP, the
 * unembedding) are the static functions above them.
 *
 * Threads: the whole pass runs on the OpenMP team. kvg_matmul and
 * kvg_attention parallelize inside; every other op (embedding, norms, RoPE,
 * cache writes, activations, residual adds) is split here into pieces of
 * fixed size -- one token's row, or PIECE elements -- handed out to the
 * threads. The pieces do not depend on the thread count and each is computed
 * whole by one thread, so results are bit-identical on any number of threads.
 * Kernels are called from inside these loops one piece at a time, on one
 * thread each; nested parallel regions stay inactive (OpenMP's default), so
 * nothing oversubscribes. */
#include <string.h>

#include "transformer.h"

/* Elements per piece of an element-wise op: a multiple of every SIMD width,
 * large enough that a piece costs far more than handing it out. */
#define PIECE 4096

/* Shorthands for one pass. */
typedef struct pass {
    const kvg_transformer *m;
    const kvg_tf_config *c;
    kvg_tf_state *s;
    const kvg_tf_batch *b;
    size_t T;
    uint32_t max_pos; /* 1 + the largest position in the batch */
    int failed;       /* a kernel ran out of memory */
} pass;

/* Run a loop on the team only when it is worth waking it (same threshold as the kernels). */
#define WORTH_THREADS(work) ((double)(work) >= KVG_PARALLEL_MIN_WORK)

static void matmul(pass *p, float *y, const float *x, kvg_tf_matrix w, const float *bias, size_t n_in, size_t n_out)
{
    p->failed |= kvg_matmul(y, x, w.data, w.type, bias, p->T, n_in, n_out) != 0;
}

/* x[T, d] = tok_embd[tokens] (+ pos_embd[pos] for learned positions). */
static void embed(pass *p, float *x)
{
    const kvg_tf_config *c = p->c;
#pragma omp parallel for schedule(static) if (WORTH_THREADS(p->T * c->d_model))
    for (size_t t = 0; t < p->T; t++) {
        kvg_row_to_f32(p->m->tok_embd.data, p->m->tok_embd.type, c->d_model, p->b->tokens[t], x + t * c->d_model);
        if (p->m->pos_embd)
            kvg_add(x + t * c->d_model, p->m->pos_embd + (size_t)p->b->pos[t] * c->d_model, c->d_model);
    }
}

/* The model's norm (RMSNorm for llama, LayerNorm for the others): out = norm(x). */
static void norm(pass *p, float *out, const float *x, const float *w, const float *bias)
{
    const size_t d = p->c->d_model;
    const float eps = (float)p->c->norm_eps;
    const int rms = p->c->arch == KVG_ARCH_LLAMA;
#pragma omp parallel for schedule(static) if (WORTH_THREADS(p->T * d))
    for (size_t t = 0; t < p->T; t++) {
        if (rms)
            kvg_rmsnorm(out + t * d, x + t * d, w, 1, d, eps);
        else
            kvg_layernorm(out + t * d, x + t * d, w, bias, 1, d, eps);
    }
}

/* x[n] = act(x[n]) in pieces. */
static void activate(void (*act)(float *, size_t), float *x, size_t n)
{
    const size_t n_pieces = (n + PIECE - 1) / PIECE;
#pragma omp parallel for schedule(static) if (WORTH_THREADS(n))
    for (size_t i = 0; i < n_pieces; i++)
        act(x + i * PIECE, n - i * PIECE < PIECE ? n - i * PIECE : PIECE);
}

/* gate[n] = silu(gate) * up, in pieces. */
static void swiglu(float *gate, const float *up, size_t n)
{
    const size_t n_pieces = (n + PIECE - 1) / PIECE;
#pragma omp parallel for schedule(static) if (WORTH_THREADS(n))
    for (size_t i = 0; i < n_pieces; i++)
        kvg_swiglu(gate + i * PIECE, up + i * PIECE, n - i * PIECE < PIECE ? n - i * PIECE : PIECE);
}

/* x[n] += y[n] (the residual adds), in pieces. */
static void add(float *x, const float *y, size_t n)
{
    const size_t n_pieces = (n + PIECE - 1) / PIECE;
#pragma omp parallel for schedule(static) if (WORTH_THREADS(n))
    for (size_t i = 0; i < n_pieces; i++)
        kvg_add(x + i * PIECE, y + i * PIECE, n - i * PIECE < PIECE ? n - i * PIECE : PIECE);
}

/* RoPE on x[T, n_heads, head_dim], one token at a time. */
static void rope(pass *p, float *x, uint32_t n_heads)
{
    const size_t width = (size_t)n_heads * p->c->head_dim;
#pragma omp parallel for schedule(static) if (WORTH_THREADS(p->T * width))
    for (size_t t = 0; t < p->T; t++)
        kvg_rope_apply(x + t * width, p->b->pos + t, 1, n_heads, &p->c->rope, p->m->inv_freq);
}

/* out[T, d] = attention sub-block of layer L on the normed input h[T, d]:
 * q, k, v projections; RoPE on q and k; k, v into the cache at each token's
 * row (row0 + pos); causal GQA attention; output projection. */
static void attention(pass *p, uint32_t L, float *out, const float *h)
{
    const kvg_tf_config *c = p->c;
    const kvg_tf_layer *l = &p->m->layers[L];
    kvg_tf_state *s = p->s;
    const size_t d = c->d_model, hd = c->head_dim;
    const size_t q_width = (size_t)c->n_heads * hd, kv_width = (size_t)c->n_kv_heads * hd;

    matmul(p, s->q, h, l->wq, l->bq, d, q_width);   /* q [T, n_heads*hd] */
    matmul(p, s->k, h, l->wk, l->bk, d, kv_width);  /* k [T, n_kv*hd] */
    matmul(p, s->v, h, l->wv, l->bv, d, kv_width);  /* v [T, n_kv*hd] */
    if (c->rope.rot_dims) {
        rope(p, s->q, c->n_heads);
        rope(p, s->k, c->n_kv_heads);
    }
    /* cache[L][row0 + pos] = k, v */
    size_t layer_off = (size_t)L * s->n_rows * kv_width;
#pragma omp parallel for schedule(static) if (WORTH_THREADS(p->T * kv_width))
    for (size_t t = 0; t < p->T; t++) {
        size_t at = layer_off + ((size_t)p->b->row0[t] + p->b->pos[t]) * kv_width;
        memcpy(s->k_cache + at, s->k + t * kv_width, kv_width * sizeof(float));
        memcpy(s->v_cache + at, s->v + t * kv_width, kv_width * sizeof(float));
    }
    kvg_attn_shape shape = {c->n_heads, c->n_kv_heads, c->head_dim, p->max_pos};
    p->failed |= kvg_attention(s->att, s->q, s->k_cache + layer_off, s->v_cache + layer_off, p->b->row0,
                               p->b->pos, p->T, &shape) != 0;              /* att [T, n_heads*hd] */
    if (s->hooks && s->hooks->attn_heads)
        s->hooks->attn_heads(s->hooks->user, L, s->att, p->T);
    matmul(p, out, s->att, l->wo, l->bo, q_width, d);                     /* out [T, d] */
}

/* out[T, d] = MLP of layer L on the normed input h[T, d]:
 * llama: down(silu(gate h) * up h); gpt2 / gptneox: down(act(up h + b) ) + b. */
static void mlp(pass *p, uint32_t L, float *out, const float *h)
{
    const kvg_tf_config *c = p->c;
    const kvg_tf_layer *l = &p->m->layers[L];
    kvg_tf_state *s = p->s;
    const size_t d = c->d_model, ffn = c->ffn_dim, n = p->T * ffn;

    if (l->w_gate.data) {
        matmul(p, s->hb, h, l->w_gate, NULL, d, ffn);                     /* hb [T, ffn] = gate h */
        matmul(p, s->hb2, h, l->w_up, NULL, d, ffn);                      /* hb2 [T, ffn] = up h */
        swiglu(s->hb, s->hb2, n);
    } else {
        matmul(p, s->hb, h, l->w_up, l->b_up, d, ffn);                    /* hb [T, ffn] */
        activate(c->activation == KVG_ACT_GELU_TANH ? kvg_gelu_tanh
                 : c->activation == KVG_ACT_GELU    ? kvg_gelu_erf
                                                    : kvg_silu,
                 s->hb, n);
    }
    matmul(p, out, s->hb, l->w_down, l->b_down, ffn, d);                   /* out [T, d] */
}

static void residual_hook(pass *p, uint32_t L)
{
    if (p->s->hooks && p->s->hooks->residual)
        p->s->hooks->residual(p->s->hooks->user, L, p->s->x, p->T);
}

/* logits[n_wanted, V] = output · norm(x[t])  for the wanted tokens. */
static void unembed(pass *p, float *logits)
{
    const kvg_tf_config *c = p->c;
    kvg_tf_state *s = p->s;
    const size_t d = c->d_model;
    size_t n = 0;
    for (size_t t = 0; t < p->T; t++)
        if (!p->b->want || p->b->want[t])
            memcpy(s->xb2 + n++ * d, s->x + t * d, d * sizeof(float));
    size_t T = p->T;
    p->T = n;
    norm(p, s->xb, s->xb2, p->m->out_norm, p->m->out_norm_b);
    matmul(p, logits, s->xb, p->m->output, NULL, d, c->vocab_size);
    p->T = T;
}

/* Llama family: pre-RMSNorm blocks, RoPE, SwiGLU MLP. */
static void llama_forward(pass *p, float *logits)
{
    kvg_tf_state *s = p->s;
    const size_t n = p->T * p->c->d_model;
    embed(p, s->x);
    for (uint32_t L = 0; L < p->c->n_layers; L++) {
        const kvg_tf_layer *l = &p->m->layers[L];
        norm(p, s->xb, s->x, l->attn_norm, NULL);       /* x += attn(rmsnorm(x)) */
        attention(p, L, s->xb2, s->xb);
        add(s->x, s->xb2, n);
        norm(p, s->xb, s->x, l->ffn_norm, NULL);        /* x += mlp(rmsnorm(x)) */
        mlp(p, L, s->xb2, s->xb);
        add(s->x, s->xb2, n);
        residual_hook(p, L);
    }
    unembed(p, logits);
}

/* GPT-2: learned positions, pre-LayerNorm blocks, GELU (tanh) MLP, tied unembedding. */
static void gpt2_forward(pass *p, float *logits)
{
    kvg_tf_state *s = p->s;
    const size_t n = p->T * p->c->d_model;
    embed(p, s->x);                                     /* x = wte[tok] + wpe[pos] */
    for (uint32_t L = 0; L < p->c->n_layers; L++) {
        const kvg_tf_layer *l = &p->m->layers[L];
        norm(p, s->xb, s->x, l->attn_norm, l->attn_norm_b); /* x += attn(ln_1(x)) */
        attention(p, L, s->xb2, s->xb);
        add(s->x, s->xb2, n);
        norm(p, s->xb, s->x, l->ffn_norm, l->ffn_norm_b);   /* x += mlp(ln_2(x)) */
        mlp(p, L, s->xb2, s->xb);
        add(s->x, s->xb2, n);
        residual_hook(p, L);
    }
    unembed(p, logits);                                 /* ln_f, then x · wte^T */
}

/* GPT-NeoX / Pythia: partial RoPE, LayerNorm; with parallel residual the
 * attention and the MLP both read the block's input:
 *   x = x + attn(ln_1(x)) + mlp(ln_2(x)),  else  x += attn(ln_1 x); x += mlp(ln_2 x). */
static void gptneox_forward(pass *p, float *logits)
{
    kvg_tf_state *s = p->s;
    const size_t n = p->T * p->c->d_model;
    embed(p, s->x);
    for (uint32_t L = 0; L < p->c->n_layers; L++) {
        const kvg_tf_layer *l = &p->m->layers[L];
        norm(p, s->xb, s->x, l->attn_norm, l->attn_norm_b);
        attention(p, L, s->xb2, s->xb);
        if (p->c->parallel_residual) {
            norm(p, s->xb, s->x, l->ffn_norm, l->ffn_norm_b); /* ln_2 of the block input */
            add(s->x, s->xb2, n);
        } else {
            add(s->x, s->xb2, n);
            norm(p, s->xb, s->x, l->ffn_norm, l->ffn_norm_b);
        }
        mlp(p, L, s->xb2, s->xb);
        add(s->x, s->xb2, n);
        residual_hook(p, L);
    }
    unembed(p, logits);
}

int kvg_transformer_forward(const kvg_transformer *m, kvg_tf_state *s, const kvg_tf_batch *b, float *logits,
                            kvg_error *err)
{
    const kvg_tf_config *c = &m->c;
    if (b->n_tok > s->max_tok)
        return kvg_errorf(err, NULL, "batch of %zu tokens exceeds the state's %u", b->n_tok, s->max_tok);
    uint32_t max_pos = 0;
    for (size_t t = 0; t < b->n_tok; t++) {
        if (b->tokens[t] >= c->vocab_size)
            return kvg_errorf(err, NULL, "token id %u is outside the vocabulary (%u tokens)", b->tokens[t],
                              c->vocab_size);
        if (b->pos[t] >= c->context_length)
            return kvg_errorf(err, NULL, "position %u is beyond the context (%u)", b->pos[t], c->context_length);
        if (b->row0[t] >= s->n_rows || b->pos[t] >= s->n_rows - b->row0[t])
            return kvg_errorf(err, NULL, "cache row %u + position %u is beyond the state's %u rows", b->row0[t],
                              b->pos[t], s->n_rows);
        if (b->pos[t] >= max_pos)
            max_pos = b->pos[t] + 1;
    }
    if (!b->n_tok)
        return 0;
    pass p = {m, c, s, b, b->n_tok, max_pos, 0};
    switch (c->arch) {
    case KVG_ARCH_LLAMA:
        llama_forward(&p, logits);
        break;
    case KVG_ARCH_GPT2:
        gpt2_forward(&p, logits);
        break;
    case KVG_ARCH_GPTNEOX:
        gptneox_forward(&p, logits);
        break;
    }
    return p.failed ? kvg_errorf(err, NULL, "out of memory in the forward pass") : 0;
}
