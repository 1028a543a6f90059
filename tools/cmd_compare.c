/* cmd_compare.c — `kvgram compare`: a transformer and a token-level n-gram
 * model side by side, token by token (issue 7; Nguyen 2024, "Understanding
 * Transformers via N-gram Statistics").
 *
 * Lines are read in chunks and tokenized on all cores with the
 * transformer's tokenizer (BOS prepended as `kvgram score` does). The
 * transformer runs them through tf_score's windows and batches; each
 * predicted token's full log-softmax row goes, on the thread that computed
 * it, to compare_row, which takes the n-gram model's distribution at the
 * same history (from its continuation index) and the suffix rules of the
 * counted model, and leaves one record. Records are then folded into the
 * summary and printed in input order, so the output does not depend on the
 * thread count. */
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "compare_report.h"
#include "text_output.h"
#include "tf_score.h"
#include "tok_ngram.h"
#include "transformer.h"

#define CHUNK_LINES 1024
#define HTML_MAX_POSITIONS 20000 /* the per-token view holds the first texts up to this many tokens */

static const char *const compare_help =
    "usage: kvgram compare -m TRANSFORMER.kvg -n NGRAM.kvg [options] [FILE...]\n"
    "\n"
    "Compares a transformer with an n-gram model built over its tokens\n"
    "(`kvgram ngram build --tokenizer TRANSFORMER.kvg`), position by position,\n"
    "on text read one sentence per line (stdin without FILE, or with -).\n"
    "Each line is tokenized by the transformer's tokenizer, BOS prepended as\n"
    "`kvgram score` does; the n-gram model sees the same tokens after <s>.\n"
    "Both next-token distributions are taken over the tokenizer's ids; the\n"
    "n-gram's mass on </s> and <unk> is left out and the rest renormalized.\n"
    "Per position: log-prob of the actual token under each model, each\n"
    "model's top-1 and whether they agree, KL(transformer || n-gram), total\n"
    "variation, the n-gram context length matched, and (with --rules) the\n"
    "best suffix rule: among the counted distributions after the last\n"
    "1..N-1 tokens (only contexts seen in training), the one closest to the\n"
    "transformer in total variation. The summary adds perplexities, agreement\n"
    "by context length, the share of positions whose transformer top-1 the\n"
    "best rule explains, and the best interpolation weight lambda for\n"
    "lambda p_T + (1 - lambda) p_N with its perplexity (fitted on this text).\n"
    "\n"
    "  -m, --model FILE      the transformer (.kvg with its tokenizer)\n"
    "  -n, --ngram FILE      the token-level n-gram model (any smoothing)\n"
    "  --rules FILE          a maximum-likelihood model over the same tokens\n"
    "                        (`kvgram ngram build --smoothing mle --tokenizer ...`):\n"
    "                        its stored continuations are the suffix rules;\n"
    "                        without it the rule metrics are skipped\n"
    "  --json FILE           per-token JSON lines, then a summary object; - for stdout\n"
    "                        (then the table is not printed)\n"
    "  --html FILE           a self-contained HTML report (summary and tokens)\n"
    "  --no-bos              do not prepend the model's BOS\n"
    "  --window N, --stride N, --batch N   as for `kvgram score`\n"
    "  -t, --threads N       threads (default: all cores)\n"
    "  --timing              print to stderr the CPU seconds spent in the n-gram\n"
    "                        distributions and the rules (to measure the cost of\n"
    "                        the rest against `kvgram score`)\n"
    "  -h, --help            this help\n";

typedef struct text {
    char *s;
    size_t cap, len;
    uint32_t *ids; /* BOS (when used) + the tokens */
    size_t n_ids;
    cmp_position *pos; /* [n_ids - 1] */
} text;

/* Per-thread scratch for compare_row. */
typedef struct scratch {
    float *ngram_log10; /* [n-gram vocabulary] */
    double *p_t, *p_n;  /* [n_tok] */
    double ngram_seconds, rules_seconds; /* --timing: thread CPU time in the n-gram distribution, the rules */
    char pad[64];       /* keeps neighbours' counters off this cache line */
} scratch;

static const double LN10 = 2.302585092994045684;

static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct cmp_ctx {
    const kvg_tokenizer *tok;
    kvg_tok_ngram ngram, rules;
    int have_rules, timing;
    uint32_t bos;      /* KVG_TOKEN_NONE when not prepended */
    text *texts;
    scratch *scr;      /* [threads] */
} cmp_ctx;

/* The work at one predicted token: called by tf_score on the thread that ran
 * the batch's softmax. lp[V] = ln p_T(. | ids[0..j]); predicts ids[j + 1]. */
static void compare_row(void *user, size_t seq, size_t j, const float *lp)
{
    cmp_ctx *c = user;
    text *t = &c->texts[seq];
    scratch *s = &c->scr[omp_get_thread_num()];
    cmp_position *p = &t->pos[j];
    const uint32_t n = c->ngram.n_tokens;
    const uint32_t y = t->ids[j + 1];
    /* the n-gram history: the text's tokens before y (the BOS, if any, is <s>) */
    size_t skip = c->bos != KVG_TOKEN_NONE;
    const uint32_t *hist = t->ids + skip;
    size_t n_hist = j + 1 - skip;

    p->target = y;
    p->lp_t = lp[y];
    double ln_zt;
    p->top_t = cmp_probs_from_logprobs(lp, n, s->p_t, &ln_zt);

    double t0 = c->timing ? thread_cpu_seconds() : 0;
    kvg_ngram_state st;
    kvg_tok_ngram_state(&c->ngram, hist, n_hist, &st);
    p->ctx_len = st.len;
    kvg_ngram_state next;
    kvg_ngram_score(c->ngram.m, &st, y + c->ngram.offset, &next, &p->matched);
    /* ln p_N[i] = ln 10 * log10 P(i + offset) - ln(token mass) */
    double ln_zn = log(kvg_tok_ngram_distribution(&c->ngram, &st, s->ngram_log10, s->p_n));
    const float *l10 = s->ngram_log10 + c->ngram.offset;
    p->lp_n = LN10 * l10[y] - ln_zn;
    p->top_n = cmp_argmax(s->p_n, n);
    if (c->timing)
        s->ngram_seconds += thread_cpu_seconds() - t0;
    cmp_divergences(s->p_t, lp, ln_zt, s->p_n, l10, LN10, ln_zn, n, &p->kl, &p->tv);

    p->rule = (cmp_rule){0, 0, NAN};
    p->any_rule_agree = 0;
    if (c->have_rules) {
        t0 = c->timing ? thread_cpu_seconds() : 0;
        kvg_ngram_state rs;
        kvg_tok_ngram_state(&c->rules, hist, n_hist, &rs);
        cmp_best_rule(&c->rules, &rs, s->p_t, p->top_t, &p->rule, &p->any_rule_agree);
        if (c->timing)
            s->rules_seconds += thread_cpu_seconds() - t0;
    }
}

typedef struct run {
    cmp_ctx c;
    kvg_tf_scorer *scorer;
    cmp_summary sum;
    text_output json;
    int json_on, html_on, table;
    strbuf out;
    cmp_html_text *kept; /* texts kept for the HTML page */
    size_t n_kept, cap_kept, kept_positions;
    uint64_t omitted;    /* positions left out of the page */
} run;

/* Keeps a text (moving its ids and records out) for the HTML page while the page has room. */
static void keep_for_html(run *r, text *t, uint64_t line)
{
    size_t n = t->n_ids - 1;
    if (r->kept_positions + n > HTML_MAX_POSITIONS) {
        r->omitted += n;
        return;
    }
    if (r->n_kept == r->cap_kept) {
        size_t cap = r->cap_kept ? 2 * r->cap_kept : 64;
        cmp_html_text *k = realloc(r->kept, cap * sizeof *k);
        if (!k) {
            r->omitted += n;
            return;
        }
        r->kept = k, r->cap_kept = cap;
    }
    r->kept[r->n_kept++] = (cmp_html_text){line, t->ids, t->n_ids, t->pos};
    r->kept_positions += n;
    t->ids = NULL;
    t->pos = NULL;
}

/* Tokenizes, compares and reports texts[0..n). Returns 0 or -1 (error printed). */
static int compare_chunk(run *r, size_t n, const char *name)
{
    cmp_ctx *c = &r->c;
    int bad = 0;
#pragma omp parallel for schedule(dynamic, 8) reduction(| : bad)
    for (long i = 0; i < (long)n; i++) {
        text *t = &c->texts[i];
        uint32_t *ids = NULL;
        size_t k = 0, add = c->bos != KVG_TOKEN_NONE;
        kvg_error e;
        free(t->ids);
        free(t->pos);
        t->ids = NULL, t->pos = NULL, t->n_ids = 0;
        int failed = kvg_tokenizer_encode(c->tok, t->s, t->len, &ids, &k, &e) != 0;
        if (!failed) {
            t->n_ids = k + add;
            t->ids = malloc((t->n_ids + 1) * sizeof *t->ids);
            t->pos = malloc((t->n_ids + 1) * sizeof *t->pos);
            failed = !t->ids || !t->pos;
            if (!failed) {
                if (add)
                    t->ids[0] = c->bos;
                if (k)
                    memcpy(t->ids + add, ids, k * sizeof *ids);
            }
        }
        free(ids);
        bad |= failed;
    }
    if (bad) {
        fprintf(stderr, "kvgram: %s: out of memory while tokenizing\n", name);
        return -1;
    }
    const uint32_t **ids = malloc(n * sizeof *ids);
    size_t *lens = malloc(n * sizeof *lens);
    if (!ids || !lens) {
        free(ids), free(lens);
        fprintf(stderr, "kvgram: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = c->texts[i].ids;
        lens[i] = c->texts[i].n_ids;
    }
    kvg_error err;
    int rc = kvg_tf_score_rows(r->scorer, n, ids, lens, compare_row, c, &err);
    free(ids), free(lens);
    if (rc) {
        fprintf(stderr, "kvgram: %s: %s\n", name, err.msg);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        text *t = &c->texts[i];
        uint64_t line = ++r->sum.lines;
        for (size_t j = 0; j + 1 < t->n_ids; j++) {
            cmp_summary_add(&r->sum, &t->pos[j]);
            if (r->json_on)
                cmp_position_json(&r->out, c->tok, line, j, &t->pos[j], c->have_rules);
        }
        if (r->html_on && t->n_ids > 1)
            keep_for_html(r, t, line);
        if (r->out.len >= (1u << 20)) {
            fwrite(r->out.p, 1, r->out.len, r->json.f);
            r->out.len = 0;
        }
    }
    if (r->sum.failed || r->out.failed) {
        fprintf(stderr, "kvgram: out of memory\n");
        return -1;
    }
    return 0;
}

/* Compares one input stream, chunk by chunk (a cli_input_fn). */
static int compare_stream(void *user, FILE *in, const char *name)
{
    run *r = user;
    for (;;) {
        size_t n = 0;
        while (n < CHUNK_LINES) {
            text *t = &r->c.texts[n];
            ssize_t got = getline(&t->s, &t->cap, in);
            if (got < 0)
                break;
            t->len = (size_t)got;
            if (t->len && t->s[t->len - 1] == '\n')
                t->len--;
            n++;
        }
        if (ferror(in)) {
            fprintf(stderr, "kvgram: %s: read error: %s\n", name, strerror(errno));
            return -1;
        }
        if (n == 0)
            return 0;
        if (compare_chunk(r, n, name))
            return -1;
        if (n < CHUNK_LINES)
            return 0;
    }
}

/* Opens an n-gram model and pairs it with the transformer's tokenizer. */
static int open_ngram(const char *path, const kvg_tokenizer *tok, uint32_t vocab, kvg_file **f, kvg_ngram **m,
                      kvg_tok_ngram *t, kvg_error *err)
{
    return kvg_open(path, f, err) || kvg_ngram_open(*f, m, err) || kvg_tok_ngram_bind(*f, *m, tok, vocab, t, err)
               ? -1
               : 0;
}

/* A suffix-rule model must hold counted distributions. */
static int check_mle(const kvg_file *f, kvg_error *err)
{
    const char *conv;
    uint64_t len;
    kvg_error e;
    static const char mark[] = "(maximum likelihood)";
    if (kvg_meta_get_str(f, "general.converter", &conv, &len, &e) == 0)
        for (uint64_t i = 0; i + sizeof mark - 1 <= len; i++)
            if (!memcmp(conv + i, mark, sizeof mark - 1))
                return 0;
    return kvg_errorf(err, kvg_path(f),
                      "--rules needs a maximum-likelihood model (`kvgram ngram build --smoothing mle --tokenizer ...`)");
}

/* --timing: CPU seconds of the whole process and of the n-gram parts (summed over threads). */
static void print_timing(const cmp_ctx *c, int n_threads)
{
    double ngram = 0, rules = 0;
    for (int i = 0; i < n_threads; i++)
        ngram += c->scr[i].ngram_seconds, rules += c->scr[i].rules_seconds;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double total = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
                   1e-6 * (double)ru.ru_stime.tv_usec;
    fprintf(stderr,
            "kvgram compare: CPU seconds: process %.3f, n-gram distributions %.3f, suffix rules %.3f, "
            "the rest %.3f\n",
            total, ngram, rules, total - ngram - rules);
}

typedef struct options {
    const char *model, *ngram, *rules, *json, *html;
    int bos, threads, timing;
    uint32_t window, stride, batch;
} options;

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, options *o, const char ***files, int *n_files)
{
    *o = (options){NULL, NULL, NULL, NULL, NULL, 1, 0, 0, 0, 0, 0};
    *files = calloc((size_t)argc, sizeof **files);
    *n_files = 0;
    if (!*files)
        return cli_usage_error("compare", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = NULL;
        uint32_t *num = NULL;
        if (!strcmp(a, "-m") || !strcmp(a, "--model"))
            target = &o->model;
        else if (!strcmp(a, "-n") || !strcmp(a, "--ngram"))
            target = &o->ngram;
        else if (!strcmp(a, "--rules"))
            target = &o->rules;
        else if (!strcmp(a, "--json"))
            target = &o->json;
        else if (!strcmp(a, "--html"))
            target = &o->html;
        else if (!strcmp(a, "--window"))
            num = &o->window;
        else if (!strcmp(a, "--stride"))
            num = &o->stride;
        else if (!strcmp(a, "--batch"))
            num = &o->batch;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            uint32_t t;
            if (++i == argc || parse_u32(argv[i], &t) || t < 1 || t > 4096)
                return cli_usage_error("compare", "%s takes a thread count (1 to 4096)", a);
            o->threads = (int)t;
            continue;
        } else if (!strcmp(a, "--timing")) {
            o->timing = 1;
            continue;
        } else if (!strcmp(a, "--no-bos")) {
            o->bos = 0;
            continue;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("compare", "unknown option %s", a);
        } else {
            (*files)[(*n_files)++] = a;
            continue;
        }
        if (++i == argc)
            return cli_usage_error("compare", "%s needs a value", a);
        if (target)
            *target = argv[i];
        else if (parse_u32(argv[i], num))
            return cli_usage_error("compare", "%s takes a non-negative number, not \"%s\"", a, argv[i]);
    }
    if (!o->model || !o->ngram)
        return cli_usage_error("compare", "give the transformer (-m) and the n-gram model (-n)");
    return 0;
}

int cmd_compare(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (cli_is_help(argv[i])) {
            fputs(compare_help, stdout);
            return 0;
        }
    options o;
    const char **files;
    int n_files;
    int rc = parse_args(argc, argv, &o, &files, &n_files);
    if (rc) {
        free(files);
        return rc;
    }
    if (o.threads)
        omp_set_num_threads(o.threads);
    kvg_error err;
    kvg_file *tf_file = NULL, *ng_file = NULL, *rules_file = NULL;
    kvg_transformer *m = NULL;
    kvg_tokenizer *tok = NULL;
    kvg_ngram *ng = NULL, *rules = NULL;
    run r;
    memset(&r, 0, sizeof r);
    r.c.bos = KVG_TOKEN_NONE;
    int n_threads = omp_get_max_threads();
    rc = 1;
    if (kvg_open(o.model, &tf_file, &err) || kvg_transformer_open(tf_file, &m, &err))
        goto fail;
    if (!kvg_meta_find(tf_file, "tokenizer.n_tokens")) {
        kvg_errorf(&err, o.model, "the model has no tokenizer (convert it with its tokenizer)");
        goto fail;
    }
    if (kvg_tokenizer_open(tf_file, &tok, &err) ||
        open_ngram(o.ngram, tok, m->c.vocab_size, &ng_file, &ng, &r.c.ngram, &err))
        goto fail;
    if (o.rules && (open_ngram(o.rules, tok, m->c.vocab_size, &rules_file, &rules, &r.c.rules, &err) ||
                    check_mle(rules_file, &err)))
        goto fail;
    if (kvg_tf_scorer_new(m, o.window, o.stride, o.batch, &r.scorer, &err))
        goto fail;
    r.c.tok = tok;
    r.c.have_rules = rules != NULL;
    r.c.timing = o.timing;
    if (o.bos && kvg_tokenizer_bos(tok) < m->c.vocab_size)
        r.c.bos = kvg_tokenizer_bos(tok);
    r.sum.order = kvg_ngram_order(ng);
    r.sum.rules_order = rules ? kvg_ngram_order(rules) : 0;
    r.c.texts = calloc(CHUNK_LINES, sizeof *r.c.texts);
    r.c.scr = calloc((size_t)n_threads, sizeof *r.c.scr);
    if (!r.c.texts || !r.c.scr)
        goto oom;
    for (int i = 0; i < n_threads; i++) {
        scratch *s = &r.c.scr[i];
        s->ngram_log10 = malloc((size_t)kvg_ngram_vocab_size(ng) * sizeof *s->ngram_log10);
        s->p_t = malloc((size_t)r.c.ngram.n_tokens * sizeof *s->p_t);
        s->p_n = malloc((size_t)r.c.ngram.n_tokens * sizeof *s->p_n);
        if (!s->ngram_log10 || !s->p_t || !s->p_n)
            goto oom;
    }
    if (cli_inputs_readable(files, n_files))
        goto done;
    r.table = !(o.json && !strcmp(o.json, "-"));
    if (o.json) {
        if (text_output_open(&r.json, o.json, &err))
            goto fail;
        r.json_on = 1;
    }
    r.html_on = o.html != NULL;
    struct stat html_st;
    if (o.html && stat(o.html, &html_st) == 0 && S_ISDIR(html_st.st_mode)) {
        kvg_errorf(&err, o.html, "is a directory; give a file name for the HTML report");
        goto fail;
    }
    if (cli_each_input(files, n_files, compare_stream, &r))
        goto done;
    if (r.sum.n == 0) {
        kvg_errorf(&err, n_files ? files[0] : "<stdin>", "no tokens to compare (empty input)");
        goto fail;
    }
    cmp_summary_finish(&r.sum);
    if (r.json_on) {
        cmp_summary_json(&r.sum, &r.out);
        fwrite(r.out.p, 1, r.out.len, r.json.f);
        r.out.len = 0;
        if (r.out.failed)
            goto oom;
        if (text_output_commit(&r.json, &err))
            goto fail;
        r.json_on = 0;
    }
    if (o.html && cmp_html_write(o.html, &r.sum, tok, r.kept, r.n_kept, r.omitted, o.model, o.ngram, o.rules, &err))
        goto fail;
    if (r.table)
        cmp_summary_table(&r.sum, stdout);
    if (o.timing)
        print_timing(&r.c, n_threads);
    if (cli_flush_stdout())
        goto done;
    rc = 0;
    goto done;
oom:
    kvg_errorf(&err, NULL, "out of memory");
fail:
    cli_print_error(&err);
done:
    if (r.json_on)
        text_output_abort(&r.json);
    for (size_t i = 0; r.c.texts && i < CHUNK_LINES; i++) {
        free(r.c.texts[i].s);
        free(r.c.texts[i].ids);
        free(r.c.texts[i].pos);
    }
    for (size_t i = 0; i < r.n_kept; i++) {
        free(r.kept[i].ids);
        free(r.kept[i].pos);
    }
    free(r.kept);
    for (int i = 0; r.c.scr && i < n_threads; i++) {
        free(r.c.scr[i].ngram_log10);
        free(r.c.scr[i].p_t);
        free(r.c.scr[i].p_n);
    }
    free(r.c.scr);
    free(r.c.texts);
    sb_free(&r.out);
    cmp_summary_free(&r.sum);
    kvg_tf_scorer_free(r.scorer);
    kvg_ngram_close(rules);
    kvg_ngram_close(ng);
    kvg_close(rules_file);
    kvg_close(ng_file);
    kvg_tokenizer_free(tok);
    kvg_transformer_free(m);
    kvg_close(tf_file);
    free(files);
    return rc;
}
