/* tok_golden.h — reading the tokenizer golden files (NAME.expected.jsonl), shared by the tokenizer tests.
 *
 * One JSON object per line: "case", the input as "text" or raw "bytes_hex", "ids", and what
 * decoding the ids gives when it is not the input: "decoded" (text, compared after invalid UTF-8
 * is replaced) or "decoded_hex" (raw bytes, compared as they are). */
#ifndef KVG_TOK_GOLDEN_H
#define KVG_TOK_GOLDEN_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvg_test.h"

static const char *src_dir(void)
{
    const char *s = getenv("KVG_SOURCE_DIR");
    return s ? s : ".";
}

typedef struct tcase {
    char *name;
    char *input; /* what kvgram is given */
    size_t input_len;
    char *expect_decoded; /* decode(ids) must equal this */
    size_t expect_decoded_len;
    int lossy;            /* ... after invalid UTF-8 is replaced (the oracle decoded to a string) */
    uint32_t *ids;
    size_t n_ids;
} tcase;

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static char *dup_bytes(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

static char *unhex(const char *h, size_t *len)
{
    *len = strlen(h) / 2;
    char *d = malloc(*len + 1);
    for (size_t i = 0; i < *len; i++)
        d[i] = (char)(hexval(h[2 * i]) * 16 + hexval(h[2 * i + 1]));
    d[*len] = 0;
    return d;
}

/* Reads a golden file; returns the number of cases (0 on failure, reported). */
static size_t read_golden(const char *path, tcase **out)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open (run tests/reference/make_tokenizer_goldens.js)\n", path);
        kvg_test_failed++;
        return 0;
    }
    size_t n = 0, cap = 0;
    tcase *cs = NULL;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t got;
    while ((got = getline(&line, &lcap, f)) > 0) {
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)got, JSON_ALLOW_NUL, &je);
        if (!o) {
            fprintf(stderr, "%s: bad JSON line: %s\n", path, je.text);
            kvg_test_failed++;
            continue;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            cs = realloc(cs, cap * sizeof *cs);
        }
        tcase *c = &cs[n++];
        memset(c, 0, sizeof *c);
        c->name = strdup(json_string_value(json_object_get(o, "case")));
        json_t *text = json_object_get(o, "text"), *hex = json_object_get(o, "bytes_hex");
        json_t *dec = json_object_get(o, "decoded"), *ids = json_object_get(o, "ids");
        if (hex) {
            c->input = unhex(json_string_value(hex), &c->input_len);
        } else {
            c->input_len = json_string_length(text);
            c->input = dup_bytes(json_string_value(text), c->input_len);
        }
        json_t *dec_hex = json_object_get(o, "decoded_hex");
        if (dec_hex) {
            c->expect_decoded = unhex(json_string_value(dec_hex), &c->expect_decoded_len);
        } else {
            json_t *d = dec ? dec : text;
            c->lossy = dec != NULL;
            c->expect_decoded_len = json_string_length(d);
            c->expect_decoded = dup_bytes(json_string_value(d), c->expect_decoded_len);
        }
        c->n_ids = json_array_size(ids);
        c->ids = malloc((c->n_ids ? c->n_ids : 1) * sizeof *c->ids);
        for (size_t i = 0; i < c->n_ids; i++)
            c->ids[i] = (uint32_t)json_integer_value(json_array_get(ids, i));
        json_decref(o);
    }
    free(line);
    fclose(f);
    *out = cs;
    return n;
}

static void free_cases(tcase *cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(cs[i].name);
        free(cs[i].input);
        free(cs[i].expect_decoded);
        free(cs[i].ids);
    }
    free(cs);
}

static void print_ids(const char *label, const uint32_t *ids, size_t n)
{
    fprintf(stderr, "  %s (%zu):", label, n);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, " %u", ids[i]);
    fprintf(stderr, "\n");
}

#endif
