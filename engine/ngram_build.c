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
#include "ngram_build_encode.h"

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

/* ---- writing, through the shared encoder (ngram_build_encode.h) ---- */

/* Sorts a column's values by ngram_order_key into scratch: items of iw
 * words, the key in the top 32 bits and the value's index in the low bits,
 * NaNs last. */
static int sort_values(const float *vals, uint64_t count, wbuf *scratch, unsigned *iw)
{
    *iw = item_words(32, count);
    if (wbuf_reserve(scratch, 2 * count * *iw, 0))
        return -1;
    uint64_t *items = scratch->p;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t *it = items + i * *iw;
        memset(it, 0, *iw * sizeof *it);
        it[0] = (uint64_t)ngram_order_key(vals[i]) << 32;
        it[*iw - 1] |= i;
    }
    return radix_sort(items, items + count * *iw, count, *iw, 64 * *iw - 32, 64 * *iw);
}

/* A column in memory: its values, sorted items, codes and table. */
typedef struct mem_column {
    const float *vals;
    const uint64_t *sorted;
    unsigned iw;
    uint64_t count, imask, pos;
    uint32_t *codes; /* the caller's buffer, count codes */
    float *table;
    ngram_column_plan plan;
} mem_column;

static int mem_values_rewind(void *user, kvg_error *err)
{
    (void)err;
    ((mem_column *)user)->pos = 0;
    return 0;
}

static int mem_values_next(void *user, float *v, uint64_t *index, kvg_error *err)
{
    mem_column *c = user;
    (void)err;
    if (c->pos == c->count)
        return 0;
    *index = item_index(c->sorted, c->iw, c->pos++, c->imask);
    *v = c->vals[*index];
    return 1;
}

static int mem_code(void *user, uint64_t index, uint32_t code, kvg_error *err)
{
    (void)err;
    ((mem_column *)user)->codes[index] = code;
    return 0;
}

static int mem_table(void *user, uint64_t i, uint64_t n_table, float value, kvg_error *err)
{
    mem_column *c = user;
    if (!c->table && !(c->table = malloc((size_t)n_table * sizeof *c->table)))
        return kvg_errorf(err, NULL, "out of memory for a value table");
    c->table[i] = value;
    return 0;
}

/* Encodes a column of level n into c->codes (f32 bits when plain) and
 * c->table. */
static int encode_mem_column(unsigned n, const float *vals, uint64_t count, int quantize, wbuf *scratch, mem_column *c,
                             kvg_error *err)
{
    c->vals = vals;
    c->count = count;
    c->table = NULL;
    if (sort_values(vals, count, scratch, &c->iw))
        return kvg_errorf(err, NULL, "out of memory encoding level %u", n);
    c->sorted = scratch->p;
    c->imask = (UINT64_C(1) << packed_bits_for(count)) - 1;
    ngram_sorted_values src = {mem_values_rewind, mem_values_next, c};
    ngram_column_sink sink = {mem_code, mem_table, c};
    if (ngram_encode_column(n, count, quantize, &src, &sink, &c->plan, err))
        return -1;
    if (c->plan.plain)
        memcpy(c->codes, vals, (size_t)count * sizeof *vals);
    return 0;
}

/* The entries of a level in memory, for ngram_write_blocks. */
typedef struct mem_entries {
    const uint32_t *keys, *prob, *backoff; /* backoff NULL at the top */
    const uint64_t *next;                  /* first children, count + 1; NULL at the top */
    uint64_t count, pos;
} mem_entries;

static int mem_entries_rewind(void *user, kvg_error *err)
{
    (void)err;
    ((mem_entries *)user)->pos = 0;
    return 0;
}

static int mem_entries_next(void *user, ngram_entry *e, kvg_error *err)
{
    mem_entries *m = user;
    (void)err;
    if (m->pos == m->count)
        return 0;
    uint64_t i = m->pos++;
    e->key = m->keys[i];
    e->prob = m->prob[i];
    e->backoff = m->backoff ? m->backoff[i] : 0;
    e->children = m->next ? m->next[i + 1] - m->next[i] : 0;
    return 1;
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


/* Level n's tables: value tables, then the blocks. codes: room for
 * 2 * count codes; keys: level n's keys (NULL at level 1). */
static int write_level(kvg_writer *w, const kvg_ngram_input *in, const level *lv, uint32_t n, const uint64_t *counts,
                       int quantize, wbuf *scratch, uint32_t *codes, const uint32_t *keys, const char *where,
                       kvg_error *err)
{
    uint32_t N = in->order;
    uint64_t count = counts[n - 1];
    if (n == 1) {
        uint64_t *next = NULL;
        if (N > 1) {
            if (wbuf_reserve(scratch, (uint64_t)in->vocab_size + 1, 0))
                return kvg_errorf(err, where, "out of memory");
            next = scratch->p;
            link_children(NULL, in->vocab_size, &lv[2], next);
        }
        return ngram_write_unigrams(w, in, next, N > 1 ? counts[1] : 0, where, err);
    }
    const level *l = &lv[n];
    mem_column pc, bc;
    memset(&pc, 0, sizeof pc);
    memset(&bc, 0, sizeof bc);
    pc.codes = codes;
    bc.codes = codes + count;
    int rc = -1;
    if (encode_mem_column(n, l->prob, count, quantize, scratch, &pc, err) ||
        (n < N && encode_mem_column(n, l->backoff, count, quantize, scratch, &bc, err)))
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
    mem_entries me = {keys, pc.codes, n < N ? bc.codes : NULL, next, count, 0};
    ngram_entries src = {mem_entries_rewind, mem_entries_next, &me};
    if ((pc.table && ngram_write_table(w, n, "prob", pc.table, pc.plan.n_table, err)) ||
        (n < N && bc.table && ngram_write_table(w, n, "backoff", bc.table, bc.plan.n_table, err)) ||
        ngram_write_blocks(w, n, count, n == N, n < N ? counts[n] : 0, pc.plan.bits, n < N ? bc.plan.bits : 0, &src,
                           where, err))
        goto done;
    rc = 0;
done:
    free(pc.table);
    free(bc.table);
    return rc;
}

static void progress(const kvg_ngram_input *in, const char *phase)
{
    if (in->progress)
        in->progress(in->progress_user, phase);
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
    if (ngram_write_meta(w, in, counts, quantize, err))
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
