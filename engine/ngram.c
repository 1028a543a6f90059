/* ngram.c — scoring and distributions over the forward n-gram trie. */
#include "ngram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ngram_layout.h"

/* A column of log10 values inside the records: a code into a table of
 * distinct values (all of them when exact, a codebook when quantized), or
 * the f32 bits themselves (values == NULL). */
typedef struct value_column {
    const float *values;
    uint64_t n_values;
} value_column;

typedef struct level {
    uint64_t count;
    const uint8_t *records; /* packed records, see ngram_layout.h */
    ngram_record_layout lay;
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
    level levels[KVG_NGRAM_MAX_ORDER + 1]; /* levels[1..order] */
};

static inline uint64_t field(const level *l, uint64_t i, unsigned off, unsigned bits)
{
    return bits_get(l->records, i * l->lay.record_bits + off, bits);
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

static inline float level_prob(const level *l, uint64_t i)
{
    return column_value(&l->prob, field(l, i, l->lay.prob_off, l->lay.prob_bits));
}
static inline float level_backoff(const level *l, uint64_t i)
{
    return column_value(&l->backoff, field(l, i, l->lay.backoff_off, l->lay.backoff_bits));
}
static inline uint32_t level_word(const level *l, uint64_t i)
{
    return (uint32_t)field(l, i, l->lay.word_off, l->lay.word_bits);
}
static inline uint64_t level_next(const level *l, uint64_t i) { return field(l, i, l->lay.next_off, l->lay.next_bits); }

/* The children of node: entries [lo, hi) of level c. Clamped, so that even
 * a hand-made file with bad pointers (kvg_ngram_check finds those) never
 * sends a lookup outside the tables. */
static inline void child_range(const level *l, const level *c, uint64_t node, uint64_t *lo, uint64_t *hi)
{
    *hi = level_next(l, node + 1);
    if (*hi > c->count)
        *hi = c->count;
    *lo = level_next(l, node);
    if (*lo > *hi)
        *lo = *hi;
}

/* The index in level n+1 of (node's n-gram, word), or UINT64_MAX: binary
 * search down to a few entries, then a scan (they share a cache line or two). */
static uint64_t find_child(const kvg_ngram *m, uint32_t n, uint64_t node, uint32_t word)
{
    const level *l = &m->levels[n], *c = &m->levels[n + 1];
    uint64_t lo, hi;
    child_range(l, c, node, &lo, &hi);
    while (hi - lo > 8) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint32_t w = level_word(c, mid);
        if (w == word)
            return mid;
        if (w < word)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (uint64_t i = lo; i < hi; i++) {
        uint32_t w = level_word(c, i);
        if (w >= word)
            return w == word ? i : UINT64_MAX;
    }
    return UINT64_MAX;
}

/* A per-thread memo of recent child lookups, direct-mapped. Text is
 * Zipfian: the same (context, word) pairs come back again and again, and a
 * hit replaces a binary search through a long run (the continuations of
 * "the") by one probe into a table that stays in L2. */
#define CACHE_BITS 14
struct kvg_ngram_cache {
    const kvg_ngram *model;
    struct cache_slot {
        uint64_t key;   /* (node << 5 | level) + 1; 0 = empty */
        uint64_t word;
        uint64_t child; /* UINT64_MAX for "not there" */
    } slot[1u << CACHE_BITS];
};

kvg_ngram_cache *kvg_ngram_cache_new(const kvg_ngram *m)
{
    kvg_ngram_cache *c = calloc(1, sizeof *c);
    if (c)
        c->model = m;
    return c;
}

void kvg_ngram_cache_free(kvg_ngram_cache *c) { free(c); }

static inline uint64_t find_child_cached(const kvg_ngram *m, kvg_ngram_cache *cache, uint32_t n, uint64_t node,
                                         uint32_t word)
{
    /* Only the first two levels have runs long enough (thousands of
     * continuations of "the", hundreds of "of the") for a probe of the
     * cache to be cheaper than the search itself. */
    if (!cache || n > 2)
        return find_child(m, n, node, word);
    uint64_t key = ((node << 5) | n) + 1;
    uint64_t h = (key * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)word * 0xC2B2AE3D27D4EB4Full);
    struct cache_slot *s = &cache->slot[h >> (64 - CACHE_BITS)];
    if (s->key == key && s->word == word)
        return s->child;
    uint64_t child = find_child(m, n, node, word);
    s->key = key;
    s->word = word;
    s->child = child;
    return child;
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
    uint64_t chain[KVG_NGRAM_MAX_ORDER];
    /* The chain w, (h1 w), (h2 h1 w), ... stops at the first n-gram that is
     * not an entry; the last one found gives the probability. */
    chain[0] = word;
    float prob = level_prob(&m->levels[1], word);
    uint32_t len = 1;
    for (uint32_t j = 0; j < in_len; j++) {
        uint64_t child = find_child_cached(m, cache, j + 1, in->node[j], word);
        if (child == UINT64_MAX)
            break;
        float p = level_prob(&m->levels[j + 2], child);
        if (ngram_is_absent(p))
            break;
        prob = p;
        chain[++len - 1] = child;
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
        out->node[j] = chain[j];
        out->backoff[j] = level_backoff(&m->levels[j + 1], chain[j]);
    }
    return prob;
}

void kvg_ngram_null_state(const kvg_ngram *m, kvg_ngram_state *st)
{
    (void)m;
    st->len = 0;
}

void kvg_ngram_bos_state(const kvg_ngram *m, kvg_ngram_state *st)
{
    st->len = m->order > 1 ? 1 : 0;
    st->node[0] = m->bos;
    st->backoff[0] = level_backoff(&m->levels[1], m->bos);
}

void kvg_ngram_distribution(const kvg_ngram *m, const kvg_ngram_state *st, float *out)
{
    uint32_t len = st->len;
    const level *uni = &m->levels[1];
    /* Unigrams backed off through every context, in the same order of
     * additions as kvg_ngram_score, so both give the same bits. */
    for (uint32_t w = 0; w < m->vocab_size; w++) {
        float p = level_prob(uni, w);
        for (uint32_t j = 0; j < len; j++)
            p += st->backoff[j];
        out[w] = p;
    }
    /* Longer matches override shorter ones. Entries are suffix-closed (every
     * entry's shorter suffixes are entries too), so overriding level by level
     * gives exactly the chain rule of kvg_ngram_score. */
    for (uint32_t j = 0; j < len; j++) {
        const level *l = &m->levels[j + 1], *c = &m->levels[j + 2];
        uint64_t lo, hi;
        child_range(l, c, st->node[j], &lo, &hi);
        for (uint64_t i = lo; i < hi; i++) {
            float p = level_prob(c, i);
            uint32_t w = level_word(c, i);
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
            if (fn(user, w, level_prob(&m->levels[1], w)))
                return;
        return;
    }
    if (context_len > st->len)
        return;
    uint32_t j = context_len - 1;
    const level *l = &m->levels[j + 1], *c = &m->levels[j + 2];
    uint64_t lo, hi;
    child_range(l, c, st->node[j], &lo, &hi);
    for (uint64_t i = lo; i < hi; i++) {
        float p = level_prob(c, i);
        uint32_t w = level_word(c, i);
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

static const kvg_tensor *part(const kvg_file *f, unsigned n, const char *name, uint32_t dtype, uint64_t n_elems,
                              kvg_error *err)
{
    char full[64];
    ngram_tensor_name(full, sizeof full, n, name);
    const kvg_tensor *t = kvg_tensor_find(f, full);
    if (!t) {
        kvg_errorf(err, kvg_path(f), "n-gram table \"%s\" is missing", full);
        return NULL;
    }
    if (t->dtype != dtype || t->n_elems != n_elems) {
        kvg_errorf(err, kvg_path(f), "n-gram table \"%s\" is %s[%llu], expected %s[%llu]", full,
                   kvg_dtype_get(t->dtype)->name, (unsigned long long)t->n_elems, kvg_dtype_get(dtype)->name,
                   (unsigned long long)n_elems);
        return NULL;
    }
    return t;
}

/* Binds the value table NAME_values of level n if there is one; returns the
 * width of the column's codes (32 for plain f32 bits), or 0 on error. */
static unsigned bind_column(const kvg_file *f, unsigned n, const char *name, value_column *c, kvg_error *err)
{
    char vname[48], full[64];
    snprintf(vname, sizeof vname, "%s_values", name);
    ngram_tensor_name(full, sizeof full, n, vname);
    const kvg_tensor *v = kvg_tensor_find(f, full);
    if (!v) {
        c->values = NULL;
        c->n_values = 0;
        return 32;
    }
    if (v->dtype != KVG_DTYPE_F32 || v->n_dims != 1 || v->n_elems == 0 || v->n_elems > (UINT64_C(1) << 32)) {
        kvg_errorf(err, kvg_path(f), "n-gram table \"%s\" is not a non-empty f32 vector", full);
        return 0;
    }
    c->values = v->data;
    c->n_values = v->n_elems;
    return packed_bits_for(c->n_values - 1);
}

static int check_level(const kvg_ngram *m, unsigned n, kvg_error *err)
{
    const char *path = kvg_path(m->file);
    const level *l = &m->levels[n];
    if (n < m->order) {
        const level *c = &m->levels[n + 1];
        uint64_t prev = 0;
        if (level_next(l, 0) != 0)
            return kvg_errorf(err, path, "ngram.%u.next does not start at 0", n);
        for (uint64_t i = 1; i <= l->count; i++) {
            uint64_t v = level_next(l, i);
            if (v < prev || v > c->count)
                return kvg_errorf(err, path, "ngram.%u.next[%llu] = %llu is out of order or range", n,
                                  (unsigned long long)i, (unsigned long long)v);
            /* siblings strictly increasing, so binary search is exact */
            for (uint64_t k = prev + 1; k < v; k++)
                if (level_word(c, k) <= level_word(c, k - 1))
                    return kvg_errorf(err, path, "ngram.%u.words not sorted within a context at %llu", n + 1,
                                      (unsigned long long)k);
            prev = v;
        }
        if (prev != c->count)
            return kvg_errorf(err, path, "ngram.%u.next does not end at the %llu entries of level %u", n,
                              (unsigned long long)c->count, n + 1);
    }
    if (n >= 2)
        for (uint64_t i = 0; i < l->count; i++)
            if (level_word(l, i) >= m->vocab_size)
                return kvg_errorf(err, path, "ngram.%u.words[%llu] is beyond the vocabulary", n,
                                  (unsigned long long)i);
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
    for (unsigned n = 1; n <= m->order; n++) {
        level *l = &m->levels[n];
        unsigned prob_bits = bind_column(f, n, "prob", &l->prob, err), backoff_bits = 0;
        if (!prob_bits)
            goto fail;
        if (n < m->order && !(backoff_bits = bind_column(f, n, "backoff", &l->backoff, err)))
            goto fail;
        ngram_layout_fields(&l->lay, n, m->order, m->vocab_size, n < m->order ? m->levels[n + 1].count : 0, prob_bits,
                            backoff_bits);
        uint64_t words = ngram_record_words(&l->lay, l->count + (n < m->order ? 1 : 0));
        if (words == 0) {
            kvg_errorf(err, path, "n-gram level %u is too large", n);
            goto fail;
        }
        const kvg_tensor *t = part(f, n, "records", KVG_DTYPE_U64, words, err);
        if (!t)
            goto fail;
        l->records = t->data;
    }
    *out = m;
    return 0;
fail:
    free(m);
    return -1;
}

int kvg_ngram_check(const kvg_ngram *m, kvg_error *err)
{
    for (unsigned n = 1; n <= m->order; n++)
        if (check_level(m, n, err))
            return -1;
    return 0;
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
