/* transformer_forward.c — the forward pass of the three families, on shared ops.
 *
 * Shapes: a batch of T tokens; x is the residual stream [T, d]. The pass is
 * embed, blocks, unembed (bottom of the file), reading top to bottom in the
 * order the computation happens; the families differ only inside the pieces
 * (which norm, RoPE or learned positions, gated MLP or not), said in blocks().
 *
 * Threads: the whole pass runs on the OpenMP team. kvg_matmul_ex,
 * kvg_qact_quantize and kvg_attention parallelize inside; every other op
 * (embedding, norms, RoPE, cache writes, activations, residual adds) is
 * split here into pieces of fixed size -- one token's row, or PIECE
 * elements -- handed out to the threads. The pieces do not depend on the thread count and each is computed
 * whole by one thread, so results are bit-identical on any number of threads.
 * Kernels are called from inside these loops one piece at a time, on one
 * thread each; nested parallel regions stay inactive (OpenMP's default), so
 * nothing oversubscribes.
 *
 * q8_0 / q4_0 products take their input quantized to 8 bits per 32-block
 * (matmul_qdot.h); quantize() does it once per input, into the state's
 * scratch, for all the products that read it: q, k and v; gate and up; o;
 * down; and the output layer, whose scorer slices (kvg_transformer_logits)
 * all reuse the wanted rows of xb quantized in unembed(). */
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
    int kv_direct;    /* every token's cache row is its index (row0[t] + pos[t] == t): k, v go straight there */
    int failed;       /* a kernel ran out of memory */
} pass;

/* Run a loop on the team only when it is worth waking it (same threshold as the kernels). */
#define WORTH_THREADS(work) ((double)(work) >= KVG_PARALLEL_MIN_WORK)

/* *qa = x[T, n_in] quantized into the state's scratch, once for all the
 * products that read x, when one of them has q8_0 / q4_0 weights (needed);
 * returns qa, or NULL when no product needs it (then nothing is written).
 * The products give the same bits as quantizing x each (kvg_matmul_ex). */
static const kvg_qact *quantize(pass *p, kvg_qact *qa, const float *x, size_t n_in, int needed)
{
    if (!needed || !p->s->qx)
        return NULL;
    kvg_qact_quantize(qa, p->s->qx, x, p->T, n_in);
    return qa;
}

/* y[T, n_out] = x · W^T + bias, then the epilogue (NULL: none); qa: x
 * quantized (or NULL). */
static void matmul(pass *p, float *y, const float *x, const kvg_qact *qa, kvg_tf_matrix w, const float *bias,
                   size_t n_in, size_t n_out, const kvg_epilogue *epi)
{
    p->failed |= kvg_matmul_ex(y, x, qa, w.data, w.type, bias, p->T, n_in, n_out, epi) != 0;
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

/* One token's row of the model's norm (RMSNorm for llama, LayerNorm for the others): out[d] = norm(x[d]). */
static void norm_row(const pass *p, float *out, const float *x, const float *w, const float *bias)
{
    const size_t d = p->c->d_model;
    if (p->c->arch == KVG_ARCH_LLAMA)
        kvg_rmsnorm(out, x, w, 1, d, (float)p->c->norm_eps);
    else
        kvg_layernorm(out, x, w, bias, 1, d, (float)p->c->norm_eps);
}

/* out[T, d] = norm(x). */
static void norm(pass *p, float *out, const float *x, const float *w, const float *bias)
{
    const size_t d = p->c->d_model;
#pragma omp parallel for schedule(static) if (WORTH_THREADS(p->T * d))
    for (size_t t = 0; t < p->T; t++)
        norm_row(p, out + t * d, x + t * d, w, bias);
}

/* The residual add and the next norm in one pass over each token's row
 * (the row stays in L1 between them; one parallel region instead of two):
 * x[T, d] += y;  out[T, d] = norm(x). Same bits as add, then norm. */
static void add_norm(pass *p, float *x, const float *y, float *out, const float *w, const float *bias)
{
    const size_t d = p->c->d_model;
#pragma omp parallel for schedule(static) if (WORTH_THREADS(p->T * d))
    for (size_t t = 0; t < p->T; t++) {
        kvg_add(x + t * d, y + t * d, d);
        norm_row(p, out + t * d, x + t * d, w, bias);
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

/* RoPE on q [T, n_heads, hd] and k [T, n_kv, hd] (k_stride floats from one
 * token's k to the next), one token at a time, from the state's cos/sin table. */
static void rope(pass *p, float *q, float *k, size_t k_stride)
{
    const kvg_tf_config *c = p->c;
    const size_t q_width = (size_t)c->n_heads * c->head_dim;
    const float *cs = p->s->rope_cs;
#pragma omp parallel for schedule(static) if (WORTH_THREADS(p->T * q_width))
    for (size_t t = 0; t < p->T; t++) {
        kvg_rope_rotate(q + t * q_width, p->b->pos + t, 1, c->n_heads, &c->rope, cs);
        kvg_rope_rotate(k + t * k_stride, p->b->pos + t, 1, c->n_kv_heads, &c->rope, cs);
    }
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

    size_t layer_off = (size_t)L * s->n_rows * kv_width;
    kvg_qact qa;
    const kvg_qact *qh = quantize(p, &qa, h, d,
                                  kvg_dtype_is_quantized(l->wq.type) || kvg_dtype_is_quantized(l->wk.type) ||
                                      kvg_dtype_is_quantized(l->wv.type));
    matmul(p, s->q, h, qh, l->wq, l->bq, d, q_width, NULL);               /* q [T, n_heads*hd] */
    if (p->kv_direct) {                                                   /* k, v [T, n_kv*hd] = cache rows 0..T-1 */
        matmul(p, s->k_cache + layer_off, h, qh, l->wk, l->bk, d, kv_width, NULL);
        matmul(p, s->v_cache + layer_off, h, qh, l->wv, l->bv, d, kv_width, NULL);
        if (c->rope.rot_dims)
            rope(p, s->q, s->k_cache + layer_off, kv_width);
    } else {
        matmul(p, s->k, h, qh, l->wk, l->bk, d, kv_width, NULL);          /* k [T, n_kv*hd] */
        matmul(p, s->v, h, qh, l->wv, l->bv, d, kv_width, NULL);          /* v [T, n_kv*hd] */
        if (c->rope.rot_dims)
            rope(p, s->q, s->k, kv_width);
        /* cache[L][row0 + pos] = k, v */
#pragma omp parallel for schedule(static) if (WORTH_THREADS(p->T * kv_width))
        for (size_t t = 0; t < p->T; t++) {
            size_t at = layer_off + ((size_t)p->b->row0[t] + p->b->pos[t]) * kv_width;
            memcpy(s->k_cache + at, s->k + t * kv_width, kv_width * sizeof(float));
            memcpy(s->v_cache + at, s->v + t * kv_width, kv_width * sizeof(float));
        }
    }
    kvg_attn_shape shape = {c->n_heads, c->n_kv_heads, c->head_dim, p->max_pos};
    p->failed |= kvg_attention(s->att, s->q, s->k_cache + layer_off, s->v_cache + layer_off, p->b->row0,
                               p->b->pos, p->T, &shape) != 0;              /* att [T, n_heads*hd] */
    if (s->hooks && s->hooks->attn_heads)
        s->hooks->attn_heads(s->hooks->user, L, s->att, p->T);
    matmul(p, out, s->att, quantize(p, &qa, s->att, q_width, kvg_dtype_is_quantized(l->wo.type)), l->wo, l->bo,
           q_width, d, NULL);                                                         /* out [T, d] */
}

/* out[T, d] = MLP of layer L on the normed input h[T, d]:
 * llama: down(silu(gate h) * up h); gpt2 / gptneox: down(act(up h + b) ) + b. */
static void mlp(pass *p, uint32_t L, float *out, const float *h)
{
    const kvg_tf_config *c = p->c;
    const kvg_tf_layer *l = &p->m->layers[L];
    kvg_tf_state *s = p->s;
    const size_t d = c->d_model, ffn = c->ffn_dim;
    kvg_qact qa;
    const kvg_qact *qh =
        quantize(p, &qa, h, d, kvg_dtype_is_quantized(l->w_gate.type) || kvg_dtype_is_quantized(l->w_up.type));

    if (l->w_gate.data) {
        matmul(p, s->hb, h, qh, l->w_gate, NULL, d, ffn, NULL);             /* hb [T, ffn] = gate h */
        matmul(p, s->hb2, h, qh, l->w_up, NULL, d, ffn, NULL);              /* hb2 [T, ffn] = up h */
        swiglu(s->hb, s->hb2, p->T * ffn);
    } else {
        matmul(p, s->hb, h, qh, l->w_up, l->b_up, d, ffn, NULL);            /* hb [T, ffn] */
        activate(c->activation == KVG_ACT_GELU_TANH ? kvg_gelu_tanh
                 : c->activation == KVG_ACT_GELU    ? kvg_gelu_erf
                                                    : kvg_silu,
                 s->hb, p->T * ffn);
    }
    matmul(p, out, s->hb, quantize(p, &qa, s->hb, ffn, kvg_dtype_is_quantized(l->w_down.type)), l->w_down,
           l->b_down, ffn, d, NULL);                                                         /* out [T, d] */
}

static void residual_hook(pass *p, uint32_t L)
{
    if (p->s->hooks && p->s->hooks->residual)
        p->s->hooks->residual(p->s->hooks->user, L, p->s->x, p->T);
}

/* xb[n_wanted, d] = final norm of the wanted tokens' rows of x (read in
 * place, no copy); then, when logits is not NULL, logits[n_wanted, V] =
 * output · xb. */
static void unembed(pass *p, float *logits)
{
    const kvg_tf_config *c = p->c;
    kvg_tf_state *s = p->s;
    const size_t d = c->d_model;
    size_t n = 0;
    for (size_t t = 0; t < p->T; t++)
        if (!p->b->want || p->b->want[t])
            s->rows[n++] = (uint32_t)t;
#pragma omp parallel for schedule(static) if (WORTH_THREADS(n * d))
    for (size_t i = 0; i < n; i++)
        norm_row(p, s->xb + i * d, s->x + (size_t)s->rows[i] * d, p->m->out_norm, p->m->out_norm_b);
    /* the output layer's input quantized once, for every slice kvg_transformer_logits computes */
    if (s->qx && kvg_dtype_is_quantized(p->m->output.type)) {
        kvg_qact_quantize(&s->xb_q, s->qx, s->xb, n, d);
        s->xb_q_rows = n;
    }
    if (logits)
        p->failed |= kvg_matmul_ex(logits, s->xb, s->xb_q_rows ? &s->xb_q : NULL, p->m->output.data,
                                   p->m->output.type, NULL, n, d, c->vocab_size, NULL) != 0;
}

/* The decoder blocks. All three families are pre-norm:
 *   h = norm_1(x);  a = attn(h)
 *   sequential residual (gpt2, llama, most gptneox):  x += a;  h = norm_2(x)
 *   parallel residual (gptneox option):               h = norm_2(x);  x += a   (both read the block input)
 *   x += mlp(h)
 * Llama: RMSNorm, RoPE, SwiGLU MLP. GPT-2: LayerNorm, learned positions
 * (added in embed), GELU-tanh MLP. GPT-NeoX: LayerNorm, partial RoPE, GELU.
 * Each residual add is fused with the norm that reads its result
 * (add_norm): the MLP's add with the next block's norm_1; the last block's
 * add stands alone (unembed norms the wanted rows only). */
static void blocks(pass *p)
{
    kvg_tf_state *s = p->s;
    const uint32_t n_layers = p->c->n_layers;
    const size_t n = p->T * p->c->d_model;
    const int parallel = p->c->arch == KVG_ARCH_GPTNEOX && p->c->parallel_residual;
    norm(p, s->xb, s->x, p->m->layers[0].attn_norm, p->m->layers[0].attn_norm_b); /* xb = norm_1(x) */
    for (uint32_t L = 0; L < n_layers; L++) {
        const kvg_tf_layer *l = &p->m->layers[L];
        attention(p, L, s->xb2, s->xb);                                       /* xb2 = attn(xb) */
        if (parallel) {
            norm(p, s->xb, s->x, l->ffn_norm, l->ffn_norm_b);                 /* xb = norm_2(x) */
            add(s->x, s->xb2, n);                                             /* x += attn */
        } else {
            add_norm(p, s->x, s->xb2, s->xb, l->ffn_norm, l->ffn_norm_b);     /* x += attn; xb = norm_2(x) */
        }
        mlp(p, L, s->xb2, s->xb);                                             /* xb2 = mlp(xb) */
        if (L + 1 < n_layers) {                                               /* x += mlp; xb = next norm_1(x) */
            const kvg_tf_layer *next = &p->m->layers[L + 1];
            add_norm(p, s->x, s->xb2, s->xb, next->attn_norm, next->attn_norm_b);
        } else {
            add(s->x, s->xb2, n);
        }
        residual_hook(p, L);
    }
}

/* rope_cs rows for positions [s->rope_rows, max_pos): filled once per state
 * as positions are first used, then read by every layer of every pass. */
static void extend_rope_table(const kvg_transformer *m, kvg_tf_state *s, uint32_t max_pos)
{
    if (!m->c.rope.rot_dims || max_pos <= s->rope_rows)
        return;
    kvg_rope_table(&m->c.rope, m->inv_freq, s->rope_rows, max_pos, s->rope_cs + (size_t)s->rope_rows * m->c.rope.rot_dims);
    s->rope_rows = max_pos;
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
    int kv_direct = 1;
    for (size_t t = 0; t < b->n_tok && kv_direct; t++)
        kv_direct = (size_t)b->row0[t] + b->pos[t] == t;
    extend_rope_table(m, s, max_pos);
    s->xb_q_rows = 0; /* the scratch is about to hold other inputs */
    pass p = {m, c, s, b, b->n_tok, max_pos, kv_direct, 0};
    embed(&p, s->x);
    blocks(&p);
    unembed(&p, logits);
    return p.failed ? kvg_errorf(err, NULL, "out of memory in the forward pass") : 0;
}

int kvg_transformer_logits(const kvg_transformer *m, const kvg_tf_state *s, size_t n_rows, uint32_t v0, uint32_t nv,
                           float *out)
{
    const size_t d = m->c.d_model;
    uint64_t off; /* bytes of output rows 0 .. v0-1 (whole blocks: d % 32 == 0 for quantized types) */
    if (kvg_dtype_nbytes(m->output.type, (uint64_t)v0 * d, &off))
        return -1;
    const kvg_qact *qa = n_rows && n_rows <= s->xb_q_rows ? &s->xb_q : NULL; /* xb as unembed quantized it */
    return kvg_matmul_ex(out, s->xb, qa, (const char *)m->output.data + off, m->output.type, NULL, n_rows, d, nv,
                         NULL);
}
