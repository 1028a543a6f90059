/* ngram_internal.h — the n-gram model's in-memory view of its tables and
 * the readers of the bit-packed blocks (format/SPEC.md §8), shared by the
 * scorers (ngram_score.c) and the rest of the model (ngram.c). Not public. */
#ifndef KVG_NGRAM_INTERNAL_H
#define KVG_NGRAM_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ngram.h"
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
    /* for the search (lookup()): */
    unsigned value_bits;  /* prob.bits + backoff.bits: a record without its child offset */
    int hdr_one_load;     /* a header fits one 8-byte load (hl.bits <= 57) */
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
static inline int find_key(const level *l, uint64_t lo, uint64_t hi, uint32_t key, entry *e)
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

/* Last index in [b, b + n) (n >= 1) whose value is <= key, or b when
 * there is none; get(i) must not decrease over the range. Branch-free:
 * log2(n) steps of a load, a compare and a conditional move, none of them a
 * mispredicted branch (a search of random keys mispredicts half of them). */
#define LAST_LE(get, b, n, key)                                                                                     \
    do {                                                                                                           \
        while ((n) > 1) {                                                                                          \
            uint64_t half_ = (n) / 2;                                                                              \
            (b) = (get((b) + half_)) <= (key) ? (b) + half_ : (b);                                                 \
            (n) -= half_;                                                                                          \
        }                                                                                                          \
    } while (0)

static inline uint64_t load_bits(const uint8_t *base, uint64_t bitpos, uint64_t mask)
{
    uint64_t w;
    memcpy(&w, base + (bitpos >> 3), 8);
    return (w >> (bitpos & 7)) & mask;
}

/* A search for a key among the entries [lo, hi) of a level (keys strictly
 * increasing there), in four steps, each reading what the one before found
 * out, so that a caller with many searches can run each step over all of
 * them and prefetch what the next step reads (kvg_ngram_score_seqs):
 *   search_block   the block, by a branch-free search over the first keys
 *                  (dense, so a long run's share a cache line or two);
 *   search_header  the block's header, one load; refuses (-1) a block whose
 *                  data would reach past the tensor (only in a damaged file:
 *                  find_key, which clamps every read, answers then), so the
 *                  steps after it need no clamps;
 *   search_keys    the key, by a branch-free search over the block's keys;
 *   search_record  the found entry's values and children. */
typedef struct search {
    uint64_t lo, hi; /* the run, clamped to the level */
    uint64_t b;      /* its block that can hold the key */
    uint64_t pos, first, mb; /* the block's data, first child, entries */
    uint32_t key;
    unsigned kb, cb; /* key and child offset widths */
    uint64_t r, nr;  /* entries [r, r + nr) of the block are in the run; r: the found one */
} search;

/* 0 and s->b set; -1 for an empty run. */
static inline int search_block(const level *l, uint64_t lo, uint64_t hi, uint32_t key, search *s)
{
    if (hi > l->count)
        hi = l->count;
    if (lo >= hi)
        return -1;
    s->lo = lo, s->hi = hi, s->key = key;
    uint64_t b = lo >> NGRAM_BLOCK_LOG, nb = ((hi - 1) >> NGRAM_BLOCK_LOG) - b + 1;
    /* block b's first key may lie before lo (another run): never read, the
     * search starts above it */
    if (l->fk16) {
#define FK16(i) l->fk16[i]
        LAST_LE(FK16, b, nb, key);
#undef FK16
    } else {
#define FK32(i) l->fk32[i]
        LAST_LE(FK32, b, nb, key);
#undef FK32
    }
    s->b = b;
    return 0;
}

/* Where block b's header starts (for a prefetch). */
static inline const uint8_t *header_addr(const level *l, uint64_t b) { return l->hdr + ((b * l->hl.bits) >> 3); }

static inline int search_header(const level *l, search *s)
{
    uint64_t b = s->b;
    if (l->hdr_one_load) {
        uint64_t x = load_bits(l->hdr, b * l->hl.bits, (UINT64_C(1) << l->hl.bits) - 1);
        s->pos = x & ((UINT64_C(1) << l->hl.pos_bits) - 1);
        x >>= l->hl.pos_bits;
        s->kb = (unsigned)x & ((1u << NGRAM_WIDTH_BITS) - 1);
        s->cb = (unsigned)(x >> NGRAM_WIDTH_BITS) & ((1u << NGRAM_WIDTH_BITS) - 1);
        s->first = x >> (2 * NGRAM_WIDTH_BITS);
    } else {
        block_view v;
        block_at(l, b, &v);
        s->pos = v.pos, s->first = v.first, s->kb = v.kbits, s->cb = v.cbits;
    }
    s->mb = b + 1 < l->n_blocks ? NGRAM_BLOCK : l->last_m;
    if (s->kb > NGRAM_MAX_KBITS || s->cb > NGRAM_MAX_CBITS || s->pos > l->rec_limit ||
        s->mb * (s->kb + l->value_bits + s->cb) > l->rec_limit - s->pos)
        return -1;
    uint64_t base = b << NGRAM_BLOCK_LOG;
    s->r = s->lo > base ? s->lo - base : 0;
    s->nr = (s->hi - base < s->mb ? s->hi - base : s->mb) - s->r;
    return 0;
}

/* Bit positions of the first key of the run and of entry r's record. */
static inline uint64_t run_key_bit(const search *s) { return s->pos + s->r * s->kb; }
static inline uint64_t record_bit(const level *l, const search *s)
{
    return s->pos + s->mb * s->kb + s->r * (l->value_bits + s->cb);
}

static inline int search_keys(const level *l, search *s)
{
    const uint8_t *rec = l->rec;
    uint64_t pos = s->pos, kb = s->kb, kmask = (UINT64_C(1) << kb) - 1, r = s->r, nr = s->nr;
#define KEY(i) load_bits(rec, pos + (i) * kb, kmask)
    LAST_LE(KEY, r, nr, s->key);
    s->r = r;
    return KEY(r) == s->key ? 0 : -1;
#undef KEY
}

/* The found entry: its record's prob code, backoff code and child offset
 * (where its children end); the previous record's offset, its last field,
 * is where they begin. */
static inline void search_record(const kvg_ngram *m, const level *l, const search *s, link *k)
{
    (void)m;
    const uint8_t *rec = l->rec;
    uint64_t at = record_bit(l, s), r = s->r;
    k->i = (s->b << NGRAM_BLOCK_LOG) + r;
    k->prob = column_value(&l->prob, load_bits(rec, at, (UINT64_C(1) << l->prob.bits) - 1));
    if (!l->has_next) {
        k->backoff = 0.0f;
        k->lo = k->hi = 0;
        return;
    }
    uint64_t cmask = (UINT64_C(1) << s->cb) - 1;
    uint64_t end = s->first + load_bits(rec, at + l->value_bits, cmask);
    uint64_t start = s->first + (r ? load_bits(rec, at - s->cb, cmask) : 0);
    k->backoff = column_value(&l->backoff, load_bits(rec, at + l->prob.bits, (UINT64_C(1) << l->backoff.bits) - 1));
    k->hi = end < l->next_count ? end : l->next_count;
    k->lo = start < k->hi ? start : k->hi;
}

/* The clamped search (a damaged block), as a link; 0 when found. */
static inline int lookup_clamped(const kvg_ngram *m, uint32_t n, const search *s, link *k)
{
    entry e;
    if (find_key(&m->levels[n], s->lo, s->hi, s->key, &e))
        return -1;
    link_of(m, n, &e, k);
    return 0;
}

/* All four steps: the entry of level n with key among [lo, hi), as a link;
 * 0 when found. */
static inline int lookup(const kvg_ngram *m, uint32_t n, uint64_t lo, uint64_t hi, uint32_t key, link *k)
{
    const level *l = &m->levels[n];
    search s;
    if (search_block(l, lo, hi, key, &s))
        return -1;
    if (search_header(l, &s))
        return lookup_clamped(m, n, &s, k);
    if (search_keys(l, &s))
        return -1;
    search_record(m, l, &s, k);
    return 0;
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

#endif
