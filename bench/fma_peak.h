// fma_peak.h — this CPU's fp32 FMA throughput, measured: the ceiling the GEMM
// benchmarks are compared with.
#pragma once

#include <cstdint>

namespace kvg_bench {

// Runs `iters` rounds of 12 independent chains of 8-lane (AVX2) or 4-lane
// (NEON) fused multiply-adds on the calling thread. Returns the flops done
// (2 per lane per FMA); 0 when the build has no vector FMA.
double fma_chains(int64_t iters);

// As fma_chains with 16-lane AVX-512F FMAs (x86-64 CPUs that have them: the
// AVX2 path's GEMM then uses them); 0 where there are none.
double fma_chains_512(int64_t iters);

// The single-thread peak in GFLOP/s: the best of a few ~0.1 s runs, each
// timed in CPU time of the calling thread (so a shared machine's other load
// does not count). Measured once per process and cached.
double fma_peak_gflops_1thread();
// The same with 512-bit FMAs (0 where there are none).
double fma_peak512_gflops_1thread();

// Seconds of CPU time used by this thread / this process so far.
double thread_cpu_seconds();
double process_cpu_seconds();
double wall_seconds();

} // namespace kvg_bench
