/* test_sampler.c — greedy picks the argmax; temperature sampling follows
 * softmax(logits / T); top-p keeps exactly the smallest most-probable set
 * reaching p. Frequencies over many draws are checked against the hand-
 * computed probabilities (tolerance ~5 standard deviations). */
#include <stdlib.h>

#include "kvg_test.h"
#include "sampler.h"

enum { DRAWS = 20000 };

/* Counts of DRAWS samples from logits ln(p) with temperature t, top-p tp. */
static void draw(const double *p, uint32_t n, float t, float tp, uint64_t seed, int *count)
{
    kvg_sampler s = kvg_sampler_make(t, tp, seed);
    float lg[8];
    kvg_prob_id scratch[8];
    memset(count, 0, n * sizeof *count);
    for (int i = 0; i < DRAWS; i++) {
        for (uint32_t j = 0; j < n; j++)
            lg[j] = (float)log(p[j]);
        count[kvg_sample(&s, lg, n, scratch)]++;
    }
}

int main(void)
{
    const double p[4] = {0.1, 0.5, 0.3, 0.1};
    int c[4];
    float lg[4] = {1, 3, 2, 3.5f};
    kvg_sampler g = kvg_sampler_make(0, 0.9f, 1);
    CHECK_INT(3, kvg_sample(&g, lg, 4, NULL));
    const double tol = 5 * sqrt(0.25 / DRAWS);
    /* T = 1, no top-p: the probabilities themselves. */
    draw(p, 4, 1, 1, 42, c);
    for (int j = 0; j < 4; j++)
        CHECK_NEAR(p[j], (double)c[j] / DRAWS, tol);
    /* T = 2: p^(1/2) normalized: sqrt(.1, .5, .3, .1) / sum. */
    double z = 2 * sqrt(0.1) + sqrt(0.5) + sqrt(0.3);
    draw(p, 4, 2, 1, 43, c);
    CHECK_NEAR(sqrt(0.5) / z, (double)c[1] / DRAWS, tol);
    CHECK_NEAR(sqrt(0.1) / z, (double)c[3] / DRAWS, tol);
    /* top-p 0.7: tokens 1 (0.5) and 2 (0.3) reach 0.8 >= 0.7; renormalized 0.625 / 0.375. */
    draw(p, 4, 1, 0.7f, 44, c);
    CHECK_INT(0, c[0] + c[3]);
    CHECK_NEAR(0.625, (double)c[1] / DRAWS, tol);
    /* top-p 0.5: token 1 alone reaches it. */
    draw(p, 4, 1, 0.5f, 45, c);
    CHECK_INT(DRAWS, c[1]);
    /* Same seed, same stream; uniform stays in [0, 1). */
    kvg_sampler a = kvg_sampler_make(1, 1, 9), b = kvg_sampler_make(1, 1, 9);
    int same = 1, in_range = 1;
    for (int i = 0; i < 1000; i++) {
        float x = kvg_sampler_uniform(&a);
        same &= x == kvg_sampler_uniform(&b);
        in_range &= x >= 0 && x < 1;
    }
    CHECK(same);
    CHECK(in_range);
    return kvg_test_end();
}
