/* bench_transformer.h — the transformer benchmark of `kvgram bench`
 * (cmd_bench.c dispatches here by the model's general.kind). */
#ifndef KVG_BENCH_TRANSFORMER_H
#define KVG_BENCH_TRANSFORMER_H

#include <stdint.h>

typedef struct tf_bench_options {
    const char *model;
    uint32_t seq;   /* tokens per sequence (0: 512, or the context length if shorter) */
    uint32_t batch; /* sequences per forward pass */
    int threads;    /* OpenMP threads (already defaulted to omp_get_max_threads()) */
    int repeat;     /* timed passes, after one untimed warm-up pass */
    int json;
} tf_bench_options;

/* Scores random token sequences with the model in o->model and prints
 * tokens/s (a table, or one JSON line). Returns the exit status; errors are
 * printed as one line. */
int bench_transformer(const tf_bench_options *o);

#endif
