/* ngram_build_stream.c — the trie tables of a complete model within a
 * memory budget.
 *
 * Per order n, lowest first, the n-grams become a stream F_n in trie
 * (forward) order whose records carry what encoding needs:
 *   [n word ids, packed 2 per word (est_item_pack)] [prob bits << 32 | backoff bits]
 *   [key << 32 | rank among the siblings]
 * The key (ngram_layout.h) is the word at n = 2; at n >= 3 the rank of the
 * n-gram's suffix in F_{n-1}: the n-grams are sorted by suffix first (sorter
 * A), merged with F_{n-1} (one pass: both ascend), then sorted forward
 * (sorter B). The same merges check that every suffix and every prefix is
 * an n-gram. Then level by level: each value column is sorted by value
 * (external sort), encoded by the shared encoder, its codes sorted back into
 * entry order; the blocks are read from F_n, the codes and F_{n+1} (the
 * children). Every sort keeps within the budget and spills past it; the
 * rest is a few stream buffers and one block. */
#include "ngram_build.h"

#include <stdlib.h>
#include <string.h>

#include "kvg_dtype.h"
#include "ngram_build_encode.h"
#include "ngram_estimate_internal.h"
#include "ngram_layout.h"

static unsigned f_words(uint32_t n) { return est_key_words(n) + 2; }

static void unpack_ids(const uint64_t *rec, uint32_t n, uint32_t *ids)
{
    for (uint32_t j = 0; j < n; j++)
        ids[j] = est_item_id(rec, j);
}

static int ids_cmp(const uint32_t *a, const uint32_t *b, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        if (a[k] != b[k])
            return a[k] < b[k] ? -1 : 1;
    return 0;
}

/* A stream with one record of lookahead. */
typedef struct cursor {
    est_stream *s;
    uint64_t rec[EST_MAX_WORDS];
    int have; /* 1: rec holds the next record; 0: at the end */
} cursor;

static int cursor_start(cursor *c, est_stream *s, kvg_error *err)
{
    c->s = s;
    if (est_stream_rewind(s, err))
        return -1;
    c->have = est_stream_get(s, c->rec, err);
    return c->have < 0 ? -1 : 0;
}

static int cursor_advance(cursor *c, kvg_error *err)
{
    c->have = est_stream_get(c->s, c->rec, err);
    return c->have < 0 ? -1 : 0;
}

typedef struct sbuild {
    const kvg_ngram_input *in;
    const kvg_ngram_level_reader *rd;
    int quantize;
    uint64_t memory;
    const char *dir;
    const char *where;
    est_stream f[KVG_NGRAM_MAX_ORDER + 2];
} sbuild;

/* Moves a finished sorter's records into a fresh stream. */
static int sorter_to_stream(est_sorter *s, unsigned w, est_stream *out, const char *dir, kvg_error *err)
{
    if (est_sorter_finish(s, err) || est_stream_open(out, w, dir, err))
        return -1;
    const uint64_t *rec;
    int got;
    while ((got = est_sorter_next(s, &rec, err)) > 0)
        if (est_stream_put(out, rec, err))
            return -1;
    return got;
}

/* ---- phase 1: F_n ---- */

/* Reads order n into sorter B ([forward ids][values][key << 32]); at n >= 3
 * through sorter A and the merge with F_{n-1}. 1 when a suffix is missing. */
static int read_level(sbuild *b, uint32_t n, est_sorter *sb, kvg_error *err)
{
    uint32_t ids[KVG_NGRAM_MAX_ORDER + 1], rid[KVG_NGRAM_MAX_ORDER + 1], V = b->in->vocab_size;
    unsigned kw = est_key_words(n);
    uint64_t want = b->in->levels[n].count, got_n = 0;
    est_sorter *sa = NULL;
    int rc = -1, got;
    if (b->rd->open(b->rd->user, n, err))
        return -1;
    if (n >= 3 && est_sorter_new(kw + 1, kw, b->memory / 2, b->dir, &sa, err))
        return -1;
    float prob, backoff = 0.0f;
    while ((got = b->rd->next(b->rd->user, ids, &prob, &backoff, err)) > 0) {
        for (uint32_t k = 0; k < n; k++)
            if (ids[k] >= V) {
                kvg_errorf(err, b->where, "a %u-gram has word id %u, beyond the vocabulary", n, ids[k]);
                goto done;
            }
        uint32_t pb, bb;
        memcpy(&pb, &prob, 4);
        memcpy(&bb, &backoff, 4);
        uint64_t val = (uint64_t)pb << 32 | bb;
        uint64_t *slot = n >= 3 ? est_sorter_slot(sa, err) : est_sorter_slot(sb, err);
        if (!slot)
            goto done;
        if (n >= 3) { /* suffix first: ids[1..n-1], ids[0] */
            memcpy(rid, ids + 1, (n - 1) * sizeof *rid);
            rid[n - 1] = ids[0];
            est_item_pack(slot, rid, n);
            slot[kw] = val;
        } else {
            est_item_pack(slot, ids, n);
            slot[kw] = val;
            slot[kw + 1] = (uint64_t)ids[1] << 32;
        }
        got_n++;
    }
    if (got < 0)
        goto done;
    if (got_n != want) {
        kvg_errorf(err, b->where, "internal error: %llu %u-grams read, %llu announced", (unsigned long long)got_n, n,
                   (unsigned long long)want);
        goto done;
    }
    if (n >= 3) {
        /* the suffixes ascend, and so do the entries of F_{n-1} */
        cursor fc;
        uint32_t fid[KVG_NGRAM_MAX_ORDER];
        const uint64_t *rec;
        if (est_sorter_finish(sa, err) || cursor_start(&fc, &b->f[n - 1], err))
            goto done;
        if (fc.have)
            unpack_ids(fc.rec, n - 1, fid);
        while ((got = est_sorter_next(sa, &rec, err)) > 0) {
            unpack_ids(rec, n, rid);
            int c = 1;
            while (fc.have && (c = ids_cmp(fid, rid, n - 1)) < 0) {
                if (cursor_advance(&fc, err))
                    goto done;
                if (fc.have)
                    unpack_ids(fc.rec, n - 1, fid);
            }
            if (!fc.have || c != 0) {
                rc = KVG_NGRAM_BUILD_INCOMPLETE;
                goto done;
            }
            ids[0] = rid[n - 1];
            memcpy(ids + 1, rid, (n - 1) * sizeof *ids);
            uint64_t *slot = est_sorter_slot(sb, err);
            if (!slot)
                goto done;
            est_item_pack(slot, ids, n);
            slot[kw] = rec[kw];
            slot[kw + 1] = (fc.rec[est_key_words(n - 1) + 1] & 0xFFFFFFFFu) << 32;
        }
        if (got < 0)
            goto done;
    }
    rc = 0;
done:
    est_sorter_free(sa);
    return rc;
}

/* Builds F_n. 1 when the model is incomplete. */
static int make_level(sbuild *b, uint32_t n, kvg_error *err)
{
    unsigned kw = est_key_words(n), w = f_words(n);
    est_sorter *sb = NULL;
    int rc = -1, got;
    if (est_sorter_new(w, kw, n >= 3 ? b->memory / 2 : b->memory, b->dir, &sb, err))
        return -1;
    if ((rc = read_level(b, n, sb, err)) != 0)
        goto done;
    rc = -1;
    if (est_sorter_finish(sb, err) || est_stream_open(&b->f[n], w, b->dir, err))
        goto done;
    /* ranks among siblings; every prefix must be in F_{n-1} */
    cursor pc;
    int check = n >= 3;
    if (check && cursor_start(&pc, &b->f[n - 1], err))
        goto done;
    uint32_t ids[KVG_NGRAM_MAX_ORDER], prev[KVG_NGRAM_MAX_ORDER], pid[KVG_NGRAM_MAX_ORDER];
    uint64_t rank = 0, i = 0, out[EST_MAX_WORDS];
    const uint64_t *rec;
    while ((got = est_sorter_next(sb, &rec, err)) > 0) {
        unpack_ids(rec, n, ids);
        if (i > 0 && ids_cmp(ids, prev, n) == 0) {
            kvg_errorf(err, b->where, "duplicate %u-gram", n);
            goto done;
        }
        rank = i > 0 && ids_cmp(ids, prev, n - 1) == 0 ? rank + 1 : 0;
        if (rank > UINT32_MAX) {
            kvg_errorf(err, b->where, "more than 2^32 continuations of a %u-gram context", n);
            goto done;
        }
        if (check) {
            int c = 1;
            while (pc.have && (unpack_ids(pc.rec, n - 1, pid), c = ids_cmp(pid, ids, n - 1)) < 0)
                if (cursor_advance(&pc, err))
                    goto done;
            if (!pc.have || c != 0) {
                rc = KVG_NGRAM_BUILD_INCOMPLETE;
                goto done;
            }
        }
        memcpy(out, rec, w * sizeof *out);
        out[kw + 1] |= rank;
        if (est_stream_put(&b->f[n], out, err))
            goto done;
        memcpy(prev, ids, n * sizeof *ids);
        i++;
    }
    rc = got < 0 ? -1 : 0;
done:
    est_sorter_free(sb);
    return rc;
}

/* ---- phase 2: encoding ---- */

/* A column of F_n sorted by value: one word per entry, the value's
 * ngram_order_key << 32 | entry index. */
typedef struct stream_column {
    est_stream sorted, codes, table;
    est_sorter *code_sorter;
    uint64_t table_n;
    ngram_column_plan plan;
} stream_column;

static int sv_rewind(void *user, kvg_error *err) { return est_stream_rewind(&((stream_column *)user)->sorted, err); }

static int sv_next(void *user, float *v, uint64_t *index, kvg_error *err)
{
    uint64_t word;
    int got = est_stream_get(&((stream_column *)user)->sorted, &word, err);
    if (got > 0) {
        *v = ngram_from_order_key((uint32_t)(word >> 32));
        *index = word & 0xFFFFFFFFu;
    }
    return got;
}

static int sv_code(void *user, uint64_t index, uint32_t code, kvg_error *err)
{
    uint64_t *slot = est_sorter_slot(((stream_column *)user)->code_sorter, err);
    if (!slot)
        return -1;
    *slot = index << 32 | code;
    return 0;
}

static int sv_table(void *user, uint64_t i, uint64_t n_table, float value, kvg_error *err)
{
    stream_column *c = user;
    (void)n_table;
    if (i != c->table_n)
        return kvg_errorf(err, NULL, "internal error: value table out of order");
    uint64_t word = kvg_f32_bits(value);
    c->table_n++;
    return est_stream_put(&c->table, &word, err);
}

static void column_close(stream_column *c)
{
    est_stream_close(&c->sorted);
    est_stream_close(&c->codes);
    est_stream_close(&c->table);
    est_sorter_free(c->code_sorter);
    c->code_sorter = NULL;
}

/* Encodes the prob (hi = 1) or backoff column of F_n into c. */
static int encode_column(sbuild *b, uint32_t n, int hi, stream_column *c, kvg_error *err)
{
    unsigned kw = est_key_words(n);
    uint64_t count = b->f[n].n, rec[EST_MAX_WORDS];
    est_sorter *vs = NULL;
    int rc = -1;
    memset(c, 0, sizeof *c);
    if (count > UINT32_MAX)
        return kvg_errorf(err, b->where, "more than 2^32 %u-grams", n);
    if (est_sorter_new(1, 1, b->memory, b->dir, &vs, err) || est_stream_rewind(&b->f[n], err))
        goto done;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t *slot;
        if (est_stream_get(&b->f[n], rec, err) != 1 || !(slot = est_sorter_slot(vs, err)))
            goto done;
        uint32_t bits = (uint32_t)(hi ? rec[kw] >> 32 : rec[kw]);
        float v;
        memcpy(&v, &bits, 4);
        *slot = (uint64_t)ngram_order_key(v) << 32 | i;
    }
    if (sorter_to_stream(vs, 1, &c->sorted, b->dir, err))
        goto done;
    est_sorter_free(vs);
    vs = NULL;
    if (est_stream_open(&c->table, 1, b->dir, err) || est_sorter_new(1, 1, b->memory, b->dir, &c->code_sorter, err))
        goto done;
    ngram_sorted_values src = {sv_rewind, sv_next, c};
    ngram_column_sink sink = {sv_code, sv_table, c};
    if (ngram_encode_column(n, count, b->quantize, &src, &sink, &c->plan, err))
        goto done;
    est_stream_close(&c->sorted);
    if (!c->plan.plain && sorter_to_stream(c->code_sorter, 1, &c->codes, b->dir, err))
        goto done;
    est_sorter_free(c->code_sorter);
    c->code_sorter = NULL;
    rc = 0;
done:
    est_sorter_free(vs);
    return rc;
}

static int write_stream_table(kvg_writer *w, uint32_t n, const char *part, stream_column *c, kvg_error *err)
{
    if (c->plan.plain)
        return 0;
    char name[64], vname[48];
    snprintf(vname, sizeof vname, "%s_values", part);
    ngram_tensor_name(name, sizeof name, n, vname);
    uint64_t shape[] = {c->plan.n_table}, word;
    if (est_stream_rewind(&c->table, err) || kvg_writer_tensor_begin(w, name, KVG_DTYPE_F32, 1, shape, err))
        return -1;
    int got;
    while ((got = est_stream_get(&c->table, &word, err)) > 0) {
        uint32_t bits = (uint32_t)word;
        if (kvg_writer_tensor_write(w, &bits, 4, err))
            return -1;
    }
    return got < 0 ? -1 : kvg_writer_tensor_end(w, err);
}

/* The entries of level n for ngram_write_blocks: F_n, the code streams and
 * F_{n+1} for the children. */
typedef struct stream_entries {
    sbuild *b;
    uint32_t n, top;
    stream_column *pc, *bc;
    cursor child;
} stream_entries;

static int se_rewind(void *user, kvg_error *err)
{
    stream_entries *s = user;
    if (est_stream_rewind(&s->b->f[s->n], err) || (!s->pc->plan.plain && est_stream_rewind(&s->pc->codes, err)) ||
        (!s->top && !s->bc->plan.plain && est_stream_rewind(&s->bc->codes, err)))
        return -1;
    return s->top ? 0 : cursor_start(&s->child, &s->b->f[s->n + 1], err);
}

static int code_of(stream_column *c, uint32_t plain_bits, uint32_t *code, kvg_error *err)
{
    if (c->plan.plain) {
        *code = plain_bits;
        return 0;
    }
    uint64_t word;
    if (est_stream_get(&c->codes, &word, err) != 1)
        return kvg_errorf(err, NULL, "internal error: codes ended early");
    *code = (uint32_t)word;
    return 0;
}

static int se_next(void *user, ngram_entry *e, kvg_error *err)
{
    stream_entries *s = user;
    uint32_t n = s->n;
    unsigned kw = est_key_words(n);
    uint64_t rec[EST_MAX_WORDS];
    int got = est_stream_get(&s->b->f[n], rec, err);
    if (got <= 0)
        return got;
    e->key = (uint32_t)(rec[kw + 1] >> 32);
    if (code_of(s->pc, (uint32_t)(rec[kw] >> 32), &e->prob, err))
        return -1;
    e->backoff = 0;
    e->children = 0;
    if (s->top)
        return 1;
    if (code_of(s->bc, (uint32_t)rec[kw], &e->backoff, err))
        return -1;
    uint32_t ids[KVG_NGRAM_MAX_ORDER], cid[KVG_NGRAM_MAX_ORDER + 1];
    unpack_ids(rec, n, ids);
    while (s->child.have) {
        unpack_ids(s->child.rec, n + 1, cid);
        if (ids_cmp(cid, ids, n) != 0)
            break;
        e->children++;
        if (cursor_advance(&s->child, err))
            return -1;
    }
    return 1;
}

/* The entries of level n, compact for the encoder's four passes: two
 * words each, key << 32 | prob code and backoff code << 32 | children
 * (children of one entry are at most the vocabulary, < 2^32). */
static int ce_rewind(void *user, kvg_error *err) { return est_stream_rewind(user, err); }

static int ce_next(void *user, ngram_entry *e, kvg_error *err)
{
    uint64_t rec[2];
    int got = est_stream_get(user, rec, err);
    if (got > 0) {
        e->key = (uint32_t)(rec[0] >> 32);
        e->prob = (uint32_t)rec[0];
        e->backoff = (uint32_t)(rec[1] >> 32);
        e->children = (uint32_t)rec[1];
    }
    return got;
}

static int write_level(sbuild *b, kvg_writer *w, uint32_t n, kvg_error *err)
{
    uint32_t N = b->in->order;
    stream_column pc, bc;
    est_stream ce;
    memset(&pc, 0, sizeof pc);
    memset(&bc, 0, sizeof bc);
    memset(&ce, 0, sizeof ce);
    int rc = -1, got;
    if (encode_column(b, n, 1, &pc, err) || (n < N && encode_column(b, n, 0, &bc, err)) ||
        write_stream_table(w, n, "prob", &pc, err) || (n < N && write_stream_table(w, n, "backoff", &bc, err)))
        goto done;
    stream_entries se = {b, n, n == N, &pc, &bc, {0}};
    ngram_entry e = {0, 0, 0, 0};
    if (se_rewind(&se, err) || est_stream_open(&ce, 2, b->dir, err))
        goto done;
    while ((got = se_next(&se, &e, err)) > 0) {
        uint64_t rec[2] = {(uint64_t)e.key << 32 | e.prob, (uint64_t)e.backoff << 32 | e.children};
        if (e.children > UINT32_MAX) {
            kvg_errorf(err, b->where, "a %u-gram with more than 2^32 continuations", n);
            goto done;
        }
        if (est_stream_put(&ce, rec, err))
            goto done;
    }
    if (got < 0)
        goto done;
    column_close(&pc);
    column_close(&bc);
    ngram_entries src = {ce_rewind, ce_next, &ce};
    rc = ngram_write_blocks(w, n, b->f[n].n, n == N, n < N ? b->f[n + 1].n : 0, pc.plan.bits,
                            n < N ? bc.plan.bits : 0, &src, b->where, err);
done:
    column_close(&pc);
    column_close(&bc);
    est_stream_close(&ce);
    return rc;
}

/* Level 1: the first child of every word, from F_2. */
static int write_unigrams(sbuild *b, kvg_writer *w, kvg_error *err)
{
    uint32_t V = b->in->vocab_size;
    if (b->in->order == 1)
        return ngram_write_unigrams(w, b->in, NULL, 0, b->where, err);
    uint64_t *first = calloc((size_t)V + 1, sizeof *first), rec[EST_MAX_WORDS];
    if (!first)
        return kvg_errorf(err, b->where, "out of memory");
    int got, rc = -1;
    if (est_stream_rewind(&b->f[2], err))
        goto done;
    while ((got = est_stream_get(&b->f[2], rec, err)) > 0)
        first[est_item_id(rec, 0) + 1]++;
    if (got < 0)
        goto done;
    for (uint32_t i = 0; i < V; i++)
        first[i + 1] += first[i];
    rc = ngram_write_unigrams(w, b->in, first, b->f[2].n, b->where, err);
done:
    free(first);
    return rc;
}

int kvg_ngram_build_streamed(const kvg_ngram_input *in, const kvg_ngram_level_reader *rd, int quantize, uint64_t memory,
                             const char *temp_dir, kvg_writer *w, const char *where, kvg_error *err)
{
    uint32_t N = in->order, V = in->vocab_size;
    if (N < 1 || N > KVG_NGRAM_MAX_ORDER || V == 0)
        return kvg_errorf(err, where, "n-gram order %u or vocabulary size %u out of range", N, V);
    if (quantize != 0 && quantize != 8)
        return kvg_errorf(err, where, "quantization to %d bits is not supported (0 or 8)", quantize);
    sbuild b;
    memset(&b, 0, sizeof b);
    b.in = in;
    b.rd = rd;
    b.quantize = quantize;
    b.memory = memory;
    b.dir = temp_dir;
    b.where = where;
    int rc = -1;
    if (in->progress)
        in->progress(in->progress_user, "sorting n-grams into trie order");
    for (uint32_t n = 2; n <= N; n++) {
        if ((rc = make_level(&b, n, err)) != 0)
            goto done;
        rc = -1;
    }
    if (in->progress)
        in->progress(in->progress_user, "writing");
    uint64_t counts[KVG_NGRAM_MAX_ORDER];
    counts[0] = V;
    for (uint32_t n = 2; n <= N; n++)
        counts[n - 1] = b.f[n].n;
    if (ngram_write_meta(w, in, counts, quantize, err) || write_unigrams(&b, w, err))
        goto done;
    for (uint32_t n = 2; n <= N; n++) {
        if (write_level(&b, w, n, err))
            goto done;
        est_stream_close(&b.f[n]);
    }
    rc = 0;
done:
    for (uint32_t n = 0; n <= KVG_NGRAM_MAX_ORDER + 1; n++)
        est_stream_close(&b.f[n]);
    return rc;
}
