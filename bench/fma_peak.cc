// fma_peak.cc — the FMA-throughput kernel (compiled with -mavx2 -mfma on
// x86-64). 12 independent accumulator chains cover FMA latency (4 cycles) ×
// throughput (2 per cycle) on Zen 3 with room to spare, so the loop runs at
// the issue rate of the FMA units.
#include "fma_peak.h"

#include <ctime>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace kvg_bench {

static double seconds_of(clockid_t clock)
{
    timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
double thread_cpu_seconds() { return seconds_of(CLOCK_THREAD_CPUTIME_ID); }
double process_cpu_seconds() { return seconds_of(CLOCK_PROCESS_CPUTIME_ID); }
double wall_seconds() { return seconds_of(CLOCK_MONOTONIC); }

double fma_chains(int64_t iters)
{
#if defined(__AVX2__) && defined(__FMA__)
    // x = x * m + a stays near 1 (m slightly below 1), so no overflow or denormals.
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
    __m256 c[12];
    for (int j = 0; j < 12; j++)
        c[j] = _mm256_set1_ps(1.0f + (float)j);
    for (int64_t i = 0; i < iters; i++)
        for (int j = 0; j < 12; j++)
            c[j] = _mm256_fmadd_ps(c[j], m, a);
    __m256 s = c[0];
    for (int j = 1; j < 12; j++)
        s = _mm256_add_ps(s, c[j]);
    volatile float sink = _mm256_cvtss_f32(s);
    (void)sink;
    return (double)iters * 12 * 8 * 2;
#elif defined(__ARM_NEON)
    const float32x4_t m = vdupq_n_f32(0.999999f), a = vdupq_n_f32(1e-6f);
    float32x4_t c[12];
    for (int j = 0; j < 12; j++)
        c[j] = vdupq_n_f32(1.0f + (float)j);
    for (int64_t i = 0; i < iters; i++)
        for (int j = 0; j < 12; j++)
            c[j] = vfmaq_f32(a, c[j], m);
    float32x4_t s = c[0];
    for (int j = 1; j < 12; j++)
        s = vaddq_f32(s, c[j]);
    volatile float sink = vgetq_lane_f32(s, 0);
    (void)sink;
    return (double)iters * 12 * 4 * 2;
#else
    (void)iters;
    return 0;
#endif
}

#if defined(__x86_64__) && defined(__AVX2__)
__attribute__((target("avx512f"))) static double fma_chains_zmm(int64_t iters)
{
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
    __m512 c[12];
    for (int j = 0; j < 12; j++)
        c[j] = _mm512_set1_ps(1.0f + (float)j);
    for (int64_t i = 0; i < iters; i++)
        for (int j = 0; j < 12; j++)
            c[j] = _mm512_fmadd_ps(c[j], m, a);
    __m512 s = c[0];
    for (int j = 1; j < 12; j++)
        s = _mm512_add_ps(s, c[j]);
    float lanes[16];
    _mm512_storeu_ps(lanes, s);
    volatile float sink = lanes[0];
    (void)sink;
    return (double)iters * 12 * 16 * 2;
}

double fma_chains_512(int64_t iters)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") ? fma_chains_zmm(iters) : 0;
}
#else
double fma_chains_512(int64_t iters)
{
    (void)iters;
    return 0;
}
#endif

// Best of 5 runs of `chains`, in GFLOP/s of the calling thread's CPU time.
static double best_rate(double (*chains)(int64_t))
{
    double peak = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = thread_cpu_seconds();
        double flops = chains(4000000);
        double t = thread_cpu_seconds() - t0;
        if (t > 0 && flops / t / 1e9 > peak)
            peak = flops / t / 1e9;
    }
    return peak;
}

double fma_peak_gflops_1thread()
{
    static double peak = -1;
    if (peak < 0)
        peak = best_rate(fma_chains);
    return peak;
}

double fma_peak512_gflops_1thread()
{
    static double peak = -1;
    if (peak < 0)
        peak = best_rate(fma_chains_512);
    return peak;
}

} // namespace kvg_bench
