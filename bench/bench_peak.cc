// bench_peak.cc — the CPU's fp32 FMA peak (fma_peak.h), on 1 and N threads.
//
// Counters: GFLOPS_core = flops / CPU seconds of the threads doing them (per
// core, robust to other load on a shared machine); GFLOPS_wall = flops /
// wall seconds (the machine's total; meaningful only on a quiet machine).
#include <benchmark/benchmark.h>

#include <thread>
#include <vector>

#include "fma_peak.h"

namespace {

// chains: kvg_bench::fma_chains (256-bit) or fma_chains_512.
void fma_peak(benchmark::State &state, double (*chains)(int64_t))
{
    const int threads = (int)state.range(0);
    const int64_t iters = 2000000;
    double flops = 0, cpu = 0, wall = 0;
    for (auto _ : state) {
        double c0 = kvg_bench::process_cpu_seconds(), w0 = kvg_bench::wall_seconds();
        std::vector<std::thread> pool;
        for (int t = 1; t < threads; t++)
            pool.emplace_back([&] { chains(iters); });
        flops += chains(iters) * threads;
        for (auto &t : pool)
            t.join();
        cpu += kvg_bench::process_cpu_seconds() - c0;
        wall += kvg_bench::wall_seconds() - w0;
    }
    if (flops == 0) {
        state.SkipWithError("no vector FMA of this width in this build or CPU");
        return;
    }
    state.counters["GFLOPS_core"] = flops / cpu / 1e9;
    state.counters["GFLOPS_wall"] = flops / wall / 1e9;
}
void BM_FmaPeak(benchmark::State &state) { fma_peak(state, kvg_bench::fma_chains); }
void BM_FmaPeak512(benchmark::State &state) { fma_peak(state, kvg_bench::fma_chains_512); }

BENCHMARK(BM_FmaPeak512)->Arg(1)->Arg(2)->Arg((int)std::thread::hardware_concurrency())->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FmaPeak)->Arg(1)->Arg(2)->Arg((int)std::thread::hardware_concurrency())->UseRealTime()
    ->Unit(benchmark::kMillisecond);

} // namespace
