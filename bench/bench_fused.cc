// bench_fused.cc — what kvg_matmul_ex saves around the GEMMs of a forward
// pass, each as a pair of benchmarks doing the same work two ways, at the
// shapes of GPT-2-124M and SmolLM-135M for a 512-token batch:
//   FUSE/<model>.mlp/<dtype>: the MLP's first half, a = the activation as a
//       separate pass (gpt2: up + b, then GELU-tanh over [T, ffn]; smollm:
//       gate, up, then SwiGLU over [T, ffn]), b = the activation as the up
//       product's epilogue (smollm: silu(gate) * up)
//   QACT/<model>.<inputs>/<dtype>: products that read one input with q8_0 /
//       q4_0 weights, a = each quantizing it (kvg_matmul), b =
//       kvg_qact_quantize once, then kvg_matmul_ex: qkv = q, k and v; out4 =
//       four 2048-row slices of the output layer (the scorer computes ~25
//       such slices per batch)
// Every iteration runs a and b (alternating which goes first) and times each
// in process CPU seconds: the counters b/a_best (fastest b over fastest a)
// and b/a_median compare them within one run, under the same load.
//   OMP_NUM_THREADS=1 build/bench/kvg_bench --benchmark_filter='FUSE|QACT' --benchmark_min_time=3
// (KVG_MATMUL_AVX512=0 for the 256-bit GEMM and pure-AVX2 integer dots).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fma_peak.h"

extern "C" {
#include "kernels.h"
#include "kvg_dtype.h"
}

namespace {

const size_t T = 512;

float pseudo_random(uint64_t &s)
{
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(s >> 40) / (double)(1ull << 24) - 0.5);
}

std::vector<float> random_floats(size_t n, float scale, uint64_t seed)
{
    std::vector<float> v(n);
    for (float &f : v)
        f = pseudo_random(seed) * scale;
    return v;
}

std::vector<unsigned char> random_weight(kvg_dtype wtype, size_t n_in, size_t n_out, uint64_t seed)
{
    const kvg_dtype_traits *t = kvg_dtype_get(wtype);
    std::vector<float> wf = random_floats(n_in * n_out, 0.05f, seed);
    std::vector<unsigned char> w(wf.size() / t->block_elems * t->block_bytes);
    t->from_f32(wf.data(), w.data(), wf.size());
    return w;
}

// Each iteration runs both ways (a = the old way, b = the new one), in
// alternating order, timing each in process CPU seconds; the counters
// compare them within this one run, so both see the same machine load.
template <class F> void ab(benchmark::State &state, F body)
{
    std::vector<double> ta, tb;
    size_t it = 0;
    for (auto _ : state) {
        for (int k = 0; k < 2; k++) {
            bool b = (k ^ (int)(it & 1)) != 0;
            double c0 = kvg_bench::process_cpu_seconds();
            if (body(b) != 0) {
                state.SkipWithError("kvg_matmul failed");
                return;
            }
            benchmark::ClobberMemory();
            (b ? tb : ta).push_back(kvg_bench::process_cpu_seconds() - c0);
        }
        it++;
    }
    std::sort(ta.begin(), ta.end());
    std::sort(tb.begin(), tb.end());
    state.counters["a_best_ms"] = ta[0] * 1e3;
    state.counters["b_best_ms"] = tb[0] * 1e3;
    state.counters["b/a_best"] = tb[0] / ta[0];
    state.counters["b/a_median"] = tb[tb.size() / 2] / ta[ta.size() / 2];
}

struct Mlp {
    const char *name;
    size_t d, ffn;
    bool gated; // llama-style gate/up + SwiGLU, else up + bias + GELU-tanh
};
const Mlp mlps[] = {{"gpt2", 768, 3072, false}, {"smollm", 576, 1536, true}};

void BM_Mlp(benchmark::State &state, Mlp m, kvg_dtype wtype)
{
    std::vector<unsigned char> up = random_weight(wtype, m.d, m.ffn, 1), gate = random_weight(wtype, m.d, m.ffn, 2);
    std::vector<float> x = random_floats(T * m.d, 2.0f, 3), b = random_floats(m.ffn, 0.5f, 4);
    std::vector<float> hb(T * m.ffn), hb2(T * m.ffn);
    const float *bias = m.gated ? nullptr : b.data();
    ab(state, [&](bool fused) {
        int rc = 0;
        if (m.gated)
            rc |= kvg_matmul(hb.data(), x.data(), gate.data(), wtype, nullptr, T, m.d, m.ffn);
        if (fused) {
            kvg_epilogue epi = {m.gated ? KVG_EPI_SWIGLU : KVG_EPI_GELU_TANH, m.gated ? hb.data() : nullptr};
            rc |= kvg_matmul_ex(hb2.data(), x.data(), nullptr, up.data(), wtype, bias, T, m.d, m.ffn, &epi);
        } else {
            rc |= kvg_matmul(hb2.data(), x.data(), up.data(), wtype, bias, T, m.d, m.ffn);
            if (m.gated)
                kvg_swiglu(hb.data(), hb2.data(), T * m.ffn);
            else
                kvg_gelu_tanh(hb2.data(), T * m.ffn);
        }
        return rc;
    });
}

struct Reuse {
    const char *name;
    size_t n_in;
    std::vector<size_t> n_out; // the products reading the same input
};

void BM_Qact(benchmark::State &state, Reuse r, kvg_dtype wtype)
{
    std::vector<std::vector<unsigned char>> w;
    size_t widest = 0;
    for (size_t i = 0; i < r.n_out.size(); i++) {
        w.push_back(random_weight(wtype, r.n_in, r.n_out[i], 10 + i));
        widest = r.n_out[i] > widest ? r.n_out[i] : widest;
    }
    std::vector<float> x = random_floats(T * r.n_in, 2.0f, 5), y(T * widest);
    std::vector<unsigned char> scratch(kvg_qact_bytes(T, r.n_in) + 4);
    ab(state, [&](bool once) {
        int rc = 0;
        kvg_qact qa;
        if (once)
            kvg_qact_quantize(&qa, scratch.data(), x.data(), T, r.n_in);
        for (size_t i = 0; i < r.n_out.size(); i++)
            rc |= kvg_matmul_ex(y.data(), x.data(), once ? &qa : nullptr, w[i].data(), wtype, nullptr, T, r.n_in,
                                r.n_out[i], nullptr);
        return rc;
    });
}

int register_all()
{
    for (const Mlp &m : mlps)
        for (kvg_dtype d : {KVG_DTYPE_F32, KVG_DTYPE_Q4_0}) {
            std::string name = std::string("FUSE/") + m.name + ".mlp/" + kvg_dtype_get(d)->name;
            benchmark::RegisterBenchmark(name.c_str(), BM_Mlp, m, d)->Unit(benchmark::kMillisecond);
        }
    const Reuse reuses[] = {{"gpt2.qkv", 768, {768, 768, 768}},
                            {"smollm.qkv", 576, {576, 192, 192}},
                            {"smollm.out4", 576, {2048, 2048, 2048, 2048}}};
    for (const Reuse &r : reuses)
        for (kvg_dtype d : {KVG_DTYPE_Q8_0, KVG_DTYPE_Q4_0}) {
            std::string name = std::string("QACT/") + r.name + "/" + kvg_dtype_get(d)->name;
            benchmark::RegisterBenchmark(name.c_str(), BM_Qact, r, d)->Unit(benchmark::kMillisecond);
        }
    return 0;
}
const int registered = register_all();

} // namespace
