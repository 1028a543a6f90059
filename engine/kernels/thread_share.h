/* thread_share.h — the calling OpenMP thread's contiguous share of a range
 * (internal to engine/kernels).
 *
 * The GEMM drivers split W's panels this way: contiguous runs, so each
 * thread packs only its own rows. Outside a parallel region (or without
 * OpenMP) the one thread gets the whole range. */
#ifndef KVG_THREAD_SHARE_H
#define KVG_THREAD_SHARE_H

#include <stddef.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* [*begin, *end) = this thread's part of [0, n): thread i of t gets
 * [n*i/t, n*(i+1)/t), which may be empty. */
static inline void kvg_thread_share(size_t n, size_t *begin, size_t *end)
{
    size_t tid = 0, n_threads = 1;
#ifdef _OPENMP
    tid = (size_t)omp_get_thread_num();
    n_threads = (size_t)omp_get_num_threads();
#endif
    *begin = n * tid / n_threads;
    *end = n * (tid + 1) / n_threads;
}

#endif
