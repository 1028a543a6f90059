/* sampler.c — greedy, temperature and top-p sampling (see sampler.h). */
#include <math.h>
#include <stdlib.h>

#include "sampler.h"

kvg_sampler kvg_sampler_make(float temperature, float top_p, uint64_t seed)
{
    kvg_sampler s = {temperature, top_p, seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull};
    if (!s.state)
        s.state = 1;
    return s;
}

float kvg_sampler_uniform(kvg_sampler *s)
{
    /* xorshift64*, top 24 bits: exactly representable floats in [0, 1). */
    s->state ^= s->state >> 12;
    s->state ^= s->state << 25;
    s->state ^= s->state >> 27;
    return (float)((s->state * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
}

static uint32_t argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* By probability, descending; ties by id, so the order is total. */
static int by_prob_desc(const void *a, const void *b)
{
    const kvg_prob_id *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

uint32_t kvg_sample(kvg_sampler *s, float *logits, uint32_t n, kvg_prob_id *scratch)
{
    if (s->temperature <= 0)
        return argmax(logits, n);
    /* p = softmax(logits / T), max subtracted. */
    float max = logits[argmax(logits, n)];
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        logits[i] = expf((logits[i] - max) / s->temperature);
        sum += logits[i];
    }
    for (uint32_t i = 0; i < n; i++)
        logits[i] = (float)(logits[i] / sum);
    float r = kvg_sampler_uniform(s);
    if (s->top_p <= 0 || s->top_p >= 1) {
        float cum = 0;
        for (uint32_t i = 0; i < n; i++) {
            cum += logits[i];
            if (r < cum)
                return i;
        }
        return n - 1; /* rounding left the cumulative sum just below r */
    }
    /* Nucleus: the fewest most-probable tokens whose mass reaches top_p, renormalized. */
    for (uint32_t i = 0; i < n; i++)
        scratch[i] = (kvg_prob_id){logits[i], i};
    qsort(scratch, n, sizeof *scratch, by_prob_desc);
    float mass = 0;
    uint32_t k = 0;
    while (k < n && mass < s->top_p)
        mass += scratch[k++].p;
    float cum = 0, target = r * mass;
    for (uint32_t i = 0; i < k; i++) {
        cum += scratch[i].p;
        if (target < cum)
            return scratch[i].id;
    }
    return scratch[k - 1].id;
}
