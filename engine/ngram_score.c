/* ngram_score.c — scoring words in context: one word after a state
 * (kvg_ngram_score*), and whole sequences level by level. */
#include <stdlib.h>
#include <string.h>

#include "ngram.h"
#include "ngram_internal.h"

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

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
/* The sequence scorer's per-position arrays (kvg_ngram_score_seqs), grown
 * on demand; position p holds the n-gram of the current level ending there. */
typedef struct seq_scratch {
    size_t cap;            /* positions */
    uint32_t n_bo;         /* backoff rows: order - 1 */
    uint64_t *lo[2], *hi[2]; /* children of the node: [lo, hi) of the next level; [0] previous level, [1] current */
    uint32_t *key[2];      /* key of the node's extension one level up (its rank among its siblings; at level 1 the word) */
    uint32_t *word;        /* word id (BOS at a start position) */
    uint8_t *len;          /* matched length so far; 0 at a start position without <s> */
    uint8_t *start;        /* 1 at a sequence's start position */
    float *prob;           /* log10 prob of the longest match so far */
    float *bo;             /* [n_bo][cap]: log10 backoff of the node of length k + 1 ending at p */
    search *srch;          /* the searches of one level in flight */
    uint32_t *at;          /* their positions */
    void *mem;
} seq_scratch;

struct kvg_ngram_cache {
    const kvg_ngram *model;
    seq_scratch seq;
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

void kvg_ngram_cache_free(kvg_ngram_cache *c)
{
    if (c)
        free(c->seq.mem);
    free(c);
}

/* Room for cap positions; -1 when memory runs out. */
static int seq_reserve(kvg_ngram_cache *c, size_t cap)
{
    seq_scratch *s = &c->seq;
    uint32_t n_bo = c->model->order - 1;
    if (cap <= s->cap && n_bo == s->n_bo)
        return 0;
    if (cap < 256)
        cap = 256;
    if (cap < s->cap * 2)
        cap = s->cap * 2;
    /* per position: a search, 4 u64, 4 u32, 2 u8, 1 + n_bo floats */
    size_t per = sizeof(search) + 4 * sizeof(uint64_t) + 4 * sizeof(uint32_t) + (1 + (size_t)n_bo) * sizeof(float) + 2;
    if (cap > SIZE_MAX / per)
        return -1;
    char *mem = malloc(cap * per);
    if (!mem)
        return -1;
    free(s->mem);
    s->mem = mem;
    s->cap = cap;
    s->n_bo = n_bo;
    s->srch = (search *)mem, mem += cap * sizeof(search);
    for (int i = 0; i < 2; i++) {
        s->lo[i] = (uint64_t *)mem, mem += cap * sizeof(uint64_t);
        s->hi[i] = (uint64_t *)mem, mem += cap * sizeof(uint64_t);
    }
    for (int i = 0; i < 2; i++)
        s->key[i] = (uint32_t *)mem, mem += cap * sizeof(uint32_t);
    s->word = (uint32_t *)mem, mem += cap * sizeof(uint32_t);
    s->at = (uint32_t *)mem, mem += cap * sizeof(uint32_t);
    s->prob = (float *)mem, mem += cap * sizeof(float);
    s->bo = (float *)mem, mem += cap * n_bo * sizeof(float);
    s->len = (uint8_t *)mem, mem += cap;
    s->start = (uint8_t *)mem;
    return 0;
}

/* The memo's slot for a search at level n in the run starting at lo, or
 * NULL when level n is not remembered (or lo does not fit a tag). */
static inline struct cache_slot *memo_slot_key(kvg_ngram_cache *cache, uint32_t n, uint64_t lo, uint32_t key)
{
    if (!cache || n > CACHE_TOP || cache_tag(lo, n) >= UINT32_MAX)
        return NULL;
    return &cache->slot[cache_index(lo, n, key)];
}

/* What the slot remembers (the caller has matched its run and key): 0 and
 * *k for an entry, -1 for "not there". */
static inline int memo_get(const struct cache_slot *s, link *k)
{
    if (s->child == UINT32_MAX)
        return -1;
    k->i = s->child;
    k->lo = s->lo;
    k->hi = (uint64_t)s->lo + s->n_children;
    k->prob = s->prob;
    k->backoff = s->backoff;
    return 0;
}

/* Remembers the outcome of a search (rc 0: found *k). */
static inline void memo_put(kvg_ngram_cache *cache, uint32_t n, uint64_t lo, uint32_t key, int rc, const link *k)
{
    struct cache_slot *s = memo_slot_key(cache, n, lo, key);
    if (!s || (rc == 0 && (k->i >= UINT32_MAX || k->hi > UINT32_MAX)))
        return;
    s->run = (uint32_t)cache_tag(lo, n);
    s->key = key;
    s->child = rc == 0 ? (uint32_t)k->i : UINT32_MAX;
    if (rc == 0) {
        s->lo = (uint32_t)k->lo;
        s->n_children = (uint32_t)(k->hi - k->lo);
        s->prob = k->prob;
        s->backoff = k->backoff;
    }
}

/* The entry of level n with key among [lo, hi), as a link; 0 when found. */
static inline int find_link(const kvg_ngram *m, kvg_ngram_cache *cache, uint32_t n, uint64_t lo, uint64_t hi,
                            uint32_t key, link *k)
{
    if (lo >= hi)
        return -1;
    struct cache_slot *s = memo_slot_key(cache, n, lo, key);
    if (s && s->run == cache_tag(lo, n) && s->key == key)
        return memo_get(s, k);
    int rc = lookup(m, n, lo, hi, key, k);
    if (s)
        memo_put(cache, n, lo, key, rc, k);
    return rc;
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

/* Element i of a strided array. */
#define STRIDED(T, base, stride, i) (*(T *)((char *)(base) + (i) * (stride)))

/* Token by token, for a caller without a cache (no scratch to work in). */
static void score_seq_stepwise(const kvg_ngram *m, int bos, const kvg_ngram_seq *q)
{
    kvg_ngram_state st;
    if (bos)
        kvg_ngram_bos_state(m, &st);
    else
        kvg_ngram_null_state(m, &st);
    for (size_t t = 0; t < q->n; t++) {
        uint32_t w = STRIDED(const uint32_t, q->ids, q->stride, t), len;
        STRIDED(float, q->log10p, q->stride, t) = kvg_ngram_score(m, &st, w < m->vocab_size ? w : 0, &st, &len);
        STRIDED(uint32_t, q->matched, q->stride, t) = len;
    }
}

/* Position p's chain reached level n with entry *k (found in the run of
 * siblings starting at run_lo): its prob is the longest match yet; as a
 * context (n < N) its backoff, children and key one level up are kept. */
static inline int extend(seq_scratch *s, size_t P, uint32_t n, uint32_t top, size_t p, const link *k, uint64_t run_lo,
                         uint64_t *clo, uint64_t *chi, uint32_t *ckey)
{
    s->prob[p] = k->prob;
    s->len[p] = (uint8_t)n;
    if (n <= top) {
        s->bo[(size_t)(n - 1) * P + p] = k->backoff;
        clo[p] = k->lo;
        chi[p] = k->hi;
        ckey[p] = (uint32_t)(k->i - run_lo);
    }
    return 1;
}

/* Level by level. The chain of word t, (h1 w), (h2 h1 w), ... that
 * kvg_ngram_score follows depends only on the words, and its link of length
 * n depends only on the links of length n - 1 at t (for the key: the rank of
 * its suffix) and at t - 1 (for the run of siblings: the children of the
 * context). So all the lookups of one level, over every position of every
 * sequence, are independent of each other, where token by token each
 * lookup waits for the one before: run together, step by step with
 * prefetches (below), their memory loads overlap, and the whole model need
 * not stay in cache. About twice as fast on the KJV 5-gram. Position p holds, after level n, the match of length
 * min(n, len[p]) ending there; a start position holds <s> (bos) or nothing. */
int kvg_ngram_score_seqs(const kvg_ngram *m, kvg_ngram_cache *cache, int bos, size_t n_seqs, const kvg_ngram_seq *seqs)
{
    if (!cache || cache->model != m) {
        for (size_t i = 0; i < n_seqs; i++)
            score_seq_stepwise(m, bos, &seqs[i]);
        return 0;
    }
    size_t P = 0;
    for (size_t i = 0; i < n_seqs; i++) {
        if (seqs[i].n > SIZE_MAX / 2 - P)
            return -1;
        P += seqs[i].n + 1;
    }
    if (seq_reserve(cache, P))
        return -1;
    seq_scratch *s = &cache->seq;
    const uint32_t top = m->order - 1; /* the longest context a state keeps */
    const uint64_t n2 = m->levels[1].next_count;
    uint64_t *plo = s->lo[0], *phi = s->hi[0], *clo = s->lo[1], *chi = s->hi[1];
    uint32_t *pkey = s->key[0], *ckey = s->key[1];
    uint8_t *len = s->len;
    float *prob = s->prob, *bo = s->bo;

    /* level 1: every word's unigram; <s> or nothing at the starts */
    size_t p = 0;
    for (size_t i = 0; i < n_seqs; i++) {
        const kvg_ngram_seq *q = &seqs[i];
        for (size_t t = 0; t <= q->n; t++, p++) {
            uint32_t w = t ? STRIDED(const uint32_t, q->ids, q->stride, t - 1) : m->bos;
            if (w >= m->vocab_size)
                w = 0;
            const uint32_t *row = m->uni + 3 * (uint64_t)w;
            uint64_t hi = row[5] < n2 ? row[5] : n2;
            s->word[p] = w;
            s->start[p] = t == 0;
            plo[p] = row[2] < hi ? row[2] : hi;
            phi[p] = hi;
            pkey[p] = w;
            prob[p] = f32_of(row[0]);
            if (top)
                bo[p] = f32_of(row[1]);
            len[p] = t || bos;
        }
    }
    /* levels 2..N: extend every chain that reached n - 1, when the position
     * before holds a context of length n - 1. The searches of a level run
     * step by step over all positions (search_block, ...), each step
     * prefetching what the next reads: by the time a step comes back to a
     * search, its loads have arrived. */
    for (uint32_t n = 2; n <= m->order; n++) {
        const level *l = &m->levels[n];
        search *sr = s->srch;
        uint32_t *at = s->at;
        size_t cnt = 0, grew = 0;
        link k = {0, 0, 0, 0.0f, 0.0f};
        for (p = 1; p < P; p++) {
            if (len[p] != n - 1 || len[p - 1] < n - 1 || s->start[p])
                continue;
            struct cache_slot *slot = memo_slot_key(cache, n, plo[p - 1], pkey[p]);
            if (slot && slot->key == pkey[p] && slot->run == cache_tag(plo[p - 1], n) && plo[p - 1] < phi[p - 1]) {
                if (memo_get(slot, &k) == 0 && !ngram_is_absent(k.prob))
                    grew += extend(s, P, n, top, p, &k, plo[p - 1], clo, chi, ckey);
                continue;
            }
            if (search_block(l, plo[p - 1], phi[p - 1], pkey[p], &sr[cnt]))
                continue;
            PREFETCH(header_addr(l, sr[cnt].b));
            at[cnt++] = (uint32_t)p;
        }
        for (size_t i = 0; i < cnt; i++) {
            if (search_header(l, &sr[i])) {
                sr[i].nr = 0; /* a damaged block: lookup_clamped below */
                continue;
            }
            PREFETCH(l->rec + (run_key_bit(&sr[i]) >> 3));
        }
        for (size_t i = 0; i < cnt; i++) {
            if (sr[i].nr == 0)
                continue;
            if (search_keys(l, &sr[i]))
                sr[i].nr = UINT64_MAX; /* not there */
            else
                PREFETCH(l->rec + (record_bit(l, &sr[i]) >> 3));
        }
        for (size_t i = 0; i < cnt; i++) {
            p = at[i];
            int rc;
            if (sr[i].nr == UINT64_MAX)
                rc = -1;
            else if (sr[i].nr == 0)
                rc = lookup_clamped(m, n, &sr[i], &k);
            else
                rc = 0, search_record(m, l, &sr[i], &k);
            memo_put(cache, n, plo[p - 1], pkey[p], rc, &k);
            if (rc == 0 && !ngram_is_absent(k.prob))
                grew += extend(s, P, n, top, p, &k, plo[p - 1], clo, chi, ckey);
        }
        if (!grew)
            break;
        uint64_t *t64 = plo;
        plo = clo, clo = t64;
        t64 = phi, phi = chi, chi = t64;
        uint32_t *t32 = pkey;
        pkey = ckey, ckey = t32;
    }
    /* probabilities: the longest match's, backed off from every longer
     * context the position before held, shortest first (KenLM's order of
     * float additions, as kvg_ngram_score) */
    p = 0;
    for (size_t i = 0; i < n_seqs; i++) {
        const kvg_ngram_seq *q = &seqs[i];
        p++;
        for (size_t t = 0; t < q->n; t++, p++) {
            uint32_t L = len[p], in = len[p - 1] < top ? len[p - 1] : top;
            float pr = prob[p];
            for (uint32_t k = L; k <= in; k++)
                pr += bo[(size_t)(k - 1) * P + p - 1];
            STRIDED(float, q->log10p, q->stride, t) = pr;
            STRIDED(uint32_t, q->matched, q->stride, t) = L;
        }
    }
    return 0;
}
