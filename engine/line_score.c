/* line_score.c — one line through an n-gram model.
 *
 * Two passes: the words are split and looked up in the vocabulary first
 * (independent hash probes, which the CPU overlaps), then scored in order,
 * each word's lookups started early by a prefetch issued while the word
 * before is scored. */
#include "line_score.h"

#include <stdlib.h>

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' || c == '\n'; }

static int push(kvg_line_score *out, const char *text, size_t len, uint32_t id)
{
    if (out->n == out->cap) {
        size_t cap = out->cap ? out->cap * 2 : 64;
        kvg_token_score *t = realloc(out->tokens, cap * sizeof *t);
        if (!t)
            return -1;
        out->tokens = t;
        out->cap = cap;
    }
    kvg_token_score *t = &out->tokens[out->n++];
    t->text = text;
    t->len = len;
    t->id = id;
    return 0;
}

int kvg_ngram_score_line(const kvg_ngram *m, const char *line, size_t len, int bos, int eos, kvg_line_score *out)
{
    out->n = 0;
    out->total_log10 = 0.0f;
    out->oov = 0;
    out->oov_log10 = 0.0;
    size_t i = 0;
    while (i < len) {
        while (i < len && is_space(line[i]))
            i++;
        if (i == len)
            break;
        size_t start = i;
        while (i < len && !is_space(line[i]))
            i++;
        if (push(out, line + start, i - start, kvg_ngram_word_id(m, line + start, i - start)))
            return -1;
    }
    if (eos && push(out, "</s>", 4, kvg_ngram_eos(m)))
        return -1;

    kvg_ngram_state st;
    if (bos)
        kvg_ngram_bos_state(m, &st);
    else
        kvg_ngram_null_state(m, &st);
    kvg_token_score *t = out->tokens;
    for (size_t k = 0; k < out->n; k++) {
        float p = kvg_ngram_score_cached(m, out->cache, &st, t[k].id, &st, &t[k].matched);
        if (k + 1 < out->n)
            kvg_ngram_prefetch(m, out->cache, &st, t[k + 1].id);
        t[k].log10p = p;
        out->total_log10 += p;
        if (t[k].id == 0) {
            out->oov++;
            out->oov_log10 += p;
        }
    }
    return 0;
}
