/* cmd_tokenize.c — `kvgram tokenize`: text to token ids with a model's tokenizer.
 *
 * The tokenizer comes from a .kvg (-m), a Hugging Face folder or tokenizer.json
 * (--hf), or a llama2.c tok.bin (--llama2c); each input line (without its
 * "\n") is encoded on its own, or the whole input at once with --whole. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "kvg_reader.h"
#include "kvg_writer.h"
#include "strbuf.h"
#include "tokenizer.h"

static const char *const tokenize_help =
    "usage: kvgram tokenize (-m MODEL.kvg | --hf DIR | --llama2c TOK.bin) [options] [FILE...]\n"
    "\n"
    "Encodes text with a model's tokenizer, one line at a time, from the FILEs or\n"
    "standard input, and prints one output line per input line: the token ids,\n"
    "separated by spaces.\n"
    "\n"
    "  -m, --model FILE     the tokenizer stored in a .kvg\n"
    "  --hf PATH            a Hugging Face folder (tokenizer.json, or vocab.json +\n"
    "                       merges.txt) or a tokenizer.json file\n"
    "  --llama2c FILE       a llama2.c tokenizer (tok.bin); --vocab-size N tokens\n"
    "                       (default 32000)\n"
    "  --bos                prepend BOS where the model expects one\n"
    "  --whole              encode the whole input as one text (newlines included)\n"
    "  --json               JSON lines: {\"line\", \"ids\", \"tokens\"} (tokens: each id's\n"
    "                       text, invalid UTF-8 shown as U+FFFD)\n"
    "  --decode             the reverse: read lines of ids, print the decoded text\n"
    "  --save OUT.kvg       store the tokenizer alone in a .kvg (general.kind\n"
    "                       \"tokenizer\") and read no input\n"
    "  -h, --help           this help\n";

typedef struct tok_options {
    const char *model, *hf, *llama2c, *save;
    unsigned long vocab_size;
    int bos, whole, json, decode;
} tok_options;

static int emit_ids(const tok_options *o, const kvg_tokenizer *t, unsigned long long line_no, const char *text,
                    size_t len, strbuf *b, kvg_error *err)
{
    uint32_t *ids = NULL;
    size_t n = 0;
    if (kvg_tokenizer_encode(t, text, len, &ids, &n, err))
        return -1;
    int bos = o->bos && kvg_tokenizer_adds_bos(t) && kvg_tokenizer_bos(t) != KVG_TOKEN_NONE;
    if (o->json) {
        sb_puts(b, "{\"line\": ");
        sb_u64(b, line_no);
        sb_puts(b, ", \"ids\": [");
        for (size_t i = 0; i < n + bos; i++) {
            if (i)
                sb_puts(b, ", ");
            sb_u64(b, bos && i == 0 ? kvg_tokenizer_bos(t) : ids[i - bos]);
        }
        sb_puts(b, "], \"tokens\": [");
        for (size_t i = 0; i < n + bos; i++) {
            size_t pl;
            const char *p = kvg_tokenizer_piece(t, bos && i == 0 ? kvg_tokenizer_bos(t) : ids[i - bos], &pl);
            if (i)
                sb_puts(b, ", ");
            sb_json_str(b, p ? p : "", pl);
        }
        sb_puts(b, "]}\n");
    } else {
        for (size_t i = 0; i < n + bos; i++) {
            if (i)
                sb_putc(b, ' ');
            sb_u64(b, bos && i == 0 ? kvg_tokenizer_bos(t) : ids[i - bos]);
        }
        sb_putc(b, '\n');
    }
    free(ids);
    return 0;
}

/* A line of ids back to text. */
static int emit_text(const kvg_tokenizer *t, const char *where, unsigned long long line_no, const char *line,
                     size_t len, strbuf *b, kvg_error *err)
{
    size_t cap = len / 2 + 1, n = 0;
    uint32_t *ids = malloc(cap * sizeof *ids);
    if (!ids)
        return kvg_errorf(err, where, "out of memory");
    for (size_t i = 0; i < len;) {
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
            i++;
        if (i == len)
            break;
        unsigned long long v = 0;
        size_t start = i;
        while (i < len && line[i] >= '0' && line[i] <= '9' && v <= UINT32_MAX)
            v = v * 10 + (unsigned)(line[i++] - '0');
        if (i == start || v >= UINT32_MAX || (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r')) {
            free(ids);
            return kvg_errorf(err, where, "line %llu: not a list of token ids separated by spaces", line_no);
        }
        ids[n++] = (uint32_t)v;
    }
    char *text = NULL;
    size_t tl = 0;
    int rc = kvg_tokenizer_decode(t, ids, n, &text, &tl, err);
    free(ids);
    if (rc) {
        kvg_error inner = *err;
        return kvg_errorf(err, where, "line %llu: %s", line_no, inner.msg);
    }
    sb_put(b, text, tl);
    sb_putc(b, '\n');
    free(text);
    return 0;
}

static int load(const tok_options *o, kvg_tokenizer **t, kvg_error *err)
{
    if (o->hf)
        return kvg_tokenizer_from_hf(o->hf, t, err);
    if (o->llama2c)
        return kvg_tokenizer_from_llama2c(o->llama2c, (uint32_t)o->vocab_size, t, err);
    kvg_file *f = NULL;
    if (kvg_open(o->model, &f, err))
        return -1;
    if (!kvg_meta_find(f, "tokenizer.model")) {
        kvg_close(f);
        return kvg_errorf(err, o->model, "has no tokenizer (no tokenizer.* entries)");
    }
    int rc = kvg_tokenizer_open(f, t, err);
    kvg_close(f);
    return rc;
}

/* Reads one input (a path, or stdin for NULL / "-") line by line or whole. */
static int run_input(const tok_options *o, const kvg_tokenizer *t, const char *path, unsigned long long *line_no,
                     kvg_error *err)
{
    const char *where = path && strcmp(path, "-") != 0 ? path : "(stdin)";
    FILE *in = where == path ? fopen(path, "rb") : stdin;
    if (!in)
        return kvg_errorf(err, path, "cannot open: %s", strerror(errno));
    strbuf b = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    int rc = 0;
    if (o->whole && !o->decode) {
        size_t len = 0, bcap = 1 << 16;
        char *all = malloc(bcap);
        size_t r;
        while (all && (r = fread(all + len, 1, bcap - len, in)) > 0) {
            len += r;
            if (len == bcap) {
                char *bigger = realloc(all, 2 * bcap);
                if (!bigger) {
                    free(all);
                    all = NULL;
                    break;
                }
                all = bigger;
                bcap *= 2;
            }
        }
        if (!all)
            rc = kvg_errorf(err, where, "out of memory");
        else if (ferror(in))
            rc = kvg_errorf(err, where, "read error: %s", strerror(errno));
        else
            rc = emit_ids(o, t, ++*line_no, all, len, &b, err);
        free(all);
    } else {
        while (rc == 0 && (got = getline(&line, &cap, in)) > 0) {
            size_t len = (size_t)got;
            if (line[len - 1] == '\n')
                len--;
            ++*line_no;
            rc = o->decode ? emit_text(t, where, *line_no, line, len, &b, err)
                           : emit_ids(o, t, *line_no, line, len, &b, err);
            if (rc == 0 && b.len > (1 << 16)) {
                fwrite(b.p, 1, b.len, stdout);
                b.len = 0;
            }
        }
        if (rc == 0 && ferror(in))
            rc = kvg_errorf(err, where, "read error: %s", strerror(errno));
    }
    if (rc == 0 && b.len)
        fwrite(b.p, 1, b.len, stdout);
    sb_free(&b);
    free(line);
    if (in != stdin)
        fclose(in);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    tok_options o = {.vocab_size = 32000};
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(tokenize_help, stdout);
            return 0;
        } else if ((strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0) && i + 1 < argc) {
            o.model = argv[++i];
        } else if (strcmp(a, "--hf") == 0 && i + 1 < argc) {
            o.hf = argv[++i];
        } else if (strcmp(a, "--llama2c") == 0 && i + 1 < argc) {
            o.llama2c = argv[++i];
        } else if (strcmp(a, "--vocab-size") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            o.vocab_size = strtoul(argv[++i], &end, 10);
            if (*end || errno || o.vocab_size == 0 || o.vocab_size > (1ul << 24))
                return cli_usage_error("tokenize", "--vocab-size wants a number from 1 to 16777216");
        } else if (strcmp(a, "--save") == 0 && i + 1 < argc) {
            o.save = argv[++i];
        } else if (strcmp(a, "--bos") == 0) {
            o.bos = 1;
        } else if (strcmp(a, "--whole") == 0) {
            o.whole = 1;
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "--decode") == 0) {
            o.decode = 1;
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("tokenize", "unknown option or missing value: %s", a);
        } else {
            break;
        }
    }
    if ((o.model != NULL) + (o.hf != NULL) + (o.llama2c != NULL) != 1)
        return cli_usage_error("tokenize", "give exactly one of -m MODEL.kvg, --hf DIR, --llama2c TOK.bin");
    kvg_tokenizer *t = NULL;
    kvg_error err = {{0}};
    if (load(&o, &t, &err)) {
        cli_print_error(&err);
        return 1;
    }
    if (o.save) {
        kvg_writer *w = NULL;
        const char *source = o.model ? o.model : o.hf ? o.hf : o.llama2c;
        int bad = kvg_writer_open(o.save, 0, &w, &err) ||
                  kvg_writer_meta_str(w, "general.kind", "tokenizer", 9, &err) ||
                  kvg_writer_meta_str(w, "general.source", source, strlen(source), &err) ||
                  kvg_tokenizer_write(t, w, &err);
        if (bad && w)
            kvg_writer_abort(w);
        else if (!bad)
            bad = kvg_writer_finish(w, &err);
        kvg_tokenizer_free(t);
        if (bad)
            cli_print_error(&err);
        return bad ? 1 : 0;
    }
    unsigned long long line_no = 0;
    int rc = 0;
    if (i == argc)
        rc = run_input(&o, t, NULL, &line_no, &err);
    for (; rc == 0 && i < argc; i++)
        rc = run_input(&o, t, argv[i], &line_no, &err);
    if (rc)
        cli_print_error(&err);
    kvg_tokenizer_free(t);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "kvgram: writing the output failed\n");
        return 1;
    }
    return rc ? 1 : 0;
}
