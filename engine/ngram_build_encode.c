/* ngram_build_encode.c — value columns into codes and tables, entries into
 * blocks (ngram_layout.h), both streamed: the tensors go to the writer as
 * they are produced, and a level is read as often as needed instead of
 * being held. */
#include "ngram_build_encode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ngram_layout.h"
#include "vocab.h"

uint32_t ngram_order_key(float x)
{
    uint32_t b;
    memcpy(&b, &x, 4);
    if (isnan(x))
        return UINT32_MAX;
    return (b & 0x80000000u) ? ~b : b | 0x80000000u;
}

float ngram_from_order_key(uint32_t k)
{
    uint32_t b = (k & 0x80000000u) ? k & 0x7FFFFFFFu : ~k;
    float x;
    memcpy(&x, &b, 4);
    return x;
}

/* ---- value columns ---- */

typedef struct codebook {
    float centers[NGRAM_Q8_CENTERS];
    int n_centers;
} codebook;

/* What one pass over the sorted values tells. */
typedef struct column_stats {
    uint64_t m;          /* non-NaN values */
    int has_nan;
    uint64_t n_keys;     /* distinct non-NaN bit patterns */
    uint64_t n_values;   /* distinct non-NaN values (-0 == +0) */
    float first[NGRAM_Q8_CENTERS]; /* the first n_values of them, ascending */
    int zero_at;         /* index in first[] of the zero, or -1 */
    int zero_seen;
    uint64_t zero_index; /* the zero that comes first in entry order: its entry and value */
    float zero_value;
} column_stats;

static int column_scan(const ngram_sorted_values *src, column_stats *s, kvg_error *err)
{
    memset(s, 0, sizeof *s);
    s->zero_at = -1;
    if (src->rewind(src->user, err))
        return -1;
    float x, prev = 0.0f;
    uint32_t prev_key = 0;
    uint64_t idx;
    int got;
    while ((got = src->next(src->user, &x, &idx, err)) > 0) {
        if (isnan(x)) {
            s->has_nan = 1;
            continue;
        }
        uint32_t k = ngram_order_key(x);
        s->n_keys += s->m == 0 || k != prev_key;
        if (s->m == 0 || x != prev) {
            if (s->n_values < NGRAM_Q8_CENTERS) {
                s->first[s->n_values] = x;
                if (x == 0.0f)
                    s->zero_at = (int)s->n_values;
            }
            s->n_values++;
        }
        /* -0 sorts before +0, but an exact center is the value that comes
         * first in entry order, as a stable sort by value has it */
        if (x == 0.0f && (!s->zero_seen || idx < s->zero_index)) {
            s->zero_seen = 1;
            s->zero_index = idx;
            s->zero_value = x;
        }
        prev = x;
        prev_key = k;
        s->m++;
    }
    return got;
}

/* Up to max_centers centers for the m non-NaN values (sorted ascending):
 * exact when there are at most that many distinct values; otherwise bins
 * of about equal count, never splitting equal values, each bin's center
 * its mean (summed in value order). Sorted ascending. */
static int make_codebook(const ngram_sorted_values *src, const column_stats *s, int max_centers, codebook *cb,
                         kvg_error *err)
{
    cb->n_centers = 0;
    if (s->n_values <= (uint64_t)max_centers) {
        for (uint64_t i = 0; i < s->n_values; i++)
            cb->centers[cb->n_centers++] = s->first[i];
        if (s->zero_at >= 0)
            cb->centers[s->zero_at] = s->zero_value;
    } else {
        if (src->rewind(src->user, err))
            return -1;
        uint64_t m = s->m, i = 0, j = 0, target = 0, idx;
        double sum = 0;
        float x, first = 0.0f, prev = 0.0f;
        int got, last = 0;
        while ((got = src->next(src->user, &x, &idx, err)) > 0) {
            if (isnan(x))
                continue;
            if (j > i && !last && j - i >= target && x != prev) { /* close bin [i, j) */
                cb->centers[cb->n_centers++] = isinf(first) ? first : (float)(sum / (double)(j - i));
                i = j;
            }
            if (j == i) { /* a bin starts */
                int bins_left = max_centers - cb->n_centers;
                target = (m - i + (uint64_t)bins_left - 1) / (uint64_t)bins_left;
                last = cb->n_centers == max_centers - 1;
                sum = 0;
                first = x;
            }
            sum += x;
            prev = x;
            j++;
        }
        if (got < 0)
            return -1;
        if (j > i)
            cb->centers[cb->n_centers++] = isinf(first) ? first : (float)(sum / (double)(j - i));
    }
    if (cb->n_centers == 0)
        cb->centers[cb->n_centers++] = 0.0f;
    return 0;
}

/* The code of x: the nearer of the centers around it, the lower on a tie.
 * c is the first center >= x (or the last center). */
static uint32_t nearest_code(const codebook *cb, int c, float x)
{
    if (c > 0 && fabsf(x - cb->centers[c - 1]) <= fabsf(cb->centers[c] - x))
        c--;
    return (uint32_t)c;
}

int ngram_encode_column(unsigned n, uint64_t count, int quantize, const ngram_sorted_values *src,
                        const ngram_column_sink *sink, ngram_column_plan *plan, kvg_error *err)
{
    column_stats s;
    codebook cb = {{0}, 0};
    memset(plan, 0, sizeof *plan);
    if (column_scan(src, &s, err) < 0)
        return -1;
    if (quantize) {
        if (make_codebook(src, &s, NGRAM_Q8_CENTERS - s.has_nan, &cb, err))
            return -1;
        plan->n_table = (uint64_t)cb.n_centers + (uint64_t)s.has_nan;
    } else {
        plan->n_table = s.n_keys + (uint64_t)s.has_nan;
        if (plan->n_table == 0)
            plan->n_table = 1; /* an empty level still gets a one-entry table */
        unsigned bits = packed_bits_for(plan->n_table - 1);
        if (plan->n_table * 32 + count * bits >= count * 32) {
            /* Mostly distinct values (top-order probabilities): a table
             * would cost more than it saves; keep the floats. */
            plan->bits = 32;
            plan->plain = 1;
            plan->n_table = 0;
            return 0;
        }
    }
    plan->bits = packed_bits_for(plan->n_table - 1);
    uint64_t nan_code = plan->n_table - 1;
    if (quantize) {
        for (int c = 0; c < cb.n_centers; c++)
            if (sink->table(sink->user, (uint64_t)c, plan->n_table, cb.centers[c], err))
                return -1;
    } else if (s.m == 0 && !s.has_nan) {
        if (sink->table(sink->user, 0, plan->n_table, 0.0f, err))
            return -1;
    }
    /* One walk over the values in sorted order: codes, and the exact table
     * as it goes. The first center >= x only moves up. NaNs come last. */
    if (src->rewind(src->user, err))
        return -1;
    float x;
    uint64_t idx, code = 0, seen = 0;
    uint32_t prev_key = 0;
    int c = 0, got;
    while ((got = src->next(src->user, &x, &idx, err)) > 0) {
        uint32_t out;
        if (isnan(x)) {
            out = (uint32_t)nan_code;
        } else if (quantize) {
            while (c < cb.n_centers - 1 && cb.centers[c] < x)
                c++;
            out = nearest_code(&cb, c, x);
        } else {
            uint32_t k = ngram_order_key(x);
            if (seen > 0 && k != prev_key)
                code++;
            if (seen == 0 || k != prev_key)
                if (sink->table(sink->user, code, plan->n_table, x, err))
                    return -1;
            prev_key = k;
            seen++;
            out = (uint32_t)code;
        }
        if (sink->code(sink->user, idx, out, err))
            return -1;
    }
    if (got < 0 || (s.has_nan && sink->table(sink->user, nan_code, plan->n_table, NAN, err)))
        return -1;
    (void)n;
    return 0;
}

/* ---- packed bit streams, straight to the writer ---- */

#define BITS_CHUNK 4096 /* u64 words buffered */

typedef struct bit_out {
    kvg_writer *w;
    uint64_t buf[BITS_CHUNK];
    size_t n;
    uint64_t acc;   /* the word being filled, its low fill bits used */
    unsigned fill;
    uint64_t words; /* words handed to the writer */
} bit_out;

static int bit_out_word(bit_out *b, uint64_t word, kvg_error *err)
{
    b->buf[b->n++] = word;
    if (b->n == BITS_CHUNK) {
        if (kvg_writer_tensor_write(b->w, b->buf, b->n * sizeof *b->buf, err))
            return -1;
        b->words += b->n;
        b->n = 0;
    }
    return 0;
}

/* Appends a field of width bits (0..57), v < 2^width. */
static inline int bit_out_put(bit_out *b, uint64_t v, unsigned width, kvg_error *err)
{
    if (width == 0)
        return 0;
    uint64_t acc = b->acc | v << b->fill;
    if (b->fill + width < 64) {
        b->acc = acc;
        b->fill += width;
        return 0;
    }
    b->acc = b->fill ? v >> (64 - b->fill) : 0;
    b->fill = b->fill + width - 64;
    return bit_out_word(b, acc, err);
}

static int bit_out_begin(bit_out *b, kvg_writer *w, unsigned n, const char *part, uint64_t words, kvg_error *err)
{
    char name[64];
    b->w = w;
    b->n = 0;
    b->acc = 0;
    b->fill = 0;
    b->words = 0;
    ngram_tensor_name(name, sizeof name, n, part);
    uint64_t shape[] = {words};
    return kvg_writer_tensor_begin(w, name, KVG_DTYPE_U64, 1, shape, err);
}

/* Pads with zero words to exactly words (the spare word included) and ends
 * the tensor. */
static int bit_out_end(bit_out *b, uint64_t words, kvg_error *err)
{
    if (b->fill && bit_out_word(b, b->acc, err))
        return -1;
    b->fill = 0;
    while (b->words + b->n < words)
        if (bit_out_word(b, 0, err))
            return -1;
    if (b->n && kvg_writer_tensor_write(b->w, b->buf, b->n * sizeof *b->buf, err))
        return -1;
    b->words += b->n;
    b->n = 0;
    if (b->words != words)
        return kvg_errorf(err, NULL, "internal error: packed %llu words, expected %llu", (unsigned long long)b->words,
                          (unsigned long long)words);
    return kvg_writer_tensor_end(b->w, err);
}

/* ---- blocks ---- */

typedef struct block {
    ngram_entry e[NGRAM_BLOCK];
    unsigned m;              /* entries */
    unsigned kbits, cbits;
    uint64_t children;       /* of all its entries */
} block;

/* Reads the next block of a level of count entries (read so far: *done). */
static int read_block(const ngram_entries *src, uint64_t count, uint64_t *done, int top, block *bl, kvg_error *err)
{
    uint64_t left = count - *done;
    bl->m = left < NGRAM_BLOCK ? (unsigned)left : NGRAM_BLOCK;
    uint32_t mx = 0;
    bl->children = 0;
    for (unsigned r = 0; r < bl->m; r++) {
        int got = src->next(src->user, &bl->e[r], err);
        if (got < 0)
            return -1;
        if (got == 0)
            return kvg_errorf(err, NULL, "internal error: a level ended early");
        mx = bl->e[r].key > mx ? bl->e[r].key : mx;
        bl->children += top ? 0 : bl->e[r].children;
    }
    *done += bl->m;
    bl->kbits = mx ? packed_bits_for(mx) : 0;
    bl->cbits = bl->children ? packed_bits_for(bl->children) : 0;
    return 0;
}

int ngram_write_blocks(kvg_writer *w, unsigned n, uint64_t count, int top, uint64_t n_children, unsigned prob_bits,
                       unsigned backoff_bits, const ngram_entries *src, const char *where, kvg_error *err)
{
    uint64_t nb = ngram_blocks(count), total = 0, done, children = 0;
    unsigned vbits = prob_bits + (top ? 0 : backoff_bits);
    uint32_t max_first = 0;
    block *bl = malloc(sizeof *bl);
    bit_out *bo = malloc(sizeof *bo);
    int rc = -1;
    if (!bl || !bo) {
        kvg_errorf(err, where, "out of memory packing level %u", n);
        goto done;
    }
    /* 1: the sizes */
    if (src->rewind(src->user, err))
        goto done;
    done = 0;
    for (uint64_t b = 0; b < nb; b++) {
        if (read_block(src, count, &done, top, bl, err))
            goto done;
        total += bl->m * (uint64_t)(bl->kbits + vbits + bl->cbits);
        children += bl->children;
        max_first = bl->e[0].key > max_first ? bl->e[0].key : max_first;
    }
    if (!top && children != n_children) {
        kvg_errorf(err, where, "internal error: level %u has %llu children, level %u %llu entries", n,
                   (unsigned long long)children, n + 1, (unsigned long long)n_children);
        goto done;
    }
    uint64_t words = ngram_packed_words(total);
    ngram_header_layout hl;
    ngram_header_fields(&hl, words, !top, n_children);
    /* 2: the headers */
    uint64_t pos = 0, first = 0;
    if (src->rewind(src->user, err) || bit_out_begin(bo, w, n, "blocks", ngram_packed_words((nb + 1) * hl.bits), err))
        goto done;
    done = 0;
    for (uint64_t b = 0; b <= nb; b++) {
        unsigned kbits = 0, cbits = 0;
        if (b < nb) {
            if (read_block(src, count, &done, top, bl, err))
                goto done;
            kbits = bl->kbits;
            cbits = bl->cbits;
        }
        if (bit_out_put(bo, pos, hl.pos_bits, err) || bit_out_put(bo, kbits, NGRAM_WIDTH_BITS, err) ||
            bit_out_put(bo, cbits, NGRAM_WIDTH_BITS, err) || bit_out_put(bo, first, hl.first_bits, err))
            goto done;
        if (b < nb) {
            pos += bl->m * (uint64_t)(kbits + vbits + cbits);
            first += bl->children;
        }
    }
    if (bit_out_end(bo, ngram_packed_words((nb + 1) * hl.bits), err))
        goto done;
    /* 3: the records: a block's keys, then per entry prob code, backoff
     * code, where its children end relative to the block's first child */
    if (src->rewind(src->user, err) || bit_out_begin(bo, w, n, "records", words, err))
        goto done;
    done = 0;
    for (uint64_t b = 0; b < nb; b++) {
        if (read_block(src, count, &done, top, bl, err))
            goto done;
        for (unsigned r = 0; r < bl->m; r++)
            if (bit_out_put(bo, bl->e[r].key, bl->kbits, err))
                goto done;
        uint64_t off = 0;
        for (unsigned r = 0; r < bl->m; r++) {
            if (bit_out_put(bo, bl->e[r].prob, prob_bits, err))
                goto done;
            if (!top) {
                off += bl->e[r].children;
                if (bit_out_put(bo, bl->e[r].backoff, backoff_bits, err) || bit_out_put(bo, off, bl->cbits, err))
                    goto done;
            }
        }
    }
    if (bit_out_end(bo, words, err))
        goto done;
    /* 4: first keys, u16 when every one fits, else u32 */
    int wide = max_first > UINT16_MAX;
    char name[64];
    ngram_tensor_name(name, sizeof name, n, "first_keys");
    uint64_t shape[] = {nb};
    if (src->rewind(src->user, err) ||
        kvg_writer_tensor_begin(w, name, wide ? KVG_DTYPE_U32 : KVG_DTYPE_U16, 1, shape, err))
        goto done;
    done = 0;
    size_t nbuf = 0;
    for (uint64_t b = 0; b < nb; b++) {
        if (read_block(src, count, &done, top, bl, err))
            goto done;
        /* bo's buffer as a byte buffer for the keys */
        uint8_t *out = (uint8_t *)bo->buf;
        if (wide) {
            uint32_t k = bl->e[0].key;
            memcpy(out + nbuf, &k, 4);
            nbuf += 4;
        } else {
            uint16_t k = (uint16_t)bl->e[0].key;
            memcpy(out + nbuf, &k, 2);
            nbuf += 2;
        }
        if (nbuf + 4 > sizeof bo->buf) {
            if (kvg_writer_tensor_write(w, out, nbuf, err))
                goto done;
            nbuf = 0;
        }
    }
    if ((nbuf && kvg_writer_tensor_write(w, bo->buf, nbuf, err)) || kvg_writer_tensor_end(w, err))
        goto done;
    rc = 0;
done:
    free(bl);
    free(bo);
    return rc;
}

/* ---- the rest of a model ---- */

int ngram_write_table(kvg_writer *w, unsigned n, const char *part, const float *table, uint64_t n_table,
                      kvg_error *err)
{
    char name[64], vname[48];
    snprintf(vname, sizeof vname, "%s_values", part);
    ngram_tensor_name(name, sizeof name, n, vname);
    uint64_t shape[] = {n_table};
    return kvg_writer_tensor(w, name, KVG_DTYPE_F32, 1, shape, table, err);
}

/* Level 1, exact and indexed by word id: ngram.1.unigrams, u32 [V+1][3],
 * row w = (prob bits, backoff bits, first child in level 2); the last row
 * is (0, 0, count[2]). Written in pieces. */
int ngram_write_unigrams(kvg_writer *w, const kvg_ngram_input *in, const uint64_t *first_child, uint64_t count2,
                         const char *where, kvg_error *err)
{
    uint32_t V = in->vocab_size, N = in->order;
    if (N > 1 && count2 > UINT32_MAX)
        return kvg_errorf(err, where, "more than 2^32 - 1 2-grams");
    uint64_t shape[] = {(uint64_t)V + 1, 3};
    if (kvg_writer_tensor_begin(w, "ngram.1.unigrams", KVG_DTYPE_U32, 2, shape, err))
        return -1;
    uint32_t rows[256][3];
    unsigned r = 0;
    for (uint64_t i = 0; i <= V; i++) {
        memset(rows[r], 0, sizeof rows[r]);
        if (i < V) {
            memcpy(&rows[r][0], &in->unigram_prob[i], 4);
            if (N > 1)
                memcpy(&rows[r][1], &in->unigram_backoff[i], 4);
        }
        rows[r][2] = first_child ? (uint32_t)first_child[i] : 0;
        if (++r == 256 || i == V) {
            if (kvg_writer_tensor_write(w, rows, r * sizeof rows[0], err))
                return -1;
            r = 0;
        }
    }
    return kvg_writer_tensor_end(w, err);
}

int ngram_write_meta(kvg_writer *w, const kvg_ngram_input *in, const uint64_t *counts, int quantize, kvg_error *err)
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
