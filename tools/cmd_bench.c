/* cmd_bench.c — `kvgram bench -m MODEL.kvg --text FILE`: how fast one model
 * is, measured in one run: file size, load time (warm and cold), scoring
 * throughput on one thread and on N, and optionally the cost of converting
 * its source.
 *
 * The model's general.kind picks the benchmark: n-gram models here
 * (bench_kinds[]), transformers in bench_transformer.c. Phases run in an order that keeps them from
 * disturbing each other: the ARPA conversions first, in child processes
 * forked while this process is still small (a child's peak RSS counts the
 * pages it inherits); then scoring; then the load times, with no mapping of
 * the model left open, so dropping its pages from the cache can work. */
#define _DEFAULT_SOURCE /* wait4 and mincore: BSD/Linux, not POSIX */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arpa_convert.h"
#include "arpa_reader.h"
#include "bench_transformer.h"
#include "cli.h"
#include "commands.h"
#include "kvg_reader.h"
#include "line_score.h"
#include "ngram.h"
#include "strbuf.h"

static const char *const bench_help =
    "usage: kvgram bench -m NGRAM.kvg --text FILE [options]\n"
    "       kvgram bench -m TRANSFORMER.kvg [--seq N] [--batch B] [options]\n"
    "\n"
    "Measures one model's speed in one run and prints a table (or one JSON line).\n"
    "\n"
    "Transformers: scoring throughput. Each pass scores B sequences of N random\n"
    "token ids packed into one batch (B x N tokens through the model, logits at\n"
    "every position that has a next token, log-softmax over the vocabulary for\n"
    "each target: the work of `kvgram score`), on --threads threads; one untimed\n"
    "warm-up pass, then R timed ones. Prints tokens/s (best and median pass, wall\n"
    "clock), tokens per CPU-second (process user + system time: the steadier\n"
    "figure on a shared machine), scratch bytes and peak RSS.\n"
    "  --seq N              tokens per sequence (default 512, or the context length\n"
    "                       if shorter)\n"
    "  --batch B            sequences per pass (default 1)\n"
    "JSON keys: model, kind, arch, n_layers, d_model, n_heads, n_kv_heads, ffn_dim,\n"
    "vocab_size, dtype (the block matrices), embd_dtype, kernels (scalar / avx2 /\n"
    "neon), matmul (avx512 when the matrix products ran on 512-bit registers;\n"
    "KVG_MATMUL_AVX512=0 turns that off; else as kernels), seq, batch, threads,\n"
    "repeat, tokens_per_pass, tokens_per_s (best pass),\n"
    "tokens_per_s_median, tokens_per_cpu_s, tokens_per_cpu_s_median,\n"
    "seconds_per_pass_{min,median}, cpu_seconds_per_pass_{min,median}, mean_logprob\n"
    "(ln p per scored token), file_bytes, scratch_bytes, peak_rss_kib.\n"
    "\n"
    "N-gram models:\n"
    "\n"
    "  size        file bytes, n-grams (entries of every order, the blanks that\n"
    "              complete the trie included; the per-order counts stored in the\n"
    "              metadata are shown too) and bytes per n-gram\n"
    "  load warm   open + bind the model (kvg_open + kvg_ngram_open) with the file\n"
    "              in the page cache; min and median of R runs\n"
    "  load cold   the same after dropping the file from the page cache\n"
    "              (posix_fadvise DONTNEED, no root needed), plus scoring the first\n"
    "              line of the text, so the page faults of a first query count;\n"
    "              min and median of R runs. Best effort: pages another process\n"
    "              maps, and files on tmpfs, stay cached; the table shows how much\n"
    "              of the file was still cached right after the drop\n"
    "  scoring     the whole text, read into memory first, scored line by line\n"
    "              (<s> before and </s> after each line, as `kvgram score` does,\n"
    "              per-thread lookup cache, no output formatting): tokens per\n"
    "              second (tokens = words + one </s> per line), min, median and\n"
    "              max of R runs, on 1 thread and on N; speedup = median(N) /\n"
    "              median(1). One untimed pass first warms the page cache\n"
    "  convert     with --arpa: converting that ARPA file (to the model's own\n"
    "              quantization, into a temporary file in $TMPDIR or /tmp,\n"
    "              removed afterwards) in a child process: wall time (min and\n"
    "              median of R runs) and the child's peak RSS (max over runs)\n"
    "\n"
    "  -m, --model FILE     the model (.kvg): an n-gram model or a transformer\n"
    "  --text FILE          n-grams: the text to score, one sentence per line\n"
    "  --threads N          threads for the N-thread runs, and a transformer's threads\n"
    "                       (default: OMP_NUM_THREADS, else all cores)\n"
    "  --repeat R           runs of each measurement (default 5)\n"
    "  --arpa FILE          n-grams: also measure converting FILE (.arpa or .arpa.gz)\n"
    "  --json               one JSON object on one line instead of the table\n"
    "  -h, --help           this help\n"
    "\n"
    "N-gram JSON keys: model, kind, order, quantization, file_bytes, ngrams, ngrams_stored\n"
    "(per order), bytes_per_ngram, repeat, load_warm_ms_min, load_warm_ms_median,\n"
    "load_cold_ms_min, load_cold_ms_median, cold_cached_fraction (largest share of\n"
    "the file still cached after a drop, 0..1), text, lines, tokens, threads,\n"
    "tokens_per_s_1thread_{min,median,max}, tokens_per_s_nthreads_{min,median,max},\n"
    "speedup; with --arpa also arpa, arpa_ngrams (the \\data\\ counts),\n"
    "convert_s_min, convert_s_median, convert_peak_rss_kib.\n"
    "\n"
    "Timings on a shared machine are noisy: repeat, read the median and the\n"
    "minimum, and compare ratios within one run (1 vs N threads, exact vs q8\n"
    "models on the same machine) rather than single numbers across runs.\n";

typedef struct bench_options {
    const char *model, *text, *arpa;
    int threads, repeat, json;
    int seq, batch; /* transformers; 0 when not given */
} bench_options;

/* ---- timing ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct stats {
    double min, median, max;
} stats;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v[0..n), n >= 1. */
static stats stats_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return (stats){v[0], median, v[n - 1]};
}

/* ---- what is measured ---- */

typedef struct bench_report {
    const char *kind; /* general.kind */
    uint64_t file_bytes;
    /* n-gram models */
    uint32_t order;
    int quantized;
    uint64_t ngrams;                                  /* sum of kvg_ngram_count */
    uint64_t stored[KVG_NGRAM_MAX_ORDER + 1];         /* ngram.counts[n-1], n = 1..order */
    /* load */
    stats load_warm_ms, load_cold_ms;
    double cold_cached_fraction;
    /* scoring */
    uint64_t lines, tokens;
    int threads;                                      /* as OpenMP granted them */
    stats tok_s_1, tok_s_n;
    /* ARPA conversion (--arpa) */
    int arpa_order;
    uint64_t arpa_counts[ARPA_MAX_ORDER + 1];
    stats convert_s;
    long convert_peak_rss_kib;
} bench_report;

/* ---- the text ---- */

typedef struct bench_text {
    char *buf;
    const char **line; /* into buf, without the '\n' */
    size_t *len;
    size_t n_lines;
} bench_text;

static void text_free(bench_text *t)
{
    free(t->buf);
    free(t->line);
    free(t->len);
}

/* Checks early, before minutes of conversion, that the text can be read and
 * is not empty. */
static int text_check(const char *path)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        fprintf(stderr, "kvgram: %s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    int c = fgetc(in), bad = ferror(in);
    int saved = errno;
    fclose(in);
    if (bad) {
        fprintf(stderr, "kvgram: %s: read error: %s\n", path, strerror(saved));
        return -1;
    }
    if (c == EOF) {
        fprintf(stderr, "kvgram: %s: empty text (no lines to score)\n", path);
        return -1;
    }
    return 0;
}

/* Reads the whole file and splits it into lines as getline does (a last line
 * without '\n' counts). */
static int text_read(const char *path, bench_text *t)
{
    memset(t, 0, sizeof *t);
    FILE *in = fopen(path, "r");
    if (!in) {
        fprintf(stderr, "kvgram: %s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    size_t size = 0, cap = 0;
    for (;;) {
        if (cap - size < (1u << 16)) {
            size_t want = cap ? 2 * cap : (1u << 20);
            char *p = realloc(t->buf, want);
            if (!p) {
                fclose(in);
                fprintf(stderr, "kvgram: %s: out of memory\n", path);
                return -1;
            }
            t->buf = p;
            cap = want;
        }
        size_t got = fread(t->buf + size, 1, cap - size, in);
        size += got;
        if (got == 0)
            break;
    }
    int bad = ferror(in);
    int saved = errno;
    fclose(in);
    if (bad) {
        fprintf(stderr, "kvgram: %s: read error: %s\n", path, strerror(saved));
        return -1;
    }
    for (size_t i = 0; i < size; i++)
        t->n_lines += t->buf[i] == '\n';
    t->n_lines += size && t->buf[size - 1] != '\n';
    if (t->n_lines == 0) {
        fprintf(stderr, "kvgram: %s: empty text (no lines to score)\n", path);
        return -1;
    }
    t->line = malloc(t->n_lines * sizeof *t->line);
    t->len = malloc(t->n_lines * sizeof *t->len);
    if (!t->line || !t->len) {
        fprintf(stderr, "kvgram: %s: out of memory\n", path);
        return -1;
    }
    const char *p = t->buf, *end = t->buf + size;
    for (size_t k = 0; k < t->n_lines; k++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        t->line[k] = p;
        t->len[k] = (size_t)(nl - p);
        p = nl + 1;
    }
    return 0;
}

/* ---- ARPA conversion in a child process ---- */

/* One conversion of arpa into a fresh temporary file: wall seconds and the
 * child's peak RSS (KiB). On failure the child has printed the error line. */
static int convert_once(const char *arpa, int quantize, double *seconds, long *maxrss_kib)
{
    /* A name, not a file: the writer makes its own temporary beside it and
     * renames it in only when complete, and an interrupt removes that
     * temporary, so nothing is left behind. */
    const char *dir = getenv("TMPDIR");
    static unsigned serial;
    char out[4096];
    snprintf(out, sizeof out, "%s/kvg-bench-%ld-%u.kvg", dir && *dir ? dir : "/tmp", (long)getpid(), serial++);
    fflush(NULL); /* nothing buffered may be written twice */
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "kvgram: %s: cannot fork the conversion: %s\n", arpa, strerror(errno));
        unlink(out);
        return -1;
    }
    if (pid == 0) {
        arpa_convert_options opt = {quantize, 0};
        kvg_error err;
        if (arpa_convert(arpa, out, &opt, &err)) {
            cli_print_error(&err);
            _exit(1);
        }
        _exit(0);
    }
    int status;
    struct rusage ru;
    pid_t got;
    while ((got = wait4(pid, &status, 0, &ru)) < 0 && errno == EINTR)
        ;
    *seconds = now_s() - t0;
    unlink(out);
    if (got < 0) {
        fprintf(stderr, "kvgram: %s: waiting for the conversion: %s\n", arpa, strerror(errno));
        return -1;
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "kvgram: %s: the conversion process died of signal %d\n", arpa, WTERMSIG(status));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1; /* the child said why */
    *maxrss_kib = ru.ru_maxrss;
    return 0;
}

static int bench_convert(const bench_options *o, int quantize, bench_report *r)
{
    /* The \data\ counts, for comparison with the stored ones (which include
     * blanks); this also refuses a bad file in a second, not after a run. */
    arpa_reader *ar;
    kvg_error err;
    if (arpa_open(o->arpa, &ar, &err)) {
        cli_print_error(&err);
        return -1;
    }
    const arpa_header *h = arpa_get_header(ar);
    r->arpa_order = h->order;
    memcpy(r->arpa_counts, h->counts, sizeof r->arpa_counts);
    arpa_close(ar);

    double *s = calloc((size_t)o->repeat, sizeof *s);
    if (!s) {
        fprintf(stderr, "kvgram: out of memory\n");
        return -1;
    }
    r->convert_peak_rss_kib = 0;
    for (int i = 0; i < o->repeat; i++) {
        long rss;
        if (convert_once(o->arpa, quantize, &s[i], &rss)) {
            free(s);
            return -1;
        }
        if (rss > r->convert_peak_rss_kib)
            r->convert_peak_rss_kib = rss;
    }
    r->convert_s = stats_of(s, o->repeat);
    free(s);
    return 0;
}

/* ---- n-gram models ---- */

static int ngram_open(const char *path, kvg_file **f, kvg_ngram **m)
{
    kvg_error err;
    *m = NULL;
    if (kvg_open(path, f, &err) || kvg_ngram_open(*f, m, &err)) {
        cli_print_error(&err);
        kvg_close(*f);
        *f = NULL;
        return -1;
    }
    return 0;
}

/* Scores every line on `threads` threads; sets the tokens scored, the
 * seconds taken and the threads OpenMP granted. */
static int ngram_score_pass(const kvg_ngram *m, const bench_text *t, int threads, uint64_t *tokens,
                            double *seconds, int *granted)
{
    uint64_t n = 0;
    int failed = 0, got = 1;
    double t0 = now_s();
#pragma omp parallel num_threads(threads) reduction(+ : n) reduction(| : failed)
    {
#pragma omp single nowait
        got = omp_get_num_threads();
        /* as `kvgram score` does: groups of lines scored together */
        kvg_line_score ls[KVG_LINE_GROUP];
        memset(ls, 0, sizeof ls);
        kvg_ngram_cache *cache = kvg_ngram_cache_new(m); /* NULL (no cache) if memory is short */
        for (int g = 0; g < KVG_LINE_GROUP; g++)
            ls[g].cache = cache;
        size_t n_groups = (t->n_lines + KVG_LINE_GROUP - 1) / KVG_LINE_GROUP;
#pragma omp for schedule(dynamic, 2)
        for (size_t grp = 0; grp < n_groups; grp++) {
            size_t i0 = grp * KVG_LINE_GROUP, k = t->n_lines - i0 < KVG_LINE_GROUP ? t->n_lines - i0 : KVG_LINE_GROUP;
            if (kvg_ngram_score_lines(m, k, (const char *const *)&t->line[i0], &t->len[i0], 1, 1, ls))
                failed = 1;
            else
                for (size_t j = 0; j < k; j++)
                    n += ls[j].n;
        }
        for (int g = 0; g < KVG_LINE_GROUP; g++)
            free(ls[g].tokens);
        kvg_ngram_cache_free(cache);
    }
    *seconds = now_s() - t0;
    *tokens = n;
    *granted = got;
    if (failed)
        fprintf(stderr, "kvgram: out of memory while scoring\n");
    return failed ? -1 : 0;
}

/* R timed passes (after one untimed one that warms the page cache and counts
 * the tokens): tokens per second on 1 and on o->threads threads. */
static int ngram_bench_scoring(const bench_options *o, const kvg_ngram *m, const bench_text *t, bench_report *r)
{
    double *rate = calloc((size_t)o->repeat, sizeof *rate), s;
    uint64_t tokens;
    int granted;
    if (!rate) {
        fprintf(stderr, "kvgram: out of memory\n");
        return -1;
    }
    int rc = ngram_score_pass(m, t, o->threads, &r->tokens, &s, &r->threads);
    for (int pass = 0; pass < 2 && !rc; pass++) {
        int threads = pass ? o->threads : 1;
        for (int i = 0; i < o->repeat && !rc; i++) {
            rc = ngram_score_pass(m, t, threads, &tokens, &s, &granted);
            rate[i] = (double)tokens / s;
        }
        if (!rc) {
            stats *into = pass ? &r->tok_s_n : &r->tok_s_1;
            *into = stats_of(rate, o->repeat);
        }
    }
    free(rate);
    return rc;
}

/* One load: open + bind, and when line is given also score it (the cold
 * runs' first query). Milliseconds, closing excluded. */
static int ngram_load_once(const char *path, const char *line, size_t len, double *ms)
{
    kvg_file *f;
    kvg_ngram *m;
    double t0 = now_s();
    if (ngram_open(path, &f, &m))
        return -1;
    int failed = 0;
    if (line) {
        kvg_line_score ls = {0};
        failed = kvg_ngram_score_line(m, line, len, 1, 1, &ls);
        free(ls.tokens);
    }
    *ms = (now_s() - t0) * 1e3;
    kvg_ngram_close(m);
    kvg_close(f);
    if (failed)
        fprintf(stderr, "kvgram: out of memory while scoring\n");
    return failed ? -1 : 0;
}

/* Drops path from the page cache, as far as the kernel lets us: dirty pages
 * are written first (DONTNEED skips them), mapped ones stay. Returns the
 * share of the file's pages still cached afterwards (mincore), 0..1; -1 when
 * that cannot be told. */
static double drop_from_page_cache(const char *path, uint64_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    fdatasync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    double cached = -1;
    long page = sysconf(_SC_PAGESIZE);
    if (size > 0 && page > 0 && size <= SIZE_MAX) {
        size_t pages = (size_t)((size + (uint64_t)page - 1) / (uint64_t)page);
        void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
        unsigned char *vec = malloc(pages);
        if (map != MAP_FAILED && vec && mincore(map, (size_t)size, vec) == 0) {
            size_t in = 0;
            for (size_t i = 0; i < pages; i++)
                in += vec[i] & 1;
            cached = (double)in / (double)pages;
        }
        free(vec);
        if (map != MAP_FAILED)
            munmap(map, (size_t)size);
    }
    close(fd);
    return cached;
}

static int ngram_bench_loads(const bench_options *o, const bench_text *t, bench_report *r)
{
    double *ms = calloc((size_t)o->repeat, sizeof *ms), warmup;
    if (!ms) {
        fprintf(stderr, "kvgram: out of memory\n");
        return -1;
    }
    int rc = ngram_load_once(o->model, NULL, 0, &warmup);
    for (int i = 0; i < o->repeat && !rc; i++)
        rc = ngram_load_once(o->model, NULL, 0, &ms[i]);
    if (!rc)
        r->load_warm_ms = stats_of(ms, o->repeat);
    r->cold_cached_fraction = 0;
    for (int i = 0; i < o->repeat && !rc; i++) {
        double cached = drop_from_page_cache(o->model, r->file_bytes);
        if (cached < 0)
            r->cold_cached_fraction = NAN; /* unknown: null in JSON */
        else if (cached > r->cold_cached_fraction)
            r->cold_cached_fraction = cached;
        rc = ngram_load_once(o->model, t->line[0], t->len[0], &ms[i]);
    }
    if (!rc)
        r->load_cold_ms = stats_of(ms, o->repeat);
    free(ms);
    return rc;
}

static int bench_ngram(const bench_options *o, bench_report *r)
{
    /* The model's shape, and a full bind so a broken model fails now. */
    kvg_file *f;
    kvg_ngram *m;
    if (ngram_open(o->model, &f, &m))
        return -1;
    r->file_bytes = kvg_file_size(f);
    r->order = kvg_ngram_order(m);
    r->quantized = kvg_ngram_quantized(m);
    const kvg_meta *counts = kvg_meta_find(f, "ngram.counts"); /* checked by kvg_ngram_open */
    r->ngrams = 0;
    for (uint32_t n = 1; n <= r->order; n++) {
        r->ngrams += kvg_ngram_count(m, n);
        r->stored[n] = kvg_meta_arr_u64(counts, n - 1);
    }
    kvg_ngram_close(m);
    kvg_close(f);

    if (text_check(o->text))
        return -1;
    if (o->arpa && bench_convert(o, r->quantized ? 8 : 0, r))
        return -1;

    bench_text t;
    int rc = text_read(o->text, &t);
    if (!rc) {
        r->lines = t.n_lines;
        rc = ngram_open(o->model, &f, &m);
        if (!rc) {
            rc = ngram_bench_scoring(o, m, &t, r);
            kvg_ngram_close(m);
            kvg_close(f);
        }
    }
    if (!rc)
        rc = ngram_bench_loads(o, &t, r);
    text_free(&t);
    return rc;
}

/* The benchmark of each model kind (general.kind). */
static const struct {
    const char *kind;
    int (*run)(const bench_options *o, bench_report *r);
} bench_kinds[] = {
    {"ngram", bench_ngram},
};

/* ---- output ---- */

static void json_counts(strbuf *b, const char *key, const uint64_t *c, int order)
{
    sb_json_key(b, key);
    sb_putc(b, '[');
    for (int n = 1; n <= order; n++) {
        if (n > 1)
            sb_putc(b, ',');
        sb_u64(b, c[n]);
    }
    sb_putc(b, ']');
}

static void print_json(const bench_options *o, const bench_report *r, strbuf *b)
{
    sb_puts(b, "{\"model\":");
    sb_json_str(b, o->model, strlen(o->model));
    sb_json_field_str(b, "kind", r->kind);
    sb_json_field_u64(b, "order", r->order);
    sb_json_field_str(b, "quantization", r->quantized ? "q8" : "none");
    sb_json_field_u64(b, "file_bytes", r->file_bytes);
    sb_json_field_u64(b, "ngrams", r->ngrams);
    json_counts(b, "ngrams_stored", r->stored, (int)r->order);
    sb_json_field_num(b, "bytes_per_ngram", (double)r->file_bytes / (double)r->ngrams);
    sb_json_field_u64(b, "repeat", (uint64_t)o->repeat);
    sb_json_field_num(b, "load_warm_ms_min", r->load_warm_ms.min);
    sb_json_field_num(b, "load_warm_ms_median", r->load_warm_ms.median);
    sb_json_field_num(b, "load_cold_ms_min", r->load_cold_ms.min);
    sb_json_field_num(b, "load_cold_ms_median", r->load_cold_ms.median);
    sb_json_field_num(b, "cold_cached_fraction", r->cold_cached_fraction);
    sb_json_field_str(b, "text", o->text);
    sb_json_field_u64(b, "lines", r->lines);
    sb_json_field_u64(b, "tokens", r->tokens);
    sb_json_field_u64(b, "threads", (uint64_t)r->threads);
    sb_json_field_num(b, "tokens_per_s_1thread_min", r->tok_s_1.min);
    sb_json_field_num(b, "tokens_per_s_1thread_median", r->tok_s_1.median);
    sb_json_field_num(b, "tokens_per_s_1thread_max", r->tok_s_1.max);
    sb_json_field_num(b, "tokens_per_s_nthreads_min", r->tok_s_n.min);
    sb_json_field_num(b, "tokens_per_s_nthreads_median", r->tok_s_n.median);
    sb_json_field_num(b, "tokens_per_s_nthreads_max", r->tok_s_n.max);
    sb_json_field_num(b, "speedup", r->tok_s_n.median / r->tok_s_1.median);
    if (o->arpa) {
        sb_json_field_str(b, "arpa", o->arpa);
        json_counts(b, "arpa_ngrams", r->arpa_counts, r->arpa_order);
        sb_json_field_num(b, "convert_s_min", r->convert_s.min);
        sb_json_field_num(b, "convert_s_median", r->convert_s.median);
        sb_json_field_u64(b, "convert_peak_rss_kib", (uint64_t)r->convert_peak_rss_kib);
    }
    sb_puts(b, "}\n");
}

static void print_counts(const uint64_t *c, int order)
{
    for (int n = 1; n <= order; n++)
        printf("%s%d=%llu", n > 1 ? " " : "", n, (unsigned long long)c[n]);
}

static void print_table(const bench_options *o, const bench_report *r)
{
    char size[32];
    printf("model        %s (%s, order %u, %s)\n", o->model, r->kind, r->order,
           r->quantized ? "8-bit quantized" : "exact f32");
    printf("file         %llu bytes (%s)\n", (unsigned long long)r->file_bytes,
           cli_human_bytes(r->file_bytes, size));
    printf("n-grams      %llu, %.3f bytes per n-gram\n", (unsigned long long)r->ngrams,
           (double)r->file_bytes / (double)r->ngrams);
    printf("  stored     ");
    print_counts(r->stored, (int)r->order);
    printf("  (ngram.counts; blanks included)\n");
    if (o->arpa) {
        printf("  in ARPA    ");
        print_counts(r->arpa_counts, r->arpa_order);
        printf("  (\\data\\ of %s)\n", o->arpa);
    }
    printf("\n%-26s %14s %14s %14s\n", "", "min", "median", "max");
    printf("%-26s %14.3f %14.3f\n", "load warm (ms)", r->load_warm_ms.min, r->load_warm_ms.median);
    printf("%-26s %14.3f %14.3f      (+ first line; %.1f%% of the file still cached after the drop)\n",
           "load cold (ms)", r->load_cold_ms.min, r->load_cold_ms.median, 100 * r->cold_cached_fraction);
    printf("%-26s %14.0f %14.0f %14.0f\n", "tokens/s, 1 thread", r->tok_s_1.min, r->tok_s_1.median,
           r->tok_s_1.max);
    char label[64];
    snprintf(label, sizeof label, "tokens/s, %d threads", r->threads);
    printf("%-26s %14.0f %14.0f %14.0f      (speedup %.2fx)\n", label, r->tok_s_n.min, r->tok_s_n.median,
           r->tok_s_n.max, r->tok_s_n.median / r->tok_s_1.median);
    if (o->arpa) {
        printf("%-26s %14.3f %14.3f      (peak RSS %ld KiB, %s)\n", "convert (s)", r->convert_s.min,
               r->convert_s.median, r->convert_peak_rss_kib,
               cli_human_bytes((unsigned long long)r->convert_peak_rss_kib << 10, size));
    }
    printf("\ntext %s: %llu lines, %llu tokens (words + </s>); each figure over %d runs\n", o->text,
           (unsigned long long)r->lines, (unsigned long long)r->tokens, o->repeat);
}

/* ---- command ---- */

static int parse_count(const char *opt, const char *arg, long max, int *out)
{
    char *end;
    long v = arg ? strtol(arg, &end, 10) : 0;
    if (!arg || !*arg || *end || v < 1 || v > max)
        return cli_usage_error("bench", "%s needs a number from 1 to %ld", opt, max);
    *out = (int)v;
    return 0;
}

static int parse_options(int argc, char **argv, bench_options *o)
{
    *o = (bench_options){NULL, NULL, NULL, omp_get_max_threads(), 5, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        const char **file = NULL;
        if (cli_is_help(a)) {
            fputs(bench_help, stdout);
            return 1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            file = &o->model;
        } else if (!strcmp(a, "--text")) {
            file = &o->text;
        } else if (!strcmp(a, "--arpa")) {
            file = &o->arpa;
        } else if (!strcmp(a, "--threads")) {
            if (parse_count(a, next, 4096, &o->threads))
                return 2;
            i++;
        } else if (!strcmp(a, "--repeat")) {
            if (parse_count(a, next, 1000, &o->repeat))
                return 2;
            i++;
        } else if (!strcmp(a, "--seq")) {
            if (parse_count(a, next, 1 << 20, &o->seq))
                return 2;
            i++;
        } else if (!strcmp(a, "--batch")) {
            if (parse_count(a, next, 1 << 16, &o->batch))
                return 2;
            i++;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("bench", "unknown option %s", a);
        } else {
            return cli_usage_error("bench", "unexpected argument \"%s\"", a);
        }
        if (file) {
            if (!next)
                return cli_usage_error("bench", "%s needs a file", a);
            *file = next;
            i++;
        }
    }
    if (!o->model)
        return cli_usage_error("bench", "missing -m MODEL.kvg");
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    bench_options o;
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;

    /* Which benchmark: the model's kind (printable, for the error line). */
    kvg_file *f;
    kvg_error err;
    if (kvg_open(o.model, &f, &err)) {
        cli_print_error(&err);
        return 1;
    }
    const kvg_meta *kind = kvg_meta_find(f, "general.kind");
    char kind_name[64] = "";
    if (kind && kind->type == KVG_META_STR) {
        size_t n = kind->count < sizeof kind_name - 1 ? (size_t)kind->count : sizeof kind_name - 1;
        for (size_t i = 0; i < n; i++) {
            char c = (char)kind->value[i];
            kind_name[i] = c >= 0x20 && c < 0x7f ? c : '?';
        }
        kind_name[n] = '\0';
    }
    kvg_close(f);
    if (!strcmp(kind_name, "transformer")) {
        if (o.text || o.arpa)
            return cli_usage_error("bench", "%s is for n-gram models", o.text ? "--text" : "--arpa");
        tf_bench_options t = {o.model, (uint32_t)o.seq, o.batch ? (uint32_t)o.batch : 1, o.threads, o.repeat, o.json};
        return bench_transformer(&t);
    }
    if (o.seq || o.batch)
        return cli_usage_error("bench", "%s is for transformers", o.seq ? "--seq" : "--batch");
    if (!o.text)
        return cli_usage_error("bench", "missing --text FILE");
    bench_report r;
    memset(&r, 0, sizeof r);
    for (size_t k = 0; k < sizeof bench_kinds / sizeof bench_kinds[0] && !r.kind; k++)
        if (!strcmp(kind_name, bench_kinds[k].kind)) {
            r.kind = bench_kinds[k].kind;
            if (bench_kinds[k].run(&o, &r))
                return 1;
        }
    if (!r.kind) {
        if (kind_name[0])
            fprintf(stderr, "kvgram: %s: cannot bench a model of kind \"%s\" (n-gram models and transformers only)\n",
                    o.model, kind_name);
        else
            fprintf(stderr, "kvgram: %s: no general.kind in the metadata: not a model kvgram can bench\n",
                    o.model);
        return 1;
    }

    if (o.json) {
        strbuf b = {0};
        print_json(&o, &r, &b);
        fwrite(b.p, 1, b.len, stdout);
        sb_free(&b);
    } else {
        print_table(&o, &r);
    }
    return cli_flush_stdout() ? 1 : 0;
}
