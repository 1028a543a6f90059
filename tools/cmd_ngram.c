/* cmd_ngram.c — `kvgram ngram build`: estimate an n-gram model from text
 * (KenLM lmplz's modified Kneser-Ney, or maximum likelihood) into a .kvg
 * file and/or an ARPA file. Both outputs are written to temporaries beside
 * their targets and renamed into place only when complete. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "corpus_reader.h"
#include "kvg_reader.h"
#include "kvg_writer.h"
#include "ngram_build.h"
#include "ngram_estimate.h"
#include "tokenizer.h"

static const char *const ngram_help =
    "usage: kvgram ngram build --order N [options] [CORPUS...] -o MODEL.kvg\n"
    "\n"
    "Estimates an n-gram language model from text, one sentence per line, as\n"
    "KenLM's lmplz does: words are separated by spaces or tabs, each line is\n"
    "padded with <s> and </s>, and the model is interpolated modified\n"
    "Kneser-Ney with discounts from the counts of counts. CORPUS files may be\n"
    "gzip-compressed; without any (or with -), standard input is read.\n"
    "\n"
    "  --order N, -N N       the model's order, 1 to 16 (required)\n"
    "  -o, --output FILE     the .kvg model to write\n"
    "  --arpa FILE           also (or only, without -o) write the model as ARPA text\n"
    "  -S, --memory SIZE     memory budget: a number with K, M, G (powers of 1024)\n"
    "                        or % of physical memory (default 1G). Counting sorts\n"
    "                        in it and spills sorted runs to temporary files past\n"
    "                        it; when the counted n-grams would not fit in memory\n"
    "                        (about 80 bytes per n-gram per order), every later\n"
    "                        stage also runs as merges of sorted runs on disk. Peak\n"
    "                        memory: SIZE + 8 MiB + up to 150 bytes per vocabulary\n"
    "                        word, the .kvg tables (-o) included: built in memory\n"
    "                        when the model fits SIZE (about 100 bytes per\n"
    "                        n-gram), else sorted and encoded from temporary\n"
    "                        files within SIZE (the same file either way)\n"
    "  -T, --temp DIR        folder for those files (default $TMPDIR or /tmp); they\n"
    "                        are unlinked as soon as created\n"
    "  --prune T1 [T2 ...]   drop k-grams seen at most Tk times; thresholds must not\n"
    "                        decrease; the last one applies to higher orders\n"
    "  --smoothing kn|mle    modified Kneser-Ney (default) or maximum likelihood:\n"
    "                        count of the n-gram / count of its context, no backoff\n"
    "  --discount_fallback [D1 [D2 [D3+]]]\n"
    "                        where the counts of counts give no valid discounts,\n"
    "                        use these (default 0.5 1 1.5) instead of failing\n"
    "  --tokenizer PATH      count the token ids of a model's tokenizer instead of\n"
    "                        words: PATH is a .kvg that holds one, or a Hugging Face\n"
    "                        folder / tokenizer.json. Token t is the word \"t\" (its\n"
    "                        decimal id; n-gram id t+3, after <unk> <s> </s>), every\n"
    "                        token is in the vocabulary, and the .kvg carries the\n"
    "                        tokenizer. Lines are tokenized on all cores\n"
    "  --skip_symbols        treat <s>, </s> and <unk> in the text as spaces\n"
    "                        (default: refuse them, as lmplz does)\n"
    "  --quantize 8          store probabilities and backoffs as 8-bit codes\n"
    "  --tables-in-memory    build the .kvg tables holding the whole model (about\n"
    "                        35 bytes per n-gram; the same file), for comparison\n"
    "  --quiet               no progress on stderr (shown when it is a terminal)\n"
    "  -h, --help            this help\n";

/* ---- temporaries of the ARPA output, removed on a fatal signal ---- */

static char arpa_temp[4096];
static volatile sig_atomic_t arpa_temp_set;

static void on_fatal_signal(int sig)
{
    if (arpa_temp_set)
        unlink(arpa_temp);
    kvg_writer_remove_temporaries();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- progress ---- */

typedef struct progress {
    int on;
    time_t last;
} progress;

static void progress_phase(void *user, const char *phase)
{
    progress *p = user;
    if (p->on)
        fprintf(stderr, "\rkvgram ngram: %-60s\n", phase);
}

static void progress_read(progress *p, const corpus_reader *r, const kvg_ngram_counter *c, int force)
{
    if (!p->on || !cli_progress_due(&p->last, force))
        return;
    uint64_t tokens, sentences, runs;
    kvg_ngram_counter_stats(c, &tokens, &sentences, &runs);
    fprintf(stderr, "\rkvgram ngram: %s: %llu MiB read, %llu sentences, %llu words, %llu runs spilled   ",
            corpus_name(r), (unsigned long long)(corpus_bytes_read(r) >> 20), (unsigned long long)sentences,
            (unsigned long long)tokens, (unsigned long long)runs);
}

/* ---- option parsing ---- */

/* "512M", "1G", "80%"; bare numbers are KiB like lmplz's -S. */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    double mult = 1024;
    if (*end) {
        switch (*end) {
        case 'b': case 'B': mult = 1; break;
        case 'k': case 'K': mult = 1024.0; break;
        case 'm': case 'M': mult = 1024.0 * 1024; break;
        case 'g': case 'G': mult = 1024.0 * 1024 * 1024; break;
        case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; break;
        case '%': {
            long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
            if (pages <= 0 || page <= 0 || v > 100)
                return -1;
            mult = (double)pages * (double)page / 100.0;
            break;
        }
        default: return -1;
        }
        if (end[1])
            return -1;
    }
    double bytes = v * mult;
    if (bytes > 1e18)
        return -1;
    *out = (uint64_t)bytes;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int is_number(const char *s)
{
    char *end;
    if (!*s)
        return 0;
    strtod(s, &end);
    return *end == '\0';
}

/* ---- writing ---- */

static int write_arpa(const kvg_ngram_estimate *m, const char *path, kvg_error *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return kvg_errorf(err, path, "is a directory; give a file name for the ARPA output");
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    snprintf(arpa_temp, sizeof arpa_temp, "%.*s.%s.%ld.tmp", dir_len, path, slash ? slash + 1 : path,
             (long)getpid());
    int fd = open(arpa_temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0)
        return kvg_errorf(err, path, "cannot create a temporary file in its directory: %s", strerror(errno));
    arpa_temp_set = 1;
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        goto fail_errno;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    if (kvg_ngram_estimate_write_arpa(m, f) || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        int e = errno;
        fclose(f);
        errno = e;
        goto fail_errno;
    }
    if (fclose(f) != 0)
        goto fail_errno;
    if (rename(arpa_temp, path) != 0)
        goto fail_errno;
    arpa_temp_set = 0;
    return 0;
fail_errno:
    kvg_errorf(err, path, "cannot write: %s", strerror(errno));
    unlink(arpa_temp);
    arpa_temp_set = 0;
    return -1;
}

/* A tokenizer from a .kvg (its tokenizer.* entries) or from a Hugging Face
 * folder or tokenizer.json. */
static int load_tokenizer(const char *path, kvg_tokenizer **out, kvg_error *err)
{
    struct stat st;
    size_t len = strlen(path);
    int hf = (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) || (len >= 5 && !strcmp(path + len - 5, ".json")) ||
             (len >= 8 && !strcmp(path + len - 8, ".json.gz"));
    if (hf)
        return kvg_tokenizer_from_hf(path, out, err);
    kvg_file *f;
    if (kvg_open(path, &f, err))
        return -1;
    int rc = 0;
    if (!kvg_meta_find(f, "tokenizer.n_tokens"))
        rc = kvg_errorf(err, path, "holds no tokenizer (no tokenizer.* entries)");
    else
        rc = kvg_tokenizer_open(f, out, err);
    kvg_close(f);
    return rc;
}

typedef struct build_args {
    uint32_t order;
    const char *out, *arpa;
    const char **corpora;
    int n_corpora;
    kvg_ngram_count_options count;
    kvg_ngram_estimate_options est;
    int quantize;
    int tables_in_memory; /* --tables-in-memory: the builder that holds the model */
    const char *tokenizer_path;
    kvg_tokenizer *tok;
    progress prog;
} build_args;

/* ---- token-level counting: lines tokenized in parallel, counted in order ---- */

#define BATCH_LINES 4096
#define BATCH_BYTES (8u << 20)

typedef struct line_batch {
    char *text;              /* the lines, back to back */
    size_t used, cap;
    size_t start[BATCH_LINES + 1];
    uint64_t number[BATCH_LINES];
    size_t n;
} line_batch;

static int batch_add(line_batch *b, const char *line, size_t len)
{
    if (b->used + len > b->cap) {
        size_t cap = b->cap ? b->cap : BATCH_BYTES;
        while (cap < b->used + len)
            cap *= 2;
        char *t = realloc(b->text, cap);
        if (!t)
            return -1;
        b->text = t;
        b->cap = cap;
    }
    memcpy(b->text + b->used, line, len);
    b->start[b->n] = b->used;
    b->used += len;
    b->start[++b->n] = b->used;
    return 0;
}

/* Tokenizes the batch on all cores, then counts its lines in order. */
static int batch_count(line_batch *b, const kvg_tokenizer *tok, kvg_ngram_counter *c, const char *where,
                       kvg_error *err)
{
    uint32_t *ids[BATCH_LINES];
    size_t n_ids[BATCH_LINES];
    int failed[BATCH_LINES];
    kvg_error errs[2];
    long first_bad = -1;
#pragma omp parallel for schedule(dynamic, 64)
    for (size_t i = 0; i < b->n; i++) {
        kvg_error e;
        ids[i] = NULL;
        failed[i] = kvg_tokenizer_encode(tok, b->text + b->start[i], b->start[i + 1] - b->start[i], &ids[i],
                                         &n_ids[i], &e) != 0;
        if (failed[i]) {
#pragma omp critical
            if (first_bad < 0 || (long)i < first_bad) {
                first_bad = (long)i;
                errs[0] = e;
            }
        }
    }
    int rc = 0;
    if (first_bad >= 0) {
        kvg_errorf(err, NULL, "%s:%llu: cannot tokenize: %s", where, (unsigned long long)b->number[first_bad],
                   errs[0].msg);
        rc = -1;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (!rc && kvg_ngram_counter_add_ids(c, ids[i], n_ids[i], where, b->number[i], err))
            rc = -1;
        free(ids[i]);
    }
    (void)errs[1];
    b->n = 0;
    b->used = 0;
    return rc;
}

/* Counts every corpus into a fresh counter, then estimates. */
static int estimate(build_args *a, kvg_ngram_estimate **m, kvg_error *err)
{
    kvg_ngram_counter *c;
    if (kvg_ngram_counter_new(&a->count, &c, err))
        return -1;
    line_batch batch;
    memset(&batch, 0, sizeof batch);
    if (a->tok && kvg_ngram_counter_set_tokens(c, kvg_tokenizer_n_tokens(a->tok), err)) {
        kvg_ngram_counter_free(c);
        return -1;
    }
    for (int i = 0; i < a->n_corpora; i++) {
        corpus_reader *r;
        if (corpus_open(a->corpora[i], &r, err)) {
            kvg_ngram_counter_free(c);
            return -1;
        }
        const char *line;
        size_t len;
        int got;
        while ((got = corpus_next_line(r, &line, &len, err)) == 1) {
            if (a->tok) {
                if (len && line[len - 1] == '\r')
                    len--; /* a CRLF line end is not text */
                batch.number[batch.n] = corpus_line_number(r);
                if (batch_add(&batch, line, len)) {
                    kvg_errorf(err, corpus_name(r), "out of memory");
                    got = -1;
                    break;
                }
                if ((batch.n == BATCH_LINES || batch.used >= BATCH_BYTES) &&
                    batch_count(&batch, a->tok, c, corpus_name(r), err)) {
                    got = -1;
                    break;
                }
            } else if (kvg_ngram_counter_add_line(c, line, len, corpus_name(r), corpus_line_number(r), err)) {
                got = -1;
                break;
            }
            if ((corpus_line_number(r) & 0xFFF) == 0)
                progress_read(&a->prog, r, c, 0);
        }
        if (got >= 0 && batch.n && batch_count(&batch, a->tok, c, corpus_name(r), err))
            got = -1;
        progress_read(&a->prog, r, c, 1);
        if (a->prog.on)
            fputc('\n', stderr);
        corpus_close(r);
        if (got < 0) {
            free(batch.text);
            kvg_ngram_counter_free(c);
            return -1;
        }
    }
    free(batch.text);
    const char *where = a->n_corpora == 1 ? (strcmp(a->corpora[0], "-") ? a->corpora[0] : "stdin") : "the corpus";
    return kvg_ngram_estimate_run(c, &a->est, where, m, err);
}

static int build(build_args *a, kvg_error *err)
{
    kvg_writer *w = NULL;
    kvg_ngram_estimate *m = NULL;
    int rc = -1;
    /* open the .kvg first: a bad output path fails before the long part */
    if (a->out && kvg_writer_open(a->out, 0, &w, err))
        return -1;
    if (estimate(a, &m, err))
        goto done;
    if (a->arpa) {
        progress_phase(&a->prog, "writing ARPA");
        if (write_arpa(m, a->arpa, err))
            goto done;
    }
    if (w) {
        kvg_ngram_kvg_options ko = {a->quantize, a->count.memory, a->count.temp_dir, a->tables_in_memory,
                                    progress_phase, &a->prog};
        char source[1024];
        snprintf(source, sizeof source, "%s%s", a->n_corpora == 1 ? a->corpora[0] : a->corpora[0],
                 a->n_corpora > 1 ? " and more" : "");
        const char *conv = a->est.smoothing == KVG_SMOOTH_MLE ? "kvgram " KVG_VERSION " ngram build (maximum likelihood)"
                                                             : "kvgram " KVG_VERSION " ngram build (modified Kneser-Ney)";
        if (kvg_ngram_estimate_write_kvg(m, &ko, w, a->out, err) ||
            (a->tok && (kvg_tokenizer_write(a->tok, w, err) ||
                        kvg_writer_meta_u64(w, "ngram.token_id_offset", KVG_EST_TOKEN_OFFSET, err))) ||
            kvg_writer_meta_str(w, "general.source", source, strlen(source), err) ||
            kvg_writer_meta_str(w, "general.converter", conv, strlen(conv), err)) {
            kvg_writer_abort(w);
            w = NULL;
            goto done;
        }
        rc = kvg_writer_finish(w, err);
        w = NULL;
        if (rc && a->arpa)
            unlink(a->arpa); /* all or nothing */
        goto done;
    }
    rc = 0;
done:
    if (w)
        kvg_writer_abort(w);
    kvg_ngram_estimate_free(m);
    return rc;
}

static int cmd_ngram_build(int argc, char **argv)
{
    build_args a;
    memset(&a, 0, sizeof a);
    a.count.memory = (uint64_t)1 << 30;
    a.est.fallback[1] = 0.5f;
    a.est.fallback[2] = 1.0f;
    a.est.fallback[3] = 1.5f;
    a.prog.on = isatty(2);
    uint64_t prune[KVG_NGRAM_MAX_ORDER];
    int n_prune = 0;
    int order_given = 0;
    const char **corpora = calloc((size_t)argc + 1, sizeof *corpora);
    if (!corpora)
        return 1;
    a.corpora = corpora;
    int status = 2;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (cli_is_help(arg)) {
            fputs(ngram_help, stdout);
            status = 0;
            goto out;
        } else if (!strcmp(arg, "--order") || !strcmp(arg, "-N")) {
            uint64_t v;
            if (++i == argc || parse_u64(argv[i], &v)) {
                cli_usage_error("ngram build", "%s needs a whole number", arg);
                goto out;
            }
            if (v < 1 || v > KVG_NGRAM_MAX_ORDER) {
                cli_usage_error("ngram build", "order %s is out of range (1 to %d)", argv[i], KVG_NGRAM_MAX_ORDER);
                goto out;
            }
            a.order = (uint32_t)v;
            order_given = 1;
        } else if (!strcmp(arg, "-o") || !strcmp(arg, "--output")) {
            if (++i == argc) {
                cli_usage_error("ngram build", "%s needs a file name", arg);
                goto out;
            }
            a.out = argv[i];
        } else if (!strcmp(arg, "--arpa")) {
            if (++i == argc) {
                cli_usage_error("ngram build", "--arpa needs a file name");
                goto out;
            }
            a.arpa = argv[i];
        } else if (!strcmp(arg, "-S") || !strcmp(arg, "--memory")) {
            if (++i == argc || parse_size(argv[i], &a.count.memory)) {
                cli_usage_error("ngram build", "%s takes a size like 512M, 4G or 50%%", arg);
                goto out;
            }
        } else if (!strcmp(arg, "-T") || !strcmp(arg, "--temp")) {
            if (++i == argc) {
                cli_usage_error("ngram build", "%s needs a folder", arg);
                goto out;
            }
            a.count.temp_dir = argv[i];
        } else if (!strcmp(arg, "--prune")) {
            while (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
                if (n_prune == KVG_NGRAM_MAX_ORDER || parse_u64(argv[++i], &prune[n_prune])) {
                    cli_usage_error("ngram build", "bad pruning threshold %s", argv[i]);
                    goto out;
                }
                if (n_prune && prune[n_prune] < prune[n_prune - 1]) {
                    cli_usage_error("ngram build", "pruning thresholds must not decrease (%llu after %llu)",
                                    (unsigned long long)prune[n_prune], (unsigned long long)prune[n_prune - 1]);
                    goto out;
                }
                n_prune++;
            }
            if (!n_prune) {
                cli_usage_error("ngram build", "--prune needs at least one threshold");
                goto out;
            }
        } else if (!strcmp(arg, "--smoothing")) {
            if (++i == argc || (strcmp(argv[i], "kn") && strcmp(argv[i], "mle"))) {
                cli_usage_error("ngram build", "--smoothing takes kn or mle");
                goto out;
            }
            a.est.smoothing = strcmp(argv[i], "mle") ? KVG_SMOOTH_KN : KVG_SMOOTH_MLE;
        } else if (!strcmp(arg, "--discount_fallback") || !strcmp(arg, "--discount-fallback")) {
            a.est.discount_fallback = 1;
            int n = 0;
            float d[3] = {0.5f, 1.0f, 1.5f};
            while (i + 1 < argc && is_number(argv[i + 1]) && n < 3)
                d[n++] = strtof(argv[++i], NULL);
            for (int j = n; j > 0 && j < 3; j++)
                d[j] = d[n - 1]; /* like lmplz: the last value repeats */
            for (int j = 0; j < 3; j++) {
                if (!(d[j] >= 0.0f && d[j] <= (float)(j + 1))) {
                    cli_usage_error("ngram build", "the fallback discount for count %d must be in [0, %d]", j + 1,
                                    j + 1);
                    goto out;
                }
                a.est.fallback[j + 1] = d[j];
            }
        } else if (!strcmp(arg, "--tokenizer")) {
            if (++i == argc) {
                cli_usage_error("ngram build", "--tokenizer needs a .kvg file or a Hugging Face folder");
                goto out;
            }
            a.tokenizer_path = argv[i];
        } else if (!strcmp(arg, "--skip_symbols") || !strcmp(arg, "--skip-symbols")) {
            a.count.skip_symbols = 1;
        } else if (!strcmp(arg, "--quantize")) {
            if (++i == argc || strcmp(argv[i], "8")) {
                cli_usage_error("ngram build", "--quantize takes 8 (bits)");
                goto out;
            }
            a.quantize = 8;
        } else if (!strcmp(arg, "--tables-in-memory")) {
            a.tables_in_memory = 1;
        } else if (!strcmp(arg, "--quiet")) {
            a.prog.on = 0;
        } else if (arg[0] == '-' && arg[1]) {
            cli_usage_error("ngram build", "unknown option %s", arg);
            goto out;
        } else {
            corpora[a.n_corpora++] = arg;
        }
    }
    if (!order_given) {
        cli_usage_error("ngram build", "missing --order N");
        goto out;
    }
    if (!a.out && !a.arpa) {
        cli_usage_error("ngram build", "missing -o MODEL.kvg (or --arpa FILE)");
        goto out;
    }
    if (n_prune > (int)a.order) {
        cli_usage_error("ngram build", "%d pruning thresholds for a model of order %u", n_prune, a.order);
        goto out;
    }
    for (uint32_t k = 0; k < a.order; k++)
        a.est.prune[k] = n_prune ? prune[k < (uint32_t)n_prune ? k : (uint32_t)n_prune - 1] : 0;
    if (!a.n_corpora)
        corpora[a.n_corpora++] = "-";
    a.count.order = a.order;
    a.est.progress = progress_phase;
    a.est.progress_user = &a.prog;

    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGHUP, on_fatal_signal);
    kvg_error err;
    if (a.tokenizer_path && load_tokenizer(a.tokenizer_path, &a.tok, &err)) {
        cli_print_error(&err);
        status = 1;
        goto out;
    }
    if (build(&a, &err)) {
        cli_print_error(&err);
        status = 1;
    } else {
        status = 0;
    }
out:
    kvg_tokenizer_free(a.tok);
    free(corpora);
    return status;
}

int cmd_ngram(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        fputs(ngram_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "build") == 0)
        return cmd_ngram_build(argc - 1, argv + 1);
    return cli_usage_error("ngram", "unknown subcommand \"%s\" (only build)", argv[1]);
}
