/* cmd_score.c — `kvgram score -m MODEL.kvg [FILE...]`: batch scoring.
 *
 * Input is streamed in batches of lines; each batch is scored in parallel
 * (OpenMP, one line per task) into per-thread output buffers and written in
 * input order; corpus totals are summed in input order too, so the output
 * does not depend on the thread count. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "kvg_reader.h"
#include "line_score.h"
#include "ngram.h"
#include "score_transformer.h"
#include "strbuf.h"

static const char *const score_help =
    "usage: kvgram score -m MODEL.kvg [options] [FILE...]\n"
    "\n"
    "Scores text, one sentence per line, from the FILEs or standard input.\n"
    "Words are separated by spaces or tabs. Each line is scored after a\n"
    "sentence-start context <s>, and </s> is scored at its end. Lines are\n"
    "scored in parallel on all cores and written in input order.\n"
    "\n"
    "  -m, --model FILE     the model (.kvg)\n"
    "  --no-bos             no <s> context at the start of a line\n"
    "  --no-eos             do not score </s> at the end of a line\n"
    "  -n                   both of the above (KenLM query's -n)\n"
    "  --per-token          also print every token: word, id, matched n-gram length, log10 p\n"
    "  --json               JSON lines (see below) instead of tab-separated text\n"
    "  --format F           tsv (default), json, kenlm: exactly what KenLM's query\n"
    "                       prints (per word `word=ID N log10p`, `Total: ... OOV: ...`,\n"
    "                       then the four summary lines), or summary: only those four\n"
    "                       lines (KenLM's `query -v summary`)\n"
    "  --no-summary         leave out the corpus summary\n"
    "  --threads N          threads (default: OMP_NUM_THREADS, else all cores)\n"
    "  --verify             check the model completely before scoring (every checksum,\n"
    "                       and the n-gram tables' structure, as `kvgram verify` does)\n"
    "  -h, --help           this help\n"
    "\n"
    "Transformer models (.kvg with general.kind transformer) take the same options\n"
    "(--format kenlm excepted) and these:\n"
    "  --document           each FILE is one text (not one text per line)\n"
    "  --window N           tokens the model sees at once (default: its context length)\n"
    "  --stride N           texts longer than the window are scored with windows every\n"
    "                       N tokens (default window/2); each token is scored once, with\n"
    "                       at least window - N tokens of left context, never truncated\n"
    "  --batch-tokens N     tokens per forward pass (default max(window, 512))\n"
    "The text is tokenized with the model's tokenizer; the model's BOS token (GPT-2:\n"
    "<|endoftext|>) is prepended when it has one, so every token is scored\n"
    "(--no-bos: never), and the output says so. n counts the predicted tokens,\n"
    "logprob is natural log per predicted token; no </s> is added.\n"
    "\n"
    "Output (tsv): a header line starting with '#', then per input line\n"
    "  line  total_log10  total_ln  oov  n     [word=id matched log10p ...]\n"
    "then '# summary' lines with totals and perplexities. `n` counts predicted\n"
    "tokens (</s> included); `oov` those not in the vocabulary (id 0).\n"
    "Output (json): per line {\"line\", \"n\", \"oov\", \"total_log10\", \"total_ln\"},\n"
    "with --per-token also \"ids\" (<s> first when used), \"tokens\", \"matched\",\n"
    "\"log10prob\" and \"logprob\" (natural log) per predicted token; the last object\n"
    "has \"summary\": true. Perplexity = 10^(-total_log10 / n) over the corpus.\n";

typedef enum { FMT_TSV, FMT_JSON, FMT_KENLM, FMT_SUMMARY } out_format;

typedef struct score_options {
    const char *model;
    int bos, eos, per_token, summary, verify, threads;
    out_format format;
    tf_score_options tf; /* transformer-only options (score_transformer.h) */
} score_options;

/* Corpus totals, summed in input order (KenLM's types: double sums of the
 * float line totals). */
typedef struct corpus_totals {
    uint64_t lines, tokens, oov;
    double total_log10, oov_log10;
} corpus_totals;

static const double LN10 = 2.302585092994045684;

static void format_line(const score_options *o, const kvg_ngram *m, uint64_t line_no, const kvg_line_score *ls,
                        strbuf *b)
{
    if (o->format == FMT_SUMMARY)
        return;
    if (o->format == FMT_KENLM) {
        for (size_t i = 0; i < ls->n; i++) {
            const kvg_token_score *t = &ls->tokens[i];
            sb_put(b, t->text, t->len);
            sb_putc(b, '=');
            sb_u64(b, t->id);
            sb_putc(b, ' ');
            sb_u64(b, t->matched);
            sb_putc(b, ' ');
            sb_float(b, t->log10p);
            sb_putc(b, '\t');
        }
        sb_puts(b, "Total: ");
        sb_float(b, ls->total_log10);
        sb_puts(b, " OOV: ");
        sb_u64(b, ls->oov);
        sb_putc(b, '\n');
        return;
    }
    if (o->format == FMT_TSV) {
        sb_u64(b, line_no);
        sb_putc(b, '\t');
        sb_float(b, ls->total_log10);
        sb_putc(b, '\t');
        sb_double(b, (double)ls->total_log10 * LN10);
        sb_putc(b, '\t');
        sb_u64(b, ls->oov);
        sb_putc(b, '\t');
        sb_u64(b, ls->n);
        if (o->per_token)
            for (size_t i = 0; i < ls->n; i++) {
                const kvg_token_score *t = &ls->tokens[i];
                sb_putc(b, '\t');
                sb_put(b, t->text, t->len);
                sb_putc(b, '=');
                sb_u64(b, t->id);
                sb_putc(b, ' ');
                sb_u64(b, t->matched);
                sb_putc(b, ' ');
                sb_float(b, t->log10p);
            }
        sb_putc(b, '\n');
        return;
    }
    sb_puts(b, "{\"line\":");
    sb_u64(b, line_no);
    sb_puts(b, ",\"n\":");
    sb_u64(b, ls->n);
    sb_puts(b, ",\"oov\":");
    sb_u64(b, ls->oov);
    sb_puts(b, ",\"total_log10\":");
    sb_json_num(b, ls->total_log10);
    sb_puts(b, ",\"total_ln\":");
    sb_json_num(b, (double)ls->total_log10 * LN10);
    if (o->per_token) {
        sb_puts(b, ",\"ids\":[");
        if (o->bos) {
            sb_u64(b, kvg_ngram_bos(m));
            if (ls->n)
                sb_putc(b, ',');
        }
        for (size_t i = 0; i < ls->n; i++) {
            if (i)
                sb_putc(b, ',');
            sb_u64(b, ls->tokens[i].id);
        }
        sb_puts(b, "],\"tokens\":[");
        if (o->bos) {
            sb_puts(b, "\"<s>\"");
            if (ls->n)
                sb_putc(b, ',');
        }
        for (size_t i = 0; i < ls->n; i++) {
            if (i)
                sb_putc(b, ',');
            sb_json_str(b, ls->tokens[i].text, ls->tokens[i].len);
        }
        sb_puts(b, "],\"matched\":[");
        for (size_t i = 0; i < ls->n; i++) {
            if (i)
                sb_putc(b, ',');
            sb_u64(b, ls->tokens[i].matched);
        }
        sb_puts(b, "],\"log10prob\":[");
        for (size_t i = 0; i < ls->n; i++) {
            if (i)
                sb_putc(b, ',');
            sb_json_num(b, ls->tokens[i].log10p);
        }
        sb_puts(b, "],\"logprob\":[");
        for (size_t i = 0; i < ls->n; i++) {
            if (i)
                sb_putc(b, ',');
            sb_json_num(b, (double)ls->tokens[i].log10p * LN10);
        }
        sb_putc(b, ']');
    }
    sb_puts(b, "}\n");
}

static void format_summary(const score_options *o, const corpus_totals *c, strbuf *b)
{
    double ppl = pow(10.0, -(c->total_log10 / (double)c->tokens));
    double ppl_excl = pow(10.0, -((c->total_log10 - c->oov_log10) / (double)(c->tokens - c->oov)));
    if (o->format == FMT_KENLM || o->format == FMT_SUMMARY) {
        sb_puts(b, "Perplexity including OOVs:\t");
        sb_double(b, ppl);
        sb_puts(b, "\nPerplexity excluding OOVs:\t");
        sb_double(b, ppl_excl);
        sb_puts(b, "\nOOVs:\t");
        sb_u64(b, c->oov);
        sb_puts(b, "\nTokens:\t");
        sb_u64(b, c->tokens);
        sb_putc(b, '\n');
    } else if (o->format == FMT_TSV) {
        sb_puts(b, "# summary\tlines ");
        sb_u64(b, c->lines);
        sb_puts(b, "\ttokens ");
        sb_u64(b, c->tokens);
        sb_puts(b, "\toov ");
        sb_u64(b, c->oov);
        sb_puts(b, "\ttotal_log10 ");
        sb_double(b, c->total_log10);
        sb_puts(b, "\tperplexity ");
        sb_double(b, ppl);
        sb_puts(b, "\tperplexity_excl_oov ");
        sb_double(b, ppl_excl);
        sb_putc(b, '\n');
    } else {
        sb_puts(b, "{\"summary\":true,\"lines\":");
        sb_u64(b, c->lines);
        sb_puts(b, ",\"n\":");
        sb_u64(b, c->tokens);
        sb_puts(b, ",\"oov\":");
        sb_u64(b, c->oov);
        sb_puts(b, ",\"total_log10\":");
        sb_json_num(b, c->total_log10);
        sb_puts(b, ",\"total_ln\":");
        sb_json_num(b, c->total_log10 * LN10);
        sb_puts(b, ",\"perplexity\":");
        sb_json_num(b, ppl);
        sb_puts(b, ",\"perplexity_excl_oov\":");
        sb_json_num(b, ppl_excl);
        sb_puts(b, "}\n");
    }
}

/* ---- batches ---- */

#define BATCH_LINES 8192
#define BATCH_BYTES (16u << 20)

typedef struct batch {
    char **lines;
    size_t *lens, *caps;
    size_t n;
    /* per line: where its output went */
    int *out_thread;
    size_t *out_off, *out_len;
    float *total;
    uint32_t *oov, *tokens;
    double *oov_log10;
    int *failed;
} batch;

static int batch_init(batch *b)
{
    memset(b, 0, sizeof *b);
    b->lines = calloc(BATCH_LINES, sizeof *b->lines);
    b->lens = calloc(BATCH_LINES, sizeof *b->lens);
    b->caps = calloc(BATCH_LINES, sizeof *b->caps);
    b->out_thread = calloc(BATCH_LINES, sizeof *b->out_thread);
    b->out_off = calloc(BATCH_LINES, sizeof *b->out_off);
    b->out_len = calloc(BATCH_LINES, sizeof *b->out_len);
    b->total = calloc(BATCH_LINES, sizeof *b->total);
    b->oov = calloc(BATCH_LINES, sizeof *b->oov);
    b->tokens = calloc(BATCH_LINES, sizeof *b->tokens);
    b->oov_log10 = calloc(BATCH_LINES, sizeof *b->oov_log10);
    b->failed = calloc(BATCH_LINES, sizeof *b->failed);
    return b->lines && b->lens && b->caps && b->out_thread && b->out_off && b->out_len && b->total && b->oov &&
                   b->tokens && b->oov_log10 && b->failed
               ? 0
               : -1;
}

static void batch_free(batch *b)
{
    for (size_t i = 0; i < BATCH_LINES && b->lines; i++)
        free(b->lines[i]);
    free(b->lines);
    free(b->lens);
    free(b->caps);
    free(b->out_thread);
    free(b->out_off);
    free(b->out_len);
    free(b->total);
    free(b->oov);
    free(b->tokens);
    free(b->oov_log10);
    free(b->failed);
}

/* Reads up to a batch of lines from in. Returns the number read (0 at end),
 * or -1 on a read error (errno set). */
static long read_batch(FILE *in, batch *b)
{
    size_t bytes = 0;
    b->n = 0;
    while (b->n < BATCH_LINES && bytes < BATCH_BYTES) {
        errno = 0;
        ssize_t got = getline(&b->lines[b->n], &b->caps[b->n], in);
        if (got < 0) {
            if (ferror(in))
                return -1;
            break;
        }
        size_t len = (size_t)got;
        if (len && b->lines[b->n][len - 1] == '\n')
            len--;
        b->lens[b->n++] = len;
        bytes += len;
    }
    return (long)b->n;
}

static int score_stream(FILE *in, const score_options *o, const kvg_ngram *m, strbuf *tbuf, int n_threads,
                        batch *b, corpus_totals *c, const char *name)
{
    for (;;) {
        long n = read_batch(in, b);
        if (n < 0) {
            fprintf(stderr, "kvgram: %s: read error: %s\n", name, strerror(errno));
            return -1;
        }
        if (n == 0)
            return 0;
        uint64_t first = c->lines + 1;
#pragma omp parallel num_threads(n_threads)
        {
            int t = omp_get_thread_num();
            strbuf *out = &tbuf[t];
            out->len = 0;
            kvg_line_score ls[KVG_LINE_GROUP];
            memset(ls, 0, sizeof ls);
            kvg_ngram_cache *cache = kvg_ngram_cache_new(m); /* NULL (no cache) if memory is short */
            for (int g = 0; g < KVG_LINE_GROUP; g++)
                ls[g].cache = cache;
            /* groups of lines, scored together (line_score.h) */
            long n_groups = (n + KVG_LINE_GROUP - 1) / KVG_LINE_GROUP;
#pragma omp for schedule(dynamic, 4)
            for (long grp = 0; grp < n_groups; grp++) {
                long i0 = grp * KVG_LINE_GROUP, k = n - i0 < KVG_LINE_GROUP ? n - i0 : KVG_LINE_GROUP;
                int failed = kvg_ngram_score_lines(m, (size_t)k, (const char *const *)&b->lines[i0], &b->lens[i0],
                                                   o->bos, o->eos, ls) != 0;
                for (long j = 0; j < k; j++) {
                    long i = i0 + j;
                    size_t start = out->len;
                    b->failed[i] = failed;
                    if (!failed)
                        format_line(o, m, first + (uint64_t)i, &ls[j], out);
                    b->failed[i] |= out->failed;
                    b->out_thread[i] = t;
                    b->out_off[i] = start;
                    b->out_len[i] = out->len - start;
                    b->total[i] = ls[j].total_log10;
                    b->oov[i] = ls[j].oov;
                    b->tokens[i] = (uint32_t)ls[j].n;
                    b->oov_log10[i] = ls[j].oov_log10;
                }
            }
            for (int g = 0; g < KVG_LINE_GROUP; g++)
                free(ls[g].tokens);
            kvg_ngram_cache_free(cache);
        }
        for (long i = 0; i < n; i++) {
            if (b->failed[i]) {
                fprintf(stderr, "kvgram: %s: line %llu: out of memory\n", name, (unsigned long long)(first + (uint64_t)i));
                return -1;
            }
            if (b->out_len[i]) /* none with --format summary (and no buffer then) */
                fwrite(tbuf[b->out_thread[i]].p + b->out_off[i], 1, b->out_len[i], stdout);
            c->lines++;
            c->tokens += b->tokens[i];
            c->oov += b->oov[i];
            c->total_log10 += b->total[i];
            c->oov_log10 += b->oov_log10[i];
        }
        if (ferror(stdout)) {
            fprintf(stderr, "kvgram: <stdout>: write error: %s\n", strerror(errno));
            return -1;
        }
    }
}

static int parse_options(int argc, char **argv, score_options *o, const char ***files, int *n_files)
{
    *o = (score_options){NULL, 1, 1, 0, 1, 0, 0, FMT_TSV, {0}};
    *n_files = 0;
    *files = calloc((size_t)argc, sizeof **files);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(score_help, stdout);
            return 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (++i == argc)
                return cli_usage_error("score", "%s needs a file", a);
            o->model = argv[i];
        } else if (!strcmp(a, "--no-bos")) {
            o->bos = 0;
        } else if (!strcmp(a, "--no-eos")) {
            o->eos = 0;
        } else if (!strcmp(a, "-n")) {
            o->bos = o->eos = 0;
        } else if (!strcmp(a, "--per-token")) {
            o->per_token = 1;
        } else if (!strcmp(a, "--json")) {
            o->format = FMT_JSON;
        } else if (!strcmp(a, "--no-summary")) {
            o->summary = 0;
        } else if (!strcmp(a, "--verify")) {
            o->verify = 1;
        } else if (!strcmp(a, "--format")) {
            if (++i == argc)
                return cli_usage_error("score", "--format needs tsv, json, kenlm or summary");
            if (!strcmp(argv[i], "tsv"))
                o->format = FMT_TSV;
            else if (!strcmp(argv[i], "json"))
                o->format = FMT_JSON;
            else if (!strcmp(argv[i], "kenlm"))
                o->format = FMT_KENLM;
            else if (!strcmp(argv[i], "summary"))
                o->format = FMT_SUMMARY;
            else
                return cli_usage_error("score", "unknown format \"%s\" (tsv, json, kenlm or summary)", argv[i]);
        } else if (!strcmp(a, "--threads")) {
            char *end;
            long t = ++i < argc ? strtol(argv[i], &end, 10) : 0;
            if (i == argc || *end || t < 1 || t > 4096)
                return cli_usage_error("score", "--threads needs a number from 1 to 4096");
            o->threads = (int)t;
        } else if (!strcmp(a, "--document")) {
            o->tf.document = 1;
        } else if (!strcmp(a, "--window") || !strcmp(a, "--stride") || !strcmp(a, "--batch-tokens")) {
            char *end;
            long v = ++i < argc ? strtol(argv[i], &end, 10) : 0;
            if (i == argc || *end || v < 1 || v > (1L << 30))
                return cli_usage_error("score", "%s needs a number of tokens", a);
            *(a[2] == 'w' ? &o->tf.window : a[2] == 's' ? &o->tf.stride : &o->tf.batch_tokens) = (uint32_t)v;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("score", "unknown option %s", a);
        } else {
            (*files)[(*n_files)++] = a;
        }
    }
    if (!o->model)
        return cli_usage_error("score", "missing -m MODEL.kvg");
    return 0;
}

int cmd_score(int argc, char **argv)
{
    score_options o;
    const char **files;
    int n_files;
    int rc = parse_options(argc, argv, &o, &files, &n_files);
    if (rc) {
        free(files);
        return rc == 1 ? 0 : rc;
    }
    kvg_error err;
    kvg_file *f = NULL;
    kvg_ngram *m = NULL;
    strbuf *tbuf = NULL;
    batch b;
    memset(&b, 0, sizeof b);
    rc = 1;
    const kvg_meta *kind;
    if (kvg_open(o.model, &f, &err) || (o.verify && kvg_verify_file(f, &err))) {
        cli_print_error(&err);
        goto done;
    }
    kind = kvg_meta_find(f, "general.kind");
    if (kind && kind->type == KVG_META_STR && kind->count == 11 && !memcmp(kind->value, "transformer", 11)) {
        if (o.format == FMT_KENLM || o.format == FMT_SUMMARY) {
            rc = cli_usage_error("score", "--format %s is for n-gram models",
                                 o.format == FMT_KENLM ? "kenlm" : "summary");
            goto done;
        }
        o.tf.bos = o.bos;
        o.tf.per_token = o.per_token;
        o.tf.summary = o.summary;
        o.tf.json = o.format == FMT_JSON;
        o.tf.threads = o.threads;
        rc = score_transformer(&o.tf, f, files, n_files);
        goto done;
    }
    if (o.tf.document || o.tf.window || o.tf.stride || o.tf.batch_tokens) {
        rc = cli_usage_error("score", "--document, --window, --stride and --batch-tokens are for transformer models");
        goto done;
    }
    if (kvg_ngram_open(f, &m, &err) ||
        (o.verify && kvg_ngram_check(m, &err))) {
        cli_print_error(&err);
        goto done;
    }
    int n_threads = o.threads ? o.threads : omp_get_max_threads();
    tbuf = calloc((size_t)n_threads, sizeof *tbuf);
    if (!tbuf || batch_init(&b)) {
        fprintf(stderr, "kvgram: out of memory\n");
        goto done;
    }
    if (cli_inputs_readable(files, n_files))
        goto done;
    if (o.format == FMT_TSV)
        fputs(o.per_token ? "#line\ttotal_log10\ttotal_ln\toov\tn\tword=id matched log10p ...\n"
                          : "#line\ttotal_log10\ttotal_ln\toov\tn\n",
              stdout);
    corpus_totals c = {0};
    if (n_files == 0) {
        if (score_stream(stdin, &o, m, tbuf, n_threads, &b, &c, "<stdin>"))
            goto done;
    }
    for (int i = 0; i < n_files; i++) {
        FILE *in = strcmp(files[i], "-") ? fopen(files[i], "r") : stdin;
        if (!in) {
            fprintf(stderr, "kvgram: %s: cannot open: %s\n", files[i], strerror(errno));
            goto done;
        }
        int bad = score_stream(in, &o, m, tbuf, n_threads, &b, &c, files[i]);
        if (in != stdin)
            fclose(in);
        if (bad)
            goto done;
    }
    if (o.summary) {
        strbuf s = {0};
        format_summary(&o, &c, &s);
        fwrite(s.p, 1, s.len, stdout);
        sb_free(&s);
    }
    if (cli_flush_stdout())
        goto done;
    rc = 0;
done:
    for (int t = 0; tbuf && t < n_threads; t++)
        sb_free(&tbuf[t]);
    free(tbuf);
    batch_free(&b);
    kvg_ngram_close(m);
    kvg_close(f);
    free(files);
    return rc;
}
