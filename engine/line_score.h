/* line_score.h — scoring one line of text, the unit `kvgram score` works in.
 *
 * A line is split into words at runs of ASCII whitespace (space, tab, CR,
 * FF, VT), as KenLM's query does; no other normalization. Each word is
 * scored in the context of the words before it, after a sentence-start
 * context when bos is set, and </s> is scored at the end when eos is set. */
#ifndef KVG_LINE_SCORE_H
#define KVG_LINE_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "ngram.h"

typedef struct kvg_token_score {
    const char *text; /* into the line, or a static "</s>" */
    size_t len;
    uint32_t id;      /* vocabulary id; 0 = <unk> (out of vocabulary) */
    uint32_t matched; /* length of the n-gram that matched */
    float log10p;
} kvg_token_score;

typedef struct kvg_line_score {
    kvg_token_score *tokens; /* the predicted tokens, in order */
    size_t n, cap;
    float total_log10;       /* float sum in token order, as KenLM's query */
    uint32_t oov;            /* tokens with id 0 */
    double oov_log10;        /* sum of the OOV tokens' log10 probs (double, as KenLM) */
    kvg_ngram_cache *cache;  /* optional lookup cache (the caller's, per thread) */
} kvg_line_score;

/* Scores line[0..len). Grows out->tokens as needed (free it with free()).
 * Returns 0, or -1 when memory runs out. Set out->cache (one per thread)
 * for the fast path. */
int kvg_ngram_score_line(const kvg_ngram *m, const char *line, size_t len, int bos, int eos, kvg_line_score *out);

/* Scores up to KVG_LINE_GROUP lines at once into out[0..n), exactly as n
 * calls of kvg_ngram_score_line would. When the outs share one cache (the
 * fast path), all their words are scored together, level by level
 * (kvg_ngram_score_seqs), so that the memory loads of the lookups overlap;
 * otherwise word by word. Returns 0, or -1 when memory runs out (or n >
 * KVG_LINE_GROUP). */
#define KVG_LINE_GROUP 8
int kvg_ngram_score_lines(const kvg_ngram *m, size_t n, const char *const *lines, const size_t *lens, int bos,
                          int eos, kvg_line_score *out);

#endif
