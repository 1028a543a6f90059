/* compare_metrics.c — per-position metrics and the interpolation weight (see compare_metrics.h). */
#include <math.h>

#include "compare_metrics.h"

uint32_t cmp_probs_from_logprobs(const float *lp, uint32_t n, double *p, double *ln_z)
{
    uint32_t top = 0;
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        p[i] = expf(lp[i]); /* float exp: 1e-7 relative is plenty here, and several times faster */
        sum += p[i];
        if (lp[i] > lp[top])
            top = i;
    }
    if (sum > 0)
        for (uint32_t i = 0; i < n; i++)
            p[i] /= sum;
    *ln_z = log(sum);
    return top;
}

uint32_t cmp_argmax(const double *p, uint32_t n)
{
    uint32_t top = 0;
    for (uint32_t i = 1; i < n; i++)
        if (p[i] > p[top])
            top = i;
    return top;
}

void cmp_divergences(const double *p, const float *lp, double lp_shift, const double *q, const float *lq,
                     double lq_scale, double lq_shift, uint32_t n, double *kl, double *tv)
{
    double k = 0, t = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (p[i] > 0)
            k += q[i] > 0 ? p[i] * (((double)lp[i] - lp_shift) - (lq_scale * (double)lq[i] - lq_shift)) : INFINITY;
        t += fabs(p[i] - q[i]);
    }
    *kl = k;
    *tv = 0.5 * t;
}

/* One rule's continuations: token mass, top token, and (second pass) the sum
 * over them of |p_t - r| and of p_t. */
typedef struct rule_pass {
    uint32_t offset, n_tok;
    const double *p_t;
    double scale;           /* 1 / token mass (second pass) */
    double mass, abs_diff, covered;
    uint32_t top;
    double top_p;
} rule_pass;

static int rule_mass(void *user, uint32_t word, float log10p)
{
    rule_pass *r = user;
    if (word < r->offset || word - r->offset >= r->n_tok)
        return 0; /* </s> (and <unk>, <s>) are not tokens */
    double p = exp((double)log10p * 2.302585092994045684);
    uint32_t tok = word - r->offset;
    r->mass += p;
    if (p > r->top_p || (p == r->top_p && tok < r->top))
        r->top = tok, r->top_p = p;
    return 0;
}

static int rule_distance(void *user, uint32_t word, float log10p)
{
    rule_pass *r = user;
    if (word < r->offset || word - r->offset >= r->n_tok)
        return 0;
    double p = exp((double)log10p * 2.302585092994045684) * r->scale, pt = r->p_t[word - r->offset];
    r->abs_diff += fabs(pt - p);
    r->covered += pt;
    return 0;
}

void cmp_best_rule(const kvg_tok_ngram *rules, const kvg_ngram_state *st, const double *p_t, uint32_t top_t,
                   cmp_rule *best, int *any_agree)
{
    *best = (cmp_rule){0, 0, INFINITY};
    *any_agree = 0;
    for (uint32_t k = 1; k <= st->len; k++) {
        rule_pass r = {rules->offset, rules->n_tokens, p_t, 0, 0, 0, 0, UINT32_MAX, -1};
        kvg_ngram_continuations(rules->m, st, k, rule_mass, &r);
        if (!(r.mass > 0))
            continue;
        r.scale = 1 / r.mass;
        kvg_ngram_continuations(rules->m, st, k, rule_distance, &r);
        /* tokens outside the rule's support add |p_t - 0| each: 1 - covered in all */
        double tv = 0.5 * (r.abs_diff + fmax(0.0, 1.0 - r.covered));
        if (r.top == top_t)
            *any_agree = 1;
        if (tv < best->tv)
            *best = (cmp_rule){k, r.top, tv};
    }
}

/* d/dλ of the mean negative log-likelihood. */
static double nll_slope(const double *a, const double *b, size_t n, double lambda)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s -= (a[i] - b[i]) / (lambda * a[i] + (1 - lambda) * b[i]);
    return s / (double)n;
}

static double mean_nll(const double *a, const double *b, size_t n, double lambda)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s -= log(lambda * a[i] + (1 - lambda) * b[i]);
    return s / (double)n;
}

double cmp_best_lambda(const double *a, const double *b, size_t n, double *nll)
{
    double lambda;
    if (!n) {
        *nll = NAN;
        return NAN;
    }
    if (nll_slope(a, b, n, 1.0) <= 0) {
        lambda = 1.0; /* still descending at 1 (the n-gram model adds nothing) */
    } else {
        double lo = 0, hi = 1;
        double s0 = nll_slope(a, b, n, 0.0); /* -inf (or NaN) when some b[i] = 0 < a[i] */
        if (s0 >= 0) {
            hi = 0;
        } else {
            while (hi - lo > 1e-12) {
                double mid = 0.5 * (lo + hi);
                if (nll_slope(a, b, n, mid) > 0)
                    hi = mid;
                else
                    lo = mid;
            }
        }
        lambda = 0.5 * (lo + hi);
    }
    *nll = mean_nll(a, b, n, lambda);
    return lambda;
}
