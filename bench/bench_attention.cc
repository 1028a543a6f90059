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
//     step): one new query token at the end of a `window`-position KV cache,
//     all heads of one layer; the same models, paths and counters, plus
//     us_best (the fastest call; a call is microseconds).
//   BM_AttentionFewAB/<model>/<window>/<tokens>/<path>: the few-unit path
//     (runs of 1-4 queries sharing a kv head skip packing the key blocks;
//     the same bits) against packing, both in every iteration: us_few and
//     us_packed (fastest calls), packed_over_few (ratio of the CPU-time
//     sums) and best_ratio (of the fastest calls). > 1: the few-unit path
//     is faster.
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
// `window` positions (n_new = window: a whole sequence scored).
struct AttnCase {
    std::vector<float> q, k, v, out;
    std::vector<uint32_t> row0, pos;
    kvg_attn_shape s;
    double flops; // useful FLOPs per call (see the top)

    AttnCase(const AttnModel &m, uint32_t window, uint32_t n_new)
        : q(random_floats(size_t(n_new) * m.n_heads * m.head_dim, 1)),
          k(random_floats(size_t(window) * m.n_kv * m.head_dim, 2)),
          v(random_floats(size_t(window) * m.n_kv * m.head_dim, 3)), out(q.size()), row0(n_new, 0), pos(n_new),
          s{m.n_heads, m.n_kv, m.head_dim, window}, flops(0)
    {
        for (uint32_t t = 0; t < n_new; t++) {
            pos[t] = window - n_new + t;
            flops += 4.0 * m.n_heads * m.head_dim * (pos[t] + 1.0);
        }
    }
    // One call, in process CPU seconds.
    double run()
    {
        double c0 = kvg_bench::process_cpu_seconds();
        kvg_attention(out.data(), q.data(), k.data(), v.data(), row0.data(), pos.data(), pos.size(), &s);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
        return kvg_bench::process_cpu_seconds() - c0;
    }
};

// Runs the case on `path` for the benchmark's iterations and sets the
// counters; returns the fastest call in CPU seconds (0 when the path is not
// available: skipped).
double time_attention(benchmark::State &state, const AttnModel &m, uint32_t window, uint32_t n_new, int64_t path)
{
    bool ok;
    const bool wide = set_attn_path(state, path, &ok);
    if (!ok)
        return 0;
    AttnCase c(m, window, n_new);
    double best = 1e30, cpu = 0;
    for (auto _ : state) {
        const double t = c.run();
        cpu += t;
        best = t < best ? t : best;
    }
    if (path == 1 || wide)
        kvg_matmul_set_avx512(0);
    const double peak = wide ? kvg_bench::fma_peak512_gflops_1thread() : kvg_bench::fma_peak_gflops_1thread();
    const double gflops = c.flops * 1e-9 * (double)state.iterations() / cpu, gflops_best = c.flops * 1e-9 / best;
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
    const double best = time_attention(state, kModels[state.range(0)], static_cast<uint32_t>(state.range(1)),
                                       static_cast<uint32_t>(state.range(2)), state.range(3));
    if (best > 0)
        state.counters["us_best"] = best * 1e6;
}

// The few-unit path against packing, A/B in one run: every iteration makes
// the call both ways (the order alternating), so the machine's drifting
// load falls on both alike.
void BM_AttentionFewAB(benchmark::State &state)
{
    bool ok;
    const int64_t path = state.range(3);
    const bool wide = set_attn_path(state, path, &ok);
    if (!ok)
        return;
    AttnCase c(kModels[state.range(0)], static_cast<uint32_t>(state.range(1)),
               static_cast<uint32_t>(state.range(2)));
    double sum[2] = {0, 0}, best[2] = {1e30, 1e30}; // [0] packed, [1] few-unit
    int64_t i = 0;
    for (auto _ : state) {
        for (int k = 0; k < 2; k++) {
            const int few = (k + i) % 2;
            kvg_attend_set_few_max(few ? KVG_ATTN_FEW : 0);
            const double t = c.run();
            sum[few] += t;
            best[few] = t < best[few] ? t : best[few];
        }
        i++;
    }
    kvg_attend_set_few_max(KVG_ATTN_FEW);
    if (path == 1 || wide)
        kvg_matmul_set_avx512(0);
    state.counters["us_packed"] = best[0] * 1e6;
    state.counters["us_few"] = best[1] * 1e6;
    state.counters["packed_over_few"] = sum[0] / sum[1];
    state.counters["best_ratio"] = best[0] / best[1];
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

// Every model at 128, 512 and 1024 positions for one new token.
void attention_gen_args(benchmark::internal::Benchmark *b)
{
    b->ArgNames({"model", "window", "tokens", "path"});
    for (int64_t m = 0; m < 3; m++)
        for (int64_t w : {128, 512, 1024})
            for (int64_t p = 0; p < 4; p++)
                b->Args({m, w, 1, p});
}

// Where the few-unit path pays: GPT-2 (1 query head per kv head: runs of
// `tokens` units) at 128-1024 positions for 1-4 tokens, SmolLM (3 per kv
// head: runs of 3) for 1 token.
void attention_few_args(benchmark::internal::Benchmark *b)
{
    b->ArgNames({"model", "window", "tokens", "path"});
    for (int64_t p : {1, 2, 3}) {
        for (int64_t w : {128, 512, 1024})
            for (int64_t t = 1; t <= 4; t++)
                b->Args({0, w, t, p});
        for (int64_t w : {128, 512, 1024})
            b->Args({1, w, 1, p});
    }
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
BENCHMARK(BM_AttentionFewAB)->Apply(attention_few_args)->MeasureProcessCPUTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LogSumExp)->Apply(lse_args)->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond);
