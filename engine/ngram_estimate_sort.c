/* ngram_estimate_sort.c — the external sorting the estimation stages share:
 * nameless temporary files, record streams, a k-way merge of sorted runs
 * and a sorter that spills past its memory budget.
 *
 * Memory of a merger: one RUN_BUFFER per run it reads at once; the fan-in
 * is memory / RUN_BUFFER (at least MIN_FAN_IN), and longer lists of runs
 * are merged in groups first. Memory of a sorter: its record buffer plus
 * the radix-sort scratch, together at most its budget (at least
 * MIN_SORT_ITEMS records), then, once it has spilled, a merger. */
#define _GNU_SOURCE /* O_TMPFILE */
#include "ngram_estimate_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "radix_sort.h"

#define RUN_BUFFER (64u << 10)
#define MIN_FAN_IN 4
#define MIN_SORT_ITEMS 1024
#ifndef SORT_RUN_MAX
#define SORT_RUN_MAX ((uint64_t)4 << 20)
#endif

/* ---- temporary files and streams ---- */

/* A file in dir that never has a name (O_TMPFILE), or -1 where the file
 * system cannot make one. */
static int nameless_file(const char *dir)
{
#ifdef O_TMPFILE
    return open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#else
    (void)dir;
    errno = EOPNOTSUPP;
    return -1;
#endif
}

FILE *est_temp_file(const char *dir, kvg_error *err)
{
    int fd = nameless_file(dir);
    int open_errno = errno;
    if (fd < 0 && (open_errno == EOPNOTSUPP || open_errno == EISDIR || open_errno == EINVAL)) {
        /* No O_TMPFILE here: a named file, unlinked at once. It has a name
         * only between mkstemp and unlink; the signals that end a run (a CLI
         * handler re-raises them) are held off meanwhile in this thread
         * (another thread may still take one: a small window). */
        size_t len = strlen(dir) + 32;
        char *path = malloc(len);
        if (!path) {
            kvg_errorf(err, NULL, "out of memory");
            return NULL;
        }
        snprintf(path, len, "%s/kvgram-sort-XXXXXX", dir);
        sigset_t block, old;
        sigemptyset(&block);
        sigaddset(&block, SIGINT);
        sigaddset(&block, SIGTERM);
        sigaddset(&block, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &block, &old);
        fd = mkstemp(path);
        open_errno = errno;
        if (fd >= 0)
            unlink(path);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        free(path);
    }
    if (fd < 0) {
        kvg_errorf(err, dir, "cannot create a temporary file for sorted n-grams: %s", strerror(open_errno));
        return NULL;
    }
    FILE *f = fdopen(fd, "w+b");
    if (!f) {
        close(fd);
        kvg_errorf(err, dir, "cannot open a temporary file: %s", strerror(errno));
        return NULL;
    }
    setvbuf(f, NULL, _IOFBF, RUN_BUFFER);
    return f;
}

int est_stream_open(est_stream *s, unsigned w, const char *dir, kvg_error *err)
{
    memset(s, 0, sizeof *s);
    s->w = w;
    s->dir = dir;
    s->f = est_temp_file(dir, err);
    return s->f ? 0 : -1;
}

int est_stream_put(est_stream *s, const uint64_t *rec, kvg_error *err)
{
    if (EST_FWRITE(rec, s->w * sizeof *rec, 1, s->f) != 1)
        return kvg_errorf(err, s->dir, "cannot write sorted n-grams to a temporary file: %s", strerror(errno));
    s->n++;
    return 0;
}

int est_stream_rewind(est_stream *s, kvg_error *err)
{
    if (fflush(s->f) != 0 || fseek(s->f, 0, SEEK_SET) != 0)
        return kvg_errorf(err, s->dir, "cannot write sorted n-grams to a temporary file: %s", strerror(errno));
    s->left = s->n;
    return 0;
}

int est_stream_get(est_stream *s, uint64_t *rec, kvg_error *err)
{
    if (!s->left)
        return 0;
    if (EST_FREAD(rec, s->w * sizeof *rec, 1, s->f) != 1)
        return kvg_errorf(err, s->dir, "cannot read back sorted n-grams from a temporary file: %s",
                          ferror(s->f) ? strerror(errno) : "it is shorter than written");
    s->left--;
    return 1;
}

void est_stream_close(est_stream *s)
{
    if (s->f)
        fclose(s->f);
    s->f = NULL;
    s->n = s->left = 0;
}

/* ---- merging sorted runs ---- */

typedef struct merge_src {
    est_stream run;
    uint64_t cur[EST_MAX_WORDS];
} merge_src;

struct est_merger {
    unsigned w, kw;
    int combine;
    merge_src *src;
    size_t n_src;
    size_t *heap, hn;
    uint64_t out[EST_MAX_WORDS];
};

static int key_less(const uint64_t *a, const uint64_t *b, unsigned kw)
{
    for (unsigned k = 0; k < kw; k++)
        if (a[k] != b[k])
            return a[k] < b[k];
    return 0;
}

static void heap_down(est_merger *m, size_t i)
{
    size_t *h = m->heap;
    for (;;) {
        size_t l = 2 * i + 1, s = i;
        if (l < m->hn && key_less(m->src[h[l]].cur, m->src[h[s]].cur, m->kw))
            s = l;
        if (l + 1 < m->hn && key_less(m->src[h[l + 1]].cur, m->src[h[s]].cur, m->kw))
            s = l + 1;
        if (s == i)
            return;
        size_t t = h[i];
        h[i] = h[s];
        h[s] = t;
        i = s;
    }
}

/* Starts merging runs[0..n) (taken over). */
static int merge_start(est_merger *m, est_stream *runs, size_t n, kvg_error *err)
{
    m->src = calloc(n ? n : 1, sizeof *m->src);
    m->heap = malloc((n ? n : 1) * sizeof *m->heap);
    if (!m->src || !m->heap) {
        for (size_t i = 0; i < n; i++)
            est_stream_close(&runs[i]);
        return kvg_errorf(err, NULL, "out of memory while merging %zu sorted runs", n);
    }
    m->n_src = n;
    m->hn = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        m->src[i].run = runs[i];
        runs[i].f = NULL;
        if (rc)
            continue;
        int got = est_stream_rewind(&m->src[i].run, err);
        if (!got)
            got = est_stream_get(&m->src[i].run, m->src[i].cur, err);
        if (got < 0)
            rc = -1;
        else if (got)
            m->heap[m->hn++] = i;
    }
    for (size_t i = m->hn / 2; i-- > 0;)
        heap_down(m, i);
    return rc;
}

static void merge_stop(est_merger *m)
{
    for (size_t i = 0; i < m->n_src; i++)
        est_stream_close(&m->src[i].run);
    free(m->src);
    free(m->heap);
    m->src = NULL;
    m->heap = NULL;
    m->n_src = m->hn = 0;
}

/* Moves the smallest source on; 0 or -1. */
static int advance_top(est_merger *m, kvg_error *err)
{
    merge_src *s = &m->src[m->heap[0]];
    int got = est_stream_get(&s->run, s->cur, err);
    if (got < 0)
        return -1;
    if (!got) {
        est_stream_close(&s->run); /* its disk space goes at once */
        m->heap[0] = m->heap[--m->hn];
    }
    heap_down(m, 0);
    return 0;
}

int est_merger_next(est_merger *m, const uint64_t **rec, kvg_error *err)
{
    if (!m->hn)
        return 0;
    memcpy(m->out, m->src[m->heap[0]].cur, m->w * sizeof *m->out);
    if (advance_top(m, err))
        return -1;
    while (m->combine && m->hn && !key_less(m->out, m->src[m->heap[0]].cur, m->kw)) {
        m->out[m->w - 1] += m->src[m->heap[0]].cur[m->w - 1];
        if (advance_top(m, err))
            return -1;
    }
    *rec = m->out;
    return 1;
}

int est_merger_open(est_stream *runs, size_t n_runs, unsigned kw, int combine, uint64_t memory, const char *dir,
                    est_merger **out, kvg_error *err)
{
    *out = NULL;
    unsigned w = n_runs ? runs[0].w : kw;
    size_t fan_in = (size_t)(memory / RUN_BUFFER);
    if (fan_in < MIN_FAN_IN)
        fan_in = MIN_FAN_IN;
    est_merger *m = calloc(1, sizeof *m);
    if (!m) {
        for (size_t i = 0; i < n_runs; i++)
            est_stream_close(&runs[i]);
        return kvg_errorf(err, NULL, "out of memory");
    }
    m->w = w;
    m->kw = kw;
    m->combine = combine;
    /* Too many runs to read at once: merge the oldest fan_in into one new
     * run at the end, until few enough are left. */
    size_t first = 0;
    while (n_runs - first > fan_in) {
        est_stream merged;
        if (est_stream_open(&merged, w, dir, err) || merge_start(m, runs + first, fan_in, err)) {
            if (merged.f)
                est_stream_close(&merged);
            goto fail;
        }
        first += fan_in;
        const uint64_t *rec;
        int got;
        while ((got = est_merger_next(m, &rec, err)) == 1)
            if (est_stream_put(&merged, rec, err)) {
                got = -1;
                break;
            }
        merge_stop(m);
        if (got < 0) {
            est_stream_close(&merged);
            goto fail;
        }
        runs[n_runs++] = merged; /* the caller's array has room: fan_in >= 2 runs left it */
    }
    if (merge_start(m, runs + first, n_runs - first, err)) {
        merge_stop(m);
        free(m);
        return -1;
    }
    *out = m;
    return 0;
fail:
    for (size_t i = first; i < n_runs; i++)
        est_stream_close(&runs[i]);
    merge_stop(m);
    free(m);
    return -1;
}

void est_merger_free(est_merger *m)
{
    if (!m)
        return;
    merge_stop(m);
    free(m);
}

/* ---- the sorter ---- */

struct est_sorter {
    unsigned w, kw;
    uint64_t memory;
    const char *dir;
    uint64_t *buf, *tmp;
    uint64_t n, cap, pos;   /* records held, room, next to read (in memory) */
    est_stream *runs;
    size_t n_runs, cap_runs;
    est_merger *merger;     /* after finish, when runs were spilled */
};

int est_sorter_new(unsigned w, unsigned kw, uint64_t memory, const char *dir, est_sorter **out, kvg_error *err)
{
    *out = NULL;
    est_sorter *s = calloc(1, sizeof *s);
    if (!s)
        return kvg_errorf(err, NULL, "out of memory");
    s->w = w;
    s->kw = kw;
    s->memory = memory;
    s->dir = dir;
    uint64_t run_bytes = memory < SORT_RUN_MAX ? memory : SORT_RUN_MAX;
    s->cap = run_bytes / (2 * w * sizeof(uint64_t));
    if (s->cap < MIN_SORT_ITEMS)
        s->cap = MIN_SORT_ITEMS;
    /* the pages are touched only as records arrive */
    s->buf = malloc((size_t)s->cap * w * sizeof *s->buf);
    if (!s->buf) {
        free(s);
        return kvg_errorf(err, NULL, "out of memory for a %llu-byte sort buffer", (unsigned long long)memory);
    }
    *out = s;
    return 0;
}

/* Sorts the buffer by its keys (tmp allocated for the sort only). */
static int sort_buffer(est_sorter *s, kvg_error *err)
{
    s->tmp = malloc((size_t)(s->n ? s->n : 1) * s->w * sizeof *s->tmp);
    int bad = !s->tmp || radix_sort(s->buf, s->tmp, s->n, s->w, 64 * (s->w - s->kw), 64 * s->w);
    free(s->tmp);
    s->tmp = NULL;
    return bad ? kvg_errorf(err, NULL, "out of memory while sorting n-grams") : 0;
}

static int sorter_spill(est_sorter *s, kvg_error *err)
{
    if (sort_buffer(s, err))
        return -1;
    /* room for the runs the merger may add (at most one per two merged) */
    if (s->n_runs + 1 >= s->cap_runs) {
        size_t cap = s->cap_runs ? 2 * s->cap_runs : 16;
        est_stream *r = realloc(s->runs, 2 * cap * sizeof *r);
        if (!r)
            return kvg_errorf(err, NULL, "out of memory");
        s->runs = r;
        s->cap_runs = cap;
    }
    est_stream *run = &s->runs[s->n_runs];
    if (est_stream_open(run, s->w, s->dir, err))
        return -1;
    s->n_runs++;
    if (s->n && fwrite(s->buf, s->w * sizeof *s->buf, (size_t)s->n, run->f) != s->n)
        return kvg_errorf(err, s->dir, "cannot write sorted n-grams to a temporary file: %s", strerror(errno));
    run->n = s->n;
    s->n = 0;
    return 0;
}

uint64_t *est_sorter_slot(est_sorter *s, kvg_error *err)
{
    if (s->n == s->cap && sorter_spill(s, err))
        return NULL;
    return s->buf + s->n++ * s->w;
}

int est_sorter_finish(est_sorter *s, kvg_error *err)
{
    if (!s->n_runs)
        return sort_buffer(s, err);
    if (s->n && sorter_spill(s, err))
        return -1;
    free(s->buf);
    s->buf = NULL;
    size_t n = s->n_runs;
    s->n_runs = 0; /* the merger owns them now */
    return est_merger_open(s->runs, n, s->kw, 0, s->memory, s->dir, &s->merger, err);
}

int est_sorter_next(est_sorter *s, const uint64_t **rec, kvg_error *err)
{
    if (s->merger)
        return est_merger_next(s->merger, rec, err);
    if (s->pos == s->n)
        return 0;
    *rec = s->buf + s->pos++ * s->w;
    return 1;
}

void est_sorter_free(est_sorter *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_runs; i++)
        est_stream_close(&s->runs[i]);
    free(s->runs);
    est_merger_free(s->merger);
    free(s->buf);
    free(s->tmp);
    free(s);
}
