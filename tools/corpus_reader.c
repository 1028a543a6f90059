/* corpus_reader.c — line reader over zlib's gzread (see corpus_reader.h). */
#include "corpus_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK (1u << 20)

struct corpus_reader {
    gzFile gz;
    int fd;
    char *name;
    char *buf;           /* bytes [start, end) not yet returned */
    size_t start, end, cap;
    int eof;
    uint64_t line;
};

int corpus_open(const char *path, corpus_reader **out, kvg_error *err)
{
    *out = NULL;
    int use_stdin = !path || strcmp(path, "-") == 0;
    const char *name = use_stdin ? "stdin" : path;
    int fd = use_stdin ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kvg_errorf(err, name, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return kvg_errorf(err, name, "is a directory, not a text file");
    }
    corpus_reader *r = calloc(1, sizeof *r);
    if (r) {
        r->name = strdup(name);
        r->cap = 2 * READ_CHUNK;
        r->buf = malloc(r->cap);
    }
    if (!r || !r->name || !r->buf) {
        close(fd);
        corpus_close(r);
        return kvg_errorf(err, name, "out of memory");
    }
    r->fd = fd;
    r->gz = gzdopen(fd, "rb");
    if (!r->gz) {
        close(fd);
        corpus_close(r);
        return kvg_errorf(err, name, "cannot open: out of memory");
    }
    gzbuffer(r->gz, 1 << 17);
    *out = r;
    return 0;
}

/* Reads more bytes after the pending ones; 0 at end of file. */
static int fill(corpus_reader *r, kvg_error *err)
{
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, r->end - r->start);
        r->end -= r->start;
        r->start = 0;
    }
    if (r->cap - r->end < READ_CHUNK) {
        size_t cap = r->cap * 2;
        char *b = realloc(r->buf, cap);
        if (!b)
            return kvg_errorf(err, r->name, "out of memory for line %llu", (unsigned long long)r->line + 1);
        r->buf = b;
        r->cap = cap;
    }
    int got = gzread(r->gz, r->buf + r->end, READ_CHUNK);
    if (got < 0) {
        int code;
        const char *msg = gzerror(r->gz, &code);
        if (code == Z_ERRNO)
            msg = strerror(errno);
        return kvg_errorf(err, NULL, "%s:%llu: cannot read: %s", r->name, (unsigned long long)r->line + 1, msg);
    }
    if (got == 0) {
        /* a gzip stream cut short reads as a clean end without this check */
        int code;
        const char *msg = gzerror(r->gz, &code);
        if (code != Z_OK && code != Z_STREAM_END)
            return kvg_errorf(err, NULL, "%s:%llu: cannot read: %s", r->name, (unsigned long long)r->line + 1,
                              msg);
        if (!gzdirect(r->gz) && code == Z_BUF_ERROR)
            return kvg_errorf(err, NULL, "%s:%llu: truncated gzip data", r->name, (unsigned long long)r->line + 1);
        r->eof = 1;
        return 0;
    }
    r->end += (size_t)got;
    return 1;
}

int corpus_next_line(corpus_reader *r, const char **line, size_t *len, kvg_error *err)
{
    size_t scanned = r->start;
    for (;;) {
        char *nl = memchr(r->buf + scanned, '\n', r->end - scanned);
        if (nl) {
            *line = r->buf + r->start;
            *len = (size_t)(nl - (r->buf + r->start));
            r->start = (size_t)(nl - r->buf) + 1;
            r->line++;
            return 1;
        }
        if (r->eof) {
            if (r->end == r->start)
                return 0;
            *line = r->buf + r->start;
            *len = r->end - r->start;
            r->start = r->end;
            r->line++;
            return 1;
        }
        size_t pending = r->end - r->start;
        int got = fill(r, err);
        if (got < 0)
            return -1;
        scanned = pending; /* after fill, pending bytes start at 0 */
    }
}

uint64_t corpus_line_number(const corpus_reader *r) { return r->line; }

uint64_t corpus_bytes_read(const corpus_reader *r)
{
    off_t pos = lseek(r->fd, 0, SEEK_CUR);
    return pos > 0 ? (uint64_t)pos : 0;
}

const char *corpus_name(const corpus_reader *r) { return r->name; }

void corpus_close(corpus_reader *r)
{
    if (!r)
        return;
    if (r->gz)
        gzclose(r->gz);
    free(r->buf);
    free(r->name);
    free(r);
}
