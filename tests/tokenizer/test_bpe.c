/* test_bpe.c — byte-level BPE ids equal Hugging Face tokenizers' / gpt-3-encoder's, exactly.
 *
 * Goldens: tests/tokenizer/NAME.expected.jsonl, made by tests/reference/make_tokenizer_goldens.js
 * from the npm oracles. Every case is encoded and compared id for id; decode(ids) must give the
 * text back (or the oracle's decoding where it differs: invalid input bytes, dropped bytes). Then
 * the same cases from many threads at once, the buffer-size contract, long inputs, and malformed
 * tokenizer files (one-line errors naming the file). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bpe.h"
#include "hf_tokenizer.h"
#include "kvg_test.h"
#include "tok_golden.h"


/* Encodes c and compares; returns 1 when equal. */
static int check_case(const char *tok, const bpe *t, const tcase *c, int quiet)
{
    size_t cap = c->input_len * 2 + 16, n = 0;
    uint32_t *ids = malloc(cap * sizeof *ids);
    kvg_error err = {{0}};
    int ok = bpe_encode(t, c->input, c->input_len, ids, cap, &n, &err) == 0;
    if (!ok && !quiet)
        fprintf(stderr, "%s / %s: encode failed: %s\n", tok, c->name, err.msg);
    if (ok && (n != c->n_ids || memcmp(ids, c->ids, n * sizeof *ids) != 0)) {
        ok = 0;
        if (!quiet) {
            size_t k = 0;
            while (k < n && k < c->n_ids && ids[k] == c->ids[k])
                k++;
            fprintf(stderr, "%s / %s: ids differ from position %zu\n", tok, c->name, k);
            print_ids("expected", c->ids, c->n_ids);
            print_ids("kvgram  ", ids, n);
        }
    }
    free(ids);
    return ok;
}

static int check_decode(const char *tok, const bpe *t, const tcase *c)
{
    size_t cap = c->expect_decoded_len + 64, len = 0;
    char *buf = malloc(cap);
    kvg_error err = {{0}};
    int ok = bpe_decode(t, c->ids, c->n_ids, buf, cap, &len, &err) == 0;
    if (ok && c->lossy) {
        char *l = bpe_utf8_lossy(buf, len, &len);
        free(buf);
        buf = l;
        cap = len + 1;
    }
    ok = ok && len == c->expect_decoded_len && memcmp(buf, c->expect_decoded, len) == 0;
    if (!ok)
        fprintf(stderr, "%s / %s: decode gives %zu bytes \"%.*s\", expected %zu \"%s\" %s\n", tok, c->name, len,
                (int)(len < cap ? len : cap), buf, c->expect_decoded_len, c->expect_decoded, err.msg);
    free(buf);
    return ok;
}

/* All golden cases of one tokenizer: serial, then from many threads at once. */
static void test_tokenizer(const char *name, const hf_tokenizer *h)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/tokenizer/%s.expected.jsonl", src_dir(), name);
    tcase *cs = NULL;
    size_t n = read_golden(path, &cs);
    size_t ids_ok = 0, ids_total = 0, cases_ok = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = check_case(name, h->bpe, &cs[i], 0);
        CHECK(ok);
        cases_ok += ok;
        ids_total += cs[i].n_ids;
        ids_ok += ok ? cs[i].n_ids : 0;
        CHECK(check_decode(name, h->bpe, &cs[i]));
    }
    printf("%-16s %zu/%zu cases, %zu/%zu ids equal to the oracle\n", name, cases_ok, n, ids_ok, ids_total);

    /* thread safety: every case 8 times over, on all threads at once */
    int bad = 0;
#pragma omp parallel for schedule(dynamic) reduction(+ : bad)
    for (size_t k = 0; k < 8 * n; k++)
        bad += !check_case(name, h->bpe, &cs[k % n], 1);
    CHECK_INT(0, bad);
    free_cases(cs, n);
}

static hf_tokenizer *load_json(const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", src_dir(), rel);
    hf_tokenizer *h = NULL;
    kvg_error err = {{0}};
    if (hf_tokenizer_load_json(path, &h, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        kvg_test_failed++;
        return NULL;
    }
    kvg_test_passed++;
    return h;
}

static void test_goldens(void)
{
    static const char *const variants[] = {"llama3-style", "qwen2-style", "digits-prefix", "dropped-bytes"};
    char v[4096], m[4096];
    snprintf(v, sizeof v, "%s/tests/tokenizer/gpt2/vocab.json.gz", src_dir());
    snprintf(m, sizeof m, "%s/tests/tokenizer/gpt2/merges.txt.gz", src_dir());
    hf_tokenizer *h = NULL;
    kvg_error err = {{0}};
    if (hf_tokenizer_load_gpt2(v, m, &h, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        kvg_test_failed++;
    } else {
        CHECK_INT(50257, bpe_n_tokens(h->bpe));
        CHECK_INT(50000, h->cfg.n_merges);
        test_tokenizer("gpt2", h);
        hf_tokenizer_free(h);
    }
    if ((h = load_json("models/tinystories-bpe/tokenizer.json"))) {
        CHECK_INT(1025, bpe_n_tokens(h->bpe));
        test_tokenizer("tinystories-bpe", h);
        hf_tokenizer_free(h);
    }
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/tokenizer/%s.tokenizer.json", variants[i]);
        if ((h = load_json(rel))) {
            test_tokenizer(variants[i], h);
            hf_tokenizer_free(h);
        }
    }
}

static void test_alphabet(void)
{
    int bijective = 1;
    for (int b = 0; b < 256; b++)
        bijective &= bpe_char_to_byte(bpe_byte_to_char((uint8_t)b)) == b;
    CHECK(bijective);
    CHECK_INT(0x120, bpe_byte_to_char(' ')); /* "Ġ" */
    CHECK_INT(0x10A, bpe_byte_to_char('\n')); /* "Ċ" */
    CHECK_INT('a', bpe_byte_to_char('a'));
    CHECK_INT(-1, bpe_char_to_byte(0x20));
    CHECK_INT(-1, bpe_char_to_byte(0x144));
}

/* cap too small: -1, and *n says how many are needed. Long inputs work. */
static void test_buffers_and_long_input(void)
{
    hf_tokenizer *h = load_json("models/tinystories-bpe/tokenizer.json");
    if (!h)
        return;
    const char *s = "once upon a time";
    size_t n = 0;
    kvg_error err = {{0}};
    CHECK_INT(-1, bpe_encode(h->bpe, s, strlen(s), NULL, 0, &n, &err));
    CHECK(n > 0);
    CHECK_STR_CONTAINS(err.msg, "do not fit");
    uint32_t ids[64];
    size_t n2 = 0;
    CHECK_INT(0, bpe_encode(h->bpe, s, strlen(s), ids, n, &n2, &err));
    CHECK_INT(n, n2);
    char small[4];
    size_t len = 0;
    CHECK_INT(-1, bpe_decode(h->bpe, ids, n, small, sizeof small, &len, &err));
    CHECK_INT(strlen(s), len);
    uint32_t bad_id = 999999;
    CHECK_INT(-1, bpe_decode(h->bpe, &bad_id, 1, small, sizeof small, &len, &err));
    CHECK_STR_CONTAINS(err.msg, "not in the vocabulary");

    /* 1 MB lines: one long word, one long whitespace run, mixed text; each round-trips */
    size_t big = 1u << 20;
    char *text = malloc(big);
    char *back = malloc(big);
    uint32_t *out = malloc(big * sizeof *out);
    for (int kind = 0; kind < 3; kind++) {
        for (size_t i = 0; i < big; i++)
            text[i] = kind == 0 ? 'a' : kind == 1 ? (i + 1 == big ? 'x' : ' ') : "the cat sat.\t 42 é"[i % 19];
        if (kind == 2)
            text[big - 1] = 'z'; /* don't end inside é */
        clock_t t0 = clock();
        int rc = bpe_encode(h->bpe, text, big, out, big, &n, &err);
        CHECK_INT(0, rc);
        if (rc)
            fprintf(stderr, "1 MB input kind %d: %s\n", kind, err.msg);
        CHECK_INT(0, bpe_decode(h->bpe, out, n, back, big, &len, &err));
        CHECK(len == big && memcmp(text, back, big) == 0);
        printf("1 MB input kind %d: %zu tokens in %.3f s\n", kind, n, (double)(clock() - t0) / CLOCKS_PER_SEC);
    }
    free(text);
    free(back);
    free(out);
    hf_tokenizer_free(h);
}

/* Writes CONTENT to a temporary file, loads it, and checks the one-line error. */
static void expect_refused(const char *content, const char *needle)
{
    char path[] = "/tmp/kvg_bad_tokenizer_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fputs(content, f);
    fclose(f);
    hf_tokenizer *h = NULL;
    kvg_error err = {{0}};
    CHECK_INT(-1, hf_tokenizer_load_json(path, &h, &err));
    CHECK(h == NULL);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_STR_CONTAINS(err.msg, needle);
    CHECK(strchr(err.msg, '\n') == NULL);
    remove(path);
}

#define BPE_MODEL(extra, merges) \
    "\"model\": {\"type\": \"BPE\", " extra "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": " merges "}"
#define BYTELEVEL "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}"

static void test_malformed(void)
{
    expect_refused("{\"model\": ", "invalid JSON");
    expect_refused("[1, 2]", "not a tokenizer.json");
    expect_refused("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "model type \"WordPiece\" is not supported");
    expect_refused("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "model type \"Unigram\" is not supported");
    expect_refused("{\"normalizer\": {\"type\": \"Lowercase\"}, " BYTELEVEL ", " BPE_MODEL("", "[\"a b\"]") "}",
                   "normalizer \"Lowercase\" is not supported");
    expect_refused("{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"}]}, " BPE_MODEL("", "[]") "}",
                   "normalizer \"NFKC\" is not supported");
    expect_refused("{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \" +\"}, \"content\": \"x\"}, " BPE_MODEL("", "[]") "}",
                   "normalizer Replace: only a String pattern");
    expect_refused("{\"pre_tokenizer\": {\"type\": \"WhitespaceSplit\"}, " BPE_MODEL("", "[\"a b\"]") "}",
                   "pre_tokenizer type \"WhitespaceSplit\" is not supported");
    expect_refused("{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"ab\"}, " BPE_MODEL("", "[]") "}",
                   "replacement \"ab\" is not one character");
    expect_refused("{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"prepend_scheme\": \"sometimes\"}, " BPE_MODEL("", "[]") "}",
                   "prepend_scheme \"sometimes\" is not supported");
    expect_refused("{\"decoder\": {\"type\": \"ByteLevel\"}, " BPE_MODEL("", "[]") "}",
                   "decoder \"ByteLevel\" is not supported");
    expect_refused("{\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": "
                   "{\"String\": \"\xE2\x96\x81\"}, \"content\": \" \"}, {\"type\": \"Strip\", \"content\": \" \", "
                   "\"start\": 2, \"stop\": 0}]}, " BPE_MODEL("", "[]") "}",
                   "decoder Strip other than one leading space");
    expect_refused("{\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteFallback\"}]}, " BPE_MODEL("", "[]") "}",
                   "decoder Sequence without Replace");
    expect_refused("{\"normalizer\": {\"type\": \"Prepend\", \"prepend\": \"_\"}, \"added_tokens\": [{\"id\": 2, "
                   "\"content\": \"ab\", \"special\": false}], " BPE_MODEL("", "[]") "}",
                   "added token \"ab\" has normalized: true");
    expect_refused("{\"decoder\": {\"type\": \"Metaspace\"}, " BYTELEVEL ", " BPE_MODEL("", "[]") "}",
                   "decoder \"Metaspace\" is not supported");
    expect_refused("{" BYTELEVEL ", " BPE_MODEL("\"byte_fallback\": true, ", "[]") "}", "byte_fallback");
    expect_refused("{" BYTELEVEL ", " BPE_MODEL("\"dropout\": 0.1, ", "[]") "}", "dropout");
    expect_refused("{" BYTELEVEL ", " BPE_MODEL("", "[\"a c\"]") "}", "merge 1: \"c\" is not in the vocab");
    expect_refused("{" BYTELEVEL ", " BPE_MODEL("", "[\"b a\"]") "}", "merged token \"ba\" is not in the vocab");
    expect_refused("{" BYTELEVEL ", " BPE_MODEL("", "[\"a b c\"]") "}", "not two tokens separated by one space");
    expect_refused("{" BYTELEVEL ", " BPE_MODEL("", "[[\"a\"]]") "}", "neither");
    expect_refused("{" BYTELEVEL ", " BPE_MODEL("", "{}") "}", "model.merges is not an array");
    expect_refused("{" BYTELEVEL ", \"model\": {\"type\": \"BPE\", \"vocab\": [], \"merges\": []}}",
                   "vocab is not a JSON object");
    expect_refused("{" BYTELEVEL ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -3}, \"merges\": []}}",
                   "has no valid id");
    expect_refused("{" BYTELEVEL ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}",
                   "given to two strings");
    expect_refused("{" BYTELEVEL ", \"added_tokens\": [{\"id\": 7}], " BPE_MODEL("", "[]") "}", "added_tokens[0]");
    expect_refused("{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
                   "\"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\"}]}, " BPE_MODEL("", "[]") "}",
                   "regex does not compile");
    expect_refused("{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
                   "\"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Removed\"}, {\"type\": \"ByteLevel\"}]}, " BPE_MODEL("", "[]") "}",
                   "Split behavior \"Removed\" is not supported");
    expect_refused("{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\"}, "
                   "{\"type\": \"Digits\"}]}, " BPE_MODEL("", "[]") "}",
                   "ByteLevel must be the last");

    hf_tokenizer *h = NULL;
    kvg_error err = {{0}};
    CHECK_INT(-1, hf_tokenizer_load_json("/nonexistent/tokenizer.json", &h, &err));
    CHECK_STR_CONTAINS(err.msg, "/nonexistent/tokenizer.json: cannot open");

    /* merges.txt with a bad line */
    char vpath[] = "/tmp/kvg_bad_vocab_XXXXXX", mpath[] = "/tmp/kvg_bad_merges_XXXXXX";
    FILE *f = fdopen(mkstemp(vpath), "w");
    fputs("{\"a\": 0, \"b\": 1, \"ab\": 2}", f);
    fclose(f);
    f = fdopen(mkstemp(mpath), "w");
    fputs("#version: 0.2\na b\nab\n", f);
    fclose(f);
    CHECK_INT(-1, hf_tokenizer_load_gpt2(vpath, mpath, &h, &err));
    CHECK_STR_CONTAINS(err.msg, mpath);
    CHECK_STR_CONTAINS(err.msg, "line 3");
    f = fopen(mpath, "w");
    fputs("#version: 0.2\na b\n", f);
    fclose(f);
    CHECK_INT(0, hf_tokenizer_load_gpt2(vpath, mpath, &h, &err));
    if (h) {
        uint32_t ids[4];
        size_t n = 0;
        CHECK_INT(0, bpe_encode(h->bpe, "abab", 4, ids, 4, &n, &err));
        CHECK_INT(2, n);
        CHECK_INT(2, ids[0]);
        hf_tokenizer_free(h);
    }
    remove(vpath);
    remove(mpath);
}

int main(void)
{
    test_alphabet();
    test_goldens();
    test_buffers_and_long_input();
    test_malformed();
    return kvg_test_end();
}
