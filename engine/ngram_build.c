/* ngram_build.c — from n-gram lists to the trie tables of ngram.h.
 *
 * Stages, as in KenLM's loader: sort each order; fill in missing suffixes
 * ("blanks": entries whose probability is what back-off gives, backoff 0)
 * from the top order down, so that every entry's shorter suffixes are
 * entries; add structural nodes for missing contexts so every entry has a
 * path from the root; compute the blanks' probabilities bottom-up; link each
 * level to the next; quantize if asked; write.
 *
 * A level is a column of packed keys (its n word ids, b bits each) and
 * columns of probabilities and backoffs, sorted by key with radix_sort. Keys
 * come in two orientations. Reverse (last word first) for the suffix
 * closure: the (n-1)-word suffixes of level n then come in ascending order,
 * so one merge pass against level n-1 finds the missing ones; lmplz writes
 * its ARPA files in this order, which makes the first sort a mere check.
 * Forward (first word first) for the prefix closure, which is the same
 * merge, and for the tables themselves. */
#include "ngram_build.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ngram_layout.h"
#include "radix_sort.h"

#define PENDING_BLANK INFINITY /* a blank whose probability is not computed yet */

/* ---- packed keys ----
 *
 * The key of an n-gram is its n word ids as n fields of b bits, the first
 * field in the most significant bits of word 0, in key_words(n, b) u64
 * words; the bits after the last field are zero. Comparing keys word by
 * word compares the id tuples field by field. */

#define KEY_MAX_WORDS ((KVG_NGRAM_MAX_ORDER * 32 + 63) / 64)

static unsigned key_words(unsigned n, unsigned b) { return (n * b + 63) / 64; }

/* Field k (0 = first) of a key. */
static inline uint32_t key_field(const uint64_t *key, unsigned b, unsigned k)
{
    unsigned pos = k * b, word = pos / 64, sh = pos % 64;
    uint64_t v = key[word] << sh;
    if (sh + b > 64)
        v |= key[word + 1] >> (64 - sh);
    return (uint32_t)(v >> (64 - b));
}

/* Sets field k of a key whose field is still zero. */
static inline void key_put(uint64_t *key, unsigned b, unsigned k, uint64_t v)
{
    unsigned pos = k * b, word = pos / 64, sh = pos % 64;
    key[word] |= v << (64 - b) >> sh;
    if (sh + b > 64)
        key[word + 1] |= v << (128 - b - sh);
}

static inline int key_cmp(const uint64_t *a, const uint64_t *b, unsigned kw)
{
    for (unsigned k = 0; k < kw; k++)
        if (a[k] != b[k])
            return a[k] < b[k] ? -1 : 1;
    return 0;
}

/* out = the first m fields of key (kw >= key_words(m, b) words zeroed after them). */
static inline void key_head(uint64_t *out, const uint64_t *key, unsigned b, unsigned m, unsigned kw)
{
    unsigned bits = m * b;
    for (unsigned k = 0; k < kw; k++) {
        unsigned lo = 64 * k;
        if (bits >= lo + 64)
            out[k] = key[k];
        else
            out[k] = bits > lo ? key[k] & ~(~UINT64_C(0) >> (bits - lo)) : 0;
    }
}

/* Word ids of a key in ngram order; reverse: the key holds them last first. */
static void key_ids(const uint64_t *key, unsigned b, unsigned n, int reverse, uint32_t *ids)
{
    for (unsigned k = 0; k < n; k++)
        ids[reverse ? n - 1 - k : k] = key_field(key, b, k);
}

/* The (forward) key of ids[0..n-1]. */
static void key_of_ids(uint64_t *key, unsigned b, unsigned n, const uint32_t *ids)
{
    memset(key, 0, key_words(n, b) * sizeof *key);
    for (unsigned k = 0; k < n; k++)
        key_put(key, b, k, ids[k]);
}

/* ---- buffers ----
 *
 * Fresh memory costs a page fault per 4 KiB, and on the machines this runs
 * on that was a good part of the build's time. So buffers are reused: a
 * level's key buffer keeps its capacity (the caller's id array becomes it),
 * and one scratch buffer serves every sort and gather. */

typedef struct wbuf {
    uint64_t *p;
    size_t cap; /* words */
} wbuf;

/* Makes room for n words; the contents are kept only when keep is set. */
static int wbuf_reserve(wbuf *b, uint64_t n, int keep)
{
    if (n <= b->cap)
        return 0;
    if (n > SIZE_MAX / sizeof *b->p)
        return -1;
    uint64_t *p = keep ? realloc(b->p, (size_t)n * sizeof *p) : malloc((size_t)n * sizeof *p);
    if (!p)
        return -1;
    if (!keep)
        free(b->p);
    b->p = p;
    b->cap = (size_t)n;
    return 0;
}

static void wbuf_free(wbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->cap = 0;
}

/* ---- levels ---- */

typedef struct level {
    uint32_t n;     /* words per n-gram */
    unsigned b, kw; /* bits per word id, u64 words per key */
    uint64_t count;
    wbuf keys;      /* count * kw words (sort items while sorting) */
    float *prob;    /* count log10 probabilities (NaN: structural node) */
    float *backoff; /* count log10 backoffs; NULL for the highest order */
} level;

static inline const uint64_t *key_at(const level *l, uint64_t i) { return l->keys.p + i * l->kw; }

static void level_free(level *l)
{
    wbuf_free(&l->keys);
    free(l->prob);
    free(l->backoff);
    l->prob = l->backoff = NULL;
}

/* Index of the entry with this key, or UINT64_MAX. */
static uint64_t find_key(const level *l, const uint64_t *key)
{
    uint64_t lo = 0, hi = l->count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = key_cmp(key_at(l, mid), key, l->kw);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return UINT64_MAX;
}

/* Sort items: the key in the high bits, the entry's index in the low bits,
 * item_words of them per entry. */
static unsigned item_words(unsigned key_bits, uint64_t count)
{
    return (key_bits + packed_bits_for(count) + 63) / 64;
}

static inline uint64_t item_index(const uint64_t *items, unsigned iw, uint64_t i, uint64_t imask)
{
    return items[i * iw + iw - 1] & imask;
}

/* Stores item i (iw words: its key fields, set, and its index, added
 * here) at its place among the items. */
static inline void put_item(uint64_t *items, unsigned iw, uint64_t i, uint64_t *it)
{
    it[iw - 1] |= i;
    for (unsigned k = 0; k < iw; k++) /* a loop: memcpy of a variable size is a call */
        items[i * iw + k] = it[k];
}

/* vals[i] = vals[from(i)] for a column of count floats, through tmp. */
static void gather(float *vals, float *tmp, const uint64_t *items, unsigned iw, uint64_t count, uint64_t imask)
{
    memcpy(tmp, vals, (size_t)count * sizeof *vals);
    for (uint64_t i = 0; i < count; i++)
        vals[i] = tmp[item_index(items, iw, i, imask)];
}

/* Sorts level l whose keys buffer holds its entries as sort items (iw
 * words each; see item_words) by key, moves prob and backoff along, and
 * leaves the keys (kw words each) in the buffer. */
static int level_sort(level *l, unsigned iw, wbuf *scratch)
{
    uint64_t count = l->count, imask = (UINT64_C(1) << packed_bits_for(count)) - 1;
    unsigned key_bits = l->n * l->b, kw = l->kw;
    uint64_t *sorted = l->keys.p;
    if (wbuf_reserve(scratch, count * iw, 0) || radix_sort(sorted, scratch->p, count, iw, 64 * iw - key_bits, 64 * iw))
        return -1;
    /* Move the values along, unless the order did not change; the scratch
     * buffer (2 floats per entry at least) holds a copy meanwhile. */
    uint64_t i = 0;
    while (i < count && item_index(sorted, iw, i, imask) == i)
        i++;
    if (i < count) {
        gather(l->prob, (float *)scratch->p, sorted, iw, count, imask);
        if (l->backoff)
            gather(l->backoff, (float *)scratch->p, sorted, iw, count, imask);
    }
    /* Keys: the first kw words of each item, the index bits cleared;
     * written over the items in place (kw <= iw). */
    for (i = 0; i < count; i++)
        key_head(sorted + i * kw, sorted + i * iw, l->b, l->n, kw);
    return 0;
}

/* Level n from the caller's arrays, sorted in reverse orientation. The id
 * array becomes the key buffer (items are built over it in place) and the
 * value arrays become the level's. */
static int level_from_input(level *l, uint32_t n, unsigned b, kvg_ngram_order_input *src, int top, wbuf *scratch)
{
    uint64_t count = src->count;
    unsigned iw = item_words(n * b, count);
    size_t id_words = (size_t)(count * n / 2); /* whole u64 words in the id array */
    l->n = n;
    l->b = b;
    l->kw = key_words(n, b);
    l->count = count;
    l->keys.p = (uint64_t *)(void *)src->ids;
    l->keys.cap = id_words;
    l->prob = src->prob;
    l->backoff = top ? NULL : src->backoff;
    if (top)
        free(src->backoff);
    src->ids = NULL;
    src->prob = src->backoff = NULL;
    /* Items grow forward over the ids when they are no larger, else
     * backward in a larger buffer: either way an entry's ids are read
     * before anything overwrites them. */
    int grow = (uint64_t)iw * 2 > n;
    if (grow && wbuf_reserve(&l->keys, count * iw, 1))
        return -1;
    const uint32_t *ids = (const uint32_t *)(void *)l->keys.p;
    for (uint64_t j = 0; j < count; j++) {
        uint64_t i = grow ? count - 1 - j : j, it[KEY_MAX_WORDS + 1];
        memset(it, 0, iw * sizeof *it);
        for (unsigned k = 0; k < n; k++)
            key_put(it, b, k, ids[i * n + n - 1 - k]);
        put_item(l->keys.p, iw, i, it);
    }
    return level_sort(l, iw, scratch);
}

/* Re-sorts a level from reverse to forward orientation. */
static int level_to_forward(level *l, wbuf *scratch)
{
    unsigned n = l->n, b = l->b, kw = l->kw, iw = item_words(n * b, l->count);
    if (wbuf_reserve(&l->keys, l->count * iw, 1))
        return -1;
    for (uint64_t j = 0; j < l->count; j++) { /* backward: iw >= kw */
        uint64_t i = l->count - 1 - j, it[KEY_MAX_WORDS + 1];
        const uint64_t *key = l->keys.p + i * kw;
        memset(it, 0, iw * sizeof *it);
        for (unsigned k = 0; k < n; k++)
            key_put(it, b, k, key_field(key, b, n - 1 - k));
        put_item(l->keys.p, iw, i, it);
    }
    return level_sort(l, iw, scratch);
}

static int ids_less(const uint32_t *a, const uint32_t *b, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        if (a[k] != b[k])
            return a[k] < b[k];
    return 0;
}

/* A duplicate n-gram of l (reverse orientation) into ids: the first in
 * forward order, the one a sort in that order would meet first. 0 if none. */
static int find_duplicate(const level *l, uint32_t *ids)
{
    int found = 0;
    uint32_t cand[KVG_NGRAM_MAX_ORDER];
    for (uint64_t i = 1; i < l->count; i++) {
        if (key_cmp(key_at(l, i), key_at(l, i - 1), l->kw) != 0)
            continue;
        key_ids(key_at(l, i), l->b, l->n, 1, cand);
        if (!found || ids_less(cand, ids, l->n))
            memcpy(ids, cand, l->n * sizeof *ids);
        found = 1;
    }
    return found;
}

/* Merges the n_add keys of add (sorted, distinct, none of them in l) into
 * l; the new entries get probability prob and backoff 0. */
static int merge_into(level *l, const uint64_t *add, uint64_t n_add, float prob)
{
    if (n_add == 0)
        return 0;
    uint64_t total = l->count + n_add;
    unsigned kw = l->kw;
    wbuf keys = {NULL, 0};
    float *p = malloc((size_t)total * sizeof *p), *bo = malloc((size_t)total * sizeof *bo);
    if (wbuf_reserve(&keys, total * kw, 0) || !p || !bo) {
        wbuf_free(&keys);
        free(p);
        free(bo);
        return -1;
    }
    uint64_t i = 0, j = 0;
    for (uint64_t k = 0; k < total; k++) {
        const uint64_t *src;
        if (j == n_add || (i < l->count && key_cmp(key_at(l, i), add + j * kw, kw) < 0)) {
            src = key_at(l, i);
            p[k] = l->prob[i];
            bo[k] = l->backoff[i];
            i++;
        } else {
            src = add + j * kw;
            p[k] = prob;
            bo[k] = 0.0f;
            j++;
        }
        memcpy(keys.p + k * kw, src, kw * sizeof *keys.p);
    }
    level_free(l);
    l->keys = keys;
    l->prob = p;
    l->backoff = bo;
    l->count = total;
    return 0;
}

/* Adds to lower (level n-1) every key made of the first n-1 fields of an
 * upper key that lower lacks; new entries get probability new_prob and
 * backoff 0. Both levels sorted in the same orientation: in reverse, the
 * first fields are the suffix (blanks); forward, the prefix (contexts).
 * Either way they come in ascending order, so one pass merges. */
static int close_level(const level *upper, level *lower, float new_prob)
{
    unsigned kw = lower->kw;
    uint64_t key[KEY_MAX_WORDS], *add = NULL, n_add = 0, cap = 0, j = 0;
    for (uint64_t i = 0; i < upper->count; i++) {
        key_head(key, key_at(upper, i), upper->b, lower->n, kw);
        if (n_add && key_cmp(add + (n_add - 1) * kw, key, kw) == 0)
            continue; /* added already */
        while (j < lower->count && key_cmp(key_at(lower, j), key, kw) < 0)
            j++;
        if (j < lower->count && key_cmp(key_at(lower, j), key, kw) == 0)
            continue;
        if (n_add == cap) {
            cap = cap ? 2 * cap : 1024;
            uint64_t *a = realloc(add, (size_t)cap * kw * sizeof *a);
            if (!a) {
                free(add);
                return -1;
            }
            add = a;
        }
        memcpy(add + n_add++ * kw, key, kw * sizeof *key);
    }
    int rc = merge_into(lower, add, n_add, new_prob);
    free(add);
    return rc;
}

/* Blanks' probabilities, bottom-up: back off from the (n-1)-suffix, which
 * is an entry by now, through the context's backoff. The levels are in
 * forward orientation by now; blanks are few (none in lmplz's models), so
 * binary searches do. */
static void fill_blanks(const kvg_ngram_input *in, level *lv, uint32_t N)
{
    uint32_t ids[KVG_NGRAM_MAX_ORDER];
    uint64_t key[KEY_MAX_WORDS];
    for (uint32_t n = 2; n <= N; n++) {
        level *l = &lv[n];
        for (uint64_t i = 0; i < l->count; i++) {
            if (l->prob[i] != PENDING_BLANK)
                continue;
            key_ids(key_at(l, i), l->b, n, 0, ids);
            float lower, ctx_backoff = 0.0f;
            if (n == 2) {
                lower = in->unigram_prob[ids[1]];
                ctx_backoff = in->unigram_backoff[ids[0]];
            } else {
                const level *d = &lv[n - 1];
                key_of_ids(key, l->b, n - 1, ids + 1);
                lower = d->prob[find_key(d, key)];
                key_of_ids(key, l->b, n - 1, ids);
                uint64_t c = find_key(d, key);
                if (c != UINT64_MAX && !ngram_is_absent(d->prob[c]))
                    ctx_backoff = d->backoff[c];
            }
            l->prob[i] = lower + ctx_backoff;
        }
    }
}

static void describe_ngram(const kvg_ngram_input *in, const uint32_t *ids, uint32_t n, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t k = 0; k < n && used + 1 < cap; k++) {
        int len = (int)(in->word_lens[ids[k]] > 60 ? 60 : in->word_lens[ids[k]]);
        int w = snprintf(buf + used, cap - used, "%s%.*s", k ? " " : "", len, in->words[ids[k]]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* ---- value columns ---- */

/* Floats in a total order of their bits (-0 before +0, NaN last), so that
 * exact tables keep every bit pattern distinct. */
static uint32_t order_key(float x)
{
    uint32_t b;
    memcpy(&b, &x, 4);
    if (isnan(x))
        return UINT32_MAX;
    return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}

static float from_order_key(uint32_t k)
{
    uint32_t b = (k & 0x80000000u) ? k & 0x7FFFFFFFu : ~k;
    float x;
    memcpy(&x, &b, 4);
    return x;
}

/* Sorts the values by order_key into scratch: *sorted gets items of *iw
 * words, the key in the top 32 bits and the value's index in the low
 * bits, NaNs (key UINT32_MAX) last; *spare, as much room again after them. */
static int sort_values(const float *vals, uint64_t count, wbuf *scratch, unsigned *iw, uint64_t **sorted,
                       uint64_t **spare)
{
    *iw = item_words(32, count);
    if (wbuf_reserve(scratch, 2 * count * *iw, 0))
        return -1;
    uint64_t *items = scratch->p;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t *it = items + i * *iw;
        memset(it, 0, *iw * sizeof *it);
        it[0] = (uint64_t)order_key(vals[i]) << 32;
        it[*iw - 1] |= i;
    }
    *sorted = items;
    *spare = items + count * *iw;
    return radix_sort(items, *spare, count, *iw, 64 * *iw - 32, 64 * *iw);
}

typedef struct codebook {
    float centers[NGRAM_Q8_CENTERS];
    int n_centers;
} codebook;

/* Up to max_centers centers for the m non-NaN values v[0..m-1] (sorted
 * ascending, equal values in input order): exact when there are at most
 * that many distinct values; otherwise bins of about equal count, never
 * splitting equal values, each bin's center its mean. Sorted ascending. */
static void make_codebook(const float *v, uint64_t m, int max_centers, codebook *cb)
{
    uint64_t distinct = 0;
    for (uint64_t i = 0; i < m; i++)
        distinct += i == 0 || v[i] != v[i - 1];
    cb->n_centers = 0;
    if (distinct <= (uint64_t)max_centers) {
        for (uint64_t i = 0; i < m; i++)
            if (i == 0 || v[i] != v[i - 1])
                cb->centers[cb->n_centers++] = v[i];
    } else {
        uint64_t i = 0;
        while (i < m) {
            int bins_left = max_centers - cb->n_centers;
            uint64_t target = (m - i + (uint64_t)bins_left - 1) / (uint64_t)bins_left;
            uint64_t j = i;
            double sum = 0;
            while (j < m && (j - i < target || v[j] == v[j - 1])) {
                sum += v[j];
                j++;
            }
            if (cb->n_centers == max_centers - 1) { /* last bin takes the rest */
                while (j < m)
                    sum += v[j++];
            }
            cb->centers[cb->n_centers++] = isinf(v[i]) ? v[i] : (float)(sum / (double)(j - i));
            i = j;
        }
    }
    if (cb->n_centers == 0)
        cb->centers[cb->n_centers++] = 0.0f;
}

/* The code of x: the nearer of the centers around it, the lower on a tie.
 * c is the first center >= x (or the last center). */
static uint8_t nearest_code(const codebook *cb, int c, float x)
{
    if (c > 0 && fabsf(x - cb->centers[c - 1]) <= fabsf(cb->centers[c] - x))
        c--;
    return (uint8_t)c;
}

/* One value column of a level, encoded: a code per entry, and the table the
 * codes index (NULL when the column is plain: the codes are then the f32
 * bit patterns, 32 bits each). */
typedef struct column {
    uint32_t *codes; /* the caller's buffer */
    unsigned bits;
    float *table;
    uint64_t n_table;
} column;

/* 8-bit codes: a codebook of at most 256 centers (255 when NaNs must keep
 * a code) over the sorted values; v has room for count floats. */
static int quantize_column(const float *vals, uint64_t count, const uint64_t *sorted, unsigned iw, int has_nan,
                           float *v, column *out)
{
    uint64_t imask = (UINT64_C(1) << packed_bits_for(count)) - 1, m = 0;
    while (m < count && (uint32_t)(sorted[m * iw] >> 32) != UINT32_MAX) {
        v[m] = vals[item_index(sorted, iw, m, imask)];
        m++;
    }
    /* order_key puts -0 before +0, but an exact center is the first of its
     * run of equal values, and that has always been the first in input
     * order (a stable sort by value): lay the zeros out in input order. */
    uint64_t z = 0;
    while (z < m && v[z] != 0.0f)
        z++;
    for (uint64_t i = 0; i < count && z < m && v[z] == 0.0f; i++)
        if (vals[i] == 0.0f)
            v[z++] = vals[i];
    codebook cb;
    make_codebook(v, m, NGRAM_Q8_CENTERS - has_nan, &cb);
    out->n_table = (uint64_t)cb.n_centers + (uint64_t)has_nan;
    if (!(out->table = malloc(out->n_table * sizeof *out->table)))
        return -1;
    memcpy(out->table, cb.centers, (size_t)cb.n_centers * sizeof *out->table);
    /* One walk over the values in sorted order: the first center >= x only
     * moves up. NaNs come last. */
    int c = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t at = item_index(sorted, iw, i, imask);
        float x = vals[at];
        if (isnan(x)) {
            out->codes[at] = (uint32_t)(out->n_table - 1);
            continue;
        }
        while (c < cb.n_centers - 1 && cb.centers[c] < x)
            c++;
        out->codes[at] = nearest_code(&cb, c, x);
    }
    return 0;
}

/* Exact codes: the table is every distinct value (by bits) in ascending
 * order, unless the plain floats are smaller. Returns 1 for plain. */
static int exact_column(const float *vals, uint64_t count, const uint64_t *sorted, unsigned iw, int has_nan,
                        column *out)
{
    uint64_t imask = (UINT64_C(1) << packed_bits_for(count)) - 1, n_finite = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t k = (uint32_t)(sorted[i * iw] >> 32);
        n_finite += k != UINT32_MAX && (i == 0 || k != (uint32_t)(sorted[(i - 1) * iw] >> 32));
    }
    out->n_table = n_finite + (uint64_t)has_nan;
    if (out->n_table == 0)
        out->n_table = 1; /* an empty level still gets a one-entry table */
    unsigned bits = packed_bits_for(out->n_table - 1);
    if (out->n_table * 32 + count * bits >= count * 32) {
        /* Mostly distinct values (top-order probabilities): a table would
         * cost more than it saves; keep the floats. */
        memcpy(out->codes, vals, (size_t)count * sizeof *vals);
        out->n_table = 0;
        return 1;
    }
    if (!(out->table = malloc(out->n_table * sizeof *out->table)))
        return -1;
    if (!n_finite && !has_nan)
        out->table[0] = 0.0f;
    uint64_t code = 0;
    for (uint64_t i = 0; i < count; i++) {
        uint32_t k = (uint32_t)(sorted[i * iw] >> 32);
        if (i > 0 && k != (uint32_t)(sorted[(i - 1) * iw] >> 32))
            code++;
        if (k != UINT32_MAX)
            out->table[code] = from_order_key(k);
        out->codes[item_index(sorted, iw, i, imask)] = (uint32_t)(k == UINT32_MAX ? out->n_table - 1 : code);
    }
    return 0;
}

/* Encodes a column of level n into out, whose codes buffer holds count
 * codes. quantize: 0 exact, 8 for 8-bit codes. NaN — structural nodes — is
 * always the table's last value. */
static int encode_column(unsigned n, const float *vals, uint64_t count, int quantize, wbuf *scratch, column *out,
                         kvg_error *err)
{
    int has_nan = 0, rc = -1;
    unsigned iw;
    uint64_t *sorted, *spare;
    out->bits = 0;
    out->table = NULL;
    out->n_table = 0;
    for (uint64_t i = 0; i < count; i++)
        has_nan |= isnan(vals[i]) != 0;
    if (sort_values(vals, count, scratch, &iw, &sorted, &spare) == 0)
        rc = quantize ? quantize_column(vals, count, sorted, iw, has_nan, (float *)spare, out)
                      : exact_column(vals, count, sorted, iw, has_nan, out);
    if (rc < 0) {
        free(out->table);
        out->table = NULL;
        return kvg_errorf(err, NULL, "out of memory encoding level %u", n);
    }
    if (rc == 1) {
        out->bits = 32;
        return 0;
    }
    if (has_nan)
        out->table[out->n_table - 1] = NAN;
    out->bits = packed_bits_for(out->n_table - 1);
    return 0;
}

static void column_free(column *c)
{
    free(c->table);
    c->table = NULL;
}

/* ---- writing ---- */

/* Writes NAME_values for a coded column (nothing for a plain one). */
static int write_table(kvg_writer *w, unsigned n, const char *part, const column *c, kvg_error *err)
{
    if (!c->table)
        return 0;
    char name[64], vname[48];
    snprintf(vname, sizeof vname, "%s_values", part);
    ngram_tensor_name(name, sizeof name, n, vname);
    uint64_t shape[] = {c->n_table};
    return kvg_writer_tensor(w, name, KVG_DTYPE_F32, 1, shape, c->table, err);
}

/* next[i] = first child of entry i of parent in level n+1 (count + 1 of
 * them, into next): count children per parent by walking the (sorted)
 * child level with a pointer into the parent level. */
static void link_children(const level *parent, uint64_t count, const level *child, uint64_t *next)
{
    uint64_t key[KEY_MAX_WORDS], p = 0;
    memset(next, 0, (size_t)(count + 1) * sizeof *next);
    for (uint64_t i = 0; i < child->count; i++) {
        const uint64_t *ck = key_at(child, i);
        if (child->n == 2) {
            p = key_field(ck, child->b, 0);
        } else {
            key_head(key, ck, child->b, parent->n, parent->kw);
            while (p < count && key_cmp(key_at(parent, p), key, parent->kw) < 0)
                p++;
        }
        next[p + 1]++;
    }
    for (uint64_t i = 0; i < count; i++)
        next[i + 1] += next[i];
}

/* The keys of level n >= 2 (see ngram_layout.h) into keys[0..count): the
 * last word at level 2; at level n >= 3 the rank of the entry's suffix
 * among its siblings in level n-1. Every suffix is in level n-1 (the
 * closures made sure). Entries sharing their first word have ascending
 * suffixes, so each search starts after the previous find. -1 when out of
 * memory or a suffix is missing (a bug). */
static int compute_keys(const level *lv, uint32_t n, uint32_t *keys)
{
    const level *l = &lv[n];
    if (n == 2) {
        for (uint64_t i = 0; i < l->count; i++)
            keys[i] = key_field(key_at(l, i), l->b, 1);
        return 0;
    }
    const level *d = &lv[n - 1];
    uint64_t *run_start = malloc((size_t)(d->count ? d->count : 1) * sizeof *run_start);
    if (!run_start)
        return -1;
    /* run_start[s]: the first entry of level n-1 with s's first n-2 words */
    uint64_t head[KEY_MAX_WORDS], prev[KEY_MAX_WORDS];
    for (uint64_t s = 0; s < d->count; s++) {
        key_head(head, key_at(d, s), d->b, d->n - 1, d->kw);
        run_start[s] = s > 0 && key_cmp(head, prev, d->kw) == 0 ? run_start[s - 1] : s;
        memcpy(prev, head, d->kw * sizeof *head);
    }
    uint32_t ids[KVG_NGRAM_MAX_ORDER], first = UINT32_MAX;
    uint64_t key[KEY_MAX_WORDS], from = 0;
    int rc = 0;
    for (uint64_t i = 0; i < l->count && rc == 0; i++) {
        key_ids(key_at(l, i), l->b, n, 0, ids);
        if (ids[0] != first) {
            first = ids[0];
            from = 0;
        }
        key_of_ids(key, l->b, n - 1, ids + 1);
        uint64_t lo = from, hi = d->count, s = UINT64_MAX;
        while (lo < hi) {
            uint64_t mid = lo + (hi - lo) / 2;
            int c = key_cmp(key_at(d, mid), key, d->kw);
            if (c == 0) {
                s = mid;
                break;
            }
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (s == UINT64_MAX || s - run_start[s] > UINT32_MAX)
            rc = -1;
        else {
            keys[i] = (uint32_t)(s - run_start[s]);
            from = s + 1;
        }
    }
    free(run_start);
    return rc;
}

/* A block's key width: what its largest key needs, 0 when all are 0. */
static unsigned block_kbits(const uint32_t *keys, uint64_t start, uint64_t end)
{
    uint32_t mx = 0;
    if (!keys)
        return 0;
    for (uint64_t i = start; i < end; i++)
        mx = keys[i] > mx ? keys[i] : mx;
    return mx ? packed_bits_for(mx) : 0;
}

/* A block's child offset width (the last offset is the largest). */
static unsigned block_cbits(const uint64_t *next, uint64_t start, uint64_t end)
{
    return !next || next[end] == next[start] ? 0 : packed_bits_for(next[end] - next[start]);
}

/* Writes ngram.<n>.first_keys: the key of each block's first entry, u16
 * when every one fits, else u32, so that a search across the blocks of a
 * long run reads one dense array instead of a header and a key per probe. */
static int write_first_keys(kvg_writer *w, unsigned n, uint64_t count, const uint32_t *keys, const char *where,
                            kvg_error *err)
{
    uint64_t nb = ngram_blocks(count);
    uint32_t mx = 0;
    for (uint64_t b = 0; b < nb; b++)
        mx = keys[b * NGRAM_BLOCK] > mx ? keys[b * NGRAM_BLOCK] : mx;
    int wide = mx > UINT16_MAX;
    void *fk = calloc(nb ? (size_t)nb : 1, wide ? 4 : 2);
    if (!fk)
        return kvg_errorf(err, where, "out of memory packing level %u", n);
    for (uint64_t b = 0; b < nb; b++) {
        if (wide)
            ((uint32_t *)fk)[b] = keys[b * NGRAM_BLOCK];
        else
            ((uint16_t *)fk)[b] = (uint16_t)keys[b * NGRAM_BLOCK];
    }
    char name[64];
    ngram_tensor_name(name, sizeof name, n, "first_keys");
    uint64_t shape[] = {nb};
    int rc = kvg_writer_tensor(w, name, wide ? KVG_DTYPE_U32 : KVG_DTYPE_U16, 1, shape, fk, err);
    free(fk);
    return rc;
}

/* Writes ngram.<n>.blocks and ngram.<n>.records (layout in ngram_layout.h)
 * for count entries with keys (NULL at level 1), value codes and, below the
 * top, child pointers next[0..count]. */
static int write_blocks(kvg_writer *w, unsigned n, uint64_t count, const uint32_t *keys, const column *prob,
                        const column *backoff, const uint64_t *next, const char *where, kvg_error *err)
{
    uint64_t nb = ngram_blocks(count), total = 0;
    unsigned vbits = prob->bits + (next ? backoff->bits : 0);
    for (uint64_t b = 0; b < nb; b++) {
        uint64_t start = b * NGRAM_BLOCK, end = start + NGRAM_BLOCK < count ? start + NGRAM_BLOCK : count;
        total += (end - start) * (block_kbits(keys, start, end) + vbits + block_cbits(next, start, end));
    }
    uint64_t words = ngram_packed_words(total);
    ngram_header_layout hl;
    ngram_header_fields(&hl, words, next != NULL, next ? next[count] : 0);
    uint64_t hwords = ngram_packed_words((nb + 1) * hl.bits);
    uint8_t *rec = calloc((size_t)words, 8), *hdr = calloc((size_t)hwords, 8);
    int rc = -1;
    if (!rec || !hdr) {
        kvg_errorf(err, where, "out of memory packing level %u", n);
        goto done;
    }
    uint64_t pos = 0;
    for (uint64_t b = 0; b <= nb; b++) {
        uint64_t hpos = b * hl.bits;
        bits_set(hdr, hpos, pos);
        if (next)
            bits_set(hdr, hpos + hl.pos_bits + 2 * NGRAM_WIDTH_BITS, next[b < nb ? b * NGRAM_BLOCK : count]);
        if (b == nb)
            break;
        uint64_t start = b * NGRAM_BLOCK, end = start + NGRAM_BLOCK < count ? start + NGRAM_BLOCK : count;
        uint64_t m = end - start;
        unsigned kbits = block_kbits(keys, start, end), cbits = block_cbits(next, start, end);
        bits_set(hdr, hpos + hl.pos_bits, kbits);
        bits_set(hdr, hpos + hl.pos_bits + NGRAM_WIDTH_BITS, cbits);
        /* keys, then one record per entry: prob code, backoff code, child offset */
        unsigned width = vbits + (next ? cbits : 0);
        for (uint64_t i = start; i < end; i++) {
            uint64_t r = i - start, at = pos + m * kbits + r * width;
            if (kbits)
                bits_set(rec, pos + r * kbits, keys[i]);
            bits_set(rec, at, prob->codes[i]);
            if (next) {
                bits_set(rec, at + prob->bits, backoff->codes[i]);
                if (cbits)
                    bits_set(rec, at + vbits, next[i + 1] - next[start]);
            }
        }
        pos += m * (kbits + width);
    }
    char name[64];
    ngram_tensor_name(name, sizeof name, n, "blocks");
    uint64_t hshape[] = {hwords}, rshape[] = {words};
    if (kvg_writer_tensor(w, name, KVG_DTYPE_U64, 1, hshape, hdr, err))
        goto done;
    ngram_tensor_name(name, sizeof name, n, "records");
    if (kvg_writer_tensor(w, name, KVG_DTYPE_U64, 1, rshape, rec, err))
        goto done;
    if (write_first_keys(w, n, count, keys, where, err))
        goto done;
    rc = 0;
done:
    free(rec);
    free(hdr);
    return rc;
}

/* Level 1, exact and indexed by word id: ngram.1.unigrams, u32 [V+1][3],
 * row w = (prob bits, backoff bits, first child in level 2); the last row
 * is (0, 0, count[2]). */
static int write_unigrams(kvg_writer *w, const kvg_ngram_input *in, const level *lv, const uint64_t *counts,
                          wbuf *scratch, const char *where, kvg_error *err)
{
    uint32_t V = in->vocab_size, N = in->order;
    uint64_t *next = NULL;
    if (N > 1) {
        if (counts[1] > UINT32_MAX)
            return kvg_errorf(err, where, "more than 2^32 - 1 2-grams");
        if (wbuf_reserve(scratch, (uint64_t)V + 1, 0))
            return kvg_errorf(err, where, "out of memory");
        next = scratch->p;
        link_children(NULL, V, &lv[2], next);
    }
    uint32_t *rows = calloc((size_t)V + 1, 3 * sizeof *rows);
    if (!rows)
        return kvg_errorf(err, where, "out of memory");
    for (uint64_t i = 0; i <= V; i++) {
        if (i < V) {
            memcpy(&rows[3 * i], &in->unigram_prob[i], 4);
            if (N > 1)
                memcpy(&rows[3 * i + 1], &in->unigram_backoff[i], 4);
        }
        rows[3 * i + 2] = next ? (uint32_t)next[i] : 0;
    }
    uint64_t shape[] = {(uint64_t)V + 1, 3};
    int rc = kvg_writer_tensor(w, "ngram.1.unigrams", KVG_DTYPE_U32, 2, shape, rows, err);
    free(rows);
    return rc;
}

/* Level n's tables: value tables, then the blocks. codes: room for
 * 2 * count codes; keys: level n's keys (NULL at level 1). */
static int write_level(kvg_writer *w, const kvg_ngram_input *in, const level *lv, uint32_t n, const uint64_t *counts,
                       int quantize, wbuf *scratch, uint32_t *codes, const uint32_t *keys, const char *where,
                       kvg_error *err)
{
    uint32_t N = in->order;
    uint64_t count = counts[n - 1];
    if (n == 1)
        return write_unigrams(w, in, lv, counts, scratch, where, err);
    const level *l = &lv[n];
    column prob_col = {codes, 0, NULL, 0}, backoff_col = {codes + count, 0, NULL, 0};
    int rc = -1;
    if (encode_column(n, l->prob, count, quantize, scratch, &prob_col, err) ||
        (n < N && encode_column(n, l->backoff, count, quantize, scratch, &backoff_col, err)))
        goto done;
    uint64_t *next = NULL;
    if (n < N) {
        if (wbuf_reserve(scratch, count + 1, 0)) {
            kvg_errorf(err, where, "out of memory");
            goto done;
        }
        next = scratch->p;
        link_children(l, count, &lv[n + 1], next);
    }
    if (write_table(w, n, "prob", &prob_col, err) || (n < N && write_table(w, n, "backoff", &backoff_col, err)) ||
        write_blocks(w, n, count, keys, &prob_col, &backoff_col, next, where, err))
        goto done;
    rc = 0;
done:
    column_free(&prob_col);
    column_free(&backoff_col);
    return rc;
}

static void progress(const kvg_ngram_input *in, const char *phase)
{
    if (in->progress)
        in->progress(in->progress_user, phase);
}

static int write_meta(kvg_writer *w, const kvg_ngram_input *in, const uint64_t *counts, int quantize, kvg_error *err)
{
    uint32_t N = in->order;
    if (kvg_writer_meta_str(w, "general.kind", NGRAM_KIND, strlen(NGRAM_KIND), err) ||
        kvg_writer_meta_u64(w, NGRAM_KEY_ORDER, N, err) || kvg_writer_meta_u64_array(w, NGRAM_KEY_COUNTS, counts, N, err) ||
        kvg_writer_meta_str(w, NGRAM_KEY_QUANT, quantize ? "q8" : "none", quantize ? 2 : 4, err) ||
        kvg_writer_meta_u64(w, NGRAM_KEY_BOS, in->bos_id, err) || kvg_writer_meta_u64(w, NGRAM_KEY_EOS, in->eos_id, err) ||
        kvg_writer_meta_u64(w, NGRAM_KEY_UNK_ADDED, in->unk_added ? 1 : 0, err))
        return -1;
    return kvg_vocab_write(w, NGRAM_VOCAB_PREFIX, in->words, in->word_lens, in->vocab_size, err);
}

/* Room in scratch for every sort to come of n-grams in these counts
 * (counts[n], n = 2..N): reserved once at the largest size, because every
 * size on the way would be fresh memory too. Memory not yet touched costs
 * nothing. */
static int reserve_scratch(wbuf *scratch, const uint64_t *counts, uint32_t N, unsigned b)
{
    uint64_t words = 0;
    for (uint32_t n = 2; n <= N; n++) {
        uint64_t level_sort = counts[n] * item_words(n * b, counts[n]), values = 2 * counts[n] * item_words(32, counts[n]);
        words = level_sort > words ? level_sort : words;
        words = values > words ? values : words;
    }
    return wbuf_reserve(scratch, words, 0);
}

/* Levels 2..N from the input, sorted in reverse orientation; duplicates
 * refused. */
static int read_levels(kvg_ngram_input *in, level *lv, unsigned b, wbuf *scratch, const char *where, kvg_error *err)
{
    uint32_t N = in->order;
    uint64_t counts[KVG_NGRAM_MAX_ORDER + 1] = {0};
    for (uint32_t n = 2; n <= N; n++)
        counts[n] = in->levels[n].count;
    if (reserve_scratch(scratch, counts, N, b))
        return kvg_errorf(err, where, "out of memory for %llu %u-grams", (unsigned long long)counts[N], N);
    for (uint32_t n = 2; n <= N; n++) {
        uint64_t count = in->levels[n].count;
        if (level_from_input(&lv[n], n, b, &in->levels[n], n == N, scratch))
            return kvg_errorf(err, where, "out of memory for %llu %u-grams", (unsigned long long)count, n);
        uint32_t ids[KVG_NGRAM_MAX_ORDER];
        if (find_duplicate(&lv[n], ids)) {
            char desc[256];
            describe_ngram(in, ids, n, desc, sizeof desc);
            return kvg_errorf(err, where, "duplicate %u-gram \"%s\"", n, desc);
        }
    }
    return 0;
}

/* Suffix closure (blanks) in reverse orientation, then every level forward
 * and the prefix closure (structural nodes). */
static int complete_levels(level *lv, uint32_t N, wbuf *scratch, const char *where, kvg_error *err)
{
    for (uint32_t n = N; n >= 3; n--)
        if (close_level(&lv[n], &lv[n - 1], PENDING_BLANK))
            return kvg_errorf(err, where, "out of memory adding missing %u-grams", n - 1);
    uint64_t counts[KVG_NGRAM_MAX_ORDER + 1] = {0};
    for (uint32_t n = 2; n <= N; n++)
        counts[n] = lv[n].count;
    if (reserve_scratch(scratch, counts, N, lv[N].b))
        return kvg_errorf(err, where, "out of memory sorting %llu %u-grams", (unsigned long long)counts[N], N);
    for (uint32_t n = 2; n <= N; n++)
        if (level_to_forward(&lv[n], scratch))
            return kvg_errorf(err, where, "out of memory sorting %llu %u-grams", (unsigned long long)lv[n].count, n);
    for (uint32_t n = N; n >= 3; n--)
        if (close_level(&lv[n], &lv[n - 1], NAN))
            return kvg_errorf(err, where, "out of memory adding missing %u-gram contexts", n - 1);
    return 0;
}

int kvg_ngram_build(kvg_ngram_input *in, int quantize, kvg_writer *w, const char *where, kvg_error *err)
{
    uint32_t N = in->order, V = in->vocab_size;
    level lv[KVG_NGRAM_MAX_ORDER + 1];
    memset(lv, 0, sizeof lv);
    wbuf scratch = {NULL, 0};
    uint32_t *codes = NULL, *keys[KVG_NGRAM_MAX_ORDER + 1] = {NULL};
    int rc = -1;
    if (N < 1 || N > KVG_NGRAM_MAX_ORDER || V == 0)
        return kvg_errorf(err, where, "n-gram order %u or vocabulary size %u out of range", N, V);
    if (quantize != 0 && quantize != 8)
        return kvg_errorf(err, where, "quantization to %d bits is not supported (0 or 8)", quantize);
    unsigned b = packed_bits_for(V - 1);

    progress(in, "sorting");
    if (read_levels(in, lv, b, &scratch, where, err))
        goto done;
    progress(in, "filling in missing lower-order entries");
    if (complete_levels(lv, N, &scratch, where, err))
        goto done;
    fill_blanks(in, lv, N);

    progress(in, "writing");
    uint64_t counts[KVG_NGRAM_MAX_ORDER], max_count = V;
    counts[0] = V;
    for (uint32_t n = 2; n <= N; n++) {
        counts[n - 1] = lv[n].count;
        if (lv[n].count > max_count)
            max_count = lv[n].count;
    }
    if (!(codes = malloc((size_t)max_count * 2 * sizeof *codes))) {
        kvg_errorf(err, where, "out of memory");
        goto done;
    }
    if (write_meta(w, in, counts, quantize, err))
        goto done;
    /* Keys of every level first: level n's need levels n-1 and n-2. */
    for (uint32_t n = 2; n <= N; n++) {
        if (!(keys[n] = malloc((size_t)(counts[n - 1] ? counts[n - 1] : 1) * sizeof *keys[n]))) {
            kvg_errorf(err, where, "out of memory");
            goto done;
        }
        if (compute_keys(lv, n, keys[n])) {
            kvg_errorf(err, where, "out of memory linking %u-grams to their suffixes", n);
            goto done;
        }
    }
    /* Levels in blocks of entries (keys, values, child counts). A level is
     * not needed once written. */
    for (uint32_t n = 1; n <= N; n++) {
        if (write_level(w, in, lv, n, counts, quantize, &scratch, codes, keys[n], where, err))
            goto done;
        level_free(&lv[n]);
    }
    rc = 0;
done:
    for (uint32_t n = 0; n <= KVG_NGRAM_MAX_ORDER; n++)
        level_free(&lv[n]);
    for (uint32_t n = 0; n <= KVG_NGRAM_MAX_ORDER; n++)
        free(keys[n]);
    wbuf_free(&scratch);
    free(codes);
    return rc;
}
