/* score_transformer.c — `kvgram score -m TRANSFORMER.kvg`.
 *
 * Texts (lines, or whole files with --document) are read in chunks; each
 * chunk is tokenized in parallel, BOS prepended when the model expects it,
 * and scored by tf_score (windows of all texts packed into batches, each
 * batch one forward pass). Results are printed in input order, and corpus
 * totals summed in input order, so the output does not depend on the thread
 * count. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "score_transformer.h"
#include "strbuf.h"
#include "tf_score.h"
#include "tokenizer.h"

#define CHUNK_LINES 1024
#define CHUNK_BYTES (4u << 20)

static const double LN10 = 2.302585092994045684;

typedef struct text {
    char *s;
    size_t len, cap;
    uint32_t *ids;  /* BOS (when used) + the tokens */
    size_t n_ids;
    float *logprob; /* [n_ids - 1] */
    int failed;
} text;

typedef struct ctx {
    const tf_score_options *o;
    const kvg_tokenizer *tok;
    kvg_tf_scorer *scorer;
    uint32_t bos;   /* KVG_TOKEN_NONE when not prepended */
    text *texts;
    uint64_t n_lines, n_tokens;
    double total_ln;
} ctx;

/* A token's text for TSV: tabs, newlines and backslashes escaped. */
static void put_piece_tsv(strbuf *b, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\t')
            sb_puts(b, "\\t");
        else if (p[i] == '\n')
            sb_puts(b, "\\n");
        else if (p[i] == '\r')
            sb_puts(b, "\\r");
        else if (p[i] == '\\')
            sb_puts(b, "\\\\");
        else
            sb_putc(b, p[i]);
    }
}

static void format_text(const ctx *c, uint64_t line_no, const char *file, const text *t, double total_ln, strbuf *b)
{
    const size_t n = t->n_ids ? t->n_ids - 1 : 0;
    if (!c->o->json) {
        sb_u64(b, line_no);
        sb_putc(b, '\t');
        sb_double(b, total_ln / LN10);
        sb_putc(b, '\t');
        sb_double(b, total_ln);
        sb_puts(b, "\t0\t");
        sb_u64(b, n);
        for (size_t i = 0; c->o->per_token && i < n; i++) {
            size_t len;
            const char *p = kvg_tokenizer_piece(c->tok, t->ids[i + 1], &len);
            sb_putc(b, '\t');
            put_piece_tsv(b, p ? p : "", p ? len : 0);
            sb_putc(b, '=');
            sb_u64(b, t->ids[i + 1]);
            sb_putc(b, ' ');
            sb_float(b, (float)(t->logprob[i] / LN10));
        }
        sb_putc(b, '\n');
        return;
    }
    sb_puts(b, "{\"line\":");
    sb_u64(b, line_no);
    if (file) {
        sb_puts(b, ",\"file\":");
        sb_json_str(b, file, strlen(file));
    }
    sb_puts(b, ",\"n\":");
    sb_u64(b, n);
    sb_puts(b, ",\"oov\":0,\"total_log10\":");
    sb_json_num(b, total_ln / LN10);
    sb_puts(b, ",\"total_ln\":");
    sb_json_num(b, total_ln);
    if (c->o->per_token) {
        sb_puts(b, ",\"ids\":[");
        for (size_t i = 0; i < t->n_ids; i++) {
            if (i)
                sb_putc(b, ',');
            sb_u64(b, t->ids[i]);
        }
        sb_puts(b, "],\"tokens\":[");
        for (size_t i = 0; i < t->n_ids; i++) {
            size_t len;
            const char *p = kvg_tokenizer_piece(c->tok, t->ids[i], &len);
            if (i)
                sb_putc(b, ',');
            sb_json_str(b, p ? p : "", p ? len : 0);
        }
        sb_puts(b, "],\"logprob\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_putc(b, ',');
            sb_json_num(b, t->logprob[i]);
        }
        sb_puts(b, "],\"log10prob\":[");
        for (size_t i = 0; i < n; i++) {
            if (i)
                sb_putc(b, ',');
            sb_json_num(b, t->logprob[i] / LN10);
        }
        sb_putc(b, ']');
    }
    sb_puts(b, "}\n");
}

/* Tokenizes, scores and prints texts[0..n). Returns 0 or -1 (error printed). */
static int score_chunk(ctx *c, size_t n, const char *name, const char *file)
{
    kvg_error err;
    int bad = 0;
#pragma omp parallel for schedule(dynamic, 8) reduction(| : bad)
    for (long i = 0; i < (long)n; i++) {
        text *t = &c->texts[i];
        uint32_t *ids = NULL;
        size_t k = 0;
        kvg_error e;
        free(t->ids);
        free(t->logprob);
        t->ids = NULL;
        t->logprob = NULL;
        t->failed = kvg_tokenizer_encode(c->tok, t->s, t->len, &ids, &k, &e) != 0;
        if (!t->failed) {
            size_t add = c->bos != KVG_TOKEN_NONE;
            t->n_ids = k + add;
            t->ids = malloc((t->n_ids + 1) * sizeof *t->ids);
            t->logprob = malloc((t->n_ids + 1) * sizeof *t->logprob);
            t->failed = !t->ids || !t->logprob;
            if (!t->failed) {
                if (add)
                    t->ids[0] = c->bos;
                if (k)
                    memcpy(t->ids + add, ids, k * sizeof *ids);
            }
        }
        free(ids);
        bad |= t->failed;
    }
    if (bad) {
        fprintf(stderr, "kvgram: %s: out of memory while tokenizing\n", name);
        return -1;
    }
    const uint32_t **ids = malloc(n * sizeof *ids);
    size_t *lens = malloc(n * sizeof *lens);
    float **lp = malloc(n * sizeof *lp);
    if (!ids || !lens || !lp) {
        free(ids), free(lens), free(lp);
        fprintf(stderr, "kvgram: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = c->texts[i].ids;
        lens[i] = c->texts[i].n_ids;
        lp[i] = c->texts[i].logprob;
    }
    int rc = kvg_tf_score(c->scorer, n, ids, lens, lp, &err);
    free(ids), free(lens), free(lp);
    if (rc) {
        fprintf(stderr, "kvgram: %s: %s\n", name, err.msg);
        return -1;
    }
    strbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        const text *t = &c->texts[i];
        double total = 0;
        for (size_t j = 0; j + 1 < t->n_ids; j++)
            total += t->logprob[j];
        c->n_lines++;
        c->n_tokens += t->n_ids ? t->n_ids - 1 : 0;
        c->total_ln += total;
        format_text(c, c->n_lines, file, t, total, &b);
    }
    fwrite(b.p, 1, b.len, stdout);
    int failed = b.failed;
    sb_free(&b);
    if (failed || ferror(stdout)) {
        fprintf(stderr, "kvgram: <stdout>: write error%s\n", failed ? " (out of memory)" : "");
        return -1;
    }
    return 0;
}

/* Reads up to a chunk of lines (or, with --document, the whole stream as one text). */
static long read_chunk(FILE *in, ctx *c)
{
    size_t n = 0, bytes = 0;
    if (c->o->document) {
        text *t = &c->texts[0];
        t->len = 0;
        char buf[65536];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, in)) > 0) {
            if (t->len + got + 1 > t->cap) {
                size_t cap = (t->len + got + 1) * 2;
                char *s = realloc(t->s, cap);
                if (!s)
                    return errno = ENOMEM, -1;
                t->s = s, t->cap = cap;
            }
            memcpy(t->s + t->len, buf, got);
            t->len += got;
        }
        return ferror(in) ? -1 : 1;
    }
    while (n < CHUNK_LINES && bytes < CHUNK_BYTES) {
        text *t = &c->texts[n];
        ssize_t got = getline(&t->s, &t->cap, in);
        if (got < 0)
            return ferror(in) ? -1 : (long)n;
        t->len = (size_t)got;
        if (t->len && t->s[t->len - 1] == '\n')
            t->len--;
        bytes += t->len;
        n++;
    }
    return (long)n;
}

static int score_stream(ctx *c, FILE *in, const char *name)
{
    int first = 1;
    for (;;) {
        long n = read_chunk(in, c);
        if (n < 0) {
            fprintf(stderr, "kvgram: %s: read error: %s\n", name, strerror(errno));
            return -1;
        }
        if (n == 0 || (c->o->document && !first))
            return 0;
        if (score_chunk(c, (size_t)n, name, c->o->document ? name : NULL))
            return -1;
        if (c->o->document)
            return 0;
        first = 0;
    }
}

static void print_summary(const ctx *c)
{
    strbuf b = {0};
    double ppl = c->n_tokens ? exp(-c->total_ln / (double)c->n_tokens) : NAN;
    if (c->o->json) {
        sb_puts(&b, "{\"summary\":true,\"lines\":");
        sb_u64(&b, c->n_lines);
        sb_puts(&b, ",\"n\":");
        sb_u64(&b, c->n_tokens);
        sb_puts(&b, ",\"oov\":0,\"total_log10\":");
        sb_json_num(&b, c->total_ln / LN10);
        sb_puts(&b, ",\"total_ln\":");
        sb_json_num(&b, c->total_ln);
        sb_puts(&b, ",\"perplexity\":");
        sb_json_num(&b, ppl);
        sb_puts(&b, ",\"bos\":");
        sb_puts(&b, c->bos != KVG_TOKEN_NONE ? "true" : "false");
        sb_puts(&b, "}\n");
    } else {
        sb_puts(&b, "# summary\tlines ");
        sb_u64(&b, c->n_lines);
        sb_puts(&b, "\ttokens ");
        sb_u64(&b, c->n_tokens);
        sb_puts(&b, "\toov 0\ttotal_log10 ");
        sb_double(&b, c->total_ln / LN10);
        sb_puts(&b, "\ttotal_ln ");
        sb_double(&b, c->total_ln);
        sb_puts(&b, "\tperplexity ");
        sb_double(&b, ppl);
        sb_putc(&b, '\n');
    }
    fwrite(b.p, 1, b.len, stdout);
    sb_free(&b);
}

int score_transformer(const tf_score_options *o, const kvg_file *f, const char *const *files, int n_files)
{
    kvg_error err;
    kvg_transformer *m = NULL;
    kvg_tokenizer *tok = NULL;
    ctx c = {o, NULL, NULL, KVG_TOKEN_NONE, NULL, 0, 0, 0};
    int rc = 1;
    if (o->threads)
        omp_set_num_threads(o->threads);
    /* Tokenizing runs on the team and the kernels open their own regions
     * from serial code; a region inside a region must never get a second
     * team (OMP_NESTED / OMP_MAX_ACTIVE_LEVELS in the environment), or the
     * threads would multiply. */
    omp_set_max_active_levels(1);
    if (kvg_transformer_open(f, &m, &err))
        goto fail;
    if (!kvg_meta_find(f, "tokenizer.n_tokens")) {
        kvg_errorf(&err, kvg_path(f), "the model has no tokenizer (convert it with its tokenizer)");
        goto fail;
    }
    if (kvg_tokenizer_open(f, &tok, &err) || kvg_tf_scorer_new(m, o->window, o->stride, o->batch_tokens, &c.scorer, &err))
        goto fail;
    c.tok = tok;
    /* Scoring prepends the model's BOS whenever it has one, even where its
     * tokenizer does not add it when encoding (GPT-2's <|endoftext|>): so the
     * first token of every text is scored too, as the reference does. */
    if (o->bos && kvg_tokenizer_bos(tok) < m->c.vocab_size)
        c.bos = kvg_tokenizer_bos(tok);
    c.texts = calloc(CHUNK_LINES, sizeof *c.texts);
    if (!c.texts) {
        kvg_errorf(&err, NULL, "out of memory");
        goto fail;
    }
    if (cli_inputs_readable(files, n_files))
        goto done;
    if (!o->json) {
        if (c.bos != KVG_TOKEN_NONE) {
            size_t len;
            const char *p = kvg_tokenizer_piece(tok, c.bos, &len);
            strbuf piece = {0};
            put_piece_tsv(&piece, p ? p : "", p ? len : 0);
            printf("# bos: %.*s (id %u) prepended to every %s; n counts the tokens after it\n", (int)piece.len,
                   piece.p ? piece.p : "", c.bos, o->document ? "document" : "line");
            sb_free(&piece);
        } else {
            printf("# bos: none prepended; the first token of each %s is not scored\n",
                   o->document ? "document" : "line");
        }
        fputs(o->per_token ? "#line\ttotal_log10\ttotal_ln\toov\tn\ttoken=id log10p ...\n"
                           : "#line\ttotal_log10\ttotal_ln\toov\tn\n",
              stdout);
    }
    if (n_files == 0 && score_stream(&c, stdin, "<stdin>"))
        goto done;
    for (int i = 0; i < n_files; i++) {
        FILE *in = strcmp(files[i], "-") ? fopen(files[i], "r") : stdin;
        if (!in) {
            fprintf(stderr, "kvgram: %s: cannot open: %s\n", files[i], strerror(errno));
            goto done;
        }
        int bad = score_stream(&c, in, files[i]);
        if (in != stdin)
            fclose(in);
        if (bad)
            goto done;
    }
    if (o->summary)
        print_summary(&c);
    if (cli_flush_stdout())
        goto done;
    rc = 0;
    goto done;
fail:
    cli_print_error(&err);
done:
    for (size_t i = 0; c.texts && i < CHUNK_LINES; i++) {
        free(c.texts[i].s);
        free(c.texts[i].ids);
        free(c.texts[i].logprob);
    }
    free(c.texts);
    kvg_tf_scorer_free(c.scorer);
    kvg_tokenizer_free(tok);
    kvg_transformer_free(m);
    return rc;
}
