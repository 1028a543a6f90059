/* thread_scratch.c — per-thread scratch buffers kept across calls (see
 * thread_scratch.h).
 *
 * The thread's set of buffers hangs off a _Thread_local pointer (the fast
 * path: one TLS load, no lock) and is also registered with a C11 tss key
 * whose destructor frees it when the thread exits, so threads that come
 * and go (a pool resized, a user's own threads) leave nothing behind. */
#include "thread_scratch.h"

#include <stdlib.h>
#include <threads.h>

typedef struct scratch_set {
    void *buf[KVG_SCRATCH_SLOTS];
    size_t cap[KVG_SCRATCH_SLOTS]; /* bytes */
} scratch_set;

static _Thread_local scratch_set *thread_set;
static tss_t set_key;
static int set_key_ok;
static once_flag set_key_once = ONCE_FLAG_INIT;

static void free_set(void *p)
{
    scratch_set *s = p;
    for (int i = 0; i < KVG_SCRATCH_SLOTS; i++)
        free(s->buf[i]);
    free(s);
    thread_set = NULL;
}

static void make_key(void) { set_key_ok = tss_create(&set_key, free_set) == thrd_success; }

/* The calling thread's set, created on first use; NULL when out of memory. */
static scratch_set *this_thread_set(void)
{
    if (thread_set)
        return thread_set;
    call_once(&set_key_once, make_key);
    scratch_set *s = calloc(1, sizeof *s);
    if (!s || !set_key_ok || tss_set(set_key, s) != thrd_success) {
        free(s);
        return NULL;
    }
    return thread_set = s;
}

void *kvg_thread_scratch(kvg_scratch_slot slot, size_t bytes)
{
    scratch_set *s = this_thread_set();
    if (!s || slot < 0 || slot >= KVG_SCRATCH_SLOTS || bytes == 0 || bytes > (size_t)-1 - 63)
        return NULL;
    if (s->cap[slot] < bytes) {
        size_t cap = (bytes + 63) / 64 * 64; /* aligned_alloc wants a multiple of the alignment */
        void *p = aligned_alloc(64, cap);
        if (!p)
            return NULL;
        free(s->buf[slot]);
        s->buf[slot] = p;
        s->cap[slot] = cap;
    }
    return s->buf[slot];
}
