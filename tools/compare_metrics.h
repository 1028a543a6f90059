/* compare_metrics.h — what `kvgram compare` computes at one position, and
 * the best interpolation weight over all of them.
 *
 * Distributions are over the token ids 0..n-1 shared by the transformer and
 * the token-level n-gram model, as probabilities (double). Logs are natural. */
#ifndef KVG_COMPARE_METRICS_H
#define KVG_COMPARE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "tok_ngram.h"

/* The transformer's distribution from its log-softmax row lp[0..n):
 * p[i] = exp(lp[i]) / Z (renormalized over the shared ids; Z = 1 when the
 * model's vocabulary is exactly the tokenizer's), so ln p[i] = lp[i] - ln Z;
 * writes ln Z to *ln_z. Returns the argmax (lowest id among ties). */
uint32_t cmp_probs_from_logprobs(const float *lp, uint32_t n, double *p, double *ln_z);

/* argmax of p[0..n) (lowest id among ties). */
uint32_t cmp_argmax(const double *p, uint32_t n);

/* KL(p || q) = sum p ln(p / q) and total variation 0.5 sum |p - q| of two
 * distributions given both as probabilities p, q and as logs, which saves
 * a log per id: ln p[i] = lp[i] - lp_shift, ln q[i] = lq_scale lq[i] -
 * lq_shift (lq_scale = ln 10 for log10 values). Terms with p = 0 are 0; KL is
 * +inf when q = 0 where p > 0. */
void cmp_divergences(const double *p, const float *lp, double lp_shift, const double *q, const float *lq,
                     double lq_scale, double lq_shift, uint32_t n, double *kl, double *tv);

/* A suffix rule (Nguyen 2024): the distribution of the next token after a
 * context of k tokens, as counted — read from a maximum-likelihood model,
 * whose stored continuations of a context are exactly count(ctx w) / count(ctx).
 * Rules are renormalized over the tokens (</s> left out, like the n-gram's
 * distribution); a context followed only by </s> has no rule. */
typedef struct cmp_rule {
    uint32_t ctx;      /* context length k; 0 = no rule at this position */
    uint32_t top;      /* its most probable token (lowest id among ties) */
    double tv;         /* total variation to the transformer's distribution */
} cmp_rule;

/* Among the rules of context lengths 1 .. st->len of `rules` (whose state st
 * holds the history), the one closest in total variation to p_t[0..n)
 * (ties: the shorter context). Writes it to *best (best->ctx = 0 when no
 * context was seen) and sets *any_agree when some rule's top token equals
 * top_t. */
void cmp_best_rule(const kvg_tok_ngram *rules, const kvg_ngram_state *st, const double *p_t, uint32_t top_t,
                   cmp_rule *best, int *any_agree);

/* The λ in [0, 1] minimizing -sum ln(λ a[i] + (1-λ) b[i]) (a convex
 * function of λ): a[i], b[i] are the two models' probabilities of the
 * token that came. Found by bisection on the derivative to 1e-12. Writes
 * the minimum's mean negative log-likelihood (nats per token) to *nll. */
double cmp_best_lambda(const double *a, const double *b, size_t n, double *nll);

#endif
