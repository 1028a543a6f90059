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

double fma_peak_gflops_1thread()
{
    static double peak = -1;
    if (peak < 0) {
        peak = 0;
        for (int rep = 0; rep < 5; rep++) {
            double t0 = thread_cpu_seconds();
            double flops = fma_chains(4000000);
            double t = thread_cpu_seconds() - t0;
            if (t > 0 && flops / t / 1e9 > peak)
                peak = flops / t / 1e9;
        }
    }
    return peak;
}

} // namespace kvg_bench
