// bench_pack.cc — the GEMMs' weight packing alone, with W coming from DRAM,
// and the one-core read bandwidth that bounds it.
//
// A pass of a whole model reads each weight matrix once, from the page cache
// in DRAM (hundreds of MB, far more than L3). To time packing the same way,
// each benchmark packs a weight set of copies of one matrix laid end to end,
// >= 256 MiB, in 4 KiB pages like a file mapping (MADV_NOHUGEPAGE); each
// copy is packed exactly as kvg_matmul packs it for a batch (kgemm_run /
// the qdot driver with no tokens: every panel packed on this thread, nothing
// multiplied), so the prefetching, loop order and buffer handling are the
// real ones. One thread; the time is the thread's CPU time.
//
//   PackW/<model.matrix>/<dtype>   f32 / f16 / bf16: pack_w of the AVX2 path
//                                  (its 256- or 512-bit panel width, as
//                                  kvg_matmul_avx512_active says)
//   QPack/<model.matrix>/<dtype>   q8_0 / q4_0: pack_panel of the integer-dot
//                                  kernel (AVX2 vpmaddubsw, or AVX512_VNNI)
//   GemmDRAM/<model.matrix>/<dtype>/T512  the whole kvg_matmul of 512 tokens
//                                  over the set (its threads: OMP_NUM_THREADS;
//                                  CPU time of the process): packing in place
//   ReadBW/<pattern>               the bound: 256-bit loads summed over a
//                                  512 MiB buffer, seq = one stream, rows8 = 8
//                                  streams a matrix row apart read 8 rows
//                                  at a time, like the packers
// Counters: GBps (bytes of W read per CPU second, mean), GBps_best (the
// fastest iteration), ns_per_elem (CPU ns per weight element, mean; ReadBW:
// per 4 bytes), ns_per_elem_best.
//   OMP_NUM_THREADS=1 build/bench/kvg_bench --benchmark_filter='ReadBW|PackW|QPack'
// KVG_BENCH_PACK_SET_KB=1 packs one matrix over and over (from the caches,
// for the packers' arithmetic alone).
// x86-64 only (the AVX2 packers); elsewhere nothing is registered.
#include <benchmark/benchmark.h>

#if defined(__x86_64__)
#include <immintrin.h>
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fma_peak.h"

extern "C" {
#include "kernel_path.h"
#include "kernels.h"
#include "kvg_dtype.h"
#include "matmul_blocked.h"
#include "matmul_qdot.h"
}

namespace {

// A weight set: at least this, far more than L3; KVG_BENCH_PACK_SET_KB=N
// sets it (a small one, e.g. 1: one matrix, times packing from the caches).
size_t set_bytes()
{
    const char *e = std::getenv("KVG_BENCH_PACK_SET_KB");
    return e && std::atol(e) > 0 ? (size_t)std::atol(e) << 10 : size_t(256) << 20;
}

struct Shape {
    const char *name;
    size_t n_in, n_out;
};
// The GPT-2-124M and SmolLM-135M matrices (the output layers' rows pack the same way as ffn_up's).
const Shape shapes[] = {
    {"gpt2.qkvo", 768, 768},      {"gpt2.ffn_up", 768, 3072},     {"gpt2.ffn_down", 3072, 768},
    {"smollm.qo", 576, 576},      {"smollm.kv", 576, 192},        {"smollm.ffn_up", 576, 1536},
    {"smollm.ffn_down", 1536, 576},
};

// 4 KiB pages, every one written (an untouched page would read as the zero page, not DRAM).
unsigned char *map_bytes(size_t bytes)
{
    void *p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return nullptr;
    madvise(p, bytes, MADV_NOHUGEPAGE);
    return static_cast<unsigned char *>(p);
}

// Copies of one random [n_out, n_in] matrix in wtype, end to end, >= kSetBytes.
struct WeightSet {
    unsigned char *data = nullptr;
    size_t mat_bytes = 0, n_mats = 0;
    WeightSet(const Shape &s, kvg_dtype wtype)
    {
        const kvg_dtype_traits *t = kvg_dtype_get(wtype);
        std::vector<float> wf(s.n_in * s.n_out);
        uint64_t seed = 7;
        for (float &v : wf) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            v = (float)((double)(seed >> 40) / (double)(1ull << 24) - 0.5) * 0.04f;
        }
        mat_bytes = wf.size() / t->block_elems * t->block_bytes;
        n_mats = (set_bytes() + mat_bytes - 1) / mat_bytes;
        data = map_bytes(n_mats * mat_bytes);
        if (!data)
            return;
        t->from_f32(wf.data(), data, wf.size());
        for (size_t i = 1; i < n_mats; i++)
            std::memcpy(data + i * mat_bytes, data, mat_bytes);
    }
    ~WeightSet()
    {
        if (data)
            munmap(data, n_mats * mat_bytes);
    }
};

void set_counters(benchmark::State &state, double bytes, double elems, double cpu, double best)
{
    const double n = (double)state.iterations();
    state.counters["GBps"] = bytes * n / cpu / 1e9;
    state.counters["GBps_best"] = bytes / best / 1e9;
    state.counters["ns_per_elem"] = cpu * 1e9 / (elems * n);
    state.counters["ns_per_elem_best"] = best * 1e9 / elems;
}

// pack(one matrix) over the whole set per iteration.
template <class Pack>
void pack_set(benchmark::State &state, const Shape &s, kvg_dtype wtype, Pack pack,
              double (*cpu_seconds)() = kvg_bench::thread_cpu_seconds)
{
    if (kvg_kernel_path_get() != KVG_PATH_AVX2) {
        state.SkipWithError("needs the AVX2 kernel path");
        return;
    }
    WeightSet set(s, wtype);
    if (!set.data) {
        state.SkipWithError("out of memory");
        return;
    }
    double cpu = 0, best = 1e30;
    for (auto _ : state) {
        double c0 = cpu_seconds();
        for (size_t i = 0; i < set.n_mats; i++)
            if (pack(set.data + i * set.mat_bytes) != 0) {
                state.SkipWithError("packing failed");
                return;
            }
        double c = cpu_seconds() - c0;
        cpu += c;
        best = c < best ? c : best;
    }
    set_counters(state, (double)(set.n_mats * set.mat_bytes), (double)(set.n_mats * s.n_in * s.n_out), cpu, best);
    state.SetLabel(kvg_matmul_avx512_active() ? "512-bit" : "256-bit");
}

void BM_PackW(benchmark::State &state, Shape s, kvg_dtype wtype)
{
    const kgemm_path *path = kvg_matmul_avx2_path();
    pack_set(state, s, wtype, [&](const unsigned char *w) {
        return kgemm_run(path, nullptr, nullptr, w, wtype, nullptr, 0, s.n_in, s.n_out, nullptr);
    });
}

void BM_QPack(benchmark::State &state, Shape s, kvg_dtype wtype)
{
    kvg_qact qa = {};
    qa.n_in = s.n_in;
    qa.n_blocks = s.n_in / 32;
    pack_set(state, s, wtype, [&](const unsigned char *w) {
        return kvg_matmul_qdot_avx2(nullptr, &qa, w, wtype, nullptr, 0, s.n_out, nullptr);
    });
}

// The whole product (kvg_matmul, T tokens, the kernel's own threads) over
// the set: packing from DRAM as a pass over a model does it, interleaved
// with the micro-kernels (the qdot driver prefetches the next block meanwhile).
// GBps here is W bytes per CPU second of the process (all threads).
void BM_GemmDRAM(benchmark::State &state, Shape s, kvg_dtype wtype, size_t n_tok)
{
    std::vector<float> x(n_tok * s.n_in, 0.01f), y(n_tok * s.n_out);
    pack_set(state, s, wtype, [&](const unsigned char *w) {
        return kvg_matmul(y.data(), x.data(), w, wtype, nullptr, n_tok, s.n_in, s.n_out);
    }, kvg_bench::process_cpu_seconds);
}

// Sum of the 64-bit lanes of p[0 .. bytes) (bytes a multiple of 128): 4
// independent chains of 256-bit loads, so the adds never limit the rate.
__attribute__((target("avx2"))) uint64_t read_seq(const unsigned char *p, size_t bytes)
{
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < bytes; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    __m256i a = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    return (uint64_t)_mm256_extract_epi64(a, 0) + (uint64_t)_mm256_extract_epi64(a, 3);
}

// The packers' order: 8 rows of row_bytes at a time, 32 bytes of each row
// per step (8 streams a row apart), the next 8 rows after.
__attribute__((target("avx2"))) uint64_t read_rows8(const unsigned char *p, size_t bytes, size_t row_bytes)
{
    __m256i acc[8];
    for (int i = 0; i < 8; i++)
        acc[i] = _mm256_setzero_si256();
    for (size_t g = 0; g + 8 * row_bytes <= bytes; g += 8 * row_bytes)
        for (size_t k = 0; k < row_bytes; k += 32)
            for (int i = 0; i < 8; i++)
                acc[i] = _mm256_add_epi64(acc[i], _mm256_loadu_si256((const __m256i *)(p + g + i * row_bytes + k)));
    for (int i = 1; i < 8; i++)
        acc[0] = _mm256_add_epi64(acc[0], acc[i]);
    return (uint64_t)_mm256_extract_epi64(acc[0], 0) + (uint64_t)_mm256_extract_epi64(acc[0], 3);
}

// rows8 uses GPT-2's f32 row (768 floats = 3 KiB).
void BM_ReadBW(benchmark::State &state, bool rows8)
{
    const size_t bytes = size_t(512) << 20, row_bytes = 768 * 4;
    unsigned char *p = map_bytes(bytes);
    if (!p) {
        state.SkipWithError("out of memory");
        return;
    }
    for (size_t i = 0; i < bytes; i += 4096)
        std::memset(p + i, (int)(i >> 12), 4096);
    double cpu = 0, best = 1e30;
    for (auto _ : state) {
        double c0 = kvg_bench::thread_cpu_seconds();
        uint64_t sum = rows8 ? read_rows8(p, bytes, row_bytes) : read_seq(p, bytes);
        benchmark::DoNotOptimize(sum);
        double c = kvg_bench::thread_cpu_seconds() - c0;
        cpu += c;
        best = c < best ? c : best;
    }
    set_counters(state, (double)bytes, (double)bytes / 4, cpu, best);
    munmap(p, bytes);
}

int register_all()
{
    benchmark::RegisterBenchmark("ReadBW/seq", BM_ReadBW, false)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("ReadBW/rows8", BM_ReadBW, true)->UseRealTime()->Unit(benchmark::kMillisecond);
    for (const Shape &s : shapes) {
        for (kvg_dtype d : {KVG_DTYPE_F32, KVG_DTYPE_F16, KVG_DTYPE_BF16})
            benchmark::RegisterBenchmark((std::string("PackW/") + s.name + "/" + kvg_dtype_get(d)->name).c_str(),
                                         BM_PackW, s, d)
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
        for (kvg_dtype d : {KVG_DTYPE_Q8_0, KVG_DTYPE_Q4_0})
            benchmark::RegisterBenchmark((std::string("QPack/") + s.name + "/" + kvg_dtype_get(d)->name).c_str(),
                                         BM_QPack, s, d)
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
    }
    for (const Shape &s : {shapes[1], shapes[5]})
        for (kvg_dtype d : {KVG_DTYPE_F32, KVG_DTYPE_F16, KVG_DTYPE_Q8_0, KVG_DTYPE_Q4_0})
            benchmark::RegisterBenchmark((std::string("GemmDRAM/") + s.name + "/" + kvg_dtype_get(d)->name + "/T512").c_str(),
                                         BM_GemmDRAM, s, d, size_t(512))
                ->UseRealTime()
                ->Unit(benchmark::kMillisecond);
    return 0;
}
const int registered = register_all();

} // namespace
#endif
