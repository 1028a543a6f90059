/* ngram.c — scoring and distributions over the forward n-gram trie. */
#include "ngram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ngram_layout.h"

/* A column of log10 values inside the blocks: a code into a table of
 * distinct values (all of them when exact, a codebook when quantized), or
 * the f32 bits themselves (values == NULL). */
typedef struct value_column {
    const float *values;
    uint64_t n_values;
    unsigned bits;
} value_column;

typedef struct level {
    uint64_t count, n_blocks;
    uint64_t last_m;     /* entries in the last block */
    const uint8_t *hdr;  /* block headers, ngram_layout.h */
    ngram_header_layout hl;
    const uint8_t *rec;  /* block data */
    const uint16_t *fk16; /* the key of each block's first entry: u16 [n_blocks], */
    const uint32_t *fk32; /* or u32 (the other NULL) */
    uint64_t rec_limit;  /* largest bit position an 8-byte load may start at */
    uint64_t next_count; /* entries of the next level (0 at the top) */
    int has_next;
    value_column prob;
    value_column backoff; /* n < N */
} level;

struct kvg_ngram {
    const kvg_file *file;
    uint32_t order;
    uint32_t vocab_size;
    uint32_t bos, eos;
    int quantized;
    kvg_vocab vocab;
    const uint32_t *uni; /* level 1: [V+1][3] rows (prob bits, backoff bits, first child) */
    level levels[KVG_NGRAM_MAX_ORDER + 1]; /* levels[2..order]; levels[1] only counts */
};

static inline float f32_of(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static inline float uni_prob(const kvg_ngram *m, uint32_t w) { return f32_of(m->uni[3 * (uint64_t)w]); }

/* Every read of block data is clamped into the tensor: a hand-made file
 * with bad headers reads wrong values (kvg_ngram_check finds those), never
 * memory outside the mapping. */
static inline uint64_t rd(const level *l, uint64_t bitpos, unsigned bits)
{
    if (bitpos > l->rec_limit)
        bitpos = l->rec_limit;
    return bits_get(l->rec, bitpos, bits);
}

/* What a lookup needs to know about the block of an entry. */
typedef struct block_view {
    uint64_t pos;   /* bit offset of the block's data */
    uint64_t first; /* first child of the block's first entry */
    uint64_t m;     /* entries in the block */
    unsigned kbits, cbits;
} block_view;

static inline void block_at(const level *l, uint64_t b, block_view *v)
{
    if (b > l->n_blocks)
        b = l->n_blocks;
    uint64_t h = b * l->hl.bits;
    unsigned kb, cb;
    if (l->hl.bits <= 57) { /* the usual case: one load */
        uint64_t x = bits_get(l->hdr, h, l->hl.bits);
        v->pos = x & ((UINT64_C(1) << l->hl.pos_bits) - 1);
        x >>= l->hl.pos_bits;
        kb = (unsigned)(x & ((1u << NGRAM_WIDTH_BITS) - 1));
        cb = (unsigned)((x >> NGRAM_WIDTH_BITS) & ((1u << NGRAM_WIDTH_BITS) - 1));
        v->first = x >> (2 * NGRAM_WIDTH_BITS);
    } else {
        v->pos = bits_get(l->hdr, h, l->hl.pos_bits);
        kb = (unsigned)bits_get(l->hdr, h + l->hl.pos_bits, NGRAM_WIDTH_BITS);
        cb = (unsigned)bits_get(l->hdr, h + l->hl.pos_bits + NGRAM_WIDTH_BITS, NGRAM_WIDTH_BITS);
        v->first = bits_get(l->hdr, h + l->hl.pos_bits + 2 * NGRAM_WIDTH_BITS, l->hl.first_bits);
    }
    v->kbits = kb > NGRAM_MAX_KBITS ? NGRAM_MAX_KBITS : kb;
    v->cbits = cb > NGRAM_MAX_CBITS ? NGRAM_MAX_CBITS : cb;
    v->m = b < l->n_blocks - 1 ? NGRAM_BLOCK : b == l->n_blocks - 1 ? l->last_m : 0;
}

/* The key of block b's first entry, b < n_blocks. */
static inline uint32_t first_key(const level *l, uint64_t b) { return l->fk16 ? l->fk16[b] : l->fk32[b]; }

static inline uint32_t key_in(const level *l, const block_view *v, uint64_t r)
{
    return (uint32_t)rd(l, v->pos + r * v->kbits, v->kbits);
}

static inline float column_value(const value_column *c, uint64_t code)
{
    if (!c->values) {
        uint32_t b = (uint32_t)code;
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    /* A code past the table (only in a hand-made file) reads the last value
     * instead of memory beyond it. */
    return c->values[code < c->n_values ? code : c->n_values - 1];
}

/* Entry r's record (prob code, backoff code, child offset) follows the
 * block's keys: one cache line holds all a lookup reads after the search. */
static inline uint64_t record_at(const level *l, const block_view *v, uint64_t r)
{
    return v->pos + v->m * v->kbits + r * (l->prob.bits + l->backoff.bits + v->cbits);
}

static inline float prob_in(const level *l, const block_view *v, uint64_t r)
{
    return column_value(&l->prob, rd(l, record_at(l, v, r), l->prob.bits));
}

static inline float backoff_in(const level *l, const block_view *v, uint64_t r)
{
    return column_value(&l->backoff, rd(l, record_at(l, v, r) + l->prob.bits, l->backoff.bits));
}

/* The children of entry r of a block: entries [lo, hi) of the next level,
 * from the block's child offsets (clamped, like every read). */
static inline void children_in(const level *l, const block_view *v, uint64_t r, uint64_t *lo, uint64_t *hi)
{
    uint64_t width = l->prob.bits + l->backoff.bits + v->cbits;
    uint64_t at = record_at(l, v, r) + l->prob.bits + l->backoff.bits;
    uint64_t a = v->first + (r ? rd(l, at - width, v->cbits) : 0), b = v->first + rd(l, at, v->cbits);
    *hi = b < l->next_count ? b : l->next_count;
    *lo = a < *hi ? a : *hi;
}

/* One entry of a level, found: its index and its block. */
typedef struct entry {
    uint64_t i;
    block_view v;
} entry;

static inline void entry_at(const level *l, uint64_t i, entry *e)
{
    e->i = i;
    block_at(l, i >> NGRAM_BLOCK_LOG, &e->v);
}

static inline uint64_t entry_r(const entry *e) { return e->i & (NGRAM_BLOCK - 1); }

/* Finds key among entries [lo, hi) of level l (keys strictly increasing
 * there). Within one block keys have one width, so a search first finds
 * the block by binary search over the blocks' first keys in the range (in
 * the dense first-key array: a long run's first keys share a cache line or
 * two), then reads that block's header and searches its keys. 0 and *e set
 * when found. */
static int find_key(const level *l, uint64_t lo, uint64_t hi, uint32_t key, entry *e)
{
    block_view v;
    if (hi > l->count)
        hi = l->count;
    if (lo >= hi)
        return -1;
    uint64_t b0 = lo >> NGRAM_BLOCK_LOG, b1 = (hi - 1) >> NGRAM_BLOCK_LOG;
    /* the last block in [b0, b1] whose first key in the range is <= key */
    while (b0 < b1) {
        uint64_t mid = b0 + (b1 - b0 + 1) / 2;
        if (first_key(l, mid) <= key)
            b0 = mid;
        else
            b1 = mid - 1;
    }
    block_at(l, b0, &v);
    uint64_t base = b0 << NGRAM_BLOCK_LOG;
    uint64_t a = lo > base ? lo - base : 0, z = hi - base < v.m ? hi - base : v.m; /* [a, z) in the block */
    while (z - a > 4) {
        uint64_t mid = a + (z - a) / 2;
        uint32_t k = key_in(l, &v, mid);
        if (k == key) {
            a = mid;
            break;
        }
        if (k < key)
            a = mid + 1;
        else
            z = mid;
    }
    for (; a < z; a++) {
        uint32_t k = key_in(l, &v, a);
        if (k >= key) {
            if (k != key)
                return -1;
            e->i = base + a;
            e->v = v;
            return 0;
        }
    }
    return -1;
}

/* The word id of entry i of level n + 1 >= 2, a child of the context whose
 * suffix contexts' child ranges are lo[0..n-1) (a state's): its key names
 * its suffix in level n, whose key names its suffix in level n-1, ...,
 * down to level 2 where the key is the word. */
static uint32_t word_of(const kvg_ngram *m, uint32_t n, uint64_t i, const uint64_t *lo)
{
    entry e;
    const level *l = &m->levels[n + 1];
    entry_at(l, i, &e);
    uint32_t key = key_in(l, &e.v, entry_r(&e));
    for (uint32_t k = n; k >= 2; k--) {
        l = &m->levels[k];
        entry_at(l, lo[k - 2] + key, &e);
        key = key_in(l, &e.v, entry_r(&e));
    }
    return key;
}

/* A per-thread memo of recent level-2 lookups, direct-mapped. Text is
 * Zipfian: the same (word, word) pairs come back again and again, and a hit
 * replaces a search through a long run (the continuations of "the") and the
 * reads of the entry's values and children by one probe into a table that
 * stays in L2. Deeper levels have short runs, where the probe would cost
 * about what it saves (measured). */
#ifndef CACHE_BITS
#define CACHE_BITS 14
#endif
#ifndef CACHE_TOP
#define CACHE_TOP 2 /* levels 2..CACHE_TOP are remembered */
#endif
struct kvg_ngram_cache {
    const kvg_ngram *model;
    /* 32 bytes; entries whose indices do not fit in 32 bits are not kept */
    struct cache_slot {
        uint32_t run;   /* (run start << 4 | level) + 1; 0 = empty */
        uint32_t key;
        uint32_t child; /* UINT32_MAX for "not there" */
        uint32_t lo;    /* the child's children */
        uint32_t n_children;
        float prob, backoff;
        uint32_t pad;
    } slot[1u << CACHE_BITS];
};

static inline uint64_t cache_tag(uint64_t lo, uint32_t n) { return ((lo << 4) | n) + 1; }

static inline uint64_t cache_index(uint64_t lo, uint32_t n, uint32_t key)
{
    uint64_t h = (cache_tag(lo, n) * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)key * 0xC2B2AE3D27D4EB4Full);
    return h >> (64 - CACHE_BITS);
}

kvg_ngram_cache *kvg_ngram_cache_new(const kvg_ngram *m)
{
    kvg_ngram_cache *c = calloc(1, sizeof *c);
    if (c)
        c->model = m;
    return c;
}

void kvg_ngram_cache_free(kvg_ngram_cache *c) { free(c); }

/* A found chain link: the entry, its prob, backoff and children. */
typedef struct link {
    uint64_t i, lo, hi;
    float prob, backoff;
} link;

/* Fills a link for entry e of level n. */
static inline void link_of(const kvg_ngram *m, uint32_t n, const entry *e, link *k)
{
    const level *l = &m->levels[n];
    uint64_t r = entry_r(e);
    k->i = e->i;
    k->prob = prob_in(l, &e->v, r);
    if (n < m->order) {
        k->backoff = backoff_in(l, &e->v, r);
        children_in(l, &e->v, r, &k->lo, &k->hi);
    } else {
        k->backoff = 0.0f;
        k->lo = k->hi = 0;
    }
}

/* The entry of level n with key among [lo, hi), as a link; 0 when found. */
static inline int find_link(const kvg_ngram *m, kvg_ngram_cache *cache, uint32_t n, uint64_t lo, uint64_t hi,
                            uint32_t key, link *k)
{
    if (lo >= hi)
        return -1;
    struct cache_slot *s = NULL;
    uint64_t tag = 0;
    if (cache && n <= CACHE_TOP && (tag = cache_tag(lo, n)) < UINT32_MAX) {
        s = &cache->slot[cache_index(lo, n, key)];
        if (s->run == tag && s->key == key) {
            if (s->child == UINT32_MAX)
                return -1;
            k->i = s->child;
            k->lo = s->lo;
            k->hi = (uint64_t)s->lo + s->n_children;
            k->prob = s->prob;
            k->backoff = s->backoff;
            return 0;
        }
    }
    entry e;
    int rc = find_key(&m->levels[n], lo, hi, key, &e);
    if (rc == 0)
        link_of(m, n, &e, k);
    if (s && (rc != 0 || (k->i < UINT32_MAX && k->hi <= UINT32_MAX))) {
        s->run = (uint32_t)tag;
        s->key = key;
        s->child = rc == 0 ? (uint32_t)k->i : UINT32_MAX;
        if (rc == 0) {
            s->lo = (uint32_t)k->lo;
            s->n_children = (uint32_t)(k->hi - k->lo);
            s->prob = k->prob;
            s->backoff = k->backoff;
        }
    }
    return rc;
}

/* Level 1 is a plain table indexed by word id (word < V). */
static inline void unigram_link(const kvg_ngram *m, uint32_t word, link *k)
{
    const uint32_t *row = m->uni + 3 * (uint64_t)word;
    uint64_t n2 = m->levels[1].next_count;
    k->i = word;
    k->prob = f32_of(row[0]);
    k->backoff = f32_of(row[1]);
    k->hi = row[5] < n2 ? row[5] : n2;
    k->lo = row[2] < k->hi ? row[2] : k->hi;
}

float kvg_ngram_score(const kvg_ngram *m, const kvg_ngram_state *in, uint32_t word, kvg_ngram_state *out,
                      uint32_t *matched)
{
    return kvg_ngram_score_cached(m, NULL, in, word, out, matched);
}

float kvg_ngram_score_cached(const kvg_ngram *m, kvg_ngram_cache *cache, const kvg_ngram_state *in, uint32_t word,
                             kvg_ngram_state *out, uint32_t *matched)
{
    if (cache && cache->model != m)
        cache = NULL; /* a cache belongs to one model */
    uint32_t in_len = in->len;
    link chain[KVG_NGRAM_MAX_ORDER];
    /* The chain w, (h1 w), (h2 h1 w), ... stops at the first n-gram that is
     * not an entry; the last one found gives the probability. The key of
     * (h_{j+1} .. h1 w) is the rank of (h_j .. h1 w) among its siblings. */
    unigram_link(m, word, &chain[0]);
    float prob = chain[0].prob;
    uint32_t len = 1, key = word;
    for (uint32_t j = 0; j < in_len; j++) {
        link *k = &chain[len];
        if (find_link(m, cache, j + 2, in->lo[j], in->hi[j], key, k) || ngram_is_absent(k->prob))
            break;
        prob = k->prob;
        key = (uint32_t)(k->i - in->lo[j]);
        len++;
    }
    /* Back off from every longer context the input had, shortest first
     * (KenLM's order of float additions). */
    for (uint32_t j = len - 1; j < in_len; j++)
        prob += in->backoff[j];
    if (matched)
        *matched = len;
    uint32_t out_len = len < m->order ? len : m->order - 1;
    out->len = out_len;
    for (uint32_t j = 0; j < out_len; j++) {
        out->node[j] = chain[j].i;
        out->lo[j] = chain[j].lo;
        out->hi[j] = chain[j].hi;
        out->backoff[j] = chain[j].backoff;
    }
    return prob;
}

void kvg_ngram_prefetch(const kvg_ngram *m, const kvg_ngram_cache *cache, const kvg_ngram_state *st, uint32_t word,
                        int stage)
{
#if defined(__GNUC__)
    if (word >= m->vocab_size)
        return;
    if (stage == 0) {
        __builtin_prefetch(m->uni + 3 * (uint64_t)word);
        if (cache && cache->model == m && st->len > 0)
            __builtin_prefetch(&cache->slot[cache_index(st->lo[0], 2, word)]);
    }
    /* Each level's search reads the first keys of the context's run, then
     * a block header and the block's keys and records. Stage 0 starts on
     * the first keys or, for the many runs of one block, its header; stage
     * 1 reads that header and starts on the keys and records of the run. */
    for (uint32_t j = 0; j < st->len; j++) {
        const level *c = &m->levels[j + 2];
        if (st->lo[j] >= st->hi[j] || st->hi[j] > c->count)
            continue;
        uint64_t b0 = st->lo[j] >> NGRAM_BLOCK_LOG, b1 = (st->hi[j] - 1) >> NGRAM_BLOCK_LOG;
        if (stage == 0) {
            if (b0 == b1)
                __builtin_prefetch(c->hdr + (b0 * c->hl.bits >> 3));
            else if (c->fk16)
                __builtin_prefetch(c->fk16 + b0 + (b1 - b0 + 1) / 2);
            else
                __builtin_prefetch(c->fk32 + b0 + (b1 - b0 + 1) / 2);
        } else if (b0 == b1) {
            block_view v;
            block_at(c, b0, &v);
            uint64_t a = st->lo[j] & (NGRAM_BLOCK - 1), z = st->hi[j] - (b0 << NGRAM_BLOCK_LOG);
            uint64_t k0 = v.pos + a * v.kbits, r0 = record_at(c, &v, a), r1 = record_at(c, &v, z);
            if (r1 > c->rec_limit)
                continue;
            __builtin_prefetch(c->rec + (k0 >> 3));
            __builtin_prefetch(c->rec + (r0 >> 3));
            if ((r1 >> 9) != (r0 >> 9))
                __builtin_prefetch(c->rec + (r1 >> 3));
        }
    }
#else
    (void)m, (void)cache, (void)st, (void)word, (void)stage;
#endif
}

void kvg_ngram_null_state(const kvg_ngram *m, kvg_ngram_state *st)
{
    (void)m;
    st->len = 0;
}

void kvg_ngram_bos_state(const kvg_ngram *m, kvg_ngram_state *st)
{
    st->len = m->order > 1 ? 1 : 0;
    link k;
    unigram_link(m, m->bos, &k);
    st->node[0] = m->bos;
    st->lo[0] = k.lo;
    st->hi[0] = k.hi;
    st->backoff[0] = k.backoff;
}

void kvg_ngram_distribution(const kvg_ngram *m, const kvg_ngram_state *st, float *out)
{
    uint32_t len = st->len;
    /* Unigrams backed off through every context, in the same order of
     * additions as kvg_ngram_score, so both give the same bits. */
    for (uint32_t w = 0; w < m->vocab_size; w++) {
        float p = uni_prob(m, w);
        for (uint32_t j = 0; j < len; j++)
            p += st->backoff[j];
        out[w] = p;
    }
    /* Longer matches override shorter ones. Entries are suffix-closed (every
     * entry's shorter suffixes are entries too), so overriding level by level
     * gives exactly the chain rule of kvg_ngram_score. */
    for (uint32_t j = 0; j < len; j++) {
        const level *c = &m->levels[j + 2];
        uint64_t hi = st->hi[j] < c->count ? st->hi[j] : c->count;
        for (uint64_t i = st->lo[j]; i < hi; i++) {
            entry e;
            entry_at(c, i, &e);
            float p = prob_in(c, &e.v, entry_r(&e));
            uint32_t w = word_of(m, j + 1, i, st->lo);
            if (ngram_is_absent(p) || w >= m->vocab_size)
                continue;
            for (uint32_t k = j + 1; k < len; k++)
                p += st->backoff[k];
            out[w] = p;
        }
    }
}

void kvg_ngram_continuations(const kvg_ngram *m, const kvg_ngram_state *st, uint32_t context_len,
                             kvg_ngram_visit_fn fn, void *user)
{
    if (context_len == 0) {
        for (uint32_t w = 0; w < m->vocab_size; w++)
            if (fn(user, w, uni_prob(m, w)))
                return;
        return;
    }
    if (context_len > st->len)
        return;
    uint32_t j = context_len - 1;
    const level *c = &m->levels[j + 2];
    uint64_t hi = st->hi[j] < c->count ? st->hi[j] : c->count;
    for (uint64_t i = st->lo[j]; i < hi; i++) {
        entry e;
        entry_at(c, i, &e);
        float p = prob_in(c, &e.v, entry_r(&e));
        uint32_t w = word_of(m, j + 1, i, st->lo);
        if (!ngram_is_absent(p) && w < m->vocab_size && fn(user, w, p))
            return;
    }
}

/* Top-k selection: a min-heap of the best k so far, keyed so that the
 * "worst" element (lowest logp; among equals, highest id) is at the root. */
typedef struct scored {
    float logp;
    uint32_t id;
} scored;

static int worse(scored a, scored b) { return a.logp < b.logp || (a.logp == b.logp && a.id > b.id); }

static void sift_down(scored *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < n && worse(h[l], h[s]))
            s = l;
        if (r < n && worse(h[r], h[s]))
            s = r;
        if (s == i)
            return;
        scored t = h[i];
        h[i] = h[s];
        h[s] = t;
        i = s;
    }
}

static int best_first(const void *a, const void *b)
{
    scored x = *(const scored *)a, y = *(const scored *)b;
    return worse(y, x) ? -1 : worse(x, y) ? 1 : 0;
}

size_t kvg_ngram_top_k(const kvg_ngram *m, const kvg_ngram_state *st, size_t k, uint32_t *ids, float *logp,
                       float *scratch)
{
    kvg_ngram_distribution(m, st, scratch);
    if (k > m->vocab_size)
        k = m->vocab_size;
    if (k == 0)
        return 0;
    scored *h = malloc(k * sizeof *h);
    if (!h)
        return 0;
    size_t n = 0;
    for (uint32_t w = 0; w < m->vocab_size; w++) {
        scored s = {scratch[w], w};
        if (n < k) {
            h[n++] = s;
            if (n == k)
                for (size_t i = k / 2 + 1; i-- > 0;)
                    sift_down(h, n, i);
        } else if (worse(h[0], s)) {
            h[0] = s;
            sift_down(h, n, 0);
        }
    }
    qsort(h, n, sizeof *h, best_first);
    for (size_t i = 0; i < n; i++) {
        ids[i] = h[i].id;
        logp[i] = h[i].logp;
    }
    free(h);
    return n;
}

/* ---- opening and validation ---- */

static const kvg_tensor *part(const kvg_file *f, unsigned n, const char *name, uint32_t dtype, kvg_error *err)
{
    char full[64];
    ngram_tensor_name(full, sizeof full, n, name);
    const kvg_tensor *t = kvg_tensor_find(f, full);
    if (!t) {
        kvg_errorf(err, kvg_path(f), "n-gram table \"%s\" is missing", full);
        return NULL;
    }
    if (t->dtype != dtype || t->n_dims != 1 || t->n_elems < 2 || t->n_elems > (UINT64_C(1) << 50)) {
        kvg_errorf(err, kvg_path(f), "n-gram table \"%s\" is %s[%llu], expected a %s vector of at least 2", full,
                   kvg_dtype_get(t->dtype)->name, (unsigned long long)t->n_elems, kvg_dtype_get(dtype)->name);
        return NULL;
    }
    return t;
}

/* Binds the value table NAME_values of level n if there is one and sets the
 * width of the column's codes (32 for plain f32 bits); -1 on error. */
static int bind_column(const kvg_file *f, unsigned n, const char *name, value_column *c, kvg_error *err)
{
    char vname[48], full[64];
    snprintf(vname, sizeof vname, "%s_values", name);
    ngram_tensor_name(full, sizeof full, n, vname);
    const kvg_tensor *v = kvg_tensor_find(f, full);
    if (!v) {
        c->values = NULL;
        c->n_values = 0;
        c->bits = 32;
        return 0;
    }
    if (v->dtype != KVG_DTYPE_F32 || v->n_dims != 1 || v->n_elems == 0 || v->n_elems > (UINT64_C(1) << 32))
        return kvg_errorf(err, kvg_path(f), "n-gram table \"%s\" is not a non-empty f32 vector", full);
    c->values = v->data;
    c->n_values = v->n_elems;
    c->bits = packed_bits_for(c->n_values - 1);
    return 0;
}

/* The deep check of one level's blocks: headers consistent with the data
 * (each block's data exactly as long as its key width, values and child
 * counts make it), child counts summing up, keys strictly increasing
 * within each run of siblings. suffix (for n >= 2: the level n-1 index of
 * every entry's suffix, computed here for level n into suffix_out) ties the
 * keys to the level below: a key must name a sibling of the suffix. */
static int check_level(const kvg_ngram *m, unsigned n, const uint64_t *parent_lo, const uint64_t *parent_hi,
                       const uint64_t *suffix_prev, const uint64_t *sfx_lo, const uint64_t *sfx_hi,
                       uint64_t *lo_out, uint64_t *hi_out, uint64_t *suffix_out, kvg_error *err)
{
    const char *path = kvg_path(m->file);
    const level *l = &m->levels[n];
    block_view v, w;
    uint64_t pos = 0, child = 0;
    for (uint64_t b = 0; b < l->n_blocks; b++) {
        block_at(l, b, &v);
        block_at(l, b + 1, &w);
        if (v.pos != pos)
            return kvg_errorf(err, path, "ngram.%u.blocks[%llu] does not start where the previous block ends", n,
                              (unsigned long long)b);
        if (l->has_next && (v.first != child || w.first < v.first))
            return kvg_errorf(err, path, "ngram.%u.blocks[%llu] child pointer is out of order", n,
                              (unsigned long long)b);
        if (!l->has_next && v.cbits != 0)
            return kvg_errorf(err, path, "ngram.%u.blocks[%llu] has child offsets at the top level", n,
                              (unsigned long long)b);
        if (v.m && first_key(l, b) != key_in(l, &v, 0))
            return kvg_errorf(err, path, "ngram.%u.first_keys[%llu] is not the key of the block's first entry", n,
                              (unsigned long long)b);
        pos += v.m * (v.kbits + l->prob.bits + l->backoff.bits + v.cbits);
        if (pos > l->rec_limit)
            return kvg_errorf(err, path, "ngram.%u.blocks[%llu] runs past the records", n, (unsigned long long)b);
        for (uint64_t r = 0; r < v.m; r++) {
            uint64_t i = (b << NGRAM_BLOCK_LOG) + r;
            if (l->has_next) {
                uint64_t lo, hi;
                children_in(l, &v, r, &lo, &hi);
                if (lo != child || hi < lo || (r + 1 == v.m && hi != w.first) || hi > l->next_count)
                    return kvg_errorf(err, path, "ngram.%u child counts of block %llu do not add up", n,
                                      (unsigned long long)b);
                child = hi;
                lo_out[i] = lo;
                hi_out[i] = hi;
            }
        }
    }
    block_at(l, l->n_blocks, &w);
    if (w.pos != pos || (l->has_next && w.first != l->next_count))
        return kvg_errorf(err, path, "ngram.%u.blocks: the last header does not end the level", n);
    /* keys, run by run (parent by parent) */
    const level *d = &m->levels[n - 1];
    for (uint64_t p = 0; p < d->count; p++) {
        uint64_t lim = UINT64_MAX;
        if (n == 2)
            lim = m->vocab_size;
        else if (sfx_hi[suffix_prev[p]] >= sfx_lo[suffix_prev[p]])
            lim = sfx_hi[suffix_prev[p]] - sfx_lo[suffix_prev[p]];
        uint64_t prev = 0;
        for (uint64_t i = parent_lo[p]; i < parent_hi[p]; i++) {
            entry e;
            entry_at(l, i, &e);
            uint32_t key = key_in(l, &e.v, entry_r(&e));
            if ((i > parent_lo[p] && key <= prev) || key >= lim)
                return kvg_errorf(err, path, "ngram.%u key of entry %llu is out of order or range", n,
                                  (unsigned long long)i);
            prev = key;
            suffix_out[i] = n == 2 ? key : sfx_lo[suffix_prev[p]] + key;
        }
    }
    return 0;
}

int kvg_ngram_open(const kvg_file *f, kvg_ngram **out, kvg_error *err)
{
    const char *path = kvg_path(f);
    *out = NULL;
    const char *kind;
    uint64_t kind_len, order, bos, eos;
    if (kvg_meta_get_str(f, "general.kind", &kind, &kind_len, err))
        return -1;
    if (kind_len != strlen(NGRAM_KIND) || memcmp(kind, NGRAM_KIND, kind_len) != 0)
        return kvg_errorf(err, path, "not an n-gram model (general.kind is \"%.*s\")", (int)kind_len, kind);
    if (kvg_meta_get_u64(f, NGRAM_KEY_ORDER, &order, err) || kvg_meta_get_u64(f, NGRAM_KEY_BOS, &bos, err) ||
        kvg_meta_get_u64(f, NGRAM_KEY_EOS, &eos, err))
        return -1;
    if (order < 1 || order > KVG_NGRAM_MAX_ORDER)
        return kvg_errorf(err, path, "n-gram order %llu is not in 1..%d", (unsigned long long)order,
                          KVG_NGRAM_MAX_ORDER);
    const kvg_meta *counts = kvg_meta_find(f, NGRAM_KEY_COUNTS);
    if (!counts || counts->type != KVG_META_ARR || counts->elem_type != KVG_META_U64 || counts->count != order)
        return kvg_errorf(err, path, "metadata \"%s\" must be a u64 array of %llu counts", NGRAM_KEY_COUNTS,
                          (unsigned long long)order);
    const char *q;
    uint64_t q_len;
    if (kvg_meta_get_str(f, NGRAM_KEY_QUANT, &q, &q_len, err))
        return -1;
    int quantized;
    if (q_len == 4 && memcmp(q, "none", 4) == 0)
        quantized = 0;
    else if (q_len == 2 && memcmp(q, "q8", 2) == 0)
        quantized = 1;
    else
        return kvg_errorf(err, path, "unknown n-gram quantization \"%.*s\"", (int)q_len, q);

    kvg_ngram *m = calloc(1, sizeof *m);
    if (!m)
        return kvg_errorf(err, path, "out of memory");
    m->file = f;
    m->order = (uint32_t)order;
    m->quantized = quantized;
    if (kvg_vocab_open(f, NGRAM_VOCAB_PREFIX, &m->vocab, err))
        goto fail;
    m->vocab_size = m->vocab.size;
    if (kvg_meta_arr_u64(counts, 0) != m->vocab_size || m->vocab_size == 0) {
        kvg_errorf(err, path, "unigram count %llu does not match the vocabulary of %u",
                   (unsigned long long)kvg_meta_arr_u64(counts, 0), m->vocab_size);
        goto fail;
    }
    if (bos >= m->vocab_size || eos >= m->vocab_size) {
        kvg_errorf(err, path, "<s> or </s> id is beyond the vocabulary");
        goto fail;
    }
    m->bos = (uint32_t)bos;
    m->eos = (uint32_t)eos;
    for (unsigned n = 1; n <= m->order; n++) {
        level *l = &m->levels[n];
        l->count = kvg_meta_arr_u64(counts, n - 1);
        if (l->count > (UINT64_C(1) << 40)) {
            kvg_errorf(err, path, "absurd n-gram count %llu for order %u", (unsigned long long)l->count, n);
            goto fail;
        }
    }
    m->levels[1].has_next = m->order > 1;
    m->levels[1].next_count = m->order > 1 ? m->levels[2].count : 0;
    const kvg_tensor *ut = kvg_tensor_find(f, "ngram.1.unigrams");
    if (!ut || ut->dtype != KVG_DTYPE_U32 || ut->n_elems != 3 * ((uint64_t)m->vocab_size + 1)) {
        kvg_errorf(err, path, "n-gram table \"ngram.1.unigrams\" is missing or not u32[%llu, 3]",
                   (unsigned long long)m->vocab_size + 1);
        goto fail;
    }
    m->uni = ut->data;
    if (m->levels[1].next_count > UINT32_MAX) {
        kvg_errorf(err, path, "more than 2^32 - 1 2-grams");
        goto fail;
    }
    for (unsigned n = 2; n <= m->order; n++) {
        level *l = &m->levels[n];
        l->has_next = n < m->order;
        l->next_count = l->has_next ? m->levels[n + 1].count : 0;
        l->backoff.bits = 0;
        if (bind_column(f, n, "prob", &l->prob, err) ||
            (l->has_next && bind_column(f, n, "backoff", &l->backoff, err)))
            goto fail;
        const kvg_tensor *rec = part(f, n, "records", KVG_DTYPE_U64, err), *hdr;
        if (!rec || !(hdr = part(f, n, "blocks", KVG_DTYPE_U64, err)))
            goto fail;
        l->n_blocks = ngram_blocks(l->count);
        l->last_m = l->count - (l->n_blocks ? l->n_blocks - 1 : 0) * NGRAM_BLOCK;
        l->rec = rec->data;
        l->rec_limit = (rec->n_elems - 1) * 64;
        ngram_header_fields(&l->hl, rec->n_elems, l->has_next, l->next_count);
        if (hdr->n_elems != ngram_packed_words((l->n_blocks + 1) * l->hl.bits)) {
            kvg_errorf(err, path, "n-gram table \"ngram.%u.blocks\" has %llu words, expected %llu", n,
                       (unsigned long long)hdr->n_elems,
                       (unsigned long long)ngram_packed_words((l->n_blocks + 1) * l->hl.bits));
            goto fail;
        }
        l->hdr = hdr->data;
        char fname[64];
        ngram_tensor_name(fname, sizeof fname, n, "first_keys");
        const kvg_tensor *fk = kvg_tensor_find(f, fname);
        if (!fk || (fk->dtype != KVG_DTYPE_U16 && fk->dtype != KVG_DTYPE_U32) || fk->n_dims != 1 ||
            fk->n_elems != l->n_blocks) {
            kvg_errorf(err, path,
                       "n-gram table \"%s\" is missing or not a u16/u32 vector of %llu (a file from before it "
                       "existed must be converted again)",
                       fname, (unsigned long long)l->n_blocks);
            goto fail;
        }
        l->fk16 = fk->dtype == KVG_DTYPE_U16 ? fk->data : NULL;
        l->fk32 = fk->dtype == KVG_DTYPE_U32 ? fk->data : NULL;
    }
    *out = m;
    return 0;
fail:
    free(m);
    return -1;
}

int kvg_ngram_check(const kvg_ngram *m, kvg_error *err)
{
    /* Per level: each entry's children (lo, hi) and the index of its suffix
     * one level down; O(n-grams) memory, for `verify` only. */
    uint64_t *lo[KVG_NGRAM_MAX_ORDER + 1] = {NULL}, *hi[KVG_NGRAM_MAX_ORDER + 1] = {NULL},
             *sfx[KVG_NGRAM_MAX_ORDER + 1] = {NULL};
    int rc = -1;
    for (unsigned n = 1; n <= m->order; n++) {
        size_t c = (size_t)m->levels[n].count + 1;
        lo[n] = malloc(c * sizeof *lo[n]);
        hi[n] = malloc(c * sizeof *hi[n]);
        sfx[n] = malloc(c * sizeof *sfx[n]);
        if (!lo[n] || !hi[n] || !sfx[n]) {
            kvg_errorf(err, kvg_path(m->file), "out of memory checking level %u", n);
            goto done;
        }
    }
    /* level 1: first children from 0, never decreasing, to count[2] */
    uint64_t prev = 0, n2 = m->levels[1].next_count;
    for (uint64_t w = 0; w <= m->vocab_size; w++) {
        uint64_t v = m->uni[3 * w + 2];
        if (v < prev || v > n2 || (w == 0 && v != 0) || (w == m->vocab_size && v != n2)) {
            kvg_errorf(err, kvg_path(m->file), "ngram.1.unigrams: first child of word %llu is out of order or range",
                       (unsigned long long)w);
            goto done;
        }
        if (w > 0) {
            lo[1][w - 1] = prev;
            hi[1][w - 1] = v;
        }
        prev = v;
    }
    for (unsigned n = 2; n <= m->order; n++)
        if (check_level(m, n, lo[n - 1], hi[n - 1], sfx[n - 1], n >= 3 ? lo[n - 2] : NULL, n >= 3 ? hi[n - 2] : NULL,
                        lo[n], hi[n], sfx[n], err))
            goto done;
    rc = 0;
done:
    for (unsigned n = 1; n <= m->order; n++) {
        free(lo[n]);
        free(hi[n]);
        free(sfx[n]);
    }
    return rc;
}

void kvg_ngram_close(kvg_ngram *m) { free(m); }

uint32_t kvg_ngram_order(const kvg_ngram *m) { return m->order; }
uint32_t kvg_ngram_vocab_size(const kvg_ngram *m) { return m->vocab_size; }
const kvg_vocab *kvg_ngram_vocab(const kvg_ngram *m) { return &m->vocab; }
uint64_t kvg_ngram_count(const kvg_ngram *m, uint32_t n) { return n >= 1 && n <= m->order ? m->levels[n].count : 0; }
uint32_t kvg_ngram_bos(const kvg_ngram *m) { return m->bos; }
uint32_t kvg_ngram_eos(const kvg_ngram *m) { return m->eos; }
int kvg_ngram_quantized(const kvg_ngram *m) { return m->quantized; }

uint32_t kvg_ngram_word_id(const kvg_ngram *m, const char *word, size_t len)
{
    uint32_t id = kvg_vocab_find(&m->vocab, word, len);
    return id == KVG_VOCAB_NONE ? 0 : id;
}
