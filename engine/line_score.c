/* line_score.c — one line through an n-gram model. */
#include "line_score.h"

#include <stdlib.h>

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' || c == '\n'; }

static int push(kvg_line_score *out, const char *text, size_t len, uint32_t id, uint32_t matched, float p)
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
    t->matched = matched;
    t->log10p = p;
    out->total_log10 += p;
    if (id == 0) {
        out->oov++;
        out->oov_log10 += p;
    }
    return 0;
}

int kvg_ngram_score_line(const kvg_ngram *m, const char *line, size_t len, int bos, int eos, kvg_line_score *out)
{
    kvg_ngram_state st;
    if (bos)
        kvg_ngram_bos_state(m, &st);
    else
        kvg_ngram_null_state(m, &st);
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
        uint32_t id = kvg_ngram_word_id(m, line + start, i - start), matched;
        float p = kvg_ngram_score_cached(m, out->cache, &st, id, &st, &matched);
        if (push(out, line + start, i - start, id, matched, p))
            return -1;
    }
    if (eos) {
        uint32_t matched, id = kvg_ngram_eos(m);
        float p = kvg_ngram_score_cached(m, out->cache, &st, id, &st, &matched);
        if (push(out, "</s>", 4, id, matched, p))
            return -1;
    }
    return 0;
}
