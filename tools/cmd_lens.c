/* cmd_lens.c — `kvgram lens -m TRANSFORMER.kvg TEXT|-f FILE`: what every
 * layer (and head) of a transformer predicts at every position of a text
 * (lens.h says what is computed). Every input is tokenized and checked
 * before anything is computed or written, so bad input produces no output;
 * report files are written whole at the end. */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "html.h"
#include "lens.h"
#include "lens_output.h"
#include "tokenizer.h"
#include "transformer.h"

static const char *const lens_help =
    "usage: kvgram lens -m MODEL.kvg [options] TEXT\n"
    "       kvgram lens -m MODEL.kvg [options] -f FILE     (one text per line; - for stdin)\n"
    "\n"
    "For every position of the text and every layer of the transformer: the residual\n"
    "stream after the block through the final norm and the unembedding (logit lens:\n"
    "top tokens, rank and probability of the actual next token, KL(final || layer));\n"
    "each head's direct term in the final logits (its output through its columns of\n"
    "W_o, the final norm at the scale the model used there, the unembedding); and the\n"
    "input embeddings nearest to the residual by cosine. The BOS token the model\n"
    "expects is prepended. Without --json or --html the JSON goes to stdout.\n"
    "\n"
    "  -m, --model FILE   the transformer (.kvg with a tokenizer)\n"
    "  -f, --file FILE    read the texts from FILE, one per line\n"
    "  --top K            tokens per list (default 5)\n"
    "  --json OUT         one JSON object per text into OUT (- for stdout)\n"
    "  --html OUT         a self-contained page: layers x positions heatmap\n"
    "  --no-heads         skip the per-head lens (the costliest part)\n"
    "  --no-nearest       skip the nearest-embedding lists\n"
    "  --no-bos           do not prepend BOS\n"
    "  --threads N        threads (default: OMP_NUM_THREADS, else all cores)\n"
    "  -h, --help         this help\n";

typedef struct lens_cli {
    const char *model, *file, *text, *json, *html;
    long top_k, threads;
    int heads, nearest, bos;
} lens_cli;

static int parse_count(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse(int argc, char **argv, lens_cli *o)
{
    *o = (lens_cli){NULL, NULL, NULL, NULL, NULL, 5, 0, 1, 1, 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (cli_is_help(a)) {
            fputs(lens_help, stdout);
            return 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-f") || !strcmp(a, "--file") ||
                   !strcmp(a, "--json") || !strcmp(a, "--html")) {
            if (!v)
                return cli_usage_error("lens", "%s needs a file", a);
            const char **dst = a[1] == 'm' || !strcmp(a, "--model") ? &o->model
                               : a[1] == 'f' || !strcmp(a, "--file") ? &o->file
                               : !strcmp(a, "--json")                ? &o->json
                                                                     : &o->html;
            *dst = argv[++i];
        } else if (!strcmp(a, "--top")) {
            if (parse_count(v, 1, 1000, &o->top_k))
                return cli_usage_error("lens", "--top needs a number from 1 to 1000");
            i++;
        } else if (!strcmp(a, "--threads")) {
            if (parse_count(v, 1, 4096, &o->threads))
                return cli_usage_error("lens", "--threads needs a number from 1 to 4096");
            i++;
        } else if (!strcmp(a, "--no-heads")) {
            o->heads = 0;
        } else if (!strcmp(a, "--no-nearest")) {
            o->nearest = 0;
        } else if (!strcmp(a, "--no-bos")) {
            o->bos = 0;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("lens", "unknown option %s", a);
        } else if (o->text) {
            return cli_usage_error("lens", "one TEXT at a time (quote it, or use -f FILE)");
        } else {
            o->text = a;
        }
    }
    if (!o->model)
        return cli_usage_error("lens", "missing -m MODEL.kvg");
    if (!o->text == !o->file)
        return cli_usage_error("lens", o->text ? "give TEXT or -f FILE, not both" : "missing TEXT (or -f FILE)");
    return 0;
}

/* The texts: one per line of the file, or the TEXT argument. */
typedef struct inputs {
    lens_input *v;
    size_t n, cap;
    char **lines;
} inputs;

static void inputs_free(inputs *in)
{
    for (size_t i = 0; i < in->n; i++) {
        free(in->v[i].ids);
        free(in->lines[i]);
    }
    free(in->v);
    free(in->lines);
}

static int add_input(inputs *in, uint64_t line, char *owned, const char *text, size_t len)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? 2 * in->cap : 16;
        lens_input *v = realloc(in->v, cap * sizeof *v);
        char **lines = v ? realloc(in->lines, cap * sizeof *lines) : NULL;
        if (v)
            in->v = v;
        if (lines)
            in->lines = lines;
        if (!v || !lines)
            return -1;
        in->cap = cap;
    }
    in->lines[in->n] = owned;
    in->v[in->n++] = (lens_input){line, text, len, NULL, 0};
    return 0;
}

static int read_inputs(const lens_cli *o, inputs *in, kvg_error *err)
{
    if (o->text)
        return add_input(in, 1, NULL, o->text, strlen(o->text)) ? kvg_errorf(err, NULL, "out of memory") : 0;
    FILE *f = strcmp(o->file, "-") ? fopen(o->file, "r") : stdin;
    if (!f)
        return kvg_errorf(err, o->file, "cannot open: %s", strerror(errno));
    char *s = NULL;
    size_t cap = 0;
    ssize_t got;
    uint64_t line = 0;
    int rc = 0;
    while ((got = getline(&s, &cap, f)) >= 0) {
        line++;
        size_t len = (size_t)got;
        if (len && s[len - 1] == '\n')
            len--;
        if (add_input(in, line, s, s, len)) {
            rc = kvg_errorf(err, NULL, "out of memory");
            break;
        }
        s = NULL, cap = 0;
    }
    free(s);
    if (!rc && ferror(f))
        rc = kvg_errorf(err, o->file, "read error: %s", strerror(errno));
    if (!rc && in->n == 0)
        rc = kvg_errorf(err, o->file, "no text in the file");
    if (f != stdin)
        fclose(f);
    return rc;
}

/* Tokenizes every input (BOS first when used) and refuses an empty or too long one. */
static int tokenize_inputs(const lens_cli *o, inputs *in, const kvg_transformer *m, const kvg_tokenizer *tok,
                           kvg_error *err)
{
    const char *where = o->file ? (strcmp(o->file, "-") ? o->file : "<stdin>") : "TEXT";
    char at[48] = "";
    uint32_t bos = kvg_tokenizer_bos(tok);
    size_t add = o->bos && bos < m->c.vocab_size;
    for (size_t i = 0; i < in->n; i++) {
        lens_input *t = &in->v[i];
        uint32_t *ids = NULL;
        size_t k = 0;
        if (kvg_tokenizer_encode(tok, t->text, t->len, &ids, &k, err))
            return -1;
        if (o->file)
            snprintf(at, sizeof at, "line %llu: ", (unsigned long long)t->line);
        if (k == 0) {
            free(ids);
            return kvg_errorf(err, where, "%sempty text (no tokens to look at)", at);
        }
        if (k + add > m->c.context_length) {
            free(ids);
            return kvg_errorf(err, where, "%s%zu tokens%s, but the model's context is %u", at, k + add,
                              add ? " with BOS" : "", m->c.context_length);
        }
        t->ids = malloc((k + add) * sizeof *t->ids);
        if (!t->ids) {
            free(ids);
            return kvg_errorf(err, NULL, "out of memory");
        }
        if (add)
            t->ids[0] = bos;
        memcpy(t->ids + add, ids, k * sizeof *ids);
        t->n_ids = k + add;
        free(ids);
    }
    return 0;
}

static int run(const lens_cli *o, kvg_error *err)
{
    kvg_file *f = NULL;
    kvg_transformer *m = NULL;
    kvg_tokenizer *tok = NULL;
    inputs in = {0};
    strbuf all = {0}, page = {0};
    int rc = -1;
    if (kvg_open(o->model, &f, err) || kvg_transformer_open(f, &m, err))
        goto done;
    if (!kvg_meta_find(f, "tokenizer.n_tokens")) {
        kvg_errorf(err, o->model, "the model has no tokenizer (convert it with its tokenizer)");
        goto done;
    }
    if (kvg_tokenizer_open(f, &tok, err) || read_inputs(o, &in, err) || tokenize_inputs(o, &in, m, tok, err))
        goto done;
    const int to_stdout = (o->json && !strcmp(o->json, "-")) || (!o->json && !o->html);
    const lens_options lo = {(uint32_t)o->top_k, o->heads, o->nearest};
    /* all: JSON lines, one object per text (JSON text never holds a raw newline) */
    for (size_t i = 0; i < in.n; i++) {
        lens_result r;
        if (lens_run(m, in.v[i].ids, in.v[i].n_ids, &lo, &r, err))
            goto done;
        size_t from = all.len;
        lens_json(&all, &r, tok, &in.v[i]);
        sb_putc(&all, '\n');
        lens_result_free(&r);
        if (all.failed) {
            kvg_errorf(err, NULL, "out of memory for the output");
            goto done;
        }
        if (to_stdout)
            fwrite(all.p + from, 1, all.len - from, stdout);
    }
    if (o->json && strcmp(o->json, "-") && html_file_write(o->json, all.p, all.len, err))
        goto done;
    if (o->html) {
        /* the page's data: the same objects as one JSON array */
        for (size_t j = 0; j + 1 < all.len; j++)
            if (all.p[j] == '\n')
                all.p[j] = ',';
        all.p[all.len - 1] = ']';
        char title[512];
        snprintf(title, sizeof title, "kvgram lens — %s", o->model);
        sb_putc(&page, '[');
        sb_put(&page, all.p, all.len);
        strbuf html = {0};
        lens_html(&html, title, page.p, page.len);
        sb_free(&page);
        page = html;
        if (page.failed) {
            kvg_errorf(err, o->html, "out of memory");
            goto done;
        }
        if (html_file_write(o->html, page.p, page.len, err))
            goto done;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        kvg_errorf(err, "<stdout>", "write error: %s", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    sb_free(&all);
    sb_free(&page);
    inputs_free(&in);
    kvg_tokenizer_free(tok);
    kvg_transformer_free(m);
    kvg_close(f);
    return rc;
}

int cmd_lens(int argc, char **argv)
{
    lens_cli o;
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (o.threads)
        omp_set_num_threads((int)o.threads);
    kvg_error err;
    if (run(&o, &err)) {
        cli_print_error(&err);
        return 1;
    }
    return 0;
}
