/* lens.h — what each layer of a transformer "thinks" the next token is
 * (`kvgram lens`, issue 7).
 *
 * For one token sequence, run once through the batched forward pass with
 * hooks that capture, after every block ℓ, the residual stream [n, d] and
 * each head's attention output (before W_o) [n, n_heads*head_dim]. From
 * those, on the whole sequence at once (kvg_matmul over all positions):
 *  (a) logit lens: final norm, then the unembedding, then softmax: top-k,
 *      rank and probability of the actual next token, KL(final ‖ layer) in
 *      nats, where "final" is the model's own output distribution;
 *  (b) per head: the head's slice of the attention output through its
 *      columns of W_o (its exact additive term in the residual stream, bias
 *      excluded), then the final norm with its scale FROZEN at the value the
 *      norm computed for the final residual at that position (LayerNorm also
 *      centres the term; its bias β is left out), then the unembedding. That
 *      is the head's direct term in the model's final logits (direct logit
 *      attribution): the final norm is affine once its scale is fixed, so the
 *      logits are the sum of such terms. Its softmax gives the probabilities;
 *  (c) nearest input embeddings of the raw residual by cosine similarity.
 * The layers are unembedded after the pass (last first) because the KL of
 * every layer needs the final distribution; the hooks only copy. */
#ifndef KVG_LENS_H
#define KVG_LENS_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_error.h"
#include "transformer.h"

typedef struct lens_entry {
    uint32_t id;
    float value; /* probability (top, heads) or cosine (nearest) */
} lens_entry;

typedef struct lens_options {
    uint32_t top_k; /* entries per list (clamped to the vocabulary) */
    int heads;      /* compute (b) */
    int nearest;    /* compute (c) */
} lens_options;

/* Everything is indexed [layer][position] (cell = layer * n_pos + pos);
 * lists hold k entries, best first (ties: lower id first). */
typedef struct lens_result {
    uint32_t n_layers, n_heads, k;
    size_t n_pos;
    lens_entry *top;      /* [cells, k] */
    uint32_t *target_rank; /* [cells]: 1 + the tokens more probable than the next one; 0 at the last position */
    float *target_prob;   /* [cells]: p(next token); 0 at the last position */
    double *kl_to_final;  /* [cells]: KL(p_final ‖ p_layer), nats; 0 for the last layer by construction */
    lens_entry *nearest;  /* [cells, k] or NULL */
    lens_entry *heads;    /* [cells, n_heads, k] or NULL */
} lens_result;

/* Runs the lens over ids[0..n) (1 <= n <= context_length). r is filled;
 * free it with lens_result_free. Returns 0, or -1 with err set. */
int lens_run(const kvg_transformer *m, const uint32_t *ids, size_t n, const lens_options *o, lens_result *r,
             kvg_error *err);
void lens_result_free(lens_result *r);

#endif
