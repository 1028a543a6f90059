// bench_gemm.cc — kvg_matmul (y[T, n_out] = x[T, n_in] · W^T) per weight
// dtype at the matrix shapes of GPT-2-124M, SmolLM-135M and TinyLlama-1.1B,
// for a 512-token batch (scoring) and a single token (generation).
//
// Threads: the kernel's own OpenMP team (set OMP_NUM_THREADS). Path: the best
// available (set KVG_KERNELS=scalar|avx2|neon to compare).
// Counters:
//   GFLOPS_core  2·T·n_in·n_out / CPU seconds of the whole process: the rate
//                per busy core, robust to other load on a shared machine
//   GFLOPS_wall  the same flops / wall seconds (quiet machines only)
//   peak_frac    GFLOPS_core / the single-thread 256-bit (AVX2; NEON: 128-bit)
//                FMA peak measured in this process (fma_peak.h)
//   peak512_frac GFLOPS_core / the single-thread AVX-512 FMA peak, when the
//                GEMM runs on 512-bit registers (label avx512, or avx512-vnni
//                for the integer kernel; kvg_matmul_impl_name_for)
//   GFLOPS_best, best_frac, best512_frac  the same from the fastest single
//                iteration's CPU time (the peak is a best-of-5 too): on a
//                loaded machine other jobs evict our caches between time
//                slices, which the mean pays and the best mostly escapes
// q8_0 / q4_0 rows run integer dot products (activations quantized to 8
// bits per 32-block, engine/kernels/matmul_qdot.h): their GFLOPS count the
// same 2·T·n_in·n_out, and their *_frac are against the f32 FMA peak, so
// they can exceed 1 (the label says "int8 dot"; with the 512-bit switch on
// they run AVX512_VNNI where the CPU has it, for any T).
// Filter with --benchmark_filter, e.g. 'GEMM/gpt2.*/f32/T512'.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fma_peak.h"

extern "C" {
#include "kernel_path.h"
#include "kernels.h"
#include "kvg_dtype.h"
}

namespace {

struct Shape {
    const char *name;
    size_t n_in, n_out;
};

// Every distinct weight matrix of the three models (q/k/v/o, MLP, output).
const Shape shapes[] = {
    {"gpt2.qkvo", 768, 768},      {"gpt2.ffn_up", 768, 3072},     {"gpt2.ffn_down", 3072, 768},
    {"gpt2.output", 768, 50257},  {"smollm.qo", 576, 576},        {"smollm.kv", 576, 192},
    {"smollm.ffn_up", 576, 1536}, {"smollm.ffn_down", 1536, 576}, {"smollm.output", 576, 49152},
    {"tinyllama.qo", 2048, 2048}, {"tinyllama.kv", 2048, 256},    {"tinyllama.ffn_up", 2048, 5632},
    {"tinyllama.ffn_down", 5632, 2048}, {"tinyllama.output", 2048, 32000},
};
const kvg_dtype dtypes[] = {KVG_DTYPE_F32, KVG_DTYPE_F16, KVG_DTYPE_BF16, KVG_DTYPE_Q8_0, KVG_DTYPE_Q4_0};

float pseudo_random(uint64_t &s)
{
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(s >> 40) / (double)(1ull << 24) - 0.5) * 0.04f; // ~ weights of std 0.012
}

void BM_Gemm(benchmark::State &state, Shape shape, kvg_dtype wtype, size_t n_tok)
{
    const kvg_dtype_traits *t = kvg_dtype_get(wtype);
    uint64_t seed = 1;
    std::vector<float> wf(shape.n_in * shape.n_out), x(n_tok * shape.n_in), y(n_tok * shape.n_out);
    for (float &v : wf)
        v = pseudo_random(seed);
    for (float &v : x)
        v = pseudo_random(seed) * 50;
    std::vector<unsigned char> w(wf.size() / t->block_elems * t->block_bytes);
    t->from_f32(wf.data(), w.data(), wf.size());
    wf = std::vector<float>();
    double flops = 0, cpu = 0, wall = 0, best = 1e30;
    for (auto _ : state) {
        double c0 = kvg_bench::process_cpu_seconds(), w0 = kvg_bench::wall_seconds();
        if (kvg_matmul(y.data(), x.data(), w.data(), wtype, nullptr, n_tok, shape.n_in, shape.n_out) != 0) {
            state.SkipWithError("kvg_matmul failed");
            return;
        }
        benchmark::ClobberMemory();
        double c = kvg_bench::process_cpu_seconds() - c0;
        cpu += c;
        best = c < best ? c : best;
        wall += kvg_bench::wall_seconds() - w0;
        flops += 2.0 * (double)n_tok * (double)shape.n_in * (double)shape.n_out;
    }
    double peak = kvg_bench::fma_peak_gflops_1thread(), best_gflops = flops / (double)state.iterations() / best / 1e9;
    state.counters["GFLOPS_core"] = flops / cpu / 1e9;
    state.counters["GFLOPS_best"] = best_gflops;
    state.counters["GFLOPS_wall"] = flops / wall / 1e9;
    state.counters["peak_frac"] = peak > 0 ? flops / cpu / 1e9 / peak : 0;
    state.counters["best_frac"] = peak > 0 ? best_gflops / peak : 0;
    const bool int8_dot = wtype == KVG_DTYPE_Q8_0 || wtype == KVG_DTYPE_Q4_0;
    const char *suffix = int8_dot ? " int8 dot (frac vs f32 FMA peak, may exceed 1)" : "";
    if (kvg_matmul_avx512_active() && kvg_kernel_path_get() == KVG_PATH_AVX2 && (n_tok > 3 || int8_dot)) {
        double peak512 = kvg_bench::fma_peak512_gflops_1thread();
        state.counters["peak512_frac"] = peak512 > 0 ? flops / cpu / 1e9 / peak512 : 0;
        state.counters["best512_frac"] = peak512 > 0 ? best_gflops / peak512 : 0;
        state.SetLabel(std::string(kvg_matmul_impl_name_for(wtype)) + suffix); // avx512 / avx512-vnni / avx2
    } else {
        state.SetLabel(std::string(kvg_kernel_path_name(kvg_kernel_path_get())) + suffix);
    }
}

int register_all()
{
    for (size_t n_tok : {size_t(512), size_t(1)})
        for (const Shape &s : shapes)
            for (kvg_dtype d : dtypes) {
                std::string name = std::string("GEMM/") + s.name + "/" + kvg_dtype_get(d)->name + "/T" +
                                   std::to_string(n_tok);
                benchmark::RegisterBenchmark(name.c_str(), BM_Gemm, s, d, n_tok)
                    ->UseRealTime()
                    ->Unit(benchmark::kMillisecond);
            }
    return 0;
}
const int registered = register_all();

} // namespace
