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

/* Splits a line into its tokens and their ids (</s> last when eos). */
static int split_line(const kvg_ngram *m, const char *line, size_t len, int eos, kvg_line_score *out)
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
    return 0;
}

/* Scores token k of a split line and starts loading what token k+1 needs. */
static inline void score_token(const kvg_ngram *m, kvg_line_score *out, kvg_ngram_state *st, size_t k)
{
    kvg_token_score *t = out->tokens;
    float p = kvg_ngram_score_cached(m, out->cache, st, t[k].id, st, &t[k].matched);
    if (k + 1 < out->n)
        kvg_ngram_prefetch(m, out->cache, st, t[k + 1].id, 0);
    t[k].log10p = p;
    out->total_log10 += p;
    if (t[k].id == 0) {
        out->oov++;
        out->oov_log10 += p;
    }
}

int kvg_ngram_score_lines(const kvg_ngram *m, size_t n, const char *const *lines, const size_t *lens, int bos,
                          int eos, kvg_line_score *out)
{
    kvg_ngram_state st[KVG_LINE_GROUP];
    size_t next[KVG_LINE_GROUP];
    if (n > KVG_LINE_GROUP)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (split_line(m, lines[i], lens[i], eos, &out[i]))
            return -1;
        if (bos)
            kvg_ngram_bos_state(m, &st[i]);
        else
            kvg_ngram_null_state(m, &st[i]);
        if (out[i].n)
            kvg_ngram_prefetch(m, out[i].cache, &st[i], out[i].tokens[0].id, 0);
        next[i] = 0;
    }
    /* Round robin: while one line's token is scored, the loads prefetched
     * for the other lines' next tokens arrive. Each line is still scored
     * token by token in order, so results do not depend on the grouping. */
    for (size_t active = n; active;) {
        active = 0;
        for (size_t i = 0; i < n; i++)
            if (next[i] < out[i].n) {
                score_token(m, &out[i], &st[i], next[i]++);
                active += next[i] < out[i].n;
                /* the line scored after the next one: its stage-0 loads are
                 * in, start its stage 1 */
                size_t h = i + 2 < n ? i + 2 : i + 2 - n;
                if (n > 2 && next[h] < out[h].n)
                    kvg_ngram_prefetch(m, out[h].cache, &st[h], out[h].tokens[next[h]].id, 1);
            }
    }
    return 0;
}

int kvg_ngram_score_line(const kvg_ngram *m, const char *line, size_t len, int bos, int eos, kvg_line_score *out)
{
    return kvg_ngram_score_lines(m, 1, &line, &len, bos, eos, out);
}
