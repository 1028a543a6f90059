/* ngram.h — back-off n-gram models stored as a forward trie in a .kvg file.
 *
 * Layout (format/SPEC.md §8): level n (1..N) holds the n-grams of order n,
 * sorted by their word-id tuples, so the continuations of a context are one
 * contiguous run of the next level. Level 1 is a plain table indexed by word
 * id; levels 2..N are bit-packed blocks of 32 entries (the keys, then per
 * entry a record of value codes and child offset, each field as narrow as
 * the block allows) with a dense array of each block's first key, where the
 * key of an entry at level n >= 3 is the rank of its suffix among its
 * siblings.
 *
 * Scoring follows KenLM exactly: the matched length is the longest chain of
 * entries w, (h1 w), (h2 h1 w), ... present in the table, where missing
 * lower-order entries of an ARPA file were filled in at conversion with the
 * probability back-off gives them and backoff 0 ("blanks", as KenLM does);
 * then the backoffs of the unmatched longer contexts are added. All
 * probabilities are log10. */
#ifndef KVG_NGRAM_H
#define KVG_NGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_error.h"
#include "kvg_reader.h"
#include "vocab.h"

#define KVG_NGRAM_MAX_ORDER 16

typedef struct kvg_ngram kvg_ngram;

/* What the model knows about the words before the next one: the trie nodes
 * of the contexts (h1), (h2 h1), ... that are entries, where their
 * continuations are, and their backoffs. */
typedef struct kvg_ngram_state {
    uint32_t len;                              /* contexts held, 0..order-1 */
    uint64_t node[KVG_NGRAM_MAX_ORDER - 1];    /* node[j]: level j+1 index of (h_{j+1} .. h_1) */
    uint64_t lo[KVG_NGRAM_MAX_ORDER - 1];      /* its children: entries [lo[j], hi[j]) of level j+2 */
    uint64_t hi[KVG_NGRAM_MAX_ORDER - 1];
    float backoff[KVG_NGRAM_MAX_ORDER - 1];    /* log10 backoff of that context */
} kvg_ngram_state;

/* Binds an n-gram model to an open .kvg file (which must outlive it):
 * checks the metadata, the vocabulary (O(V)) and that every table has the
 * size the counts need. Costs O(V), not O(n-grams): the tables are used
 * straight from the mapping, and lookups clamp every pointer they follow,
 * so even a malicious file cannot make them read outside the tables. */
int kvg_ngram_open(const kvg_file *f, kvg_ngram **out, kvg_error *err);

/* The deep check, O(n-grams): block headers agree with the data, child
 * pointers start at 0, never decrease and end at the next level's count;
 * keys are strictly increasing among siblings (so search is exact) and name
 * an existing suffix. A file that passes answers every lookup as the spec
 * says. Run by `kvgram verify` and `score --verify`. */
int kvg_ngram_check(const kvg_ngram *m, kvg_error *err);
void kvg_ngram_close(kvg_ngram *m);

uint32_t kvg_ngram_order(const kvg_ngram *m);
uint32_t kvg_ngram_vocab_size(const kvg_ngram *m);
const kvg_vocab *kvg_ngram_vocab(const kvg_ngram *m);
uint64_t kvg_ngram_count(const kvg_ngram *m, uint32_t n); /* entries of order n, blanks included */
uint32_t kvg_ngram_bos(const kvg_ngram *m);                /* id of <s> */
uint32_t kvg_ngram_eos(const kvg_ngram *m);                /* id of </s> */
int kvg_ngram_quantized(const kvg_ngram *m);               /* 1 when probabilities are 8-bit codes */

/* Word id of a word; 0 (<unk>) when it is not in the vocabulary. */
uint32_t kvg_ngram_word_id(const kvg_ngram *m, const char *word, size_t len);

/* A lookup cache for one thread and one model: kvg_ngram_score_cached
 * answers exactly like kvg_ngram_score, faster on real text. About 400 KB. */
typedef struct kvg_ngram_cache kvg_ngram_cache;
kvg_ngram_cache *kvg_ngram_cache_new(const kvg_ngram *m); /* NULL if out of memory */
void kvg_ngram_cache_free(kvg_ngram_cache *c);

/* The empty context, and the context after <s> (a sentence start). */
void kvg_ngram_null_state(const kvg_ngram *m, kvg_ngram_state *st);
void kvg_ngram_bos_state(const kvg_ngram *m, kvg_ngram_state *st);

/* log10 p(word | in), word < vocab size. Sets *out to the context that follows (out may alias
 * in) and *matched (optional) to the length of the n-gram that matched. */
float kvg_ngram_score(const kvg_ngram *m, const kvg_ngram_state *in, uint32_t word, kvg_ngram_state *out,
                      uint32_t *matched);

/* The same, remembering recent lookups in cache (NULL: no cache). */
float kvg_ngram_score_cached(const kvg_ngram *m, kvg_ngram_cache *cache, const kvg_ngram_state *in, uint32_t word,
                             kvg_ngram_state *out, uint32_t *matched);

/* Many sentences scored at once: for sequence i, word t (ids, strided),
 * log10p and matched (strided outputs) as kvg_ngram_score_cached gives them
 * word by word after <s> (bos) or no context, bit for bit. The arrays of a
 * sequence are `stride` bytes apart per element, so that they can be fields
 * of the caller's per-token records. With a cache this works level by level
 * over all the words (the lookups of one level are independent, so their
 * memory loads overlap: the fast path of `kvgram score`) in the cache's
 * scratch, which grows with the words; without one, word by word. Word ids
 * >= V read as 0. Returns 0, or -1 when memory runs out. */
typedef struct kvg_ngram_seq {
    const uint32_t *ids;
    float *log10p;
    uint32_t *matched;
    size_t n, stride;
} kvg_ngram_seq;
int kvg_ngram_score_seqs(const kvg_ngram *m, kvg_ngram_cache *cache, int bos, size_t n_seqs, const kvg_ngram_seq *seqs);

/* The whole conditional distribution: log10 p(w | st) for every word id w,
 * into out[0..V). Costs O(V + continuations of the context's suffixes).
 * Exactly the values kvg_ngram_score gives, word by word. */
void kvg_ngram_distribution(const kvg_ngram *m, const kvg_ngram_state *st, float *out);

/* The k most probable next words (ids and log10 probs, best first; ties by
 * lower id). Returns how many were written (min(k, V); 0 if memory runs
 * out). scratch must hold V floats. */
size_t kvg_ngram_top_k(const kvg_ngram *m, const kvg_ngram_state *st, size_t k, uint32_t *ids, float *logp,
                       float *scratch);

/* The continuations of a context as stored: for the context's deepest node,
 * the words w whose (context w) entry exists, with their stored log10 prob
 * (without backoff). Calls fn for each; stops early if fn returns non-zero. */
typedef int (*kvg_ngram_visit_fn)(void *user, uint32_t word, float log10p);
void kvg_ngram_continuations(const kvg_ngram *m, const kvg_ngram_state *st, uint32_t context_len,
                             kvg_ngram_visit_fn fn, void *user);

#endif
