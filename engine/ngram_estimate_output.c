/* ngram_estimate_output.c — an estimated model as ARPA text (lmplz's layout:
 * sections in suffix order, unigrams by id, a backoff on every line below
 * the highest order) or as input for the n-gram table builder. */
#include "ngram_estimate.h"

#include <stdlib.h>
#include <string.h>

#include "num_format.h"

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
    for (uint32_t k = 1; k <= m->order; k++) {
        const kvg_est_order *lv = &m->levels[k];
        fprintf(f, "\n\\%u-grams:\n", k);
        size_t used = 0;
        for (uint64_t i = 0; i < lv->n; i++) {
            char *p = buf + used;
            p += kvg_format_float(lv->prob[i], p);
            const uint32_t *ids = lv->ids + i * k;
            for (uint32_t j = k; j-- > 0;) { /* stored reversed */
                *p++ = j + 1 == k ? '\t' : ' ';
                memcpy(p, m->words[ids[j]], m->word_lens[ids[j]]);
                p += m->word_lens[ids[j]];
            }
            if (lv->backoff) {
                *p++ = '\t';
                p += kvg_format_float(lv->backoff[i], p);
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
    fputs("\n\\end\\\n", f);
    return ferror(f) ? -1 : 0;
}

int kvg_ngram_estimate_to_input(const kvg_ngram_estimate *m, kvg_ngram_input *in, kvg_error *err)
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
    for (uint32_t k = 2; k <= m->order; k++) {
        const kvg_est_order *lv = &m->levels[k];
        kvg_ngram_order_input *o = &in->levels[k];
        size_t c = (size_t)(lv->n ? lv->n : 1);
        o->count = lv->n;
        o->ids = malloc(c * k * sizeof *o->ids);
        o->prob = malloc(c * sizeof *o->prob);
        o->backoff = lv->backoff ? malloc(c * sizeof *o->backoff) : NULL;
        if (!o->ids || !o->prob || (lv->backoff && !o->backoff))
            goto oom;
        for (uint64_t i = 0; i < lv->n; i++)
            for (uint32_t j = 0; j < k; j++)
                o->ids[i * k + j] = lv->ids[i * k + (k - 1 - j)];
        memcpy(o->prob, lv->prob, lv->n * sizeof *o->prob);
        if (lv->backoff)
            memcpy(o->backoff, lv->backoff, lv->n * sizeof *o->backoff);
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
