/* prefetch_span.h — prefetching the weights of the next packed block while
 * the micro-kernels work on the current one (internal to engine/kernels).
 *
 * The GEMMs read each weight once per product, from DRAM (a model is far
 * larger than the caches), packing a block of rows, then sweeping every
 * token over it. While the sweep runs (compute-bound, all in L1/L2) the
 * memory bus is idle, and the packing of the next block then waits on DRAM.
 * A span spreads the next block's lines over the sweep's steps, a few
 * prefetches (into L2: locality 2) per step, so the next packing reads from
 * the cache. Prefetches never fault; addresses are integers, so a span may
 * reach past the last row. Portable (__builtin_prefetch). */
#ifndef KVG_PREFETCH_SPAN_H
#define KVG_PREFETCH_SPAN_H

#include <stddef.h>
#include <stdint.h>

enum { KVG_PREFETCH_LINE = 64, KVG_PREFETCH_MAX_PER_STEP = 64 /* a cap for tiny sweeps */ };

/* n_rows rows of len bytes, row_stride bytes apart from base, walked row
 * by row, a cache line at a time. */
typedef struct kvg_prefetch_span {
    uintptr_t base;
    size_t row_stride, len, n_rows;
    size_t row;          /* the row being prefetched */
    uintptr_t at, end;   /* its next line and its end */
    size_t per_step;     /* lines per kvg_prefetch_span_step */
} kvg_prefetch_span;

/* A span of the given rows to be walked in about n_steps steps (n_rows = 0:
 * nothing to prefetch). */
static inline void kvg_prefetch_span_init(kvg_prefetch_span *s, uintptr_t base, size_t row_stride, size_t len,
                                          size_t n_rows, size_t n_steps)
{
    s->base = base, s->row_stride = row_stride, s->len = len, s->n_rows = len ? n_rows : 0, s->row = 0;
    s->at = base & ~(uintptr_t)(KVG_PREFETCH_LINE - 1);
    s->end = base + len;
    size_t lines = s->n_rows * ((len + KVG_PREFETCH_LINE - 1) / KVG_PREFETCH_LINE + 1);
    s->per_step = n_steps ? (lines + n_steps - 1) / n_steps : lines;
    if (s->per_step > KVG_PREFETCH_MAX_PER_STEP)
        s->per_step = KVG_PREFETCH_MAX_PER_STEP;
}

/* The span's next per_step lines. */
static inline void kvg_prefetch_span_step(kvg_prefetch_span *s)
{
    for (size_t i = 0; i < s->per_step && s->row < s->n_rows; i++) {
        __builtin_prefetch((const void *)s->at, 0, 2);
        s->at += KVG_PREFETCH_LINE;
        if (s->at >= s->end && ++s->row < s->n_rows) {
            uintptr_t start = s->base + s->row * s->row_stride;
            s->at = start & ~(uintptr_t)(KVG_PREFETCH_LINE - 1);
            s->end = start + s->len;
        }
    }
}

#endif
