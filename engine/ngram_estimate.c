/* ngram_estimate.c — runs the estimation stages in order (see
 * ngram_estimate.h) and owns the result. */
#include "ngram_estimate_internal.h"

#include <stdlib.h>
#include <string.h>

static void phase(const kvg_ngram_estimate_options *opt, const char *what)
{
    if (opt->progress)
        opt->progress(opt->progress_user, what);
}

int kvg_ngram_estimate_run(kvg_ngram_counter *c, const kvg_ngram_estimate_options *opt, const char *where,
                           kvg_ngram_estimate **out, kvg_error *err)
{
    *out = NULL;
    est_counts f;
    est_adjusted a;
    memset(&a, 0, sizeof a);
    phase(opt, "merging counts");
    if (est_counter_finish(c, &f, err))
        return -1;
    kvg_ngram_estimate *m = calloc(1, sizeof *m);
    if (!m) {
        est_counts_free(&f);
        return kvg_errorf(err, NULL, "out of memory");
    }
    m->order = f.order;
    m->tokens = f.tokens;
    if (f.stream) {
        if (est_stream_estimate(&f, opt, where, m, err))
            goto fail;
    } else {
        if (f.n == 0) {
            kvg_errorf(err, where, "the corpus is empty: no sentences to count");
            goto fail;
        }
        phase(opt, "adjusting counts");
        if (est_adjust(&f, opt, where, &a, err))
            goto fail;
        phase(opt, "computing probabilities");
        if (est_probabilities(&a, opt, m, err))
            goto fail;
        est_adjusted_free(&a);
    }
    /* the vocabulary: the kept unigrams, renumbered densely when some were pruned */
    kvg_est_order *l1 = &m->levels[1];
    m->vocab_size = (uint32_t)l1->n;
    m->words = malloc(l1->n * sizeof *m->words);
    m->word_lens = malloc(l1->n * sizeof *m->word_lens);
    uint32_t *remap = NULL;
    if (!m->words || !m->word_lens) {
        kvg_errorf(err, NULL, "out of memory");
        goto fail;
    }
    int pruned_words = l1->n != f.vocab_size;
    if (pruned_words && !(remap = malloc(f.vocab_size * sizeof *remap))) {
        kvg_errorf(err, NULL, "out of memory");
        goto fail;
    }
    /* one block for all words, so the counter's arena can go */
    size_t bytes = 0;
    for (uint64_t i = 0; i < l1->n; i++)
        bytes += f.word_lens[l1->ids[i]] + 1;
    char *block = malloc(bytes);
    if (!block) {
        free(remap);
        kvg_errorf(err, NULL, "out of memory");
        goto fail;
    }
    for (uint64_t i = 0; i < l1->n; i++) {
        uint32_t old = l1->ids[i];
        m->words[i] = block;
        m->word_lens[i] = f.word_lens[old];
        memcpy(block, f.words[old], f.word_lens[old] + 1);
        block += f.word_lens[old] + 1;
        if (remap)
            remap[old] = (uint32_t)i;
    }
    if (remap) {
        for (uint32_t k = 1; k <= m->order; k++)
            if (m->levels[k].ids)
                for (uint64_t i = 0; i < m->levels[k].n * k; i++)
                    m->levels[k].ids[i] = remap[m->levels[k].ids[i]];
        m->remap = remap; /* streamed levels are renumbered as they are read */
    }
    est_counts_free(&f);
    *out = m;
    return 0;
fail:
    est_adjusted_free(&a);
    est_counts_free(&f);
    kvg_ngram_estimate_free(m);
    return -1;
}

void kvg_ngram_estimate_free(kvg_ngram_estimate *m)
{
    if (!m)
        return;
    for (uint32_t k = 1; k <= KVG_NGRAM_MAX_ORDER; k++) {
        free(m->levels[k].ids);
        free(m->levels[k].prob);
        free(m->levels[k].backoff);
        if (m->levels[k].file)
            fclose(m->levels[k].file);
    }
    free(m->remap);
    if (m->words && m->vocab_size)
        free(m->words[0]);
    free(m->words);
    free(m->word_lens);
    free(m);
}
