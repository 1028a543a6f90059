// bench_ngram.cc — n-gram model speed: raw lookups and whole-line scoring.
//
// Needs a converted model: set KVG_BENCH_NGRAM=path/to/model.kvg and
// KVG_BENCH_TEXT=path/to/text (one sentence per line); see bench/README.md.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "kvg_reader.h"
#include "line_score.h"
#include "ngram.h"
}

namespace {

struct Fixture {
    kvg_file *file = nullptr;
    kvg_ngram *model = nullptr;
    std::vector<std::string> lines;
    std::vector<uint32_t> ids; // the text as word ids, </s> after each line
    size_t words = 0;
    bool ok = false;

    Fixture()
    {
        const char *model_path = std::getenv("KVG_BENCH_NGRAM");
        const char *text_path = std::getenv("KVG_BENCH_TEXT");
        if (!model_path || !text_path)
            return;
        kvg_error err;
        if (kvg_open(model_path, &file, &err) || kvg_ngram_open(file, &model, &err)) {
            std::fprintf(stderr, "%s\n", err.msg);
            return;
        }
        FILE *in = std::fopen(text_path, "r");
        if (!in)
            return;
        char *line = nullptr;
        size_t cap = 0;
        ssize_t n;
        while ((n = getline(&line, &cap, in)) > 0) {
            lines.emplace_back(line, n && line[n - 1] == '\n' ? n - 1 : n);
            const std::string &l = lines.back();
            size_t i = 0;
            while (i < l.size()) {
                while (i < l.size() && l[i] == ' ')
                    i++;
                size_t s = i;
                while (i < l.size() && l[i] != ' ')
                    i++;
                if (i > s)
                    ids.push_back(kvg_ngram_word_id(model, l.data() + s, i - s));
            }
            ids.push_back(kvg_ngram_eos(model));
        }
        std::free(line);
        std::fclose(in);
        words = ids.size();
        ok = true;
    }
};

Fixture &fixture()
{
    static Fixture f;
    return f;
}

// Pure lookups: the word ids of the text, scored in sequence (KenLM's
// kenlm_benchmark measures the same loop).
void BM_NgramLookup(benchmark::State &state)
{
    Fixture &f = fixture();
    if (!f.ok) {
        state.SkipWithError("set KVG_BENCH_NGRAM and KVG_BENCH_TEXT");
        return;
    }
    for (auto _ : state) {
        kvg_ngram_state st;
        kvg_ngram_bos_state(f.model, &st);
        float total = 0;
        for (uint32_t id : f.ids) {
            total += kvg_ngram_score(f.model, &st, id, &st, nullptr);
            if (id == kvg_ngram_eos(f.model))
                kvg_ngram_bos_state(f.model, &st);
        }
        benchmark::DoNotOptimize(total);
    }
    state.counters["queries/s"] = benchmark::Counter((double)f.words, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_NgramLookup)->Unit(benchmark::kMillisecond);

// Whole lines from text: splitting, vocabulary hashing and scoring.
void BM_NgramScoreLines(benchmark::State &state)
{
    Fixture &f = fixture();
    if (!f.ok) {
        state.SkipWithError("set KVG_BENCH_NGRAM and KVG_BENCH_TEXT");
        return;
    }
    kvg_line_score ls{};
    ls.cache = kvg_ngram_cache_new(f.model); // as `kvgram score`: the level-by-level path
    for (auto _ : state) {
        float total = 0;
        for (const std::string &l : f.lines) {
            kvg_ngram_score_line(f.model, l.data(), l.size(), 1, 1, &ls);
            total += ls.total_log10;
        }
        benchmark::DoNotOptimize(total);
    }
    std::free(ls.tokens);
    kvg_ngram_cache_free(ls.cache);
    state.counters["words/s"] = benchmark::Counter((double)f.words, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_NgramScoreLines)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
