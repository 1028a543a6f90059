/* line_score.c — one line through an n-gram model.
 *
 * Two passes: the words are split and looked up in the vocabulary first
 * (independent hash probes, which the CPU overlaps), then all the words of
 * the lines are scored together by kvg_ngram_score_seqs. */
#include "line_score.h"

#include <stdlib.h>

/* Space, tab, LF, VT, FF, CR: one compare and one bit test per byte. */
#define SPACE_BITS ((UINT64_C(1) << ' ') | (UINT64_C(1) << '\t') | (UINT64_C(1) << '\n') | (UINT64_C(1) << '\v') | \
                    (UINT64_C(1) << '\f') | (UINT64_C(1) << '\r'))
static inline int is_space(char c)
{
    unsigned char u = (unsigned char)c;
    return u <= ' ' && ((SPACE_BITS >> u) & 1);
}

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

int kvg_ngram_score_lines(const kvg_ngram *m, size_t n, const char *const *lines, const size_t *lens, int bos,
                          int eos, kvg_line_score *out)
{
    kvg_ngram_seq seq[KVG_LINE_GROUP] = {{0}};
    if (n > KVG_LINE_GROUP)
        return -1;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (split_line(m, lines[i], lens[i], eos, &out[i]))
            return -1;
        kvg_token_score *t = out[i].tokens;
        seq[i] = (kvg_ngram_seq){t ? &t->id : NULL, t ? &t->log10p : NULL, t ? &t->matched : NULL, out[i].n,
                                 sizeof *t};
    }
    /* all lines at once (level by level over all their words) when they
     * share a cache; the result does not depend on the grouping */
    kvg_ngram_cache *cache = out[0].cache;
    for (size_t i = 1; i < n && cache; i++)
        if (out[i].cache != cache)
            cache = NULL;
    if (kvg_ngram_score_seqs(m, cache, bos, n, seq))
        return -1;
    for (size_t i = 0; i < n; i++) {
        kvg_line_score *o = &out[i];
        for (size_t k = 0; k < o->n; k++) {
            const kvg_token_score *t = &o->tokens[k];
            o->total_log10 += t->log10p;
            if (t->id == 0) {
                o->oov++;
                o->oov_log10 += t->log10p;
            }
        }
    }
    return 0;
}

int kvg_ngram_score_line(const kvg_ngram *m, const char *line, size_t len, int bos, int eos, kvg_line_score *out)
{
    return kvg_ngram_score_lines(m, 1, &line, &len, bos, eos, out);
}
