/* ngram_estimate_prob.c — stage 3: probabilities and backoffs.
 *
 * Interpolated modified Kneser-Ney, as lmplz computes it. For a k-gram
 * "c w" with adjusted count a, context c and the suffix "c' w" (c without its
 * first word):
 *   total(c) = sum of a over all k-grams with context c (pruned ones too)
 *   gamma(c) = (D1 n1(c) + D2 n2(c) + D3+ n3+(c) + sum of a over pruned) / total(c)
 *              where nj(c) counts the kept k-grams of context c with a = j (3+: >= 3)
 *   p(w | c) = (a - D(a)) / total(c) + gamma(c) p(w | c')
 * Unigrams have the empty context and back off to the uniform 1 / (V - 1)
 * (V kept unigrams; <s> is not predicted): <unk> gets only that share, and
 * <s> gets probability 1 (log10 0), as in lmplz's ARPA files. The backoff of
 * a context is gamma(c); n-grams ending in <unk> or </s>, and those that
 * extend to nothing, back off with 1. log10 p is capped at 0.
 *
 * Maximum likelihood (--smoothing mle): p(w | c) = raw(c w) / sum of raw over
 * context c (so each context's distribution sums to 1), backoffs 1; <unk>
 * gets -100, KenLM's value for a word never seen.
 *
 * The suffix of a k-gram is known from stage 2; its context is found
 * through the context of that suffix (see find_context). */
#include "ngram_estimate_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The index at level k-1 of the context of entry i of level k (k >= 2).
 * The context "r[1..k)" (reversed) ends with the same words as the context
 * of the entry's suffix "r[0..k-1)" one level down; so it is the child, at
 * level k-1, of that context (prev_ctx[suffix]) whose oldest word is r[k-1].
 * Children of one (k-2)-gram are contiguous and sorted by that word:
 * first_child[j] .. first_child[j+1] at level k-1 hold those of entry j of
 * level k-2. For k = 2 the context is the unigram r[1], whose index is its
 * id (every word is a unigram, in id order). UINT64_MAX if absent. */
static uint64_t find_context(const est_adjusted *a, uint32_t k, uint64_t i, const uint32_t *prev_ctx,
                             const uint64_t *first_child)
{
    const est_level *lv = &a->levels[k];
    const uint32_t *ids = lv->ids + i * k;
    if (k == 2)
        return ids[1] < a->levels[1].n ? ids[1] : UINT64_MAX;
    const est_level *lo = &a->levels[k - 1];
    uint64_t parent = prev_ctx[lv->suffix[i]];
    uint64_t b = first_child[parent], e = first_child[parent + 1];
    uint32_t want = ids[k - 1];
    while (b < e) {
        uint64_t mid = b + (e - b) / 2;
        uint32_t got = lo->ids[mid * (k - 1) + (k - 2)];
        if (got == want)
            return mid;
        if (got < want)
            b = mid + 1;
        else
            e = mid;
    }
    return UINT64_MAX;
}

/* first_child (see find_context) for the entries of level k-2, from the
 * suffix links of level k-1: n_{k-2} + 1 offsets. */
static uint64_t *child_offsets(const est_adjusted *a, uint32_t k)
{
    const est_level *lv = &a->levels[k - 1];
    uint64_t n_par = a->levels[k - 2].n;
    uint64_t *off = calloc((size_t)n_par + 1, sizeof *off);
    if (!off)
        return NULL;
    for (uint64_t i = 0; i < lv->n; i++)
        off[lv->suffix[i] + 1]++;
    for (uint64_t j = 0; j < n_par; j++)
        off[j + 1] += off[j];
    return off;
}

float est_to_log10(double p)
{
    if (p <= 0.0)
        return -100.0f;
    double l = log10(p);
    return l > 0.0 ? 0.0f : (float)l;
}

/* Per context of level k (an entry of level k-1): totals and gamma. */
typedef struct ctx_sums {
    uint64_t *total;  /* sum of adjusted (KN) or raw (MLE) counts */
    double *gamma;
    uint32_t *ctx;    /* by level-k entry: its context's index at level k-1 */
} ctx_sums;

static int context_sums(const est_adjusted *a, uint32_t k, const kvg_ngram_estimate_options *opt,
                        const uint32_t *prev_ctx, ctx_sums *s)
{
    const est_level *lv = &a->levels[k], *lo = &a->levels[k - 1];
    s->total = calloc((size_t)(lo->n ? lo->n : 1), sizeof *s->total);
    s->gamma = calloc((size_t)(lo->n ? lo->n : 1), sizeof *s->gamma);
    s->ctx = malloc((size_t)(lv->n ? lv->n : 1) * sizeof *s->ctx);
    if (!s->total || !s->gamma || !s->ctx)
        return -1;
    const float *d = a->discount[k];
    int mle = opt->smoothing == KVG_SMOOTH_MLE;
    uint64_t *first_child = k > 2 ? child_offsets(a, k) : NULL;
    if (k > 2 && !first_child)
        return -1;
    int missing = 0;
#pragma omp parallel for schedule(static) reduction(| : missing)
    for (uint64_t i = 0; i < lv->n; i++) {
        uint64_t c = find_context(a, k, i, prev_ctx, first_child);
        missing |= c == UINT64_MAX;
        s->ctx[i] = (uint32_t)c;
    }
    free(first_child);
    if (missing)
        return -2; /* cannot happen: every context is a (k-1)-gram */
    for (uint64_t i = 0; i < lv->n; i++) {
        uint64_t c = s->ctx[i];
        uint64_t adj = lv->adj[i];
        if (mle) {
            s->total[c] += lv->raw[i];
            continue;
        }
        s->total[c] += adj;
        s->gamma[c] += lv->pruned[i] ? (double)adj : (double)d[adj < 3 ? adj : 3];
    }
    for (uint64_t c = 0; c < lo->n; c++)
        if (s->total[c])
            s->gamma[c] /= (double)s->total[c];
    return 0;
}

static void ctx_free(ctx_sums *s)
{
    free(s->total);
    free(s->gamma);
    free(s->ctx);
    memset(s, 0, sizeof *s);
}

/* Copies the kept entries of level k into m->levels[k] with their log10
 * probabilities (p: by entry of the level) and, below the top, backoffs
 * (from the contexts one level up, up may be NULL at the top). */
static int emit_level(const est_adjusted *a, uint32_t k, const double *p, const ctx_sums *up,
                      const kvg_ngram_estimate_options *opt, kvg_est_order *out)
{
    const est_level *lv = &a->levels[k];
    uint64_t kept = 0;
    for (uint64_t i = 0; i < lv->n; i++)
        kept += !lv->pruned[i];
    out->n = kept;
    size_t c = (size_t)(kept ? kept : 1);
    out->ids = malloc(c * k * sizeof *out->ids);
    out->prob = malloc(c * sizeof *out->prob);
    out->backoff = k < a->order ? malloc(c * sizeof *out->backoff) : NULL;
    if (!out->ids || !out->prob || (k < a->order && !out->backoff))
        return -1;
    uint64_t o = 0;
    for (uint64_t i = 0; i < lv->n; i++) {
        if (lv->pruned[i])
            continue;
        memcpy(out->ids + o * k, lv->ids + i * k, k * sizeof *out->ids);
        uint32_t last = lv->ids[i * k];
        if (opt->smoothing == KVG_SMOOTH_MLE && k == 1 && last == KVG_EST_UNK)
            out->prob[o] = -100.0f;
        else
            out->prob[o] = est_to_log10(p[i]);
        if (out->backoff) {
            float b = 0.0f;
            if (opt->smoothing == KVG_SMOOTH_KN && last != KVG_EST_UNK && last != KVG_EST_EOS && up->total[i])
                b = (float)log10(up->gamma[i]);
            out->backoff[o] = b;
        }
        o++;
    }
    return 0;
}

int est_unigram_probs(const est_level *l1, const float d1[4], const kvg_ngram_estimate_options *opt, double *p,
                      kvg_error *err)
{
    int mle = opt->smoothing == KVG_SMOOTH_MLE;
    uint64_t total = 0, kept = 0;
    double gamma = 0.0;
    for (uint64_t i = 0; i < l1->n; i++) {
        total += mle ? l1->raw[i] : l1->adj[i];
        kept += !l1->pruned[i];
        uint64_t c = l1->adj[i];
        if (!mle && c)
            gamma += l1->pruned[i] ? (double)c : (double)d1[c < 3 ? c : 3];
    }
    if (total == 0)
        return kvg_errorf(err, NULL, "the corpus has no words");
    gamma /= (double)total;
    double uniform = kept > 1 ? 1.0 / (double)(kept - 1) : 1.0;
    for (uint64_t i = 0; i < l1->n; i++) {
        uint32_t id = l1->ids[i];
        if (id == KVG_EST_BOS)
            p[i] = 1.0;
        else if (mle)
            p[i] = (double)l1->raw[i] / (double)total;
        else if (id == KVG_EST_UNK)
            p[i] = gamma * uniform;
        else {
            uint64_t c = l1->adj[i];
            p[i] = ((double)c - (double)d1[c < 3 ? c : 3]) / (double)total + gamma * uniform;
        }
    }
    return 0;
}

int est_probabilities(const est_adjusted *a, const kvg_ngram_estimate_options *opt, kvg_ngram_estimate *m,
                      kvg_error *err)
{
    uint32_t order = a->order;
    int mle = opt->smoothing == KVG_SMOOTH_MLE;
    double *p_lo = NULL, *p = NULL;
    ctx_sums up = {0}, cur = {0};
    int rc = -1;

    /* unigrams */
    const est_level *l1 = &a->levels[1];
    p_lo = malloc((size_t)l1->n * sizeof *p_lo);
    if (!p_lo)
        goto oom;
    if (est_unigram_probs(l1, a->discount[1], opt, p_lo, err))
        goto done;

    for (uint32_t k = 1; k <= order; k++) {
        /* the contexts one level up give this level's backoffs */
        if (k < order && context_sums(a, k + 1, opt, cur.ctx, &up))
            goto oom;
        if (emit_level(a, k, p_lo, k < order ? &up : NULL, opt, &m->levels[k]))
            goto oom;
        if (k == order)
            break;
        /* probabilities of level k+1 */
        const est_level *lv = &a->levels[k + 1];
        const float *d = a->discount[k + 1];
        p = malloc((size_t)(lv->n ? lv->n : 1) * sizeof *p);
        if (!p)
            goto oom;
#pragma omp parallel for schedule(static)
        for (uint64_t i = 0; i < lv->n; i++) {
            uint32_t c = up.ctx[i];
            double tot = (double)up.total[c];
            uint64_t adj = lv->adj[i];
            if (mle)
                p[i] = (double)lv->raw[i] / tot;
            else
                p[i] = ((double)adj - (double)d[adj < 3 ? adj : 3]) / tot + up.gamma[c] * p_lo[lv->suffix[i]];
        }
        free(p_lo);
        p_lo = p;
        p = NULL;
        ctx_free(&cur);
        cur = up;
        memset(&up, 0, sizeof up);
    }
    for (uint32_t k = 1; k <= order; k++)
        memcpy(m->discount[k], a->discount[k], sizeof m->discount[k]);
    rc = 0;
    goto done;
oom:
    kvg_errorf(err, NULL, "out of memory for the probabilities");
done:
    free(p_lo);
    free(p);
    ctx_free(&up);
    ctx_free(&cur);
    return rc;
}
