/* lens_compute.c — the lens's numbers (see lens.h): capture hooks on one
 * forward pass, then per layer the unembedding of all positions at once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lens.h"

/* What the hooks copy out of the pass. */
typedef struct capture {
    size_t n, d, hw; /* positions, d_model, n_heads * head_dim */
    float *res;      /* [n_layers, n, d]: residual stream after each block */
    float *att;      /* [n_layers, n, hw]: heads' attention outputs, or NULL */
} capture;

static void on_residual(void *user, uint32_t layer, const float *x, size_t n_tok)
{
    capture *c = user;
    memcpy(c->res + (size_t)layer * c->n * c->d, x, n_tok * c->d * sizeof *x);
}

static void on_heads(void *user, uint32_t layer, const float *heads, size_t n_tok)
{
    capture *c = user;
    if (c->att)
        memcpy(c->att + (size_t)layer * c->n * c->hw, heads, n_tok * c->hw * sizeof *heads);
}

/* Scratch of one run. */
typedef struct work {
    const kvg_transformer *m;
    const lens_options *o;
    lens_result *r;
    const uint32_t *ids;
    size_t n, V, d;
    capture cap;
    float *xn;       /* [n, d] */
    float *logits;   /* [n, V]: the row being analysed (log-probs after softmax) */
    float *final_lp; /* [n, V]: the model's own log-probs */
    float *xm;       /* [n, hw]: one head's slice, the others zero */
    double *scale;   /* [n]: the final norm's 1/sqrt(var + eps) (or RMS) at each position */
    float *enorm;    /* [V]: |embedding row| */
} work;

/* out[n, d] = the model's final norm of x[n, d] (RMSNorm for llama, LayerNorm otherwise). */
static void final_norm(const kvg_transformer *m, float *out, const float *x, size_t n)
{
    if (m->c.arch == KVG_ARCH_LLAMA)
        kvg_rmsnorm(out, x, m->out_norm, n, m->c.d_model, (float)m->c.norm_eps);
    else
        kvg_layernorm(out, x, m->out_norm, m->out_norm_b, n, m->c.d_model, (float)m->c.norm_eps);
}

/* list[0..k) = the k largest of x[0..V), best first, ties to the lower id;
 * NaNs are never chosen while finite values remain. */
static void top_k(const float *x, size_t V, uint32_t k, lens_entry *list)
{
    uint32_t have = 0;
    for (size_t v = 0; v < V; v++) {
        float val = x[v];
        if (have == k && !(val > list[k - 1].value))
            continue;
        uint32_t j = have < k ? have++ : k - 1;
        while (j > 0 && val > list[j - 1].value) {
            list[j] = list[j - 1];
            j--;
        }
        list[j] = (lens_entry){(uint32_t)v, val};
    }
}

static int matmul(float *y, const float *x, kvg_tf_matrix w, size_t n, size_t n_in, size_t n_out, kvg_error *err)
{
    if (kvg_matmul(y, x, w.data, w.type, NULL, n, n_in, n_out))
        return kvg_errorf(err, NULL, "lens: unembedding failed (matrix type %d, width %zu)", (int)w.type, n_in);
    return 0;
}

/* Turns each row of w->logits [n, V] into log-probs and its top-k probabilities into list[(row * stride), k]. */
static void softmax_top(work *w, lens_entry *list, size_t stride)
{
    const size_t V = w->V, k = w->r->k;
#pragma omp parallel for schedule(static) if ((double)w->n * V >= KVG_PARALLEL_MIN_WORK)
    for (long i = 0; i < (long)w->n; i++) {
        float *row = w->logits + (size_t)i * V;
        lens_entry *l = list + (size_t)i * stride;
        kvg_log_softmax(row, row, V);
        top_k(row, V, (uint32_t)k, l);
        for (size_t j = 0; j < k; j++)
            l[j].value = expf(l[j].value);
    }
}

/* (a) for layer L: top-k, next token's rank and probability, KL(final ‖ layer). */
static int logit_lens(work *w, uint32_t L, kvg_error *err)
{
    lens_result *r = w->r;
    const size_t V = w->V, cell0 = (size_t)L * w->n;
    final_norm(w->m, w->xn, w->cap.res + cell0 * w->d, w->n);
    if (matmul(w->logits, w->xn, w->m->output, w->n, w->d, V, err))
        return -1;
    softmax_top(w, r->top + cell0 * r->k, r->k);
    if (L + 1 == r->n_layers)
        memcpy(w->final_lp, w->logits, w->n * V * sizeof *w->logits);
#pragma omp parallel for schedule(static) if ((double)w->n * V >= KVG_PARALLEL_MIN_WORK)
    for (long i = 0; i < (long)w->n; i++) {
        const float *lp = w->logits + (size_t)i * V, *f = w->final_lp + (size_t)i * V;
        double kl = 0;
        for (size_t v = 0; v < V; v++)
            if (f[v] > -INFINITY)
                kl += exp((double)f[v]) * ((double)f[v] - (double)lp[v]);
        r->kl_to_final[cell0 + (size_t)i] = kl;
        if ((size_t)i + 1 < w->n) {
            uint32_t next = w->ids[i + 1];
            uint32_t rank = 1;
            for (size_t v = 0; v < V; v++)
                rank += lp[v] > lp[next];
            r->target_rank[cell0 + (size_t)i] = rank;
            r->target_prob[cell0 + (size_t)i] = expf(lp[next]);
        }
    }
    return 0;
}

/* (c) for layer L: nearest input embeddings of the raw residual by cosine. */
static int nearest(work *w, uint32_t L, kvg_error *err)
{
    lens_result *r = w->r;
    const size_t V = w->V, d = w->d, cell0 = (size_t)L * w->n;
    const float *x = w->cap.res + cell0 * d;
    if (matmul(w->logits, x, w->m->tok_embd, w->n, d, V, err))
        return -1;
#pragma omp parallel for schedule(static) if ((double)w->n * V >= KVG_PARALLEL_MIN_WORK)
    for (long i = 0; i < (long)w->n; i++) {
        float *row = w->logits + (size_t)i * V;
        double xx = 0;
        for (size_t j = 0; j < d; j++)
            xx += (double)x[(size_t)i * d + j] * x[(size_t)i * d + j];
        for (size_t v = 0; v < V; v++) {
            double den = sqrt(xx) * w->enorm[v];
            row[v] = den > 0 ? (float)(row[v] / den) : 0.0f;
        }
        top_k(row, V, r->k, r->nearest + (cell0 + (size_t)i) * r->k);
    }
    return 0;
}

/* (b) for layer L, head h: the head's direct term in the final logits (lens.h). */
static int head_lens(work *w, uint32_t L, uint32_t h, kvg_error *err)
{
    lens_result *r = w->r;
    const kvg_tf_config *c = &w->m->c;
    const size_t d = w->d, hw = w->cap.hw, hd = c->head_dim, n = w->n;
    const float *att = w->cap.att + (size_t)L * n * hw;
    memset(w->xm, 0, n * hw * sizeof *w->xm);
    for (size_t i = 0; i < n; i++)
        memcpy(w->xm + i * hw + h * hd, att + i * hw + h * hd, hd * sizeof *att);
    /* xn[n, d] = the head's term in the residual stream: its columns of W_o (bias not included) */
    if (matmul(w->xn, w->xm, w->m->layers[L].wo, n, hw, d, err))
        return -1;
    const float *gamma = w->m->out_norm;
    const int centre = c->arch != KVG_ARCH_LLAMA;
    for (size_t i = 0; i < n; i++) {
        float *y = w->xn + i * d;
        double mean = 0;
        if (centre) {
            for (size_t j = 0; j < d; j++)
                mean += y[j];
            mean /= (double)d;
        }
        for (size_t j = 0; j < d; j++)
            y[j] = (float)(((double)y[j] - mean) * w->scale[i] * gamma[j]);
    }
    if (matmul(w->logits, w->xn, w->m->output, n, d, w->V, err))
        return -1;
    softmax_top(w, r->heads + ((size_t)L * n * r->n_heads + h) * r->k, (size_t)r->n_heads * r->k);
    return 0;
}

/* scale[i] = 1 / sqrt(var(x_i) + eps) (LayerNorm) or 1 / sqrt(mean(x_i^2) + eps) (RMSNorm) of the final residual. */
static void final_scales(work *w)
{
    const kvg_tf_config *c = &w->m->c;
    const float *x = w->cap.res + (size_t)(c->n_layers - 1) * w->n * w->d;
    for (size_t i = 0; i < w->n; i++) {
        const float *xi = x + i * w->d;
        double mean = 0, ss = 0;
        if (c->arch != KVG_ARCH_LLAMA) {
            for (size_t j = 0; j < w->d; j++)
                mean += xi[j];
            mean /= (double)w->d;
        }
        for (size_t j = 0; j < w->d; j++)
            ss += ((double)xi[j] - mean) * ((double)xi[j] - mean);
        w->scale[i] = 1.0 / sqrt(ss / (double)w->d + c->norm_eps);
    }
}

static void embedding_norms(work *w, float *row)
{
    for (size_t v = 0; v < w->V; v++) {
        kvg_row_to_f32(w->m->tok_embd.data, w->m->tok_embd.type, w->d, v, row);
        double s = 0;
        for (size_t j = 0; j < w->d; j++)
            s += (double)row[j] * row[j];
        w->enorm[v] = (float)sqrt(s);
    }
}

void lens_result_free(lens_result *r)
{
    free(r->top);
    free(r->target_rank);
    free(r->target_prob);
    free(r->kl_to_final);
    free(r->nearest);
    free(r->heads);
    memset(r, 0, sizeof *r);
}

static void *alloc(size_t count, size_t size, int *failed)
{
    if (*failed || (count && size > SIZE_MAX / count)) {
        *failed = 1;
        return NULL;
    }
    void *p = calloc(count ? count : 1, size);
    *failed |= !p;
    return p;
}

int lens_run(const kvg_transformer *m, const uint32_t *ids, size_t n, const lens_options *o, lens_result *r,
             kvg_error *err)
{
    const kvg_tf_config *c = &m->c;
    memset(r, 0, sizeof *r);
    if (n == 0)
        return kvg_errorf(err, NULL, "lens: no tokens to look at");
    if (n > c->context_length)
        return kvg_errorf(err, NULL, "lens: %zu tokens, but the model's context is %u", n, c->context_length);
    const size_t L = c->n_layers, V = c->vocab_size, cells = L * n;
    r->n_layers = c->n_layers;
    r->n_heads = o->heads ? c->n_heads : 0;
    r->k = o->top_k < 1 ? 1 : o->top_k > V ? (uint32_t)V : o->top_k;
    r->n_pos = n;
    work w = {m, o, r, ids, n, V, c->d_model, {n, c->d_model, (size_t)c->n_heads * c->head_dim, NULL, NULL},
              NULL, NULL, NULL, NULL, NULL, NULL};
    int failed = 0;
    r->top = alloc(cells * r->k, sizeof *r->top, &failed);
    r->target_rank = alloc(cells, sizeof *r->target_rank, &failed);
    r->target_prob = alloc(cells, sizeof *r->target_prob, &failed);
    r->kl_to_final = alloc(cells, sizeof *r->kl_to_final, &failed);
    if (o->nearest)
        r->nearest = alloc(cells * r->k, sizeof *r->nearest, &failed);
    if (o->heads) {
        r->heads = alloc(cells * r->n_heads * r->k, sizeof *r->heads, &failed);
        w.cap.att = alloc(L * n * w.cap.hw, sizeof(float), &failed);
        w.xm = alloc(n * w.cap.hw, sizeof(float), &failed);
        w.scale = alloc(n, sizeof(double), &failed);
    }
    w.cap.res = alloc(cells * w.d, sizeof(float), &failed);
    w.xn = alloc(n * (w.d > w.cap.hw ? w.d : w.cap.hw), sizeof(float), &failed);
    w.logits = alloc(n * V, sizeof(float), &failed);
    w.final_lp = alloc(n * V, sizeof(float), &failed);
    w.enorm = o->nearest ? alloc(V, sizeof(float), &failed) : NULL;
    uint32_t *pos = alloc(n, sizeof *pos, &failed), *row0 = alloc(n, sizeof *row0, &failed);
    kvg_tf_state *st = NULL;
    int rc = -1;
    if (failed) {
        kvg_errorf(err, NULL, "lens: out of memory for %zu positions", n);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        pos[i] = (uint32_t)i;
    if (kvg_tf_state_new(m, (uint32_t)n, (uint32_t)n, &st, err))
        goto done;
    /* One pass over the whole sequence; the hooks copy each block's residual and heads. */
    kvg_tf_hooks hooks = {&w.cap, o->heads ? on_heads : NULL, on_residual};
    st->hooks = &hooks;
    kvg_tf_batch batch = {n, ids, row0, pos, NULL};
    if (kvg_transformer_forward(m, st, &batch, w.logits, err))
        goto done;
    if (o->nearest)
        embedding_norms(&w, w.xn);
    /* Last layer first: its distribution is the model's, which every KL needs. */
    for (uint32_t l = c->n_layers; l-- > 0;)
        if (logit_lens(&w, l, err) || (o->nearest && nearest(&w, l, err)))
            goto done;
    if (o->heads) {
        final_scales(&w);
        for (uint32_t l = 0; l < c->n_layers; l++)
            for (uint32_t h = 0; h < c->n_heads; h++)
                if (head_lens(&w, l, h, err))
                    goto done;
    }
    rc = 0;
done:
    kvg_tf_state_free(st);
    free(w.cap.res);
    free(w.cap.att);
    free(w.xn);
    free(w.xm);
    free(w.logits);
    free(w.final_lp);
    free(w.scale);
    free(w.enorm);
    free(pos);
    free(row0);
    if (rc)
        lens_result_free(r);
    return rc;
}
