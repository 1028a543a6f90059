/* tf_score.h — scoring token sequences with a transformer: ln p of every
 * token given the tokens before it.
 *
 * Sequences are cut into windows of at most `window` tokens; windows of many
 * sequences are packed together into batches of up to `batch_tokens` tokens,
 * each batch one forward pass (matrix–matrix products over all its tokens).
 * A sequence longer than the window is scored with a sliding window: windows
 * start every `stride` tokens, and each token is scored exactly once, by the
 * first window that holds it with at least one token before it — so every
 * token after the first window sees at least window - stride tokens of left
 * context. Nothing is truncated. */
#ifndef KVG_TF_SCORE_H
#define KVG_TF_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "transformer.h"

typedef struct kvg_tf_scorer kvg_tf_scorer;

/* window: 2..context_length (0: the context length); stride: 1..window-1
 * (0: window / 2); batch_tokens: >= window (0: max(window, 512)). */
int kvg_tf_scorer_new(const kvg_transformer *m, uint32_t window, uint32_t stride, uint32_t batch_tokens,
                      kvg_tf_scorer **out, kvg_error *err);
void kvg_tf_scorer_free(kvg_tf_scorer *s);

/* Bytes a scorer with this batch size allocates for plain scoring
 * (kvg_tf_score): its kvg_tf_state (KV cache + activations) and its
 * per-token arrays, one vocabulary slice of logits among them.
 * kvg_tf_score_rows adds a [batch_tokens, vocab] f32 buffer on first use. */
uint64_t kvg_tf_scorer_scratch_bytes(const kvg_transformer *m, uint32_t batch_tokens);

/* Scores n_seq sequences: ids[i][0..n[i]). Writes logprob[i][j - 1] = ln p(ids[i][j] | ids[i][0..j)) for
 * j = 1..n[i]-1 (the first token of a sequence has no context and is not
 * scored; prepend BOS to score it). Returns 0, or -1 with err set. */
int kvg_tf_score(kvg_tf_scorer *s, size_t n_seq, const uint32_t *const *ids, const size_t *n, float *const *logprob,
                 kvg_error *err);

/* The whole next-token distribution of every scored token, for analyses
 * (kvgram compare): the same windows and batches as kvg_tf_score, but fn
 * gets, for token ids[seq][j + 1] (j = 0..n[seq]-2), the row logprob[0..V)
 * = ln p(w | ids[seq][0..j]) over the model's vocabulary. Calls come from
 * many threads at once and in no particular order (omp_get_thread_num()
 * tells which); fn writes only what belongs to (seq, j). */
typedef void (*kvg_tf_row_fn)(void *user, size_t seq, size_t j, const float *logprob);
int kvg_tf_score_rows(kvg_tf_scorer *s, size_t n_seq, const uint32_t *const *ids, const size_t *n,
                      kvg_tf_row_fn fn, void *user, kvg_error *err);

#endif
