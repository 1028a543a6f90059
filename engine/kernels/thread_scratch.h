/* thread_scratch.h — scratch buffers that belong to a thread and are kept
 * from one kernel call to the next (internal to engine/kernels).
 *
 * The GEMMs pack W into a few hundred KiB per thread per call. Allocating
 * that per call costs page faults until glibc's mmap threshold adapts (a
 * fresh process: ~92 faults per call for its first calls) and a trip
 * through the allocator; a buffer kept by each thread costs neither. Each
 * thread (the caller's, or each of an OpenMP team's, of whatever team size,
 * nested or not) has its own buffers, found without a lock; they are freed
 * when the thread exits (and stay reachable until then). */
#ifndef KVG_THREAD_SCRATCH_H
#define KVG_THREAD_SCRATCH_H

#include <stddef.h>

/* The independent buffers a thread keeps: one per user that may hold its
 * buffer while another is in use. */
typedef enum kvg_scratch_slot {
    KVG_SCRATCH_GEMM_PACK,   /* matmul_blocked.c: the packed f32 panels */
    KVG_SCRATCH_QDOT_PACK,   /* matmul_qdot_driver.h: the packed integer panels */
    KVG_SCRATCH_QDOT_SCALES, /* matmul_qdot_driver.h: their f32 scales */
    KVG_SCRATCH_SLOTS
} kvg_scratch_slot;

/* At least bytes (> 0) of 64-byte aligned memory owned by the calling
 * thread: the same buffer on each call with this slot while it is large
 * enough, else a larger one (the contents are not kept when it grows).
 * Valid until this thread's next call with the same slot. NULL when memory
 * runs out (the previous buffer is then still the slot's). */
void *kvg_thread_scratch(kvg_scratch_slot slot, size_t bytes);

#endif
