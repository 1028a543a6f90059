/* test_tokenizer.c — the kvg_tokenizer API (engine/tokenizer.h): every golden case equal to its
 * oracle, both for a tokenizer loaded from its source files and for the same tokenizer written to
 * a .kvg and opened from there; llama2.c's tok.bin against an independent Python re-implementation
 * of llama2.c's encoder (tests/reference/make_llama2c_goldens.py); BOS/EOS from post_processor
 * and config files (hand-written cases); malformed tok.bin, tokenizer.json and .kvg files refused
 * with one line naming the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvg_reader.h"
#include "kvg_test.h"
#include "kvg_writer.h"
#include "tok_golden.h"
#include "bpe.h"
#include "tokenizer.h"

static char tmp_dir[] = "/tmp/kvg_tok_test_XXXXXX";

/* Encodes every case and compares ids; decodes and compares with the oracle's decoding (cases
 * holding BOS/EOS are skipped there: kvg_tokenizer_decode drops them, HF's decode keeps them). */
static void check_goldens(const char *label, const kvg_tokenizer *t, const char *golden)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/tokenizer/%s.expected.jsonl", src_dir(), golden);
    tcase *cs = NULL;
    size_t n = read_golden(path, &cs), ok_cases = 0, ok_ids = 0, all_ids = 0;
    for (size_t i = 0; i < n; i++) {
        const tcase *c = &cs[i];
        uint32_t *ids = NULL;
        size_t n_ids = 0;
        kvg_error err = {{0}};
        int ok = kvg_tokenizer_encode(t, c->input, c->input_len, &ids, &n_ids, &err) == 0;
        if (!ok)
            fprintf(stderr, "%s / %s: encode failed: %s\n", label, c->name, err.msg);
        if (ok && (n_ids != c->n_ids || (n_ids && memcmp(ids, c->ids, n_ids * sizeof *ids) != 0))) {
            ok = 0;
            size_t k = 0;
            while (k < n_ids && k < c->n_ids && ids[k] == c->ids[k])
                k++;
            fprintf(stderr, "%s / %s: ids differ from position %zu\n", label, c->name, k);
            print_ids("expected", c->ids, c->n_ids);
            print_ids("kvgram  ", ids, n_ids);
        }
        CHECK(ok);
        ok_cases += ok;
        ok_ids += ok ? n_ids : 0;
        all_ids += c->n_ids;
        free(ids);

        int special = 0;
        for (size_t k = 0; k < c->n_ids; k++)
            special |= c->ids[k] == kvg_tokenizer_bos(t) || c->ids[k] == kvg_tokenizer_eos(t);
        if (special)
            continue;
        char *text = NULL;
        size_t len = 0;
        ok = kvg_tokenizer_decode(t, c->ids, c->n_ids, &text, &len, &err) == 0;
        if (ok && c->lossy) {
            char *l = bpe_utf8_lossy(text, len, &len);
            free(text);
            text = l;
        }
        ok = ok && len == c->expect_decoded_len && memcmp(text, c->expect_decoded, len) == 0;
        if (!ok)
            fprintf(stderr, "%s / %s: decode gives %zu bytes \"%s\", expected %zu \"%s\" %s\n", label, c->name, len,
                    text ? text : "", c->expect_decoded_len, c->expect_decoded, err.msg);
        CHECK(ok);
        free(text);
    }
    printf("%-28s %zu/%zu cases, %zu/%zu ids equal to the oracle\n", label, ok_cases, n, ok_ids, all_ids);
    free_cases(cs, n);
}

/* Writes t to a .kvg, opens it back (closing the file before use: the tokenizer must own its
 * data), checks that everything visible is equal, and returns the reopened tokenizer. */
static kvg_tokenizer *round_trip(const kvg_tokenizer *t, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.kvg", tmp_dir, name);
    kvg_error err = {{0}};
    kvg_writer *w = NULL;
    if (kvg_writer_open(path, 0, &w, &err) || kvg_writer_meta_str(w, "general.kind", "tokenizer", 9, &err) ||
        kvg_tokenizer_write(t, w, &err) || kvg_writer_finish(w, &err)) {
        fprintf(stderr, "%s: writing failed: %s\n", name, err.msg);
        kvg_test_failed++;
        return NULL;
    }
    kvg_file *f = NULL;
    kvg_tokenizer *back = NULL;
    if (kvg_open(path, &f, &err) || kvg_verify_file(f, &err) || kvg_tokenizer_open(f, &back, &err)) {
        fprintf(stderr, "%s: reopening failed: %s\n", name, err.msg);
        kvg_test_failed++;
        kvg_close(f);
        return NULL;
    }
    kvg_close(f);
    remove(path);
    CHECK_INT(kvg_tokenizer_n_tokens(t), kvg_tokenizer_n_tokens(back));
    CHECK_INT(kvg_tokenizer_bos(t), kvg_tokenizer_bos(back));
    CHECK_INT(kvg_tokenizer_eos(t), kvg_tokenizer_eos(back));
    CHECK_INT(kvg_tokenizer_adds_bos(t), kvg_tokenizer_adds_bos(back));
    int same = 1;
    for (uint32_t i = 0; i < kvg_tokenizer_n_tokens(t); i++) {
        size_t l1, l2;
        const char *p1 = kvg_tokenizer_piece(t, i, &l1), *p2 = kvg_tokenizer_piece(back, i, &l2);
        same &= (p1 == NULL) == (p2 == NULL) && l1 == l2 && (!p1 || memcmp(p1, p2, l1) == 0);
    }
    CHECK(same);
    return back;
}

static void test_source_and_kvg(const char *label, kvg_tokenizer *t, const char *golden)
{
    if (!t)
        return;
    check_goldens(label, t, golden);
    kvg_tokenizer *back = round_trip(t, golden);
    if (back) {
        char l[256];
        snprintf(l, sizeof l, "%s (from .kvg)", label);
        check_goldens(l, back, golden);
        kvg_tokenizer_free(back);
    }
    kvg_tokenizer_free(t);
}

static kvg_tokenizer *from_hf(const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", src_dir(), rel);
    kvg_tokenizer *t = NULL;
    kvg_error err = {{0}};
    if (kvg_tokenizer_from_hf(path, &t, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        kvg_test_failed++;
    }
    return t;
}

static kvg_tokenizer *from_llama2c(const char *file)
{
    const char *shared = getenv("KVG_SHARED_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s", shared ? shared : "../shared", file);
    kvg_tokenizer *t = NULL;
    kvg_error err = {{0}};
    if (kvg_tokenizer_from_llama2c(path, 512, &t, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        kvg_test_failed++;
    }
    return t;
}

static void test_byte_level(void)
{
    static const char *const variants[] = {"llama3-style",  "qwen2-style",   "digits-prefix", "dropped-bytes",
                                           "qwen2-nfc",     "spm-llama2",    "spm-mistral",   "spm-metaspace",
                                           "spm-unk",       "spm-unk-nofuse"};
    kvg_tokenizer *t = from_hf("tests/tokenizer/gpt2"); /* vocab.json.gz + merges.txt.gz */
    if (t) {
        CHECK_INT(50257, kvg_tokenizer_n_tokens(t));
        CHECK_INT(0, kvg_tokenizer_adds_bos(t));
    }
    test_source_and_kvg("gpt2", t, "gpt2");
    test_source_and_kvg("tinystories-bpe", from_hf("models/tinystories-bpe"), "tinystories-bpe");
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/tokenizer/%s.tokenizer.json", variants[i]);
        test_source_and_kvg(variants[i], from_hf(rel), variants[i]);
    }
}

static void test_llama2c(void)
{
    kvg_tokenizer *t = from_llama2c("tok512.bin");
    if (t) {
        CHECK_INT(512, kvg_tokenizer_n_tokens(t));
        CHECK_INT(1, kvg_tokenizer_bos(t));
        CHECK_INT(2, kvg_tokenizer_eos(t));
        CHECK_INT(1, kvg_tokenizer_adds_bos(t));
        size_t len;
        const char *p = kvg_tokenizer_piece(t, 3 + 0x0A, &len); /* "<0x0A>" displays as "\n" */
        CHECK(p && len == 1 && p[0] == '\n');
        /* BOS then text decodes to the text: the dummy prefix space is stripped, BOS renders as nothing */
        const char *s = "Once upon a time";
        uint32_t *ids = NULL, seq[64];
        size_t n = 0;
        kvg_error err = {{0}};
        CHECK_INT(0, kvg_tokenizer_encode(t, s, strlen(s), &ids, &n, &err));
        if (n < 63) {
            seq[0] = kvg_tokenizer_bos(t);
            memcpy(seq + 1, ids, n * sizeof *ids);
            char *back = NULL;
            CHECK_INT(0, kvg_tokenizer_decode(t, seq, n + 1, &back, &len, &err));
            CHECK(back && strcmp(back, s) == 0);
            free(back);
        }
        free(ids);
        uint32_t bad = 512;
        char *out = NULL;
        CHECK_INT(-1, kvg_tokenizer_decode(t, &bad, 1, &out, &len, &err));
        CHECK_STR_CONTAINS(err.msg, "not in the vocabulary");
        CHECK(kvg_tokenizer_piece(t, 512, &len) == NULL && len == 0);
    }
    test_source_and_kvg("llama2c tok512", t, "llama2c-tok512");
    test_source_and_kvg("llama2c aidreams512", from_llama2c("aidreams260K_tok512.bin"), "llama2c-aidreams512");
}

/* A 1 MB line (one word for SentencePiece styles: no pre-tokenizer splits it) encodes and decodes
 * back to itself. */
static void test_long_line(const char *label, kvg_tokenizer *t)
{
    if (!t)
        return;
    size_t big = 1u << 20, n = 0, len = 0;
    char *text = malloc(big);
    const char *unit = "and the earth was without form, and void; caf\xC3\xA9 \xE4\xB8\xAD 42\n";
    size_t ul = strlen(unit);
    for (size_t i = 0; i < big; i++)
        text[i] = unit[i % ul];
    size_t cut = big - big % ul; /* whole units: no character cut in two */
    uint32_t *ids = NULL;
    char *back = NULL;
    kvg_error err = {{0}};
    clock_t t0 = clock();
    int rc = kvg_tokenizer_encode(t, text, cut, &ids, &n, &err);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK_INT(0, rc);
    if (rc == 0) {
        CHECK_INT(0, kvg_tokenizer_decode(t, ids, n, &back, &len, &err));
        CHECK(back && len == cut && memcmp(back, text, cut) == 0);
        printf("%-28s 1 MB line: %zu tokens in %.3f s\n", label, n, secs);
    }
    free(ids);
    free(back);
    free(text);
    kvg_tokenizer_free(t);
}

/* ---- special tokens from post_processor and config files (hand-written) ---------------------- */

static void write_file(const char *dir, const char *name, const char *content)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(content, f);
    fclose(f);
}

static void remove_files(const char *dir)
{
    static const char *const names[] = {"tokenizer.json", "tokenizer_config.json", "config.json", "tok.bin"};
    char path[4300];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
}

#define TINY_JSON(post)                                                                                    \
    "{\"added_tokens\": [{\"id\": 3, \"content\": \"<s>\", \"special\": true}, {\"id\": 4, \"content\": " \
    "\"</s>\", \"special\": true}], \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"post_processor\": " post  \
    ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"<s>\": 3, \"</s>\": 4}, "  \
    "\"merges\": [\"a b\"]}}"

/* Loads dir and checks bos, eos, adds_bos. */
static void expect_special(const char *dir, uint32_t bos, uint32_t eos, int adds_bos)
{
    kvg_tokenizer *t = NULL;
    kvg_error err = {{0}};
    if (kvg_tokenizer_from_hf(dir, &t, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        kvg_test_failed++;
        return;
    }
    CHECK_INT(bos, kvg_tokenizer_bos(t));
    CHECK_INT(eos, kvg_tokenizer_eos(t));
    CHECK_INT(adds_bos, kvg_tokenizer_adds_bos(t));
    kvg_tokenizer_free(t);
}

static void expect_hf_refused(const char *dir, const char *needle)
{
    kvg_tokenizer *t = NULL;
    kvg_error err = {{0}};
    CHECK_INT(-1, kvg_tokenizer_from_hf(dir, &t, &err));
    CHECK(t == NULL);
    CHECK_STR_CONTAINS(err.msg, dir);
    CHECK_STR_CONTAINS(err.msg, needle);
    CHECK(strchr(err.msg, '\n') == NULL);
}

static void test_special_tokens(void)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/special", tmp_dir);
    CHECK_INT(0, mkdir(dir, 0700));
    /* Llama-style template: BOS prepended */
    write_file(dir, "tokenizer.json",
               TINY_JSON("{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", "
                         "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"special_tokens\": "
                         "{\"<s>\": {\"id\": \"<s>\", \"ids\": [3], \"tokens\": [\"<s>\"]}}}"));
    expect_special(dir, 3, KVG_TOKEN_NONE, 1);
    write_file(dir, "config.json", "{\"bos_token_id\": 0, \"eos_token_id\": [4, 2]}");
    expect_special(dir, 3, 4, 1); /* the template's BOS wins; EOS from config.json (first of a list) */
    /* BOS and EOS around the text */
    write_file(dir, "tokenizer.json",
               TINY_JSON("{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", "
                         "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": "
                         "{\"id\": \"</s>\", \"type_id\": 0}}], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", "
                         "\"ids\": [3], \"tokens\": [\"<s>\"]}, \"</s>\": {\"id\": \"</s>\", \"ids\": [4], "
                         "\"tokens\": [\"</s>\"]}}}"));
    expect_special(dir, 3, 4, 1);
    /* GPT-2 style: ByteLevel post-processor adds nothing; ids from config.json */
    write_file(dir, "tokenizer.json", TINY_JSON("{\"type\": \"ByteLevel\"}"));
    write_file(dir, "config.json", "{\"bos_token_id\": 4, \"eos_token_id\": 4}");
    expect_special(dir, 4, 4, 0);
    /* Roberta: <s> $A </s> */
    write_file(dir, "tokenizer.json", TINY_JSON("{\"type\": \"RobertaProcessing\", \"sep\": [\"</s>\", 4], "
                                                "\"cls\": [\"<s>\", 3]}"));
    expect_special(dir, 3, 4, 1);
    /* Sequence [ByteLevel, TemplateProcessing] (Llama 3) */
    write_file(dir, "tokenizer.json",
               TINY_JSON("{\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"}, {\"type\": "
                         "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": "
                         "0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"special_tokens\": {\"<s>\": "
                         "{\"id\": \"<s>\", \"ids\": [3], \"tokens\": [\"<s>\"]}}}]}"));
    expect_special(dir, 3, 4, 1);
    /* no post_processor: tokenizer_config.json decides (tokens by text or {"content"}) */
    write_file(dir, "tokenizer.json", TINY_JSON("null"));
    write_file(dir, "tokenizer_config.json",
               "{\"add_bos_token\": true, \"bos_token\": {\"content\": \"<s>\"}, \"eos_token\": \"</s>\"}");
    char cfg_path[4300];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);
    remove(cfg_path);
    expect_special(dir, 3, 4, 1);
    write_file(dir, "tokenizer_config.json", "{\"bos_token\": \"<x>\"}");
    expect_hf_refused(dir, "bos_token \"<x>\" is not a token");
    write_file(dir, "tokenizer_config.json", "{}");
    write_file(dir, "config.json", "{\"eos_token_id\": 99}");
    expect_hf_refused(dir, "eos_token_id is not a token id below 5");
    write_file(dir, "config.json", "{\"eos_token_id\": ");
    expect_hf_refused(dir, "invalid JSON");
    write_file(dir, "config.json", "{}");
    write_file(dir, "tokenizer.json", TINY_JSON("{\"type\": \"BertWordPieceProcessing\"}"));
    expect_hf_refused(dir, "post_processor type \"BertWordPieceProcessing\" is not supported");
    write_file(dir, "tokenizer.json",
               TINY_JSON("{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<q>\", "
                         "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"special_tokens\": "
                         "{}}"));
    expect_hf_refused(dir, "special token \"<q>\" has no single id");
    remove_files(dir);
    expect_hf_refused(dir, "no tokenizer");
    rmdir(dir);
}

/* ---- bad tok.bin files ------------------------------------------------------------------------ */

static void expect_llama2c_refused(const void *bytes, size_t n, uint32_t vocab, const char *needle)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tok.bin", tmp_dir);
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, n, f);
    fclose(f);
    kvg_tokenizer *t = NULL;
    kvg_error err = {{0}};
    CHECK_INT(-1, kvg_tokenizer_from_llama2c(path, vocab, &t, &err));
    CHECK(t == NULL);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_STR_CONTAINS(err.msg, needle);
    remove(path);
}

static void test_bad_llama2c(void)
{
    kvg_tokenizer *t = NULL;
    kvg_error err = {{0}};
    CHECK_INT(-1, kvg_tokenizer_from_llama2c("/nonexistent/tok.bin", 512, &t, &err));
    CHECK_STR_CONTAINS(err.msg, "/nonexistent/tok.bin: cannot open");
    expect_llama2c_refused("", 0, 4, "no header");
    int32_t h[8] = {-5};
    expect_llama2c_refused(h, 4, 4, "max_token_length -5");
    /* header, then token 0: score 0, length 1, "a"; token 1 truncated */
    unsigned char one[] = {4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'a', 0, 0};
    expect_llama2c_refused(one, sizeof one, 2, "truncated at token 1 (offset 13)");
    unsigned char big[] = {4, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 'a'};
    expect_llama2c_refused(big, sizeof big, 1, "length 9, outside 0..max_token_length 4");
    unsigned char cut[] = {4, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 'a'};
    expect_llama2c_refused(cut, sizeof cut, 1, "truncated inside token 0");
    expect_llama2c_refused(one, 13, 0, "vocabulary size 0");
}

/* ---- bad .kvg files --------------------------------------------------------------------------- */

/* A .kvg whose tokenizer.* entries are those of the tiny byte-level tokenizer except for one
 * entry that BREAK names, replaced by a bad value; kvg_tokenizer_open must refuse it. */
static void expect_kvg_refused(const char *brk, const char *needle)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/bad.kvg", tmp_dir);
    kvg_error err = {{0}};
    kvg_writer *w = NULL;
    CHECK_INT(0, kvg_writer_open(path, 0, &w, &err));
    const char *bytes = "abab";
    uint32_t off[4] = {0, 1, 2, 4}, dec_off[4] = {0, 2, 1, 4}, merges[3] = {0, 1, 2}, bad_merge[3] = {0, 1, 7};
    uint8_t flags[3] = {0}, bad_flags[3] = {0, 0x40, 0};
    uint64_t s1 = 4, s3 = 3, s4 = 4, sm[2] = {1, 3};
    int b = 0;
    b |= kvg_writer_meta_str(w, "tokenizer.model", "bpe", 3, &err);
    const char *sym = strcmp(brk, "symbols") == 0 ? "wordpiece" : "bytes";
    b |= kvg_writer_meta_str(w, "tokenizer.symbols", sym, strlen(sym), &err);
    b |= kvg_writer_meta_str(w, "tokenizer.decoder", "bytes", 5, &err);
    if (strcmp(brk, "n_tokens") != 0)
        b |= kvg_writer_meta_u64(w, "tokenizer.n_tokens", 3, &err);
    b |= kvg_writer_meta_i64(w, "tokenizer.bos_id", strcmp(brk, "bos") == 0 ? 3 : -1, &err);
    b |= kvg_writer_meta_i64(w, "tokenizer.eos_id", -1, &err);
    b |= kvg_writer_meta_u64(w, "tokenizer.add_bos", strcmp(brk, "add_bos") == 0 ? 2 : 0, &err);
    b |= kvg_writer_meta_i64(w, "tokenizer.unk_id", -1, &err);
    b |= kvg_writer_meta_u64(w, "tokenizer.fuse_unk", 0, &err);
    b |= kvg_writer_meta_u64(w, "tokenizer.ignore_merges", 0, &err);
    if (strcmp(brk, "steps") == 0) {
        const char *k[1] = {"lowercase"}, *a[1] = {""};
        size_t kl[1] = {9}, al[1] = {0};
        b |= kvg_writer_meta_str_array(w, "tokenizer.steps", k, kl, 1, &err);
        b |= kvg_writer_meta_str_array(w, "tokenizer.step_args", a, al, 1, &err);
        b |= kvg_writer_meta_str_array(w, "tokenizer.step_with", a, al, 1, &err);
    }
    if (strcmp(brk, "regex") == 0) {
        const char *k[1] = {"regex"}, *a[1] = {"("};
        size_t kl[1] = {5}, al[1] = {1};
        b |= kvg_writer_meta_str_array(w, "tokenizer.steps", k, kl, 1, &err);
        b |= kvg_writer_meta_str_array(w, "tokenizer.step_args", a, al, 1, &err);
        b |= kvg_writer_meta_str_array(w, "tokenizer.step_with", a, al, 1, &err);
    }
    if (strcmp(brk, "bytes") != 0)
        b |= kvg_writer_tensor(w, "tokenizer.token_bytes", KVG_DTYPE_U8, 1, &s1, bytes, &err);
    b |= kvg_writer_tensor(w, "tokenizer.token_offsets", KVG_DTYPE_U32, 1, &s4,
                           strcmp(brk, "offsets") == 0 ? dec_off : off, &err);
    if (strcmp(brk, "flags_shape") == 0)
        b |= kvg_writer_tensor(w, "tokenizer.token_flags", KVG_DTYPE_U8, 1, &s1, "\0\0\0\0", &err);
    else
        b |= kvg_writer_tensor(w, "tokenizer.token_flags", KVG_DTYPE_U8, 1, &s3,
                               strcmp(brk, "flags") == 0 ? bad_flags : flags, &err);
    b |= kvg_writer_tensor(w, "tokenizer.merges", KVG_DTYPE_U32, 2, sm, strcmp(brk, "merge") == 0 ? bad_merge : merges,
                           &err);
    CHECK_INT(0, b);
    CHECK_INT(0, kvg_writer_finish(w, &err));
    kvg_file *f = NULL;
    kvg_tokenizer *t = NULL;
    CHECK_INT(0, kvg_open(path, &f, &err));
    int rc = f ? kvg_tokenizer_open(f, &t, &err) : -1;
    if (!needle) { /* the unbroken file: opens and encodes "abab" as [2, 2] */
        CHECK_INT(0, rc);
        uint32_t *ids = NULL;
        size_t n = 0;
        if (t && kvg_tokenizer_encode(t, "abab", 4, &ids, &n, &err) == 0) {
            CHECK_INT(2, n);
            CHECK(n == 2 && ids[0] == 2 && ids[1] == 2);
        }
        free(ids);
    } else {
        CHECK_INT(-1, rc);
        CHECK(t == NULL);
        CHECK_STR_CONTAINS(err.msg, path);
        CHECK_STR_CONTAINS(err.msg, needle);
        CHECK(strchr(err.msg, '\n') == NULL);
    }
    kvg_tokenizer_free(t);
    kvg_close(f);
    remove(path);
}

static void test_bad_kvg(void)
{
    expect_kvg_refused("", NULL);
    expect_kvg_refused("symbols", "tokenizer.symbols \"wordpiece\" is not known");
    expect_kvg_refused("n_tokens", "tokenizer.n_tokens");
    expect_kvg_refused("bos", "tokenizer.bos_id 3 is not -1 or a token id below 3");
    expect_kvg_refused("add_bos", "tokenizer.add_bos is 2");
    expect_kvg_refused("steps", "tokenizer.steps[0] \"lowercase\" is not known");
    expect_kvg_refused("regex", "regex does not compile");
    expect_kvg_refused("bytes", "tensor tokenizer.token_bytes is missing");
    expect_kvg_refused("offsets", "offsets decrease");
    expect_kvg_refused("flags", "flags 0x40 are unknown");
    expect_kvg_refused("flags_shape", "tensor tokenizer.token_flags has the wrong dtype or shape");
    expect_kvg_refused("merge", "merge 0 (0 1 -> 7) names a token that does not exist");
}

int main(void)
{
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_byte_level();
    test_llama2c();
    test_long_line("spm-llama2", from_hf("tests/tokenizer/spm-llama2.tokenizer.json"));
    test_long_line("llama2c tok512", from_llama2c("tok512.bin"));
    test_special_tokens();
    test_bad_llama2c();
    test_bad_kvg();
    rmdir(tmp_dir);
    return kvg_test_end();
}
