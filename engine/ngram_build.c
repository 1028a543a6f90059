/* ngram_build.c — from n-gram lists to the trie tables of ngram.h.
 *
 * Stages, as in KenLM's loader: sort each order; fill in missing suffixes
 * ("blanks": entries whose probability is what back-off gives, backoff 0)
 * from the top order down, so that every entry's shorter suffixes are
 * entries; add structural nodes for missing contexts so every entry has a
 * path from the root; compute the blanks' probabilities bottom-up; link each
 * level to the next; quantize if asked; write. */
#include "ngram_build.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ngram_layout.h"

/* Level n as records of n word ids, prob, backoff: one sortable block. */
typedef struct recs {
    uint32_t n;
    uint64_t count;
    uint32_t *data; /* count * (n + 2) words; prob and backoff stored as float bits */
} recs;

#define PENDING_BLANK INFINITY /* a blank whose probability is not computed yet */

static inline uint32_t *rec_at(const recs *r, uint64_t i) { return r->data + i * (r->n + 2); }
static inline float rec_prob(const recs *r, uint64_t i)
{
    float f;
    memcpy(&f, rec_at(r, i) + r->n, 4);
    return f;
}
static inline float rec_backoff(const recs *r, uint64_t i)
{
    float f;
    memcpy(&f, rec_at(r, i) + r->n + 1, 4);
    return f;
}
static inline void rec_set(const recs *r, uint64_t i, float prob, float backoff)
{
    memcpy(rec_at(r, i) + r->n, &prob, 4);
    memcpy(rec_at(r, i) + r->n + 1, &backoff, 4);
}

static _Thread_local uint32_t sort_n; /* qsort has no context argument in C11 */

static int cmp_ids(const uint32_t *a, const uint32_t *b, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++)
        if (a[k] != b[k])
            return a[k] < b[k] ? -1 : 1;
    return 0;
}

static int cmp_rec(const void *a, const void *b) { return cmp_ids(a, b, sort_n); }

static void sort_recs(recs *r)
{
    sort_n = r->n;
    qsort(r->data, (size_t)r->count, (size_t)(r->n + 2) * 4, cmp_rec);
}

/* Index of the record whose ids equal key (n of them), or UINT64_MAX. */
static uint64_t find_rec(const recs *r, const uint32_t *key)
{
    uint64_t lo = 0, hi = r->count;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = cmp_ids(rec_at(r, mid), key, r->n);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return UINT64_MAX;
}

/* Sorted merge of add (sorted, distinct, disjoint from r) into r. */
static int merge_into(recs *r, recs *add)
{
    if (add->count == 0)
        return 0;
    size_t stride = r->n + 2;
    uint32_t *out = malloc((size_t)(r->count + add->count) * stride * 4);
    if (!out)
        return -1;
    uint64_t i = 0, j = 0, k = 0;
    while (i < r->count || j < add->count) {
        const uint32_t *src;
        if (j == add->count || (i < r->count && cmp_ids(rec_at(r, i), rec_at(add, j), r->n) < 0))
            src = rec_at(r, i++);
        else
            src = rec_at(add, j++);
        memcpy(out + k++ * stride, src, stride * 4);
    }
    free(r->data);
    r->data = out;
    r->count += add->count;
    return 0;
}

/* Appends a record (ids copied from key) to a growable recs. */
static int push_rec(recs *r, uint64_t *cap, const uint32_t *key, float prob, float backoff)
{
    if (r->count == *cap) {
        uint64_t nc = *cap ? *cap * 2 : 1024;
        uint32_t *d = realloc(r->data, (size_t)nc * (r->n + 2) * 4);
        if (!d)
            return -1;
        r->data = d;
        *cap = nc;
    }
    memcpy(rec_at(r, r->count), key, r->n * 4);
    rec_set(r, r->count, prob, backoff);
    r->count++;
    return 0;
}

/* Sorts and removes duplicates (added records may repeat). */
static void sort_unique(recs *r)
{
    if (r->count < 2)
        return;
    sort_recs(r);
    uint64_t k = 1;
    for (uint64_t i = 1; i < r->count; i++)
        if (cmp_ids(rec_at(r, i), rec_at(r, k - 1), r->n) != 0)
            memmove(rec_at(r, k++), rec_at(r, i), (r->n + 2) * 4);
    r->count = k;
}

/* Adds to level n-1 (lower) every (n-1)-gram that is a suffix (use_suffix)
 * or prefix of a level-n record and is missing there; new records get prob
 * new_prob and backoff 0. */
static int close_level(const recs *upper, recs *lower, int use_suffix, float new_prob)
{
    recs add = {lower->n, 0, NULL};
    uint64_t cap = 0;
    for (uint64_t i = 0; i < upper->count; i++) {
        const uint32_t *key = rec_at(upper, i) + (use_suffix ? 1 : 0);
        if (find_rec(lower, key) == UINT64_MAX && push_rec(&add, &cap, key, new_prob, 0.0f)) {
            free(add.data);
            return -1;
        }
    }
    sort_unique(&add);
    int rc = merge_into(lower, &add);
    free(add.data);
    return rc;
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

/* ---- quantization ---- */

typedef struct codebook {
    float centers[NGRAM_Q8_CENTERS];
    int n_centers;
} codebook;

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Up to max_centers centers for the non-NaN values: exact when there are at
 * most that many distinct values; otherwise bins of about equal count over
 * the sorted values, never splitting equal values, each bin's center its
 * mean. Sorted ascending. */
static int make_codebook(const float *vals, uint64_t n, int max_centers, codebook *cb)
{
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v)
        return -1;
    uint64_t m = 0;
    for (uint64_t i = 0; i < n; i++)
        if (!isnan(vals[i]))
            v[m++] = vals[i];
    qsort(v, (size_t)m, sizeof *v, cmp_float);
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
    free(v);
    return 0;
}

static uint8_t nearest_code(const codebook *cb, float x)
{
    int lo = 0, hi = cb->n_centers - 1;
    while (lo < hi) { /* first center >= x */
        int mid = (lo + hi) / 2;
        if (cb->centers[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && fabsf(x - cb->centers[lo - 1]) <= fabsf(cb->centers[lo] - x))
        lo--;
    return (uint8_t)lo;
}

/* ---- writing ---- */

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

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* One value column of a level, encoded: a code per entry, and the table the
 * codes index (NULL when the column is plain: the codes are then the f32
 * bit patterns, 32 bits each). */
typedef struct column {
    uint64_t *codes;
    unsigned bits;
    float *table;
    uint64_t n_table;
} column;

/* Exact: the table is every distinct value (by bits) in ascending order,
 * unless the plain floats are smaller. quantize: at most 256 centers (255
 * when NaNs must keep a code). NaN — structural nodes — is always the
 * table's last value. */
static int encode_column(unsigned n, const float *vals, uint64_t count, int quantize, column *out, kvg_error *err)
{
    int has_nan = 0;
    uint32_t *keys = NULL;
    codebook cb = {{0}, 0};
    memset(out, 0, sizeof *out);
    for (uint64_t i = 0; i < count; i++)
        has_nan |= isnan(vals[i]) != 0;
    if (!(out->codes = malloc((size_t)(count ? count : 1) * sizeof *out->codes)))
        goto oom;
    if (quantize) {
        if (make_codebook(vals, count, NGRAM_Q8_CENTERS - has_nan, &cb))
            goto oom;
        out->n_table = (uint64_t)cb.n_centers + (uint64_t)has_nan;
        if (!(out->table = malloc(out->n_table * sizeof *out->table)))
            goto oom;
        memcpy(out->table, cb.centers, (size_t)cb.n_centers * sizeof *out->table);
    } else {
        /* distinct keys, sorted */
        if (!(keys = malloc((size_t)(count ? count : 1) * sizeof *keys)))
            goto oom;
        for (uint64_t i = 0; i < count; i++)
            keys[i] = order_key(vals[i]);
        qsort(keys, (size_t)count, sizeof *keys, cmp_u32);
        uint64_t n_finite = 0;
        for (uint64_t i = 0; i < count; i++)
            if ((i == 0 || keys[i] != keys[i - 1]) && keys[i] != UINT32_MAX)
                keys[n_finite++] = keys[i];
        out->n_table = n_finite + (uint64_t)has_nan;
        if (out->n_table == 0)
            out->n_table = 1; /* an empty level still gets a one-entry table */
        unsigned bits = packed_bits_for(out->n_table - 1);
        if (out->n_table * 32 + count * bits >= count * 32) {
            /* Mostly distinct values (top-order probabilities): a table
             * would cost more than it saves; keep the floats. */
            for (uint64_t i = 0; i < count; i++) {
                uint32_t b;
                memcpy(&b, &vals[i], 4);
                out->codes[i] = b;
            }
            out->bits = 32;
            out->n_table = 0;
            free(keys);
            return 0;
        }
        if (!(out->table = malloc(out->n_table * sizeof *out->table)))
            goto oom;
        for (uint64_t i = 0; i < n_finite; i++) {
            uint32_t k = keys[i], b = (k & 0x80000000u) ? k & 0x7FFFFFFFu : ~k;
            memcpy(&out->table[i], &b, 4);
        }
        if (!n_finite && !has_nan)
            out->table[0] = 0.0f;
    }
    if (has_nan)
        out->table[out->n_table - 1] = NAN;
    for (uint64_t i = 0; i < count; i++) {
        if (isnan(vals[i])) {
            out->codes[i] = out->n_table - 1;
        } else if (quantize) {
            out->codes[i] = nearest_code(&cb, vals[i]);
        } else {
            uint32_t k = order_key(vals[i]);
            uint32_t *hit = bsearch(&k, keys, (size_t)(out->n_table - (uint64_t)has_nan), sizeof *keys, cmp_u32);
            out->codes[i] = (uint64_t)(hit - keys);
        }
    }
    out->bits = packed_bits_for(out->n_table - 1);
    free(keys);
    return 0;
oom:
    free(keys);
    free(out->codes);
    free(out->table);
    memset(out, 0, sizeof *out);
    return kvg_errorf(err, NULL, "out of memory encoding level %u", n);
}

static void column_free(column *c)
{
    free(c->codes);
    free(c->table);
    memset(c, 0, sizeof *c);
}

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

static void progress(const kvg_ngram_input *in, const char *phase)
{
    if (in->progress)
        in->progress(in->progress_user, phase);
}

int kvg_ngram_build(kvg_ngram_input *in, int quantize, kvg_writer *w, const char *where, kvg_error *err)
{
    uint32_t N = in->order, V = in->vocab_size;
    recs lv[KVG_NGRAM_MAX_ORDER + 1];
    memset(lv, 0, sizeof lv);
    uint64_t *next = NULL;
    float *col = NULL;
    column prob_col = {0}, backoff_col = {0};
    int rc = -1;
    if (N < 1 || N > KVG_NGRAM_MAX_ORDER || V == 0)
        return kvg_errorf(err, where, "n-gram order %u or vocabulary size %u out of range", N, V);
    if (quantize != 0 && quantize != 8)
        return kvg_errorf(err, where, "quantization to %d bits is not supported (0 or 8)", quantize);

    /* Records per level, sorted, duplicates refused. */
    progress(in, "sorting");
    for (uint32_t n = 2; n <= N; n++) {
        kvg_ngram_order_input *src = &in->levels[n];
        recs *r = &lv[n];
        r->n = n;
        r->count = src->count;
        r->data = malloc((size_t)(src->count ? src->count : 1) * (n + 2) * 4);
        if (!r->data) {
            kvg_errorf(err, where, "out of memory for %llu %u-grams", (unsigned long long)src->count, n);
            goto done;
        }
        for (uint64_t i = 0; i < src->count; i++) {
            memcpy(rec_at(r, i), src->ids + i * n, n * 4);
            rec_set(r, i, src->prob[i], n < N ? src->backoff[i] : 0.0f);
        }
        free(src->ids);
        free(src->prob);
        free(src->backoff);
        src->ids = NULL;
        src->prob = src->backoff = NULL;
        sort_recs(r);
        for (uint64_t i = 1; i < r->count; i++)
            if (cmp_ids(rec_at(r, i), rec_at(r, i - 1), n) == 0) {
                char desc[256];
                describe_ngram(in, rec_at(r, i), n, desc, sizeof desc);
                kvg_errorf(err, where, "duplicate %u-gram \"%s\"", n, desc);
                goto done;
            }
    }

    /* Suffix closure (blanks), then prefix closure (structural nodes). */
    progress(in, "filling in missing lower-order entries");
    for (uint32_t n = N; n >= 3; n--)
        if (close_level(&lv[n], &lv[n - 1], 1, PENDING_BLANK)) {
            kvg_errorf(err, where, "out of memory adding missing %u-grams", n - 1);
            goto done;
        }
    for (uint32_t n = N; n >= 3; n--)
        if (close_level(&lv[n], &lv[n - 1], 0, NAN)) {
            kvg_errorf(err, where, "out of memory adding missing %u-gram contexts", n - 1);
            goto done;
        }

    /* Blanks' probabilities, bottom-up: back off from the (n-1)-suffix,
     * which is an entry by now, through the context's backoff. */
    for (uint32_t n = 2; n <= N; n++) {
        recs *r = &lv[n];
        for (uint64_t i = 0; i < r->count; i++) {
            if (rec_prob(r, i) != PENDING_BLANK)
                continue;
            const uint32_t *ids = rec_at(r, i);
            float lower, ctx_backoff = 0.0f;
            if (n == 2) {
                lower = in->unigram_prob[ids[1]];
                ctx_backoff = in->unigram_backoff[ids[0]];
            } else {
                uint64_t s = find_rec(&lv[n - 1], ids + 1);
                uint64_t c = find_rec(&lv[n - 1], ids);
                lower = rec_prob(&lv[n - 1], s);
                if (c != UINT64_MAX && !ngram_is_absent(rec_prob(&lv[n - 1], c)))
                    ctx_backoff = rec_backoff(&lv[n - 1], c);
            }
            rec_set(r, i, lower + ctx_backoff, 0.0f);
        }
    }

    /* Metadata. */
    progress(in, "writing");
    uint64_t counts[KVG_NGRAM_MAX_ORDER];
    counts[0] = V;
    for (uint32_t n = 2; n <= N; n++)
        counts[n - 1] = lv[n].count;
    if (kvg_writer_meta_str(w, "general.kind", NGRAM_KIND, strlen(NGRAM_KIND), err) ||
        kvg_writer_meta_u64(w, NGRAM_KEY_ORDER, N, err) || kvg_writer_meta_u64_array(w, NGRAM_KEY_COUNTS, counts, N, err) ||
        kvg_writer_meta_str(w, NGRAM_KEY_QUANT, quantize ? "q8" : "none", quantize ? 2 : 4, err) ||
        kvg_writer_meta_u64(w, NGRAM_KEY_BOS, in->bos_id, err) || kvg_writer_meta_u64(w, NGRAM_KEY_EOS, in->eos_id, err) ||
        kvg_writer_meta_u64(w, NGRAM_KEY_UNK_ADDED, in->unk_added ? 1 : 0, err))
        goto done;
    if (kvg_vocab_write(w, NGRAM_VOCAB_PREFIX, in->words, in->word_lens, V, err))
        goto done;

    /* Levels: one record per entry (word, next, prob, backoff), packed. */
    for (uint32_t n = 1; n <= N; n++) {
        uint64_t count = counts[n - 1];
        /* Unigrams are always exact (they are few; KenLM does the same). */
        int q = n >= 2 ? quantize : 0;
        free(col);
        col = malloc((size_t)(count ? count : 1) * sizeof *col);
        if (!col) {
            kvg_errorf(err, where, "out of memory");
            goto done;
        }
        for (uint64_t i = 0; i < count; i++)
            col[i] = n == 1 ? in->unigram_prob[i] : rec_prob(&lv[n], i);
        if (encode_column(n, col, count, q, &prob_col, err))
            goto done;
        if (n < N) {
            for (uint64_t i = 0; i < count; i++)
                col[i] = n == 1 ? in->unigram_backoff[i] : rec_backoff(&lv[n], i);
            if (encode_column(n, col, count, q, &backoff_col, err))
                goto done;
        }
        free(next);
        next = NULL;
        if (n < N) {
            /* next[i] = first child of entry i: count children per parent by
             * walking the (sorted) next level with a pointer into this one. */
            const recs *c = &lv[n + 1];
            next = calloc((size_t)count + 1, sizeof *next);
            if (!next) {
                kvg_errorf(err, where, "out of memory");
                goto done;
            }
            uint64_t p = 0;
            for (uint64_t i = 0; i < c->count; i++) {
                const uint32_t *prefix = rec_at(c, i);
                if (n == 1) {
                    p = prefix[0];
                } else {
                    while (p < count && cmp_ids(rec_at(&lv[n], p), prefix, n) < 0)
                        p++;
                }
                next[p + 1]++;
            }
            for (uint64_t i = 0; i < count; i++)
                next[i + 1] += next[i];
        }
        ngram_record_layout lay;
        ngram_layout_fields(&lay, n, N, V, n < N ? counts[n] : 0, prob_col.bits, n < N ? backoff_col.bits : 0);
        uint64_t n_records = count + (n < N ? 1 : 0), words = ngram_record_words(&lay, n_records);
        if (words == 0) {
            kvg_errorf(err, where, "level %u is too large", n);
            goto done;
        }
        uint8_t *buf = calloc((size_t)words, 8);
        if (!buf) {
            kvg_errorf(err, where, "out of memory packing level %u", n);
            goto done;
        }
        for (uint64_t i = 0; i < n_records; i++) {
            uint64_t base = i * lay.record_bits;
            if (lay.word_bits && i < count)
                bits_set(buf, base + lay.word_off, rec_at(&lv[n], i)[n - 1]);
            if (lay.next_bits)
                bits_set(buf, base + lay.next_off, next[i]);
            if (i < count) {
                bits_set(buf, base + lay.prob_off, prob_col.codes[i]);
                if (lay.backoff_bits)
                    bits_set(buf, base + lay.backoff_off, backoff_col.codes[i]);
            }
        }
        char name[64];
        ngram_tensor_name(name, sizeof name, n, "records");
        uint64_t shape[] = {words};
        int bad = write_table(w, n, "prob", &prob_col, err) || (n < N && write_table(w, n, "backoff", &backoff_col, err)) ||
                  kvg_writer_tensor(w, name, KVG_DTYPE_U64, 1, shape, buf, err);
        free(buf);
        column_free(&prob_col);
        column_free(&backoff_col);
        if (bad)
            goto done;
    }
    rc = 0;
done:
    for (uint32_t n = 0; n <= KVG_NGRAM_MAX_ORDER; n++)
        free(lv[n].data);
    free(next);
    free(col);
    column_free(&prob_col);
    column_free(&backoff_col);
    return rc;
}
