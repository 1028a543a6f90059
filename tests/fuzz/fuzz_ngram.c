/* fuzz_ngram.c — libFuzzer target for the n-gram model on hostile files.
 *
 * kvg_ngram_open is O(V) and trusts the tables' sizes only; every lookup
 * clamps the pointers it follows (engine/ngram.c). This target holds that
 * promise to account: any file that opens as an n-gram model is used — word
 * lookups, scoring a few sentences through every context, the full
 * distribution, top-k, continuations, the deep check — and must never read
 * outside the mapping (ASan) or hit undefined behaviour (UBSan). Seeds are
 * real converted models; the head checksum is re-sealed so mutations of the
 * metadata and directory get through. */
#define _GNU_SOURCE
#include "fuzz_common.h"
#include "kvg_reader.h"
#include "line_score.h"
#include "ngram.h"

static void use_model(const kvg_ngram *m)
{
    kvg_error err;
    uint32_t V = kvg_ngram_vocab_size(m);
    check(V > 0, "vocabulary not empty");
    static const char *const lines[] = {"the cat sat on the mat .", "<s> </s> <unk> a a a a a a a",
                                        "once upon a time , there was a little cat", ""};
    kvg_line_score ls = {0};
    ls.cache = kvg_ngram_cache_new(m);
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        check(kvg_ngram_score_line(m, lines[i], strlen(lines[i]), 1, 1, &ls) == 0, "score a line");
        sink += ls.n;
    }
    {
        /* several lines scored together, level by level (kvg_ngram_score_seqs) */
        kvg_line_score group[4];
        size_t lens[4];
        memset(group, 0, sizeof group);
        for (int i = 0; i < 4; i++) {
            lens[i] = strlen(lines[i]);
            group[i].cache = ls.cache;
        }
        check(kvg_ngram_score_lines(m, 4, lines, lens, 1, 1, group) == 0, "score lines interleaved");
        for (int i = 0; i < 4; i++) {
            sink += group[i].n;
            free(group[i].tokens);
        }
    }
    /* every word after every word: reaches every level-2 run */
    kvg_ngram_state st;
    uint32_t limit = V < 64 ? V : 64;
    for (uint32_t a = 0; a < limit; a++) {
        kvg_ngram_bos_state(m, &st);
        kvg_ngram_score(m, &st, a, &st, NULL);
        for (uint32_t b = 0; b < limit; b++) {
            kvg_ngram_state out;
            uint32_t matched;
            float p = kvg_ngram_score(m, &st, b, &out, &matched);
            check(matched >= 1 && matched <= kvg_ngram_order(m), "matched length in range");
            check(out.len < kvg_ngram_order(m) || out.len == 0, "state length in range");
            sink += (uint64_t)(p != p);
        }
    }
    if (V <= (1u << 20)) {
        float *dist = malloc(V * sizeof *dist), *scratch = malloc(V * sizeof *scratch);
        uint32_t ids[8];
        float lp[8];
        check(dist && scratch, "malloc");
        kvg_ngram_distribution(m, &st, dist);
        kvg_ngram_top_k(m, &st, 8, ids, lp, scratch);
        free(dist);
        free(scratch);
    }
    free(ls.tokens);
    kvg_ngram_cache_free(ls.cache);
    if (kvg_ngram_check(m, &err) == 0)
        sink++;
}

static void open_and_use(void)
{
    kvg_file *f;
    kvg_ngram *m;
    kvg_error err;
    if (kvg_open(memfd_path, &f, &err))
        return;
    if (kvg_ngram_open(f, &m, &err) == 0) {
        use_model(m);
        kvg_ngram_close(m);
    } else {
        check(strchr(err.msg, '\n') == NULL, "message is one line");
    }
    kvg_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_both_ways(data, size, open_and_use);
    return 0;
}
