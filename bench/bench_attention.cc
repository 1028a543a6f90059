// bench_attention.cc — causal attention and the vocabulary-wide log-sum-exp,
// the two non-GEMM costs of scoring that grow with the sequence and the vocabulary.
//
//   BM_Attention/<model>/<path>: one 512-token sequence, every position a
//     query (a scoring batch), at the head shapes of GPT-2-124M (12 heads,
//     head_dim 64), SmolLM-135M (9 heads over 3 kv heads, 64) and
//     TinyLlama-1.1B (32 over 4, 64), for one layer. FLOPs counted: 4 head_dim
//     per (query, head, visible position) — q·k and the weighted sum of v
//     (the useful work: not the softmax, nor what the causal mask skips).
//     Paths: 0 scalar, 1 AVX2 on 256-bit registers (KVG_MATMUL_AVX512=0),
//     2 NEON, 3 AVX2 on 512-bit registers (AVX-512F CPUs; the same bits as 1);
//     skipped when not available here.
//     Counters: GFLOPS_core (flops / process CPU seconds), peak_frac (that /
//     the single-thread FMA peak of the registers used: 256-bit for path 1,
//     512-bit for path 3, measured in this process, fma_peak.h), GFLOPS_best
//     and best_frac (the fastest single iteration: a shared machine's other
//     load evicts caches between time slices, which the mean pays).
//   BM_AttentionGen/<model>/<window>/<tokens>/<path>: generation (the decode
//     step): `tokens` new queries (1 for plain decoding, 2-8 to find where the
//     few-unit path stops paying) at the end of a `window`-position KV cache,
//     all heads of one layer; the same models, paths and counters. few: the
//     largest run of units (queries sharing a kv head) that takes the
//     few-unit path (0: every run packs its key blocks; the same bits). The
//     time per call is the figure to read (a call is microseconds).
//   BM_LogSumExp/<V>/<path>: log-sum-exp of 512 rows of V logits (GPT-2's
//     50257, SmolLM's 49152), what scoring does at every position.
//     Paths: 0 scalar, 1 AVX2, 2 NEON.
// Times are process CPU time (the machine is shared): run with OMP_NUM_THREADS=1
// for per-core figures; see bench/README.md.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "fma_peak.h"

extern "C" {
#include "kernels/kernel_path.h"
#include "kernels/kernels.h"
#include "kernels/ops_simd.h"
}

namespace {

struct AttnModel {
    const char *name;
    uint32_t n_heads, n_kv, head_dim;
};
const AttnModel kModels[] = {{"gpt2-124m", 12, 12, 64}, {"smollm-135m", 9, 3, 64}, {"tinyllama-1.1b", 32, 4, 64}};
constexpr uint32_t kSeq = 512;

std::vector<float> random_floats(size_t n, uint32_t seed)
{
    std::mt19937 gen(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> x(n);
    for (auto &v : x)
        v = d(gen);
    return x;
}

bool use_path(benchmark::State &state, int64_t p)
{
    auto path = static_cast<kvg_kernel_path>(p);
    if (kvg_kernel_path_set(path) != 0) {
        state.SkipWithError("kernel path not available on this machine");
        return false;
    }
    state.SetLabel(kvg_kernel_path_name(path));
    return true;
}

// Sets attention path p (1 and 3: AVX2 on 256- / 512-bit registers); *ok
// false (the benchmark skipped) if not available. Returns true for 3: the
// 512-bit switch is on (kvg_matmul_set_avx512(0) after the run).
bool set_attn_path(benchmark::State &state, int64_t path, bool *ok)
{
    const bool wide = path == 3;
    *ok = use_path(state, wide ? int64_t(KVG_PATH_AVX2) : path);
    if (!*ok)
        return false;
    if (path == 1 || wide) {
        if (kvg_matmul_set_avx512(wide) != 0) {
            state.SkipWithError("no AVX-512F on this machine");
            *ok = false;
            return false;
        }
        state.SetLabel(wide ? "avx2+avx512" : "avx2 (256-bit)");
    }
    return wide;
}

// One layer of model m: n_new queries at the last positions of a cache of
// `window` positions (n_new = window: a whole sequence scored), run on
// `path` for the benchmark's iterations, process CPU time per call. Sets
// the counters for the useful FLOPs (see the top); returns the fastest
// call in CPU seconds (0 when the path is not available: skipped).
double time_attention(benchmark::State &state, const AttnModel &m, uint32_t window, uint32_t n_new, int64_t path)
{
    bool ok;
    const bool wide = set_attn_path(state, path, &ok);
    if (!ok)
        return 0;
    const size_t hd = m.head_dim, qw = m.n_heads * hd, kvw = m.n_kv * hd;
    std::vector<float> q = random_floats(n_new * qw, 1), k = random_floats(window * kvw, 2),
                       v = random_floats(window * kvw, 3), out(n_new * qw);
    std::vector<uint32_t> row0(n_new, 0), pos(n_new);
    double visible = 0;
    for (uint32_t t = 0; t < n_new; t++) {
        pos[t] = window - n_new + t;
        visible += pos[t] + 1.0;
    }
    const kvg_attn_shape s = {m.n_heads, m.n_kv, m.head_dim, window};
    double best = 1e30, cpu = 0;
    for (auto _ : state) {
        double c0 = kvg_bench::process_cpu_seconds();
        kvg_attention(out.data(), q.data(), k.data(), v.data(), row0.data(), pos.data(), n_new, &s);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
        double c = kvg_bench::process_cpu_seconds() - c0;
        cpu += c;
        best = c < best ? c : best;
    }
    if (path == 1 || wide)
        kvg_matmul_set_avx512(0);
    const double flops = 4.0 * m.n_heads * hd * visible;
    const double peak = wide ? kvg_bench::fma_peak512_gflops_1thread() : kvg_bench::fma_peak_gflops_1thread();
    const double gflops = flops * 1e-9 * (double)state.iterations() / cpu, gflops_best = flops * 1e-9 / best;
    state.counters["GFLOPS_core"] = gflops;
    state.counters["GFLOPS_best"] = gflops_best;
    if (path != 0 && peak > 0) {
        state.counters["peak_frac"] = gflops / peak;
        state.counters["best_frac"] = gflops_best / peak;
    }
    return best;
}

void BM_Attention(benchmark::State &state)
{
    if (time_attention(state, kModels[state.range(0)], kSeq, kSeq, state.range(1)) > 0)
        state.counters["tokens/s"] =
            benchmark::Counter((double)kSeq * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_AttentionGen(benchmark::State &state)
{
    const size_t few_old = kvg_attend_set_few_max(static_cast<size_t>(state.range(4)));
    const double best = time_attention(state, kModels[state.range(0)], static_cast<uint32_t>(state.range(1)),
                                       static_cast<uint32_t>(state.range(2)), state.range(3));
    kvg_attend_set_few_max(few_old);
    if (best > 0)
        state.counters["us_best"] = best * 1e6;
}

void BM_LogSumExp(benchmark::State &state)
{
    const size_t V = static_cast<size_t>(state.range(0)), rows = kSeq;
    if (!use_path(state, state.range(1)))
        return;
    std::vector<float> x = random_floats(rows * V, 4);
    for (auto _ : state) {
        double total = 0;
        for (size_t r = 0; r < rows; r++)
            total += kvg_logsumexp(x.data() + r * V, V);
        benchmark::DoNotOptimize(total);
    }
    state.counters["elements/s"] =
        benchmark::Counter((double)rows * V * state.iterations(), benchmark::Counter::kIsRate);
    state.counters["rows/s"] = benchmark::Counter((double)rows * state.iterations(), benchmark::Counter::kIsRate);
}

void attention_args(benchmark::internal::Benchmark *b)
{
    b->ArgNames({"model", "path"});
    for (int64_t m = 0; m < 3; m++)
        for (int64_t p = 0; p < 4; p++)
            b->Args({m, p});
}

// Every model at 128, 512 and 1024 positions for one new token; GPT-2 and
// TinyLlama (1 and 8 query heads per kv head) at 512 positions for 2-8
// tokens (tiles of 2-8 and 16-64 units).
void attention_gen_args(benchmark::internal::Benchmark *b)
{
    b->ArgNames({"model", "window", "tokens", "path", "few"});
    for (int64_t m = 0; m < 3; m++)
        for (int64_t w : {128, 512, 1024})
            for (int64_t p = 0; p < 4; p++)
                for (int64_t few : {0, KVG_ATTN_FEW})
                    if (p != 0 || few) // the scalar path has no few-unit path
                        b->Args({m, w, 1, p, few});
    for (int64_t m : {0, 2})
        for (int64_t t : {2, 3, 4, 6, 8})
            for (int64_t p : {1, 3})
                for (int64_t few : {0, KVG_ATTN_FEW})
                    b->Args({m, 512, t, p, few});
}

void lse_args(benchmark::internal::Benchmark *b)
{
    b->ArgNames({"V", "path"});
    for (int64_t v : {50257, 49152})
        for (int64_t p = 0; p < 3; p++)
            b->Args({v, p});
}

} // namespace

BENCHMARK(BM_Attention)->Apply(attention_args)->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AttentionGen)->Apply(attention_gen_args)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LogSumExp)->Apply(lse_args)->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);
