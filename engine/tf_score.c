/* tf_score.c — windows, batches and log-probs for transformer scoring (see tf_score.h). */
#include <stdlib.h>
#include <string.h>

#include "tf_score.h"

struct kvg_tf_scorer {
    const kvg_transformer *m;
    uint32_t window, stride, batch_tokens;
    kvg_tf_state *state;
    uint32_t *tokens, *row0, *pos; /* [batch_tokens] */
    uint8_t *want;                 /* [batch_tokens] */
    float *logits;                 /* [batch_tokens, V] */
    /* per wanted row of the current batch: the sequence and the index j of the token it predicts
     * (ids[seq][j + 1]) */
    size_t *seq, *at;
};

int kvg_tf_scorer_new(const kvg_transformer *m, uint32_t window, uint32_t stride, uint32_t batch_tokens,
                      kvg_tf_scorer **out, kvg_error *err)
{
    *out = NULL;
    const uint32_t ctx = m->c.context_length;
    if (!window)
        window = ctx;
    if (window < 2 || window > ctx)
        return kvg_errorf(err, NULL, "window of %u tokens: the model takes 2 to %u", window, ctx);
    if (!stride)
        stride = window / 2;
    if (stride < 1 || stride >= window)
        return kvg_errorf(err, NULL, "stride of %u tokens: must be 1 to window - 1 = %u", stride, window - 1);
    if (!batch_tokens)
        batch_tokens = window > 512 ? window : 512;
    if (batch_tokens < window)
        return kvg_errorf(err, NULL, "batch of %u tokens is smaller than the window (%u)", batch_tokens, window);
    kvg_tf_scorer *s = calloc(1, sizeof *s);
    if (!s)
        return kvg_errorf(err, NULL, "out of memory");
    *s = (kvg_tf_scorer){m, window, stride, batch_tokens, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t bt = batch_tokens;
    s->tokens = malloc(bt * sizeof *s->tokens);
    s->row0 = malloc(bt * sizeof *s->row0);
    s->pos = malloc(bt * sizeof *s->pos);
    s->want = malloc(bt);
    s->logits = malloc(bt * m->c.vocab_size * sizeof *s->logits);
    s->seq = malloc(bt * sizeof *s->seq);
    s->at = malloc(bt * sizeof *s->at);
    if (!s->tokens || !s->row0 || !s->pos || !s->want || !s->logits || !s->seq || !s->at) {
        kvg_tf_scorer_free(s);
        return kvg_errorf(err, NULL, "out of memory for a batch of %u tokens", batch_tokens);
    }
    if (kvg_tf_state_new(m, batch_tokens, batch_tokens, &s->state, err)) {
        kvg_tf_scorer_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void kvg_tf_scorer_free(kvg_tf_scorer *s)
{
    if (!s)
        return;
    kvg_tf_state_free(s->state);
    free(s->tokens);
    free(s->row0);
    free(s->pos);
    free(s->want);
    free(s->logits);
    free(s->seq);
    free(s->at);
    free(s);
}

/* Runs the packed batch (n tokens, n_want wanted rows) and hands each wanted
 * row's log_softmax(logits) to fn. */
static int run_batch(kvg_tf_scorer *s, size_t n, size_t n_want, kvg_tf_row_fn fn, void *user, kvg_error *err)
{
    if (!n_want)
        return 0;
    kvg_tf_batch b = {n, s->tokens, s->row0, s->pos, s->want};
    if (kvg_transformer_forward(s->m, s->state, &b, s->logits, err))
        return -1;
    const size_t V = s->m->c.vocab_size;
#pragma omp parallel for schedule(static) if ((double)n_want * V >= KVG_PARALLEL_MIN_WORK)
    for (long r = 0; r < (long)n_want; r++) {
        float *row = s->logits + (size_t)r * V;
        kvg_log_softmax(row, row, V);
        fn(user, s->seq[r], s->at[r], row);
    }
    return 0;
}

int kvg_tf_score_rows(kvg_tf_scorer *s, size_t n_seq, const uint32_t *const *ids, const size_t *n,
                      kvg_tf_row_fn fn, void *user, kvg_error *err)
{
    size_t used = 0, n_want = 0; /* tokens and wanted rows in the batch being packed */
    for (size_t i = 0; i < n_seq; i++) {
        if (n[i] < 2)
            continue;
        /* Windows [begin, end) every stride tokens; targets [max(done, begin + 1), end). */
        size_t done = 0;
        for (size_t begin = 0; done < n[i]; begin += s->stride) {
            size_t end = begin + s->window < n[i] ? begin + s->window : n[i];
            size_t first = done > begin + 1 ? done : begin + 1;
            if (used + (end - begin) > s->batch_tokens) {
                if (run_batch(s, used, n_want, fn, user, err))
                    return -1;
                used = n_want = 0;
            }
            for (size_t t = begin; t < end; t++) {
                size_t k = used + (t - begin);
                s->tokens[k] = ids[i][t];
                s->row0[k] = (uint32_t)used;
                s->pos[k] = (uint32_t)(t - begin);
                /* the logits at t predict token t + 1 */
                s->want[k] = t + 1 >= first && t + 1 < end;
                if (s->want[k]) {
                    s->seq[n_want] = i;
                    s->at[n_want++] = t;
                }
            }
            used += end - begin;
            done = end;
        }
    }
    return run_batch(s, used, n_want, fn, user, err);
}

/* kvg_tf_score's row function: keeps the log-prob of the token predicted. */
typedef struct target_logprob {
    const uint32_t *const *ids;
    float *const *logprob;
} target_logprob;

static void keep_target(void *user, size_t seq, size_t j, const float *row)
{
    const target_logprob *t = user;
    t->logprob[seq][j] = row[t->ids[seq][j + 1]];
}

int kvg_tf_score(kvg_tf_scorer *s, size_t n_seq, const uint32_t *const *ids, const size_t *n, float *const *logprob,
                 kvg_error *err)
{
    target_logprob t = {ids, logprob};
    return kvg_tf_score_rows(s, n_seq, ids, n, keep_target, &t, err);
}
