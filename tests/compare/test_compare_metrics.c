/* test_compare_metrics.c — compare's arithmetic against hand computations:
 * KL and total variation, the transformer's renormalized distribution and
 * its argmax, and the interpolation weight (closed form for two tokens,
 * the bounds when one model is better everywhere). */
#include <math.h>

#include "compare_metrics.h"
#include "kvg_test.h"

static void test_divergences(void)
{
    /* p = (1/2, 1/2, 0), q = (1/4, 1/4, 1/2): KL = 2 * 1/2 ln 2 = ln 2; TV = (1/4 + 1/4 + 1/2) / 2 = 1/2.
     * The logs come shifted and scaled as compare has them: ln p = lp - ln 2 with lp = ln(2p), and
     * ln q = ln 10 * lq - ln 10 with lq = log10(10 q). */
    const double LN10 = log(10.0);
    double p[3] = {.5, .5, 0}, q[3] = {.25, .25, .5}, kl, tv;
    float lp[3] = {0, 0, -INFINITY}, lq[3] = {(float)log10(2.5), (float)log10(2.5), (float)log10(5.0)};
    cmp_divergences(p, lp, log(2.0), q, lq, LN10, LN10, 3, &kl, &tv);
    CHECK_NEAR(log(2.0), kl, 1e-7);
    CHECK_NEAR(0.5, tv, 1e-15);
    /* q = 0 where p > 0: KL is infinite; the other way round it is finite. */
    float lq_ln[3] = {(float)log(.25), (float)log(.25), (float)log(.5)};
    cmp_divergences(q, lq_ln, 0, p, lp, 1, log(2.0), 3, &kl, &tv);
    CHECK(isinf(kl) && kl > 0);
    CHECK_NEAR(0.5, tv, 1e-15);
}

static void test_probs_and_argmax(void)
{
    /* ln-probs of (0.2, 0.4, 0.4) over 3 of 4 ids: renormalized over the 3, argmax the lower of the tie. */
    float lp[4] = {(float)log(0.1), (float)log(0.2), (float)log(0.2), (float)log(0.5)};
    double p[3], ln_z;
    CHECK_INT(1, cmp_probs_from_logprobs(lp, 3, p, &ln_z));
    CHECK_NEAR(log(0.5), ln_z, 1e-7);
    CHECK_NEAR(0.2, p[0], 1e-7);
    CHECK_NEAR(0.4, p[1], 1e-7);
    CHECK_NEAR(0.4, p[2], 1e-7);
    double q[4] = {.1, .3, .3, .3};
    CHECK_INT(1, cmp_argmax(q, 4));
}

static void test_lambda(void)
{
    /* Two tokens: d_i = a_i - b_i; the NLL's derivative
     * -d1 / (b1 + l d1) - d2 / (b2 + l d2) vanishes at l = -(d1 b2 + d2 b1) / (2 d1 d2).
     * a = (.8, .1), b = (.2, .5): d = (.6, -.4), l = -(.3 - .08) / (-.48) = 11/24. */
    double a[2] = {.8, .1}, b[2] = {.2, .5}, nll;
    double lam = cmp_best_lambda(a, b, 2, &nll);
    CHECK_NEAR(11.0 / 24, lam, 1e-11);
    double m1 = 11.0 / 24 * .8 + 13.0 / 24 * .2, m2 = 11.0 / 24 * .1 + 13.0 / 24 * .5;
    CHECK_NEAR(-(log(m1) + log(m2)) / 2, nll, 1e-12);
    /* The transformer at least as good everywhere: lambda 1; worse everywhere: 0. */
    double hi[2] = {.5, .4}, lo[2] = {.25, .2};
    CHECK_NEAR(1.0, cmp_best_lambda(hi, lo, 2, &nll), 0);
    CHECK_NEAR(-(log(.5) + log(.4)) / 2, nll, 1e-15);
    CHECK_NEAR(0.0, cmp_best_lambda(lo, hi, 2, &nll), 0);
    CHECK_NEAR(-(log(.5) + log(.4)) / 2, nll, 1e-15);
    /* An n-gram probability of 0 (unseen, maximum likelihood): the NLL is infinite at 0, the optimum
     * inside. a = (.2, .1), b = (.9, 0): d = (-.7, .1), l = -(0 + .1 * .9) / (2 * -.7 * .1) = 9/14. */
    double a3[2] = {.2, .1}, b3[2] = {.9, 0};
    CHECK_NEAR(9.0 / 14, cmp_best_lambda(a3, b3, 2, &nll), 1e-11);
    CHECK(isfinite(nll));
}

int main(void)
{
    test_divergences();
    test_probs_and_argmax();
    test_lambda();
    return kvg_test_end();
}
