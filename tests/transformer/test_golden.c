/* test_golden.c NAME — kvgram's logits against the PyTorch reference's
 * (contract C: tests/transformer/golden/NAME.logits + NAME.json, written by
 * tests/reference/ independently of the C code).
 *
 * The model named in NAME.json (a path relative to the repository root, or
 * "../shared/..." for the shared folder) is converted with `kvgram convert`
 * (f32, and f16), every golden sequence is run through the forward pass as
 * one batch, and compared position by position:
 *   f32: max |kvgram - golden| <= 1e-4 x max |golden logit| over the sequence,
 *        and the same argmax at every position;
 *   f16: max |kvgram - golden| <= 4e-3 x max |golden logit| (f16 weights carry
 *        11 significant bits; measured ~6e-4 on stories260K), and the same argmax
 *        wherever the golden top-2 margin exceeds twice that bound.
 * When NAME.json lists the texts the ids came from, `kvgram score --document
 * --json --per-token` on each text must give the golden ids (BOS included)
 * and, per predicted token, ln p within 1e-4 x max|logit| of the golden
 * logits' log-softmax: the whole CLI path (tokenizer, BOS, scorer). */
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvg_test.h"
#include "transformer.h"

#define F32_REL 1e-4
#define F16_REL 4e-3

typedef struct golden_seq {
    uint32_t n;
    uint32_t *ids;
    const float *logits; /* [n, vocab] into the file buffer */
} golden_seq;

typedef struct golden {
    unsigned char *raw;
    uint32_t n_seq, vocab;
    golden_seq *seq;
} golden;

static uint32_t rd_u32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static int read_golden(const char *path, golden *g)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return fprintf(stderr, "%s: cannot open\n", path), -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    g->raw = malloc((size_t)size);
    if (!g->raw || fread(g->raw, 1, (size_t)size, f) != (size_t)size || size < 16 || memcmp(g->raw, "KVGLOGIT", 8))
        return fclose(f), fprintf(stderr, "%s: not a golden logits file\n", path), -1;
    fclose(f);
    g->n_seq = rd_u32(g->raw + 8);
    g->vocab = rd_u32(g->raw + 12);
    g->seq = calloc(g->n_seq, sizeof *g->seq);
    size_t off = 16;
    for (uint32_t s = 0; s < g->n_seq; s++) {
        if (off + 4 > (size_t)size)
            return fprintf(stderr, "%s: truncated\n", path), -1;
        uint32_t n = rd_u32(g->raw + off);
        off += 4;
        if ((size_t)size - off < (size_t)n * 4 * (1 + (size_t)g->vocab))
            return fprintf(stderr, "%s: truncated\n", path), -1;
        g->seq[s].n = n;
        g->seq[s].ids = malloc((size_t)n * 4 + 4);
        for (uint32_t i = 0; i < n; i++)
            g->seq[s].ids[i] = rd_u32(g->raw + off + 4 * i);
        off += (size_t)n * 4;
        g->seq[s].logits = (const float *)(g->raw + off); /* 4-aligned: every field before is 4 bytes */
        off += (size_t)n * g->vocab * 4;
    }
    if (off != (size_t)size)
        return fprintf(stderr, "%s: %zu trailing bytes\n", path, (size_t)size - off), -1;
    return 0;
}

static uint32_t argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* Converts model_path with `kvgram convert` (type f32 / f16) into kvg_path. */
static int convert(const char *model_path, const char *tokenizer, const char *type, const char *kvg_path)
{
    const char *bin = getenv("KVG_BIN");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' %s%s%s --type %s --quiet -o '%s'", bin, model_path,
             tokenizer ? "--tokenizer '" : "", tokenizer ? tokenizer : "", tokenizer ? "'" : "", type, kvg_path);
    int rc = system(cmd);
    if (rc)
        fprintf(stderr, "failed: %s\n", cmd);
    return rc;
}

/* Runs every golden sequence through the model at kvg_path and compares. */
static void compare(const golden *g, const char *kvg_path, double rel, int f16)
{
    kvg_error err;
    kvg_file *f;
    kvg_transformer *m;
    if (kvg_open(kvg_path, &f, &err) || kvg_transformer_open(f, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return;
    }
    CHECK_INT(g->vocab, m->c.vocab_size);
    if (g->vocab != m->c.vocab_size)
        return;
    for (uint32_t s = 0; s < g->n_seq; s++) {
        const golden_seq *q = &g->seq[s];
        uint32_t *slot = calloc(q->n, 4), *pos = malloc((size_t)q->n * 4);
        float *lg = malloc((size_t)q->n * g->vocab * 4);
        for (uint32_t i = 0; i < q->n; i++)
            pos[i] = i;
        kvg_tf_state *st;
        kvg_tf_batch b = {q->n, q->ids, slot, pos, NULL};
        if (kvg_tf_state_new(m, q->n, q->n, &st, &err) || kvg_transformer_forward(m, st, &b, lg, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            CHECK(0);
            return;
        }
        double maxabs = 0, worst = 0;
        size_t worst_at = 0;
        for (size_t i = 0; i < (size_t)q->n * g->vocab; i++) {
            maxabs = fmax(maxabs, fabs(q->logits[i]));
            if (fabs(lg[i] - q->logits[i]) > worst)
                worst = fabs(lg[i] - q->logits[i]), worst_at = i;
        }
        int argmax_bad = 0;
        for (uint32_t t = 0; t < q->n; t++) {
            const float *gl = q->logits + (size_t)t * g->vocab;
            uint32_t want = argmax(gl, g->vocab), got = argmax(lg + (size_t)t * g->vocab, g->vocab);
            float second = -INFINITY;
            for (uint32_t i = 0; i < g->vocab; i++)
                if (i != want && gl[i] > second)
                    second = gl[i];
            int stable = !f16 || gl[want] - second > 2 * rel * maxabs;
            if (want != got && stable) {
                argmax_bad++;
                fprintf(stderr, "  sequence %u position %u: argmax %u, golden %u\n", s, t, got, want);
            }
        }
        printf("%s sequence %u (%u tokens): max |diff| %.3g = %.3g x max|logit| (bound %.0e) at position %zu token %zu\n",
               f16 ? "f16" : "f32", s, q->n, worst, worst / maxabs, rel, worst_at / g->vocab, worst_at % g->vocab);
        CHECK_NEAR(0, worst / maxabs, rel);
        CHECK_INT(0, argmax_bad);
        kvg_tf_state_free(st);
        free(slot);
        free(pos);
        free(lg);
    }
    kvg_transformer_free(m);
    kvg_close(f);
}

/* Scores each text of meta["texts"] with the CLI and compares (see the top). */
static void compare_cli(const golden *g, json_t *meta, const char *kvg_path, const char *dir)
{
    json_t *texts = json_object_get(meta, "texts");
    size_t n_texts = json_array_size(texts);
    if (!n_texts)
        return;
    CHECK_INT(g->n_seq, n_texts);
    char cmd[8192], out_path[256];
    snprintf(out_path, sizeof out_path, "%s/score.jsonl", dir);
    int at = snprintf(cmd, sizeof cmd, "'%s' score -m '%s' --document --json --per-token", getenv("KVG_BIN"),
                      kvg_path);
    for (size_t i = 0; i < n_texts; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/text%zu.txt", dir, i);
        FILE *f = fopen(path, "wb");
        const char *t = json_string_value(json_array_get(texts, i));
        fwrite(t, 1, strlen(t), f);
        fclose(f);
        at += snprintf(cmd + at, sizeof cmd - (size_t)at, " '%s'", path);
    }
    snprintf(cmd + at, sizeof cmd - (size_t)at, " > '%s'", out_path);
    CHECK_INT(0, system(cmd));
    FILE *f = fopen(out_path, "r");
    char *line = NULL;
    size_t cap = 0;
    for (uint32_t s = 0; f && s < g->n_seq && getline(&line, &cap, f) > 0; s++) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *ids = json_object_get(o, "ids"), *lp = json_object_get(o, "logprob");
        const golden_seq *q = &g->seq[s];
        int same_ids = json_array_size(ids) == q->n;
        for (uint32_t i = 0; same_ids && i < q->n; i++)
            same_ids = json_integer_value(json_array_get(ids, i)) == q->ids[i];
        if (!same_ids)
            fprintf(stderr, "text %u: kvgram's ids differ from the golden ids\n", s);
        CHECK(same_ids);
        double maxabs = 0, worst = 0;
        for (size_t i = 0; i < (size_t)q->n * g->vocab; i++)
            maxabs = fmax(maxabs, fabs(q->logits[i]));
        float *row = malloc(g->vocab * sizeof *row);
        for (uint32_t t = 0; same_ids && t + 1 < q->n; t++) {
            kvg_log_softmax(row, q->logits + (size_t)t * g->vocab, g->vocab);
            worst = fmax(worst, fabs(json_real_value(json_array_get(lp, t)) - row[q->ids[t + 1]]));
        }
        free(row);
        printf("kvgram score, text %u: max |ln p - golden ln p| %.3g\n", s, worst);
        CHECK_NEAR(0, worst, F32_REL * maxabs);
        json_decref(o);
    }
    free(line);
    if (f)
        fclose(f);
    for (size_t i = 0; i < n_texts; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/text%zu.txt", dir, i);
        unlink(path);
    }
    unlink(out_path);
}

/* A path from NAME.json: "../shared/X" is KVG_SHARED_DIR/X, else relative to the source root. */
static void resolve(const char *p, char *out, size_t n)
{
    if (strncmp(p, "../shared/", 10) == 0)
        snprintf(out, n, "%s/%s", getenv("KVG_SHARED_DIR"), p + 10);
    else
        snprintf(out, n, "%s/%s", getenv("KVG_SOURCE_DIR"), p);
}

int main(int argc, char **argv)
{
    const char *src = getenv("KVG_SOURCE_DIR");
    if (argc != 2 || !src || !getenv("KVG_SHARED_DIR") || !getenv("KVG_BIN")) {
        fprintf(stderr, "usage: test_golden NAME (with KVG_SOURCE_DIR, KVG_SHARED_DIR, KVG_BIN set)\n");
        return 2;
    }
    char path[1024], model[1024], tok[1024];
    snprintf(path, sizeof path, "%s/tests/transformer/golden/%s.json", src, argv[1]);
    json_error_t jerr;
    json_t *meta = json_load_file(path, 0, &jerr);
    const char *model_rel = meta ? json_string_value(json_object_get(meta, "model")) : NULL;
    if (!model_rel) {
        fprintf(stderr, "%s: no \"model\" (%s)\n", path, jerr.text);
        return 1;
    }
    resolve(model_rel, model, sizeof model);
    const char *tok_rel = json_string_value(json_object_get(meta, "tokenizer"));
    if (tok_rel)
        resolve(tok_rel, tok, sizeof tok);
    golden g;
    snprintf(path, sizeof path, "%s/tests/transformer/golden/%s.logits", src, argv[1]);
    if (read_golden(path, &g))
        return 1;
    char dir[] = "/tmp/kvg-golden-XXXXXX", k32[128], k16[128];
    if (!mkdtemp(dir))
        return 1;
    snprintf(k32, sizeof k32, "%s/f32.kvg", dir);
    snprintf(k16, sizeof k16, "%s/f16.kvg", dir);
    /* A llama2.c checkpoint's tokenizer is a separate file ("tokenizer" in NAME.json). */
    if (convert(model, tok_rel ? tok : NULL, "f32", k32) || convert(model, tok_rel ? tok : NULL, "f16", k16)) {
        CHECK(0);
    } else {
        compare(&g, k32, F32_REL, 0);
        compare(&g, k16, F16_REL, 1);
        compare_cli(&g, meta, k32, dir);
    }
    unlink(k32);
    unlink(k16);
    rmdir(dir);
    for (uint32_t s = 0; s < g.n_seq; s++)
        free(g.seq[s].ids);
    free(g.seq);
    free(g.raw);
    json_decref(meta);
    return kvg_test_end();
}
