/* test_thread_scratch.c — the per-thread scratch buffers the GEMMs keep
 * across calls (engine/kernels/thread_scratch.h): aligned, kept while large
 * enough, grown when asked for more, one per slot, one per thread (also in
 * teams of different sizes and in nested regions), and freed with their
 * thread (LSan in the sanitizer build reports a buffer that is not). Plus:
 * kvg_matmul gives the same bits on a fresh thread, on threads that come and
 * go and on a reused one. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels.h"
#include "kvg_dtype.h"
#include "kvg_test.h"
#include "thread_scratch.h"

static int aligned64(const void *p) { return ((uintptr_t)p & 63) == 0; }

static void test_kept_and_grown(void)
{
    unsigned char *a = kvg_thread_scratch(KVG_SCRATCH_GEMM_PACK, 1000);
    CHECK(a != NULL && aligned64(a));
    memset(a, 1, 1000); /* all of it is ours (ASan checks) */
    CHECK(kvg_thread_scratch(KVG_SCRATCH_GEMM_PACK, 1000) == a);
    CHECK(kvg_thread_scratch(KVG_SCRATCH_GEMM_PACK, 10) == a); /* smaller: the same buffer */
    unsigned char *b = kvg_thread_scratch(KVG_SCRATCH_GEMM_PACK, 1 << 20);
    CHECK(b != NULL && aligned64(b));
    memset(b, 2, 1 << 20);
    CHECK(kvg_thread_scratch(KVG_SCRATCH_GEMM_PACK, 1000) == b); /* the grown one stays */
    /* another slot is another buffer */
    unsigned char *c = kvg_thread_scratch(KVG_SCRATCH_QDOT_PACK, 1000);
    CHECK(c != NULL && c != b && aligned64(c));
    /* refusals */
    CHECK(kvg_thread_scratch(KVG_SCRATCH_GEMM_PACK, 0) == NULL);
    CHECK(kvg_thread_scratch(KVG_SCRATCH_SLOTS, 8) == NULL);
    CHECK(kvg_thread_scratch(KVG_SCRATCH_GEMM_PACK, (size_t)-1) == NULL);
    CHECK(kvg_thread_scratch(KVG_SCRATCH_GEMM_PACK, 8) == b); /* a refusal leaves the buffer as it was */
}

/* Every thread of teams of 1 .. 4 threads, and of a nested team, gets a
 * buffer no other thread of its team has, and the same one again next time. */
static void test_one_per_thread(void)
{
#ifdef _OPENMP
    int saved = omp_get_max_active_levels();
    omp_set_max_active_levels(2);
    for (int n = 1; n <= 4; n++) {
        void *seen[4] = {0}, *again[4] = {0};
#pragma omp parallel num_threads(n)
        {
            int t = omp_get_thread_num();
            seen[t] = kvg_thread_scratch(KVG_SCRATCH_QDOT_SCALES, 4096);
            memset(seen[t], t, 4096);
#pragma omp barrier
            again[t] = kvg_thread_scratch(KVG_SCRATCH_QDOT_SCALES, 4096);
        }
        int n_team = 0;
        for (int t = 0; t < 4; t++)
            n_team += seen[t] != NULL;
        for (int t = 0; t < n_team; t++) {
            CHECK(seen[t] != NULL && seen[t] == again[t]);
            for (int u = 0; u < t; u++)
                CHECK(seen[t] != seen[u]);
        }
    }
    void *inner[2][2] = {{0}};
#pragma omp parallel num_threads(2)
    {
        int o = omp_get_thread_num();
#pragma omp parallel num_threads(2)
        inner[o][omp_get_thread_num()] = kvg_thread_scratch(KVG_SCRATCH_QDOT_PACK, 512);
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < i; j++)
            if (inner[i / 2][i % 2] && inner[j / 2][j % 2])
                CHECK(inner[i / 2][i % 2] != inner[j / 2][j % 2]);
    omp_set_max_active_levels(saved);
#endif
}

enum { N_TOK = 40, N_IN = 96, N_OUT = 300 };

typedef struct product {
    const float *x;
    const void *w;
    kvg_dtype wtype;
    float *y;
    int rc;
} product;

static int run_product(void *arg)
{
    product *p = arg;
    p->rc = kvg_matmul(p->y, p->x, p->w, p->wtype, NULL, N_TOK, N_IN, N_OUT);
    return 0;
}

/* The same product on this thread (its buffers reused), then on fresh
 * threads that exit (their buffers freed by the thread's exit: LSan), gives
 * the same bits each time, for a float and a quantized weight. */
static void test_matmul_on_threads(void)
{
    static float x[N_TOK * N_IN], wf[N_OUT * N_IN];
    static unsigned char w[N_OUT * N_IN * sizeof(float)];
    static float y0[N_TOK * N_OUT], y1[N_TOK * N_OUT];
    uint64_t s = 12345;
    for (size_t i = 0; i < N_TOK * N_IN; i++, s = s * 6364136223846793005ull + 1)
        x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) - 0.5);
    for (size_t i = 0; i < N_OUT * N_IN; i++, s = s * 6364136223846793005ull + 1)
        wf[i] = (float)((double)(s >> 40) / (double)(1ull << 24) - 0.5);
    const kvg_dtype types[] = {KVG_DTYPE_F16, KVG_DTYPE_Q4_0};
    for (int d = 0; d < 2; d++) {
        kvg_dtype_get(types[d])->from_f32(wf, w, N_OUT * N_IN);
        CHECK(kvg_matmul(y0, x, w, types[d], NULL, N_TOK, N_IN, N_OUT) == 0);
        CHECK(kvg_matmul(y1, x, w, types[d], NULL, N_TOK, N_IN, N_OUT) == 0);
        CHECK(memcmp(y0, y1, sizeof y0) == 0);
        for (int round = 0; round < 3; round++) {
            product p = {x, w, types[d], y1, -1};
            memset(y1, 0, sizeof y1);
            thrd_t t;
            CHECK(thrd_create(&t, run_product, &p) == thrd_success);
            CHECK(thrd_join(t, NULL) == thrd_success);
            CHECK(p.rc == 0);
            CHECK(memcmp(y0, y1, sizeof y0) == 0);
        }
    }
}

int main(void)
{
    test_kept_and_grown();
    test_one_per_thread();
    test_matmul_on_threads();
    return kvg_test_end();
}
