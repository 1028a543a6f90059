/* ngram.c — opening and checking an n-gram model, distributions and top-k
 * over its forward trie (scoring is in ngram_score.c). */
#include "ngram.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ngram_internal.h"

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
        l->value_bits = l->prob.bits + l->backoff.bits;
        l->hdr_one_load = l->hl.bits <= 57;
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
