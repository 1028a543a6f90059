/* ngram_estimate_output.c — an estimated model as ARPA text (lmplz's layout:
 * sections in suffix order, unigrams by id, a backoff on every line below
 * the highest order) or as input for the n-gram table builder. */
#define _GNU_SOURCE /* fread_unlocked */
#include "ngram_estimate_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "num_format.h"

/* Walks one order of the model, in memory or streamed from its file. */
typedef struct level_iter {
    const kvg_ngram_estimate *m;
    uint32_t k;
    uint64_t i;
    uint32_t ids[KVG_NGRAM_MAX_ORDER]; /* the current n-gram, reversed */
} level_iter;

static int level_begin(level_iter *it, const kvg_ngram_estimate *m, uint32_t k)
{
    it->m = m;
    it->k = k;
    it->i = 0;
    const kvg_est_order *lv = &m->levels[k];
    return lv->file && (fflush(lv->file) != 0 || fseek(lv->file, 0, SEEK_SET) != 0) ? -1 : 0;
}

/* 1 with the next n-gram (*ids reversed), 0 at the end, -1 when the
 * temporary file cannot be read (errno set). */
static int level_next(level_iter *it, const uint32_t **ids, float *prob, float *backoff)
{
    const kvg_est_order *lv = &it->m->levels[it->k];
    if (it->i == lv->n)
        return 0;
    uint32_t k = it->k;
    if (!lv->file) {
        *ids = lv->ids + it->i * k;
        *prob = lv->prob[it->i];
        *backoff = lv->backoff ? lv->backoff[it->i] : 0.0f;
    } else {
        uint64_t rec[EST_MAX_WORDS];
        unsigned w = est_final_words(k);
        if (EST_FREAD(rec, w * sizeof *rec, 1, lv->file) != 1) {
            if (!ferror(lv->file))
                errno = EIO;
            return -1;
        }
        const uint32_t *remap = it->m->remap;
        for (uint32_t j = 0; j < k; j++) {
            uint32_t id = est_item_id(rec, j);
            it->ids[j] = remap ? remap[id] : id;
        }
        uint32_t pb = (uint32_t)(rec[w - 1] >> 32), bb = (uint32_t)rec[w - 1];
        memcpy(prob, &pb, sizeof *prob);
        memcpy(backoff, &bb, sizeof *backoff);
        *ids = it->ids;
    }
    it->i++;
    return 1;
}

/* Lines are built in a buffer and handed to stdio in large pieces: one
 * fwrite per line would cost more than formatting it. */
#define OUT_CHUNK (1u << 20)

int kvg_ngram_estimate_write_arpa(const kvg_ngram_estimate *m, FILE *f)
{
    fputs("\\data\\\n", f);
    for (uint32_t k = 1; k <= m->order; k++)
        fprintf(f, "ngram %u=%llu\n", k, (unsigned long long)m->levels[k].n);
    size_t longest = 0;
    for (uint32_t id = 0; id < m->vocab_size; id++)
        longest = m->word_lens[id] > longest ? m->word_lens[id] : longest;
    /* room for one line: two numbers, k words and separators */
    size_t line_max = 2 * KVG_NUM_BUF + KVG_NGRAM_MAX_ORDER * (longest + 1) + 4;
    char *buf = malloc(OUT_CHUNK + line_max);
    if (!buf)
        return -1;
    int failed = 0;
    for (uint32_t k = 1; k <= m->order && !failed; k++) {
        fprintf(f, "\n\\%u-grams:\n", k);
        size_t used = 0;
        int has_backoff = k < m->order;
        level_iter it;
        const uint32_t *ids;
        float prob, backoff;
        int got;
        failed = level_begin(&it, m, k);
        while (!failed && (got = level_next(&it, &ids, &prob, &backoff)) != 0) {
            if (got < 0) {
                failed = 1;
                break;
            }
            char *p = buf + used;
            p += kvg_format_float(prob, p);
            for (uint32_t j = k; j-- > 0;) { /* stored reversed */
                *p++ = j + 1 == k ? '\t' : ' ';
                memcpy(p, m->words[ids[j]], m->word_lens[ids[j]]);
                p += m->word_lens[ids[j]];
            }
            if (has_backoff) {
                *p++ = '\t';
                p += kvg_format_float(backoff, p);
            }
            *p++ = '\n';
            used = (size_t)(p - buf);
            if (used >= OUT_CHUNK) {
                if (fwrite(buf, 1, used, f) != used)
                    break;
                used = 0;
            }
        }
        if (used && fwrite(buf, 1, used, f) != used)
            break;
    }
    free(buf);
    if (failed)
        return -1;
    fputs("\n\\end\\\n", f);
    return ferror(f) ? -1 : 0;
}

/* Vocabulary, unigrams and counts: all of the input but the n-grams. */
static int input_header(const kvg_ngram_estimate *m, kvg_ngram_input *in, kvg_error *err)
{
    memset(in, 0, sizeof *in);
    in->order = m->order;
    in->vocab_size = m->vocab_size;
    in->words = (const char *const *)m->words;
    in->word_lens = m->word_lens;
    /* <s> and </s> keep ids 1 and 2 unless unigram pruning renumbered: find them */
    in->bos_id = in->eos_id = UINT32_MAX;
    for (uint32_t id = 0; id < m->vocab_size && id < 3; id++) {
        if (strcmp(m->words[id], "<s>") == 0)
            in->bos_id = id;
        if (strcmp(m->words[id], "</s>") == 0)
            in->eos_id = id;
    }
    in->unigram_prob = malloc(m->vocab_size * sizeof *in->unigram_prob);
    in->unigram_backoff = malloc(m->vocab_size * sizeof *in->unigram_backoff);
    if (!in->unigram_prob || !in->unigram_backoff)
        goto oom;
    const kvg_est_order *l1 = &m->levels[1];
    for (uint64_t i = 0; i < l1->n; i++) {
        in->unigram_prob[l1->ids[i]] = l1->prob[i];
        in->unigram_backoff[l1->ids[i]] = l1->backoff ? l1->backoff[i] : 0.0f;
    }
    for (uint32_t k = 2; k <= m->order; k++)
        in->levels[k].count = m->levels[k].n;
    return 0;
oom:
    kvg_ngram_estimate_input_free(in);
    return kvg_errorf(err, NULL, "out of memory");
}

int kvg_ngram_estimate_to_input(const kvg_ngram_estimate *m, kvg_ngram_input *in, kvg_error *err)
{
    if (input_header(m, in, err))
        return -1;
    for (uint32_t k = 2; k <= m->order; k++) {
        const kvg_est_order *lv = &m->levels[k];
        kvg_ngram_order_input *o = &in->levels[k];
        size_t c = (size_t)(lv->n ? lv->n : 1);
        int has_backoff = k < m->order;
        o->count = lv->n;
        o->ids = malloc(c * k * sizeof *o->ids);
        o->prob = malloc(c * sizeof *o->prob);
        o->backoff = has_backoff ? malloc(c * sizeof *o->backoff) : NULL;
        if (!o->ids || !o->prob || (has_backoff && !o->backoff))
            goto oom;
        level_iter it;
        const uint32_t *ids;
        float prob, backoff;
        int got = level_begin(&it, m, k) ? -1 : 1;
        for (uint64_t i = 0; got > 0 && (got = level_next(&it, &ids, &prob, &backoff)) > 0; i++) {
            for (uint32_t j = 0; j < k; j++)
                o->ids[i * k + j] = ids[k - 1 - j];
            o->prob[i] = prob;
            if (has_backoff)
                o->backoff[i] = backoff;
        }
        if (got < 0) {
            kvg_ngram_estimate_input_free(in);
            return kvg_errorf(err, NULL, "cannot read back the estimated %u-grams from a temporary file: %s", k,
                              strerror(errno));
        }
    }
    return 0;
oom:
    kvg_ngram_estimate_input_free(in);
    return kvg_errorf(err, NULL, "out of memory");
}

void kvg_ngram_estimate_input_free(kvg_ngram_input *in)
{
    free(in->unigram_prob);
    free(in->unigram_backoff);
    for (uint32_t k = 2; k <= KVG_NGRAM_MAX_ORDER; k++) {
        free(in->levels[k].ids);
        free(in->levels[k].prob);
        free(in->levels[k].backoff);
        in->levels[k].ids = NULL;
        in->levels[k].prob = NULL;
        in->levels[k].backoff = NULL;
    }
    in->unigram_prob = in->unigram_backoff = NULL;
}

/* ---- the model into a .kvg within the memory budget ---- */

typedef struct est_reader {
    const kvg_ngram_estimate *m;
    level_iter it;
} est_reader;

static int reader_open(void *user, uint32_t n, kvg_error *err)
{
    est_reader *r = user;
    if (level_begin(&r->it, r->m, n))
        return kvg_errorf(err, NULL, "cannot read back the estimated %u-grams from a temporary file: %s", n,
                          strerror(errno));
    return 0;
}

static int reader_next(void *user, uint32_t *ids, float *prob, float *backoff, kvg_error *err)
{
    est_reader *r = user;
    const uint32_t *rev;
    int got = level_next(&r->it, &rev, prob, backoff);
    if (got < 0)
        return kvg_errorf(err, NULL, "cannot read back the estimated %u-grams from a temporary file: %s", r->it.k,
                          strerror(errno));
    for (uint32_t j = 0; got > 0 && j < r->it.k; j++)
        ids[j] = rev[r->it.k - 1 - j];
    return got;
}

int kvg_ngram_estimate_write_kvg(const kvg_ngram_estimate *m, const kvg_ngram_kvg_options *opt, kvg_writer *w,
                                 const char *where, kvg_error *err)
{
    kvg_ngram_input in;
    if (input_header(m, &in, err))
        return -1;
    in.progress = opt->progress;
    in.progress_user = opt->progress_user;
    int rc = KVG_NGRAM_BUILD_INCOMPLETE;
    /* the estimate's levels still in memory count against the budget */
    uint64_t held = 0, total = 0;
    for (uint32_t k = 2; k <= m->order; k++) {
        total += m->levels[k].n;
        if (!m->levels[k].file)
            held += m->levels[k].n * (4 * (uint64_t)k + 8);
    }
    if (!opt->in_memory && held + KVG_NGRAM_BUILD_BYTES_PER_NGRAM * total > opt->memory) {
        uint64_t memory = opt->memory > held + opt->memory / 4 ? opt->memory - held : opt->memory / 4;
        const char *dir = opt->temp_dir ? opt->temp_dir : getenv("TMPDIR");
        est_reader r = {m, {0}};
        kvg_ngram_level_reader rd = {reader_open, reader_next, &r};
        rc = kvg_ngram_build_streamed(&in, &rd, opt->quantize, memory, dir && *dir ? dir : "/tmp", w, where, err);
    }
    if (rc == KVG_NGRAM_BUILD_INCOMPLETE) {
        /* it fits, or gaps to fill, or asked for: the builder that holds the model */
        kvg_ngram_estimate_input_free(&in);
        rc = kvg_ngram_estimate_to_input(m, &in, err);
        in.progress = opt->progress;
        in.progress_user = opt->progress_user;
        if (rc == 0)
            rc = kvg_ngram_build(&in, opt->quantize, w, where, err);
    }
    kvg_ngram_estimate_input_free(&in);
    return rc;
}
