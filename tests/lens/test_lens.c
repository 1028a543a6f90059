/* test_lens.c — lens_run (tools/lens.h) against a plain double-precision
 * recomputation of its definitions from the activations the test captures
 * itself (its own hooks on its own forward pass), on three architectures:
 * llama (stories260K: RMSNorm, separate classifier), GPT-2 (LayerNorm with
 * bias, tied embeddings) and GPT-NeoX (parallel residual, a fixture).
 * Properties pinned down:
 *  - the last layer's distribution is the model's own output (log-softmax of
 *    the forward pass's logits) within 1e-6, and its KL to final is exactly 0;
 *  - with --top = V the probabilities sum to 1, the lists are sorted, and
 *    target_rank / target_prob agree with the list;
 *  - every layer's logit lens, every head's direct logit term (frozen final
 *    norm scale) and the nearest-embedding cosine equal the recomputation. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvg_test.h"
#include "lens.h"

typedef struct ref_capture {
    size_t n, d, hw;
    double *res, *att; /* [L, n, d], [L, n, hw] */
} ref_capture;

static void ref_residual(void *user, uint32_t layer, const float *x, size_t n_tok)
{
    ref_capture *c = user;
    for (size_t i = 0; i < n_tok * c->d; i++)
        c->res[layer * c->n * c->d + i] = x[i];
}

static void ref_heads(void *user, uint32_t layer, const float *h, size_t n_tok)
{
    ref_capture *c = user;
    for (size_t i = 0; i < n_tok * c->hw; i++)
        c->att[layer * c->n * c->hw + i] = h[i];
}

/* ln-softmax of logits[V] in place (double). */
static void log_softmax(double *x, size_t V)
{
    double mx = -INFINITY, s = 0;
    for (size_t v = 0; v < V; v++)
        mx = x[v] > mx ? x[v] : mx;
    for (size_t v = 0; v < V; v++)
        s += exp(x[v] - mx);
    for (size_t v = 0; v < V; v++)
        x[v] -= mx + log(s);
}

/* The final norm's statistics of x[d]: *mean (0 for RMSNorm) and 1 / sqrt(var + eps) (RMSNorm: mean square). */
static double norm_scale(const double *x, size_t d, int rms, double eps, double *mean)
{
    double mu = 0, ss = 0;
    for (size_t j = 0; !rms && j < d; j++)
        mu += x[j] / (double)d;
    for (size_t j = 0; j < d; j++)
        ss += (x[j] - mu) * (x[j] - mu);
    *mean = mu;
    return 1 / sqrt(ss / (double)d + eps);
}

/* logits[V] = W_U · y[d] (y already normed). */
static void unembed(const kvg_transformer *m, const double *y, double *logits, float *row)
{
    const size_t d = m->c.d_model;
    for (size_t v = 0; v < m->c.vocab_size; v++) {
        kvg_row_to_f32(m->output.data, m->output.type, d, v, row);
        double s = 0;
        for (size_t j = 0; j < d; j++)
            s += (double)row[j] * y[j];
        logits[v] = s;
    }
}

/* The lens's list for one cell holds the whole distribution (k = V): compare it with want_lp[V]. */
static void check_dist(const lens_entry *l, uint32_t k, const double *want_lp, double tol, const char *what, size_t L,
                       size_t i)
{
    double sum = 0, worst = 0;
    int sorted = 1;
    for (uint32_t j = 0; j < k; j++) {
        sum += l[j].value;
        double diff = fabs(l[j].value - exp(want_lp[l[j].id]));
        worst = diff > worst ? diff : worst;
        sorted &= j == 0 || l[j].value <= l[j - 1].value;
    }
    if (worst > tol || fabs(sum - 1) > 1e-5 || !sorted) {
        kvg_test_failed++;
        fprintf(stderr, "%s layer %zu pos %zu: max |p - p_ref| %.3g (tol %.3g), sum %.9f, sorted %d\n", what, L, i,
                worst, tol, sum, sorted);
    } else {
        kvg_test_passed++;
    }
}

static void test_model(const char *path)
{
    printf("%s\n", path);
    kvg_error err;
    kvg_file *f = NULL;
    kvg_transformer *m = NULL;
    if (kvg_open(path, &f, &err) || kvg_transformer_open(f, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        kvg_close(f);
        return;
    }
    const kvg_tf_config *c = &m->c;
    const size_t V = c->vocab_size, d = c->d_model, L = c->n_layers, H = c->n_heads, hd = c->head_dim, hw = H * hd;
    const size_t n = c->context_length < 9 ? c->context_length : 9;
    uint32_t ids[9], pos[9], row0[9] = {0};
    for (size_t i = 0; i < n; i++)
        ids[i] = (uint32_t)((i * 7919 + 13) % V), pos[i] = (uint32_t)i;

    lens_result r;
    lens_options o = {(uint32_t)V, 1, 1};
    CHECK_INT(0, lens_run(m, ids, n, &o, &r, &err));
    CHECK_INT(V, r.k);

    /* the reference: our own pass and our own capture */
    ref_capture cap = {n, d, hw, calloc(L * n * d, sizeof(double)), calloc(L * n * hw, sizeof(double))};
    kvg_tf_hooks hooks = {&cap, ref_heads, ref_residual};
    kvg_tf_state *st = NULL;
    float *logits = malloc(n * V * sizeof *logits), *row = malloc((d > hw ? d : hw) * sizeof *row);
    double *lp = malloc(V * sizeof *lp), *final_lp = malloc(n * V * sizeof *final_lp), *y = malloc(d * sizeof *y);
    CHECK_INT(0, kvg_tf_state_new(m, (uint32_t)n, (uint32_t)n, &st, &err));
    st->hooks = &hooks;
    kvg_tf_batch b = {n, ids, row0, pos, NULL};
    CHECK_INT(0, kvg_transformer_forward(m, st, &b, logits, &err));
    for (size_t i = 0; i < n * V; i++)
        final_lp[i] = logits[i];
    for (size_t i = 0; i < n; i++)
        log_softmax(final_lp + i * V, V);

    const int rms = c->arch == KVG_ARCH_LLAMA;
    for (size_t l = 0; l < L; l++) {
        for (size_t i = 0; i < n; i++) {
            const size_t cell = l * n + i;
            const lens_entry *top = r.top + cell * V;
            /* (a) logit lens: norm in double, unembedding, softmax */
            const double *x = cap.res + cell * d;
            double mean, scale = norm_scale(x, d, rms, c->norm_eps, &mean);
            for (size_t j = 0; j < d; j++)
                y[j] = (x[j] - mean) * scale * m->out_norm[j] + (m->out_norm_b ? m->out_norm_b[j] : 0);
            unembed(m, y, lp, row);
            log_softmax(lp, V);
            check_dist(top, (uint32_t)V, lp, 2e-5, "logit lens", l, i);
            if (l + 1 == L) {
                /* the last layer is the model's own output */
                check_dist(top, (uint32_t)V, final_lp + i * V, 1e-6, "last layer vs forward", l, i);
                CHECK(r.kl_to_final[cell] == 0);
            }
            double kl = 0;
            for (size_t v = 0; v < V; v++)
                kl += exp(final_lp[i * V + v]) * (final_lp[i * V + v] - lp[v]);
            CHECK_NEAR(kl, r.kl_to_final[cell], 1e-4 + 1e-3 * kl);
            /* next token: its probability is its entry's, its rank its place */
            if (i + 1 < n) {
                uint32_t at = 0;
                while (top[at].id != ids[i + 1])
                    at++;
                CHECK(r.target_prob[cell] == top[at].value);
                uint32_t better = 0;
                for (uint32_t j = 0; j < V; j++)
                    better += top[j].value > top[at].value;
                CHECK_INT(better + 1, r.target_rank[cell]);
            } else {
                CHECK_INT(0, r.target_rank[cell]);
            }
            /* (c) nearest embedding by cosine */
            double best = -2, xx = 0;
            uint32_t best_id = 0;
            for (size_t j = 0; j < d; j++)
                xx += x[j] * x[j];
            for (size_t v = 0; v < V; v++) {
                kvg_row_to_f32(m->tok_embd.data, m->tok_embd.type, d, v, row);
                double dot = 0, ee = 0;
                for (size_t j = 0; j < d; j++)
                    dot += row[j] * x[j], ee += (double)row[j] * row[j];
                double cs = dot / sqrt(xx * ee);
                if (cs > best)
                    best = cs, best_id = (uint32_t)v;
            }
            CHECK_INT(best_id, r.nearest[cell * V].id);
            CHECK_NEAR(best, r.nearest[cell * V].value, 1e-5);
            /* (b) each head: W_o's columns of the head, final norm at the final residual's scale, unembedding */
            const double *xf = cap.res + ((L - 1) * n + i) * d;
            double fmean, fscale = norm_scale(xf, d, rms, c->norm_eps, &fmean);
            for (size_t h = 0; h < H; h++) {
                const double *a = cap.att + cell * hw + h * hd;
                double tmean = 0;
                for (size_t j = 0; j < d; j++) {
                    kvg_row_to_f32(m->layers[l].wo.data, m->layers[l].wo.type, hw, j, row);
                    double s = 0;
                    for (size_t k = 0; k < hd; k++)
                        s += (double)row[h * hd + k] * a[k];
                    y[j] = s;
                    tmean += rms ? 0 : s / (double)d;
                }
                for (size_t j = 0; j < d; j++)
                    y[j] = (y[j] - tmean) * fscale * m->out_norm[j];
                unembed(m, y, lp, row);
                log_softmax(lp, V);
                check_dist(r.heads + (cell * H + h) * V, (uint32_t)V, lp, 2e-5, "head", l, i);
            }
        }
    }
    free(cap.res), free(cap.att), free(logits), free(row), free(lp), free(final_lp), free(y);
    kvg_tf_state_free(st);
    lens_result_free(&r);

    /* small k: the same lists, cut */
    lens_options o3 = {3, 0, 0};
    lens_result r3;
    CHECK_INT(0, lens_run(m, ids, n, &o3, &r3, &err));
    CHECK(r3.heads == NULL && r3.nearest == NULL && r3.k == 3);
    lens_result_free(&r3);

    /* refused: nothing, and more than the context */
    CHECK_INT(-1, lens_run(m, ids, 0, &o3, &r3, &err));
    uint32_t *many = calloc(c->context_length + 1, sizeof *many);
    CHECK_INT(-1, lens_run(m, many, c->context_length + 1, &o3, &r3, &err));
    CHECK_STR_CONTAINS(err.msg, "context");
    free(many);
    kvg_transformer_free(m);
    kvg_close(f);
}

int main(void)
{
    const char *bin = getenv("KVG_BIN"), *src = getenv("KVG_SOURCE_DIR"), *shared = getenv("KVG_SHARED_DIR");
    if (!bin || !src || !shared) {
        fprintf(stderr, "test_lens: KVG_BIN / KVG_SOURCE_DIR / KVG_SHARED_DIR not set (run through ctest)\n");
        return 1;
    }
    char dir[] = "/tmp/kvg-lens-XXXXXX", cmd[4096];
    if (!mkdtemp(dir))
        return 1;
    snprintf(cmd, sizeof cmd,
             "python3 '%s/tests/reference/make_hf_fixtures.py' '%s/fx' >/dev/null && "
             "'%s' convert '%s/fx/good/gpt2-f32' -o '%s/gpt2.kvg' --quiet && "
             "'%s' convert '%s/fx/good/neox-f32-sharded' -o '%s/neox.kvg' --quiet && "
             "'%s' convert '%s/models/stories260K.bin' --tokenizer '%s/models/tok512.bin' -o '%s/llama.kvg' --quiet",
             src, dir, bin, dir, dir, bin, dir, dir, bin, shared, shared, dir);
    CHECK_INT(0, system(cmd));
    const char *names[] = {"gpt2", "neox", "llama"};
    for (int i = 0; i < 3; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.kvg", dir, names[i]);
        test_model(path);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_lens: could not remove %s\n", dir);
    return kvg_test_end();
}
