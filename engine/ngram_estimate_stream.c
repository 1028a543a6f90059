/* ngram_estimate_stream.c — stages 2 and 3 (adjusted counts, discounts,
 * probabilities, backoffs) as passes over sorted streams, for a corpus whose
 * counted windows do not fit the memory budget. It computes exactly what
 * ngram_estimate_adjust.c and ngram_estimate_prob.c compute in memory (same
 * formulas, same order of floating-point sums), lmplz-style:
 *
 *  1. adjust: one pass over the distinct windows in suffix order (reversed
 *     ids, lexicographic). The k-grams are the distinct k-prefixes of the
 *     windows; those sharing a k-prefix are contiguous, so one open group
 *     per order collects the distinct extensions (adjusted count) and their
 *     raw counts, and is written out when the prefix changes. Out come, per
 *     order k >= 2, a stream of (k-gram, adjusted, raw) in suffix order, the
 *     unigram counts by id (in memory) and the counts of counts.
 *  2. per order k >= 2:
 *     a. sort the k-grams into context order (key: the context's ids, then
 *        the predicted word) with the external sorter;
 *     b. one pass over each context's group: its total and gamma go to a
 *        context stream (which comes out in suffix order of level k-1), and
 *        every k-gram's own term (adj - D) / total and gamma to a second
 *        sorter, back into suffix order;
 *     c. interpolate: in suffix order a k-gram's suffix (its first k-1
 *        reversed ids) ascends too, so a merge with level k-1's
 *        probabilities (a stream in the same order) gives p(w | c');
 *     d. level k-1 is then final: merged with the context stream, each kept
 *        (k-1)-gram gets its backoff, log10 values are written out.
 *
 * Memory: the budget, split between the two sorters alive at once (their
 * merges read one 64 KiB buffer per run), plus terms that grow with the
 * vocabulary, not the corpus: the words, 41 bytes per word for the unigram
 * arrays, and the largest context group (at most one record per word),
 * plus 64 KiB per open stream (at most order + 4). */
#include "ngram_estimate_internal.h"

#include "kvg_dtype.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct stream_est {
    uint32_t order, vocab_size;
    uint64_t memory;
    const char *dir;
    const kvg_ngram_estimate_options *opt;
    est_level l1;                                  /* every word, index = id */
    est_stream adjusted[KVG_NGRAM_MAX_ORDER + 1];  /* [k >= 2]: key, adj, raw */
    uint64_t nc[KVG_NGRAM_MAX_ORDER + 1][5];       /* counts of adjusted counts */
    uint64_t last_adj[KVG_NGRAM_MAX_ORDER + 1], last_raw[KVG_NGRAM_MAX_ORDER + 1];
    float discount[KVG_NGRAM_MAX_ORDER + 1][4];
} stream_est;

/* ---- 1. adjusted counts ---- */

static int emit_adjusted(stream_est *st, uint32_t k, const uint32_t *ids, uint64_t adj, uint64_t raw, kvg_error *err)
{
    if (k == 1) {
        st->l1.adj[ids[0]] = adj;
        st->l1.raw[ids[0]] = raw;
        return 0;
    }
    uint64_t rec[EST_MAX_WORDS];
    unsigned kw = est_key_words(k);
    est_item_pack(rec, ids, k);
    rec[kw] = adj;
    rec[kw + 1] = raw;
    if (adj < 5)
        st->nc[k][adj]++;
    st->last_adj[k] = adj;
    st->last_raw[k] = raw;
    return est_stream_put(&st->adjusted[k], rec, err);
}

static int adjust_pass(stream_est *st, est_merger *windows, uint32_t *last_len, kvg_error *err)
{
    uint32_t n_ord = st->order;
    unsigned w = est_key_words(n_ord) + 1;
    uint32_t prev[KVG_NGRAM_MAX_ORDER], x[KVG_NGRAM_MAX_ORDER];
    uint64_t gadj[KVG_NGRAM_MAX_ORDER + 1], graw[KVG_NGRAM_MAX_ORDER + 1];
    int open[KVG_NGRAM_MAX_ORDER + 1] = {0};
    int first = 1, got;
    uint32_t len = 0;
    const uint64_t *item;
    while ((got = est_merger_next(windows, &item, err)) == 1) {
        for (uint32_t j = 0; j < n_ord; j++)
            x[j] = est_item_id(item, j);
        uint64_t count = item[w - 1];
        len = est_window_len(item, n_ord);
        uint32_t p = 0;
        if (!first)
            while (p < n_ord && x[p] == prev[p])
                p++;
        /* the groups whose prefix changed are complete: highest first, each
         * adding itself to the group one order down */
        for (uint32_t j = n_ord - 1; j > p; j--) {
            if (!open[j])
                continue;
            if (emit_adjusted(st, j, prev, gadj[j], graw[j], err))
                return -1;
            open[j] = 0;
            if (j > 1) {
                gadj[j - 1]++;
                graw[j - 1] += graw[j];
            }
        }
        for (uint32_t j = 1; j < len; j++)
            if (!open[j]) {
                open[j] = 1;
                gadj[j] = graw[j] = 0;
            }
        /* the window itself: a len-gram (starting with <s> when len < order) */
        if (emit_adjusted(st, len, x, count, count, err))
            return -1;
        if (len > 1) {
            gadj[len - 1]++;
            graw[len - 1] += count;
        }
        memcpy(prev, x, n_ord * sizeof *x);
        first = 0;
    }
    if (got < 0)
        return -1;
    for (uint32_t j = n_ord - 1; j >= 1; j--) {
        if (!open[j])
            continue;
        if (emit_adjusted(st, j, prev, gadj[j], graw[j], err))
            return -1;
        if (j > 1) {
            gadj[j - 1]++;
            graw[j - 1] += graw[j];
        }
    }
    *last_len = len;
    return 0;
}

/* Counts of counts, lmplz's last-entry quirk (see ngram_estimate_adjust.c),
 * discounts, unigram pruning marks. */
static int discounts(stream_est *st, uint32_t last_len, const char *where, kvg_error *err)
{
    est_level *l1 = &st->l1;
    for (uint64_t id = 0; id < l1->n; id++) {
        l1->pruned[id] = est_unigram_pruned((uint32_t)id, l1->raw[id], st->opt->prune[0]);
        uint64_t c = l1->adj[id];
        if (id + 1 == l1->n && 1 < st->order && 1 <= last_len)
            c = l1->raw[id];
        if (c < 5)
            st->nc[1][c]++;
    }
    for (uint32_t k = 2; k < st->order && k <= last_len; k++) {
        if (!st->adjusted[k].n)
            continue;
        if (st->last_adj[k] < 5)
            st->nc[k][st->last_adj[k]]--;
        if (st->last_raw[k] < 5)
            st->nc[k][st->last_raw[k]]++;
    }
    for (uint32_t k = 1; k <= st->order; k++)
        if (est_discounts(st->nc[k], k, st->opt, where, st->discount[k], err))
            return -1;
    return 0;
}

/* ---- 2a. context order ---- */

static int context_sort(stream_est *st, uint32_t k, est_sorter **out, kvg_error *err)
{
    unsigned kw = est_key_words(k);
    est_stream *in = &st->adjusted[k];
    if (est_sorter_new(kw + 2, kw, st->memory / 2, st->dir, out, err) || est_stream_rewind(in, err))
        return -1;
    uint64_t rec[EST_MAX_WORDS];
    uint32_t ids[KVG_NGRAM_MAX_ORDER];
    int got;
    while ((got = est_stream_get(in, rec, err)) == 1) {
        /* rotated: the context's ids (reversed), then the predicted word */
        for (uint32_t j = 1; j < k; j++)
            ids[j - 1] = est_item_id(rec, j);
        ids[k - 1] = est_item_id(rec, 0);
        uint64_t *slot = est_sorter_slot(*out, err);
        if (!slot)
            return -1;
        est_item_pack(slot, ids, k);
        slot[kw] = rec[kw];
        slot[kw + 1] = rec[kw + 1];
    }
    est_stream_close(in);
    return got < 0 ? -1 : est_sorter_finish(*out, err);
}

/* ---- 2b. totals and gammas per context ---- */

typedef struct group {
    uint64_t *recs;   /* n records of the context-sorted layout */
    size_t n, cap;
} group;

static int group_flush(stream_est *st, uint32_t k, group *g, est_stream *ctx, est_sorter *suffix_sorter,
                       kvg_error *err)
{
    if (!g->n)
        return 0;
    unsigned kw = est_key_words(k), w = kw + 2;
    int mle = st->opt->smoothing == KVG_SMOOTH_MLE;
    const float *d = st->discount[k];
    uint64_t limit = st->opt->prune[k - 1];
    uint64_t total = 0;
    double gamma = 0.0;
    for (size_t i = 0; i < g->n; i++) {
        uint64_t adj = g->recs[i * w + kw], raw = g->recs[i * w + kw + 1];
        if (mle) {
            total += raw;
            continue;
        }
        total += adj;
        gamma += raw <= limit ? (double)adj : (double)d[adj < 3 ? adj : 3];
    }
    if (total)
        gamma /= (double)total;
    uint32_t ids[KVG_NGRAM_MAX_ORDER];
    for (uint32_t j = 0; j < k; j++)
        ids[j] = est_item_id(g->recs, j);
    uint64_t crec[EST_MAX_WORDS];
    unsigned ckw = est_key_words(k - 1);
    est_item_pack(crec, ids, k - 1);
    crec[ckw] = total;
    crec[ckw + 1] = kvg_f64_bits(gamma);
    if (est_stream_put(ctx, crec, err))
        return -1;
    for (size_t i = 0; i < g->n; i++) {
        const uint64_t *r = g->recs + i * w;
        uint64_t adj = r[kw], raw = r[kw + 1];
        /* back to suffix order: the predicted word first */
        ids[0] = est_item_id(r, k - 1);
        for (uint32_t j = 1; j < k; j++)
            ids[j] = est_item_id(r, j - 1);
        double u = mle ? (double)raw / (double)total
                       : ((double)adj - (double)d[adj < 3 ? adj : 3]) / (double)total;
        uint64_t *slot = est_sorter_slot(suffix_sorter, err);
        if (!slot)
            return -1;
        est_item_pack(slot, ids, k);
        slot[kw] = kvg_f64_bits(u);
        slot[kw + 1] = kvg_f64_bits(gamma);
        slot[kw + 2] = raw <= limit; /* pruned */
    }
    g->n = 0;
    return 0;
}

static int same_context(const uint64_t *a, const uint64_t *b, uint32_t k)
{
    for (uint32_t j = 0; j + 1 < k; j++)
        if (est_item_id(a, j) != est_item_id(b, j))
            return 0;
    return 1;
}

static int normalize(stream_est *st, uint32_t k, est_sorter *by_context, est_stream *ctx, est_sorter **out,
                     kvg_error *err)
{
    unsigned kw = est_key_words(k), w = kw + 2;
    if (est_sorter_new(kw + 3, kw, st->memory / 2, st->dir, out, err) ||
        est_stream_open(ctx, est_key_words(k - 1) + 2, st->dir, err))
        return -1;
    group g = {NULL, 0, 0};
    const uint64_t *rec;
    int got, rc = -1;
    while ((got = est_sorter_next(by_context, &rec, err)) == 1) {
        if (g.n && !same_context(g.recs, rec, k) && group_flush(st, k, &g, ctx, *out, err))
            goto done;
        if (g.n == g.cap) {
            size_t cap = g.cap ? 2 * g.cap : 256;
            uint64_t *r = realloc(g.recs, cap * w * sizeof *r);
            if (!r) {
                kvg_errorf(err, NULL, "out of memory for the n-grams of one context");
                goto done;
            }
            g.recs = r;
            g.cap = cap;
        }
        memcpy(g.recs + g.n++ * w, rec, w * sizeof *rec);
    }
    if (got >= 0 && !group_flush(st, k, &g, ctx, *out, err) && !est_sorter_finish(*out, err))
        rc = 0;
done:
    free(g.recs);
    return rc;
}

/* ---- 2c. interpolation ---- */

/* Level k's probabilities (not logs) in suffix order, from its own terms
 * and level k-1's probabilities: p1 by id for k = 2, else the stream lower. */
static int interpolate(stream_est *st, uint32_t k, est_sorter *terms, const double *p1, est_stream *lower,
                       est_stream *out, kvg_error *err)
{
    unsigned kw = est_key_words(k), lkw = est_key_words(k - 1);
    int mle = st->opt->smoothing == KVG_SMOOTH_MLE;
    if (est_stream_open(out, kw + 2, st->dir, err) || (lower && est_stream_rewind(lower, err)))
        return -1;
    uint64_t lrec[EST_MAX_WORDS], orec[EST_MAX_WORDS];
    int have_lower = 0;
    const uint64_t *rec;
    int got;
    while ((got = est_sorter_next(terms, &rec, err)) == 1) {
        double p_lo;
        if (!lower) {
            p_lo = p1[est_item_id(rec, 0)];
        } else {
            /* advance the lower level to this n-gram's suffix: its first k-1 ids */
            for (;;) {
                int cmp = 0;
                if (have_lower)
                    for (uint32_t j = 0; j + 1 < k && !cmp; j++) {
                        uint32_t a = est_item_id(lrec, j), b = est_item_id(rec, j);
                        cmp = a < b ? -1 : a > b;
                    }
                if (have_lower && cmp == 0)
                    break;
                if (have_lower && cmp > 0)
                    return kvg_errorf(err, NULL, "internal error: a %u-gram's suffix is missing", k);
                int g = est_stream_get(lower, lrec, err);
                if (g < 0)
                    return -1;
                if (!g)
                    return kvg_errorf(err, NULL, "internal error: a %u-gram's suffix is missing", k);
                have_lower = 1;
            }
            p_lo = kvg_f64_from_bits(lrec[lkw]);
        }
        double u = kvg_f64_from_bits(rec[kw]), gamma = kvg_f64_from_bits(rec[kw + 1]);
        double p = mle ? u : u + gamma * p_lo;
        memcpy(orec, rec, kw * sizeof *rec);
        orec[kw] = kvg_f64_bits(p);
        orec[kw + 1] = rec[kw + 2];
        if (est_stream_put(out, orec, err))
            return -1;
    }
    return got < 0 ? -1 : 0;
}

/* ---- 2d. final values ---- */

/* Level k (>= 2) in log10 with backoffs from ctx (contexts one order up;
 * NULL for the highest order), kept n-grams only, into out. */
static int finalize(stream_est *st, uint32_t k, est_stream *probs, est_stream *ctx, est_stream *out, uint64_t *kept,
                    kvg_error *err)
{
    unsigned kw = est_key_words(k);
    int kn = st->opt->smoothing == KVG_SMOOTH_KN;
    if (est_stream_open(out, est_final_words(k), st->dir, err) || est_stream_rewind(probs, err) ||
        (ctx && est_stream_rewind(ctx, err)))
        return -1;
    uint64_t rec[EST_MAX_WORDS], crec[EST_MAX_WORDS], frec[EST_MAX_WORDS];
    int have_ctx = 0, got;
    *kept = 0;
    while ((got = est_stream_get(probs, rec, err)) == 1) {
        float bo = 0.0f;
        if (ctx && !have_ctx) {
            have_ctx = est_stream_get(ctx, crec, err);
            if (have_ctx < 0)
                return -1;
        }
        if (have_ctx) {
            /* the contexts are some of this level's n-grams, in the same order */
            int cmp = 0;
            for (unsigned j = 0; j < kw && !cmp; j++)
                cmp = crec[j] < rec[j] ? -1 : crec[j] > rec[j];
            if (cmp < 0)
                return kvg_errorf(err, NULL, "internal error: a %u-gram context is not a %u-gram", k + 1, k);
            if (cmp == 0) {
                uint32_t last = est_item_id(rec, 0);
                if (kn && last != KVG_EST_UNK && last != KVG_EST_EOS && crec[kw])
                    bo = (float)log10(kvg_f64_from_bits(crec[kw + 1]));
                have_ctx = 0;
            }
        }
        if (rec[kw + 1])
            continue; /* pruned */
        memcpy(frec, rec, kw * sizeof *rec);
        frec[kw] = (uint64_t)kvg_f32_bits(est_to_log10(kvg_f64_from_bits(rec[kw]))) << 32 | kvg_f32_bits(bo);
        if (est_stream_put(out, frec, err))
            return -1;
        (*kept)++;
    }
    return got < 0 || est_stream_rewind(out, err) ? -1 : 0;
}

/* The kept unigrams into m->levels[1] with backoffs from ctx (contexts of
 * the bigrams; NULL for order 1). */
static int finalize_unigrams(stream_est *st, const double *p1, est_stream *ctx, kvg_ngram_estimate *m,
                             kvg_error *err)
{
    est_level *l1 = &st->l1;
    int kn = st->opt->smoothing == KVG_SMOOTH_KN;
    float *bo = calloc(l1->n, sizeof *bo);
    kvg_est_order *out = &m->levels[1];
    uint64_t kept = 0;
    for (uint64_t id = 0; id < l1->n; id++)
        kept += !l1->pruned[id];
    out->ids = malloc((size_t)(kept ? kept : 1) * sizeof *out->ids);
    out->prob = malloc((size_t)(kept ? kept : 1) * sizeof *out->prob);
    out->backoff = ctx ? malloc((size_t)(kept ? kept : 1) * sizeof *out->backoff) : NULL;
    if (!bo || !out->ids || !out->prob || (ctx && !out->backoff)) {
        free(bo);
        return kvg_errorf(err, NULL, "out of memory for the unigrams");
    }
    if (ctx) {
        if (est_stream_rewind(ctx, err)) {
            free(bo);
            return -1;
        }
        uint64_t crec[EST_MAX_WORDS];
        int got;
        while ((got = est_stream_get(ctx, crec, err)) == 1) {
            uint32_t id = est_item_id(crec, 0);
            if (kn && id != KVG_EST_UNK && id != KVG_EST_EOS && crec[1] && id < l1->n)
                bo[id] = (float)log10(kvg_f64_from_bits(crec[2]));
        }
        if (got < 0) {
            free(bo);
            return -1;
        }
    }
    uint64_t o = 0;
    for (uint64_t id = 0; id < l1->n; id++) {
        if (l1->pruned[id])
            continue;
        out->ids[o] = (uint32_t)id;
        if (st->opt->smoothing == KVG_SMOOTH_MLE && id == KVG_EST_UNK)
            out->prob[o] = -100.0f;
        else
            out->prob[o] = est_to_log10(p1[id]);
        if (out->backoff)
            out->backoff[o] = bo[id];
        o++;
    }
    out->n = kept;
    free(bo);
    return 0;
}

/* ---- the whole ---- */

static void phase(const kvg_ngram_estimate_options *opt, const char *what)
{
    if (opt->progress)
        opt->progress(opt->progress_user, what);
}

int est_stream_estimate(est_counts *f, const kvg_ngram_estimate_options *opt, const char *where,
                        kvg_ngram_estimate *m, kvg_error *err)
{
    stream_est *st = calloc(1, sizeof *st);
    if (!st)
        return kvg_errorf(err, NULL, "out of memory");
    uint32_t order = f->order;
    st->order = order;
    st->vocab_size = f->vocab_size;
    st->memory = f->memory;
    st->dir = f->temp_dir;
    st->opt = opt;
    double *p1 = NULL;
    est_sorter *by_context = NULL, *terms = NULL;
    est_stream ctx = {0}, lower = {0}, probs = {0};
    int rc = -1;

    est_level *l1 = &st->l1;
    l1->n = f->vocab_size;
    l1->ids = malloc(l1->n * sizeof *l1->ids);
    l1->adj = calloc(l1->n, sizeof *l1->adj);
    l1->raw = calloc(l1->n, sizeof *l1->raw);
    l1->pruned = malloc(l1->n);
    p1 = malloc(l1->n * sizeof *p1);
    if (!l1->ids || !l1->adj || !l1->raw || !l1->pruned || !p1) {
        kvg_errorf(err, NULL, "out of memory for %u words", f->vocab_size);
        goto done;
    }
    for (uint32_t id = 0; id < f->vocab_size; id++)
        l1->ids[id] = id;
    for (uint32_t k = 2; k <= order; k++)
        if (est_stream_open(&st->adjusted[k], est_key_words(k) + 2, st->dir, err))
            goto done;

    phase(opt, "adjusting counts (streamed: the n-grams exceed -S)");
    uint32_t last_len;
    if (adjust_pass(st, f->stream, &last_len, err))
        goto done;
    est_merger_free(f->stream);
    f->stream = NULL;
    if (discounts(st, last_len, where, err) || est_unigram_probs(l1, st->discount[1], opt, p1, err))
        goto done;

    for (uint32_t k = 2; k <= order; k++) {
        char what[64];
        snprintf(what, sizeof what, "probabilities of the %u-grams (streamed)", k);
        phase(opt, what);
        if (context_sort(st, k, &by_context, err) || normalize(st, k, by_context, &ctx, &terms, err))
            goto done;
        est_sorter_free(by_context);
        by_context = NULL;
        if (interpolate(st, k, terms, p1, k > 2 ? &lower : NULL, &probs, err))
            goto done;
        est_sorter_free(terms);
        terms = NULL;
        /* level k-1 is complete now */
        if (k == 2) {
            if (finalize_unigrams(st, p1, &ctx, m, err))
                goto done;
        } else {
            est_stream final;
            if (finalize(st, k - 1, &lower, &ctx, &final, &m->levels[k - 1].n, err)) {
                est_stream_close(&final);
                goto done;
            }
            m->levels[k - 1].file = final.f;
        }
        est_stream_close(&ctx);
        est_stream_close(&lower);
        lower = probs;
        memset(&probs, 0, sizeof probs);
    }
    if (order == 1) {
        if (finalize_unigrams(st, p1, NULL, m, err))
            goto done;
    } else {
        est_stream final;
        if (finalize(st, order, &lower, NULL, &final, &m->levels[order].n, err)) {
            est_stream_close(&final);
            goto done;
        }
        m->levels[order].file = final.f;
    }
    memcpy(m->discount, st->discount, sizeof m->discount);
    rc = 0;
done:
    est_sorter_free(by_context);
    est_sorter_free(terms);
    est_stream_close(&ctx);
    est_stream_close(&lower);
    est_stream_close(&probs);
    for (uint32_t k = 2; k <= order; k++)
        est_stream_close(&st->adjusted[k]);
    free(l1->ids);
    free(l1->adj);
    free(l1->raw);
    free(l1->pruned);
    free(p1);
    free(st);
    return rc;
}
