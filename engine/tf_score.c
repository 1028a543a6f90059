/* tf_score.c — windows, batches and log-probs for transformer scoring (see tf_score.h).
 *
 * Plain scoring (kvg_tf_score) needs only ln p(target) = logit[target] -
 * logsumexp(logits) per scored token: the logits are computed a slice of
 * VOCAB_SLICE vocabulary entries at a time for all the batch's rows, each
 * slice reduced at once to its (max, sum of e^(x - max)) and merged into the
 * row's running pair, so no [tokens, vocab] buffer exists and no row is
 * written twice. kvg_tf_score_rows (analyses) still gets whole log-softmax
 * rows; its [tokens, vocab] buffer is allocated on its first call. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tf_score.h"

struct kvg_tf_scorer {
    const kvg_transformer *m;
    uint32_t window, stride, batch_tokens;
    kvg_tf_state *state;
    uint32_t *tokens, *row0, *pos; /* [batch_tokens] */
    uint8_t *want;                 /* [batch_tokens] */
    float *logits;                 /* [batch_tokens, V], kvg_tf_score_rows only (allocated on first use) */
    float *slice;                  /* [batch_tokens, VOCAB_SLICE]: one slice of the logits */
    /* per wanted row of the current batch: the sequence and the index j of the token it predicts
     * (ids[seq][j + 1] = target) */
    size_t *seq, *at;
    uint32_t *target;
    float *max, *target_logit;     /* the row's largest logit so far; its target's logit */
    double *sum;                   /* sum of e^(logit - max) over the slices so far */
};

/* Vocabulary entries per slice of the logits: the slice of a batch of 512
 * tokens is 4 MiB. A multiple of the matmul's 16-output panels. */
#define VOCAB_SLICE 2048u

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
    s->m = m;
    s->window = window;
    s->stride = stride;
    s->batch_tokens = batch_tokens;
    size_t bt = batch_tokens;
    s->tokens = malloc(bt * sizeof *s->tokens);
    s->row0 = malloc(bt * sizeof *s->row0);
    s->pos = malloc(bt * sizeof *s->pos);
    s->want = malloc(bt);
    s->slice = malloc(bt * VOCAB_SLICE * sizeof *s->slice);
    s->seq = malloc(bt * sizeof *s->seq);
    s->at = malloc(bt * sizeof *s->at);
    s->target = malloc(bt * sizeof *s->target);
    s->max = malloc(bt * sizeof *s->max);
    s->target_logit = malloc(bt * sizeof *s->target_logit);
    s->sum = malloc(bt * sizeof *s->sum);
    if (!s->tokens || !s->row0 || !s->pos || !s->want || !s->slice || !s->seq || !s->at || !s->target || !s->max ||
        !s->target_logit || !s->sum) {
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
    free(s->slice);
    free(s->seq);
    free(s->at);
    free(s->target);
    free(s->max);
    free(s->target_logit);
    free(s->sum);
    free(s);
}

/* Bytes a scorer of these sizes allocates besides its kvg_tf_state: the
 * per-token arrays and one vocabulary slice of logits (plain scoring). */
uint64_t kvg_tf_scorer_scratch_bytes(const kvg_transformer *m, uint32_t batch_tokens)
{
    uint64_t per_token = 3 * sizeof(uint32_t) + 1 + 2 * sizeof(size_t) + sizeof(uint32_t) + 2 * sizeof(float) +
                         sizeof(double) + VOCAB_SLICE * sizeof(float);
    return (uint64_t)batch_tokens * per_token + kvg_tf_state_bytes(m, batch_tokens, batch_tokens);
}

/* Where a batch's wanted rows go: fn gets each whole log-softmax row
 * (kvg_tf_score_rows), or logprob[seq][j] gets ln p(target) (fn NULL, kvg_tf_score). */
typedef struct row_sink {
    kvg_tf_row_fn fn;
    void *user;
    float *const *logprob;
} row_sink;

/* fn(row) for each wanted row's log_softmax(logits), after the forward pass. */
static int full_rows(kvg_tf_scorer *s, size_t n_want, const row_sink *sink, kvg_error *err)
{
    const size_t V = s->m->c.vocab_size;
    if (kvg_transformer_logits(s->m, s->state, n_want, 0, (uint32_t)V, s->logits))
        return kvg_errorf(err, NULL, "out of memory in the output layer");
#pragma omp parallel for schedule(static) if ((double)n_want * V >= KVG_PARALLEL_MIN_WORK)
    for (long r = 0; r < (long)n_want; r++) {
        float *row = s->logits + (size_t)r * V;
        kvg_log_softmax(row, row, V);
        sink->fn(sink->user, s->seq[r], s->at[r], row);
    }
    return 0;
}

/* logprob[seq][j] = logit[target] - logsumexp(logits) for each wanted row,
 * the logits a vocabulary slice at a time (see the top of the file). The
 * slices are the same whatever the thread count, and so is each row's merge
 * order: the same bits on any number of threads. */
static int target_rows(kvg_tf_scorer *s, size_t n_want, const row_sink *sink, kvg_error *err)
{
    const uint32_t V = s->m->c.vocab_size;
    for (size_t r = 0; r < n_want; r++) {
        s->max[r] = -INFINITY;
        s->sum[r] = 0;
        s->target_logit[r] = NAN;
    }
    for (uint32_t v0 = 0; v0 < V; v0 += VOCAB_SLICE) {
        const uint32_t nv = V - v0 < VOCAB_SLICE ? V - v0 : VOCAB_SLICE;
        if (kvg_transformer_logits(s->m, s->state, n_want, v0, nv, s->slice))
            return kvg_errorf(err, NULL, "out of memory in the output layer");
#pragma omp parallel for schedule(static) if ((double)n_want * nv >= KVG_PARALLEL_MIN_WORK)
        for (long r = 0; r < (long)n_want; r++) {
            const float *row = s->slice + (size_t)r * nv;
            float m;
            double sum = kvg_sum_exp_max(row, nv, &m);
            /* running pair (max, sum e^(x - max)) merged with the slice's, against the larger max */
            if (m > s->max[r]) {
                s->sum[r] = s->sum[r] * exp((double)s->max[r] - m) + sum;
                s->max[r] = m;
            } else {
                s->sum[r] += sum * exp((double)m - s->max[r]);
            }
            if (s->target[r] - v0 < nv)
                s->target_logit[r] = row[s->target[r] - v0];
        }
    }
    for (size_t r = 0; r < n_want; r++)
        sink->logprob[s->seq[r]][s->at[r]] =
            (float)(((double)s->target_logit[r] - s->max[r]) - log(s->sum[r]));
    return 0;
}

/* Runs the packed batch (n tokens, n_want wanted rows) and hands the wanted
 * rows to the sink. */
static int run_batch(kvg_tf_scorer *s, size_t n, size_t n_want, const row_sink *sink, kvg_error *err)
{
    if (!n_want)
        return 0;
    kvg_tf_batch b = {n, s->tokens, s->row0, s->pos, s->want};
    if (kvg_transformer_forward(s->m, s->state, &b, NULL, err))
        return -1;
    return sink->fn ? full_rows(s, n_want, sink, err) : target_rows(s, n_want, sink, err);
}

/* Packs the windows of every sequence into batches and runs them. */
static int score_windows(kvg_tf_scorer *s, size_t n_seq, const uint32_t *const *ids, const size_t *n,
                         const row_sink *sink, kvg_error *err)
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
                if (run_batch(s, used, n_want, sink, err))
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
                    s->target[n_want] = ids[i][t + 1];
                    s->at[n_want++] = t;
                }
            }
            used += end - begin;
            done = end;
        }
    }
    return run_batch(s, used, n_want, sink, err);
}

int kvg_tf_score_rows(kvg_tf_scorer *s, size_t n_seq, const uint32_t *const *ids, const size_t *n,
                      kvg_tf_row_fn fn, void *user, kvg_error *err)
{
    if (!s->logits) {
        s->logits = malloc((size_t)s->batch_tokens * s->m->c.vocab_size * sizeof *s->logits);
        if (!s->logits)
            return kvg_errorf(err, NULL, "out of memory for the logits of a batch of %u tokens", s->batch_tokens);
    }
    row_sink sink = {fn, user, NULL};
    return score_windows(s, n_seq, ids, n, &sink, err);
}

int kvg_tf_score(kvg_tf_scorer *s, size_t n_seq, const uint32_t *const *ids, const size_t *n, float *const *logprob,
                 kvg_error *err)
{
    row_sink sink = {NULL, NULL, logprob};
    return score_windows(s, n_seq, ids, n, &sink, err);
}
