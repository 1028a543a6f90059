/* sampler.h — picking the next token from logits: greedy, or temperature
 * with nucleus (top-p) sampling from a seeded generator, so a run with a
 * given seed is reproducible on every machine. */
#ifndef KVG_SAMPLER_H
#define KVG_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct kvg_sampler {
    float temperature; /* 0: greedy (argmax) */
    float top_p;       /* in (0, 1]: sample among the most probable tokens whose mass reaches top_p; 1: all */
    uint64_t state;    /* xorshift64* state, never 0 */
} kvg_sampler;

/* A sampler with this temperature, top_p and seed (any value). */
kvg_sampler kvg_sampler_make(float temperature, float top_p, uint64_t seed);

/* A uniform float in [0, 1) from the sampler's generator. */
float kvg_sampler_uniform(kvg_sampler *s);

/* Scratch entry for top-p: a probability and its token id. */
typedef struct kvg_prob_id {
    float p;
    uint32_t id;
} kvg_prob_id;

/* The next token from logits[n] (modified: turned into probabilities in
 * place unless greedy). scratch: n entries (used by top-p only). */
uint32_t kvg_sample(kvg_sampler *s, float *logits, uint32_t n, kvg_prob_id *scratch);

#endif
