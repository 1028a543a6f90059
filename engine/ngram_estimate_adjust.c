/* ngram_estimate_adjust.c — stage 2: Kneser-Ney adjusted counts, pruning
 * marks, counts of counts and discounts.
 *
 * A counted window whose older words are all <s> padding stands for the
 * shorter n-gram that starts at its last <s>: "<s> <s> w" is the bigram
 * "<s> w". Windows without padding (or with a single <s> in front) are the
 * highest order. Going down one order at a time:
 *   - the k-grams that end some (k+1)-gram get as adjusted count the number
 *     of distinct (k+1)-grams they end (distinct left extensions), and as raw
 *     count the sum of those (k+1)-grams' raw counts;
 *   - the k-grams that start with <s> (nothing can precede them) keep their
 *     raw count as adjusted count;
 *   - <unk> and <s> are unigrams with count 0.
 * In reversed form, the k-gram a (k+1)-gram ends is its first k ids, so the
 * first group is a run of equal prefixes in the sorted (k+1)-grams.
 *
 * Pruning (lmplz --prune): a k-gram seen at most prune[k-1] times is marked;
 * it still counts in the counts of counts and in its context's totals. The
 * unigrams <unk>, <s> and </s> are never pruned, nor words of the vocabulary
 * the text never used (token-level models: every token is a unigram).
 *
 * Discounts (Chen & Goodman eq. 26): with n_c the number of k-grams of
 * adjusted count c, Y = n1 / (n1 + 2 n2) and Dc = c - (c+1) Y n_{c+1} / n_c for
 * c = 1, 2, 3 — in single precision, as lmplz computes them. lmplz counts the
 * last k-gram of each order it still holds at the end with its raw count
 * instead of its adjusted count; so do we, to get its discounts bit for bit. */
#include "ngram_estimate_internal.h"

#include <stdlib.h>
#include <string.h>

/* The effective length of every counted window, computed once (one byte each). */
static uint8_t *window_lens(const est_counts *f)
{
    uint8_t *len = malloc((size_t)(f->n ? f->n : 1));
    if (len)
        for (uint64_t i = 0; i < f->n; i++)
            len[i] = (uint8_t)est_window_len(f->items + i * f->words_per_item, f->order);
    return len;
}

static int level_alloc(est_level *lv, uint32_t k, uint64_t cap)
{
    size_t c = (size_t)(cap ? cap : 1);
    lv->ids = malloc(c * k * sizeof *lv->ids);
    lv->adj = malloc(c * sizeof *lv->adj);
    lv->raw = malloc(c * sizeof *lv->raw);
    lv->suffix = k > 1 ? malloc(c * sizeof *lv->suffix) : NULL;
    lv->pruned = malloc(c);
    return lv->ids && lv->adj && lv->raw && (k == 1 || lv->suffix) && lv->pruned ? 0 : -1;
}

static void level_free(est_level *lv)
{
    free(lv->ids);
    free(lv->adj);
    free(lv->raw);
    free(lv->suffix);
    free(lv->pruned);
    memset(lv, 0, sizeof *lv);
}

static int cmp_ids(const uint32_t *a, const uint32_t *b, uint32_t k)
{
    for (uint32_t j = 0; j < k; j++)
        if (a[j] != b[j])
            return a[j] < b[j] ? -1 : 1;
    return 0;
}

/* Level k < order from level k+1 (groups of equal k-prefixes) merged with
 * the windows that shorten to k-grams. */
static int build_lower(const est_counts *f, const uint8_t *wlen, est_level *up, est_level *lv, uint32_t k)
{
    unsigned w = f->words_per_item;
    uint64_t n_short = 0;
    for (uint64_t i = 0; i < f->n; i++)
        n_short += wlen[i] == k;
    if (level_alloc(lv, k, up->n + n_short + 2))
        return -1;
    uint64_t n = 0;
    if (k == 1) { /* <unk> and <s>: count 0, lowest ids */
        lv->ids[0] = KVG_EST_UNK;
        lv->ids[1] = KVG_EST_BOS;
        lv->adj[0] = lv->adj[1] = lv->raw[0] = lv->raw[1] = 0;
        n = 2;
    }
    uint64_t a = 0, b = 0;
    uint32_t key[KVG_NGRAM_MAX_ORDER];
    /* advance b to the next window of length k */
    while (b < f->n && wlen[b] != k)
        b++;
    while (a < up->n || b < f->n) {
        int take_a;
        if (b < f->n) {
            for (uint32_t j = 0; j < k; j++)
                key[j] = est_item_id(f->items + b * w, j);
        }
        if (a >= up->n)
            take_a = 0;
        else if (b >= f->n)
            take_a = 1;
        else
            take_a = cmp_ids(up->ids + a * (k + 1), key, k) < 0;
        uint32_t *dst = lv->ids + n * k;
        if (take_a) {
            const uint32_t *src = up->ids + a * (k + 1);
            memcpy(dst, src, k * sizeof *dst);
            uint64_t adj = 0, raw = 0;
            while (a < up->n && cmp_ids(up->ids + a * (k + 1), dst, k) == 0) {
                adj++;
                raw += up->raw[a];
                up->suffix[a] = (uint32_t)n;
                a++;
            }
            lv->adj[n] = adj;
            lv->raw[n] = raw;
        } else {
            memcpy(dst, key, k * sizeof *dst);
            lv->adj[n] = lv->raw[n] = f->items[b * w + w - 1];
            b++;
            while (b < f->n && wlen[b] != k)
                b++;
        }
        n++;
    }
    lv->n = n;
    return 0;
}

static int build_top(const est_counts *f, const uint8_t *wlen, est_level *lv)
{
    uint32_t order = f->order;
    unsigned w = f->words_per_item;
    uint64_t cap = 0;
    for (uint64_t i = 0; i < f->n; i++)
        cap += wlen[i] == order;
    if (order == 1)
        cap += 2;
    if (level_alloc(lv, order, cap))
        return -1;
    uint64_t n = 0;
    if (order == 1) {
        lv->ids[0] = KVG_EST_UNK;
        lv->ids[1] = KVG_EST_BOS;
        lv->adj[0] = lv->adj[1] = lv->raw[0] = lv->raw[1] = 0;
        n = 2;
    }
    for (uint64_t i = 0; i < f->n; i++) {
        const uint64_t *it = f->items + i * w;
        if (wlen[i] != order)
            continue;
        for (uint32_t j = 0; j < order; j++)
            lv->ids[n * order + j] = est_item_id(it, j);
        lv->adj[n] = lv->raw[n] = it[w - 1];
        n++;
    }
    lv->n = n;
    return 0;
}

/* Every id of the vocabulary becomes a unigram, those never seen with count
 * 0 (token-level models know their vocabulary in advance; a word model has
 * seen all its words). Level 2's suffix links follow: a unigram's index is
 * then its id. */
static int fill_vocabulary(est_level *l1, est_level *l2, uint32_t vocab_size)
{
    if (l1->n == vocab_size)
        return 0;
    est_level full;
    memset(&full, 0, sizeof full);
    if (level_alloc(&full, 1, vocab_size))
        return -1;
    for (uint32_t id = 0; id < vocab_size; id++) {
        full.ids[id] = id;
        full.adj[id] = full.raw[id] = 0;
    }
    for (uint64_t i = 0; i < l1->n; i++) {
        uint32_t id = l1->ids[i];
        full.adj[id] = l1->adj[i];
        full.raw[id] = l1->raw[i];
    }
    if (l2)
        for (uint64_t i = 0; i < l2->n; i++)
            l2->suffix[i] = l1->ids[l2->suffix[i]];
    level_free(l1);
    full.n = vocab_size;
    *l1 = full;
    return 0;
}

static int compute_discount(const uint64_t nc[5], uint32_t k, float d[4], kvg_error *err, const char *where)
{
    for (unsigned j = 1; j < 4; j++)
        if (nc[j] == 0)
            return kvg_errorf(err, where,
                              "cannot estimate Kneser-Ney discounts for %u-grams with adjusted count %u: no %u-gram "
                              "has adjusted count %u (is the corpus small or artificial?); deduplicate it, or rerun "
                              "with --discount_fallback",
                              k, j + 1, k, j);
    d[0] = 0.0f;
    float y = (float)nc[1] / (float)((double)nc[1] + 2.0 * (double)nc[2]);
    for (unsigned j = 1; j < 4; j++) {
        d[j] = (float)j - (float)(j + 1) * y * (float)nc[j + 1] / (float)nc[j];
        if (d[j] < 0.0f || d[j] > (float)j)
            return kvg_errorf(err, where,
                              "the %u-gram discount for adjusted count %u is out of range: %g (modified Kneser-Ney "
                              "finds the counts of counts odd); rerun with --discount_fallback to override",
                              k, j, (double)d[j]);
    }
    return 0;
}

int est_discounts(const uint64_t nc[5], uint32_t k, const kvg_ngram_estimate_options *opt, const char *where,
                  float d[4], kvg_error *err)
{
    if (opt->smoothing != KVG_SMOOTH_KN)
        return 0;
    if (compute_discount(nc, k, d, err, where)) {
        if (!opt->discount_fallback)
            return -1;
        memcpy(d, opt->fallback, 4 * sizeof *d);
        d[0] = 0.0f;
    }
    return 0;
}

int est_adjust(est_counts *f, const kvg_ngram_estimate_options *opt, const char *where, est_adjusted *out,
               kvg_error *err)
{
    memset(out, 0, sizeof *out);
    uint32_t order = f->order;
    out->order = order;
    uint8_t *wlen = window_lens(f);
    if (!wlen)
        goto oom;
    int failed = build_top(f, wlen, &out->levels[order]);
    for (uint32_t k = order - 1; k >= 1 && !failed; k--)
        failed = build_lower(f, wlen, &out->levels[k + 1], &out->levels[k], k);
    free(wlen);
    if (failed)
        goto oom;
    if (fill_vocabulary(&out->levels[1], order > 1 ? &out->levels[2] : NULL, f->vocab_size))
        goto oom;
    uint32_t last_len = f->n ? est_window_len(f->items + (f->n - 1) * f->words_per_item, order) : 0;
    free(f->items);
    f->items = NULL;

    for (uint32_t k = 1; k <= order; k++) {
        est_level *lv = &out->levels[k];
        uint64_t limit = opt->prune[k - 1];
        uint64_t nc[5] = {0, 0, 0, 0, 0};
        for (uint64_t i = 0; i < lv->n; i++) {
            lv->pruned[i] = k == 1 ? est_unigram_pruned(lv->ids[i], lv->raw[i], limit) : lv->raw[i] <= limit;
            uint64_t c = lv->adj[i];
            if (i + 1 == lv->n && k < order && k <= last_len)
                c = lv->raw[i]; /* lmplz's last flush (see the top) */
            if (c < 5)
                nc[c]++;
        }
        if (est_discounts(nc, k, opt, where, out->discount[k], err))
            goto fail;
    }
    return 0;
oom:
    kvg_errorf(err, where, "out of memory for the adjusted counts");
fail:
    est_adjusted_free(out);
    return -1;
}

void est_adjusted_free(est_adjusted *a)
{
    for (uint32_t k = 1; k <= KVG_NGRAM_MAX_ORDER; k++)
        level_free(&a->levels[k]);
}
