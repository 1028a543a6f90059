/* arpa_reader.c — streaming ARPA parsing: lines from zlib, fields by hand.
 *
 * Lines are cut out of one growing buffer fed by gzread and parsed in place:
 * separators and line ends become NULs, so words are handed out as pointers
 * into the buffer and nothing is allocated per line. Only the numeric fields
 * go through strtof. */
#include "arpa_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK (256u << 10)      /* bytes asked of gzread at most at once */
#define BUF_START (512u << 10)
/* The largest buffer needed: a whole line that is not yet complete, one more
 * chunk after it, and the spare byte for the NUL after a final line. */
#define BUF_MAX ((size_t)ARPA_MAX_LINE + 1 + READ_CHUNK + 1)

enum { ST_SECTIONS, ST_DONE, ST_FAILED };

struct arpa_reader {
    gzFile gz;
    char *path;
    arpa_header header;
    uint64_t file_size;   /* bytes as stored; 0 if not a regular file */
    uint64_t consumed;    /* decompressed bytes handed out as lines */
    /* Unread text is buf[pos, end); buf[end] is always free for a NUL. */
    char *buf;
    size_t cap, pos, end;
    int eof;
    uint64_t line;        /* number of the last line read (1-based) */
    int n;                /* the section being read */
    uint64_t got;         /* entries read in section n */
    int state;
    kvg_error failure;    /* repeated by every call after an error */
    struct read_ahead *ra; /* NULL: entries are parsed on the caller's thread */
};

/* Byte classes for field splitting: words are anything but these. */
enum { C_WORD = 0, C_SEP = 1, C_NUL = 2 };
static const unsigned char byte_class[256] = {[' '] = C_SEP, ['\t'] = C_SEP, [0] = C_NUL};

/* Records "PATH:LINE: problem" (or "PATH: problem" for line 0), marks the
 * reader failed and returns -1. */
KVG_PRINTF(4, 5)
static int fail(arpa_reader *r, kvg_error *err, uint64_t line, const char *fmt, ...)
{
    char problem[KVG_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    if (line)
        kvg_errorf(&r->failure, NULL, "%s:%" PRIu64 ": %s", r->path, line, problem);
    else
        kvg_errorf(&r->failure, r->path, "%s", problem);
    r->state = ST_FAILED;
    if (err)
        *err = r->failure;
    return -1;
}

/* Turns zlib's state after a read into an error, or returns 0 if all is well.
 * saved_errno is errno right after gzread. */
static int check_gz(arpa_reader *r, int nread, int saved_errno, kvg_error *err)
{
    int errnum = Z_OK;
    const char *msg = gzerror(r->gz, &errnum);
    /* Data that came with an error is parsed first: the error is reported
     * by the next read, when the line count says where the text ends. */
    if (nread > 0 || (nread == 0 && errnum == Z_OK))
        return 0;
    /* The text read so far ends inside line r->line + 1. */
    switch (errnum) {
    case Z_ERRNO:
        return fail(r, err, 0, "read error near line %" PRIu64 ": %s", r->line + 1,
                    strerror(saved_errno));
    case Z_BUF_ERROR:
        return fail(r, err, 0, "truncated gzip stream (the text ends inside line %" PRIu64 ")",
                    r->line + 1);
    case Z_MEM_ERROR:
        return fail(r, err, 0, "out of memory in zlib");
    default: {
        /* zlib's message starts with "<fd:N>: " (we opened by descriptor);
         * keep only the problem. */
        const char *colon = msg && msg[0] == '<' ? strstr(msg, ">: ") : NULL;
        if (colon)
            msg = colon + 3;
        return fail(r, err, 0, "corrupt gzip data near line %" PRIu64 ": %s", r->line + 1,
                    msg && *msg ? msg : "unknown zlib error");
    }
    }
}

/* Reads the next line into *line / *len, without its '\n' or '\r\n', and
 * NUL-terminates it in the buffer. Returns 1, 0 at end of file, -1 on error. */
static int read_line(arpa_reader *r, char **line, size_t *len, kvg_error *err)
{
    for (;;) {
        size_t avail = r->end - r->pos;
        char *nl = memchr(r->buf + r->pos, '\n', avail);
        if (nl) {
            *len = (size_t)(nl - (r->buf + r->pos));
            break;
        }
        if (r->eof) {
            if (avail == 0)
                return 0;
            *len = avail; /* a final line without '\n' */
            break;
        }
        if (avail > ARPA_MAX_LINE)
            return fail(r, err, r->line + 1, "line is longer than %u bytes", ARPA_MAX_LINE);
        if (r->pos > 0) {
            memmove(r->buf, r->buf + r->pos, avail);
            r->pos = 0;
            r->end = avail;
        }
        if (r->cap - 1 - r->end < READ_CHUNK && r->cap < BUF_MAX) {
            size_t cap = r->cap * 2 > BUF_MAX ? BUF_MAX : r->cap * 2;
            char *buf = realloc(r->buf, cap);
            if (!buf)
                return fail(r, err, 0, "out of memory for a %zu-byte line buffer", cap);
            r->buf = buf;
            r->cap = cap;
        }
        size_t want = r->cap - 1 - r->end;
        if (want > READ_CHUNK)
            want = READ_CHUNK;
        errno = 0;
        int got = gzread(r->gz, r->buf + r->end, (unsigned)want);
        int saved_errno = errno;
        if (check_gz(r, got, saved_errno, err))
            return -1;
        if (got == 0)
            r->eof = 1;
        r->end += (size_t)got;
    }
    r->line++;
    *line = r->buf + r->pos;
    size_t step = *len + (r->pos + *len < r->end); /* the '\n' too, if any */
    r->pos += step;
    r->consumed += step;
    if (*len > ARPA_MAX_LINE)
        return fail(r, err, r->line, "line is longer than %u bytes", ARPA_MAX_LINE);
    if (*len > 0 && (*line)[*len - 1] == '\r')
        (*len)--;
    (*line)[*len] = '\0';
    return 1;
}

/* Strips spaces and tabs from both ends of [*s, *s + *n). */
static void trim(char **s, size_t *n)
{
    while (*n > 0 && byte_class[(unsigned char)**s] == C_SEP)
        (*s)++, (*n)--;
    while (*n > 0 && byte_class[(unsigned char)(*s)[*n - 1]] == C_SEP)
        (*n)--;
}

/* A (trimmed) line that starts with '\': returns n for "\n-grams:", 0 for
 * "\end\", -1 for anything else. */
static int section_header(const char *s, size_t n)
{
    if (n == 5 && memcmp(s, "\\end\\", 5) == 0)
        return 0;
    size_t i = 1;
    int v = 0;
    while (i < n && i < 4 && s[i] >= '0' && s[i] <= '9')
        v = v * 10 + (s[i++] - '0');
    if (i == 1 || v == 0 || s[1] == '0')
        return -1;
    if (n - i != 7 || memcmp(s + i, "-grams:", 7) != 0)
        return -1;
    return v;
}

/* Parses a decimal number at *p (no sign) into *v, overflow-safe.
 * Returns 0, -1 if there is no digit, -2 if it does not fit in 64 bits. */
static int parse_u64(const char **p, const char *end, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    int overflow = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s++ - '0');
        if (x > (UINT64_MAX - d) / 10)
            overflow = 1;
        else
            x = x * 10 + d;
    }
    if (s == *p)
        return -1;
    *p = s;
    *v = x;
    return overflow ? -2 : 0;
}

/* Parses the (trimmed) line "ngram N=COUNT" as the next count. */
static int parse_count_line(arpa_reader *r, const char *s, size_t n, kvg_error *err)
{
    const char *p = s + 5, *end = s + n; /* past "ngram" */
    uint64_t order = 0, count = 0;
    while (p < end && byte_class[(unsigned char)*p] == C_SEP)
        p++;
    int rc = parse_u64(&p, end, &order);
    while (p < end && byte_class[(unsigned char)*p] == C_SEP)
        p++;
    if (rc == -1 || p == end || *p != '=')
        return fail(r, err, r->line, "bad count line '%.60s': expected 'ngram N=COUNT'", s);
    p++;
    while (p < end && byte_class[(unsigned char)*p] == C_SEP)
        p++;
    int crc = parse_u64(&p, end, &count);
    if (crc == -1 || p != end)
        return fail(r, err, r->line,
                    "bad count line '%.60s': the count is not a non-negative decimal number", s);
    int want = r->header.order + 1;
    if (rc == -2 || order != (uint64_t)want) {
        if (want > ARPA_MAX_ORDER)
            return fail(r, err, r->line, "order %d is above the maximum of %d",
                        want, ARPA_MAX_ORDER);
        return fail(r, err, r->line, "expected 'ngram %d=COUNT', got '%.60s'", want, s);
    }
    if (want > ARPA_MAX_ORDER)
        return fail(r, err, r->line, "order %d is above the maximum of %d", want,
                    ARPA_MAX_ORDER);
    if (crc == -2)
        return fail(r, err, r->line, "the %d-gram count does not fit in 64 bits", want);
    r->header.order = want;
    r->header.counts[want] = count;
    return 0;
}

/* Reads everything up to and including the \1-grams: header. */
static int read_preamble(arpa_reader *r, kvg_error *err)
{
    char *line, *s;
    size_t len, n;
    int rc;
    /* Free text (e.g. SRILM comments) until \data\. */
    for (;;) {
        if ((rc = read_line(r, &line, &len, err)) < 0)
            return -1;
        if (rc == 0) {
            if (r->line == 0)
                return fail(r, err, 1, "empty file, expected an ARPA model starting with \\data\\");
            return fail(r, err, r->line, "no \\data\\ line found: not an ARPA file");
        }
        s = line, n = len;
        trim(&s, &n);
        if (n == 6 && memcmp(s, "\\data\\", 6) == 0)
            break;
    }
    /* The counts, then the first section's header. */
    for (;;) {
        if ((rc = read_line(r, &line, &len, err)) < 0)
            return -1;
        if (rc == 0)
            return fail(r, err, r->line, "unexpected end of file in the \\data\\ section");
        s = line, n = len;
        trim(&s, &n);
        if (n == 0)
            continue;
        if (n > 5 && memcmp(s, "ngram", 5) == 0 && byte_class[(unsigned char)s[5]] == C_SEP) {
            if (parse_count_line(r, s, n, err))
                return -1;
            continue;
        }
        if (s[0] != '\\')
            return fail(r, err, r->line, "expected 'ngram %d=COUNT'%s, got '%.60s'",
                        r->header.order + 1, r->header.order ? " or \\1-grams:" : "", s);
        if (r->header.order == 0)
            return fail(r, err, r->line, "no 'ngram N=COUNT' lines after \\data\\");
        if (section_header(s, n) != 1)
            return fail(r, err, r->line, "expected \\1-grams:, got '%.60s'", s);
        r->n = 1;
        r->got = 0;
        return 0;
    }
}

static void read_ahead_start(arpa_reader *r);

int arpa_open(const char *path, arpa_reader **out, kvg_error *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kvg_errorf(err, path, "%s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return kvg_errorf(err, path, "%s", strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return kvg_errorf(err, path, "is a directory, not an ARPA file");
    }
    arpa_reader *r = calloc(1, sizeof *r);
    char *pathcopy = strdup(path);
    char *buf = malloc(BUF_START);
    gzFile gz = r && pathcopy && buf ? gzdopen(fd, "rb") : NULL;
    if (!gz) {
        close(fd);
        free(r);
        free(pathcopy);
        free(buf);
        return kvg_errorf(err, path, "out of memory opening the file");
    }
    gzbuffer(gz, READ_CHUNK);
    r->gz = gz;
    r->path = pathcopy;
    r->buf = buf;
    r->cap = BUF_START;
    r->file_size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    r->state = ST_SECTIONS;
    if (read_preamble(r, err)) {
        arpa_close(r);
        return -1;
    }
    if (S_ISREG(st.st_mode))
        read_ahead_start(r);
    *out = r;
    return 0;
}

const arpa_header *arpa_get_header(const arpa_reader *r)
{
    return &r->header;
}

/* Characters that may appear in a decimal float; refuses hex and NaN. */
static const unsigned char decimal_char[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,
    ['7'] = 1, ['8'] = 1, ['9'] = 1, ['.'] = 1, ['e'] = 1, ['E'] = 1, ['+'] = 1, ['-'] = 1};

/* Numbers without strtof: lmplz and SRILM write "-d.ddddddd", at most 9
 * significant digits, and strtof costs more than the rest of a line's
 * parsing. Those forms are converted exactly here (checked against strtof
 * on every number of the bundled and shared models and on hundreds of
 * millions of random and near-halfway ones); anything else goes to strtof. */
#define DECIMAL_MAX_FRACTION 11 /* digits after the point */
#define DECIMAL_MAX_DIGITS 9    /* significant digits */
static const uint64_t pow10_u64[DECIMAL_MAX_FRACTION + 1] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000, 10000000000, 100000000000};

static int log2_floor(uint64_t x) { return 63 - __builtin_clzll(x); }

/* The float nearest to m / 10^k (ties to even), m in [1, 10^9), k <= 11:
 * what strtof gives, computed exactly in integers. The quotient is scaled
 * by 2^s so that it has 25 bits (24 for the float's significand, one for
 * rounding); the division's remainder says whether anything lies below.
 * m*2^s stays below 2^(26 + log2(10^11)) < 2^63, and the value is far from
 * the subnormals, so every step is exact. */
static float decimal_to_float(uint64_t m, unsigned k)
{
    uint64_t den = pow10_u64[k];
    int s = 25 + log2_floor(den) - log2_floor(m); /* m * 2^s / den in (2^24, 2^26) */
    uint64_t num = m;
    if (s >= 0)
        num <<= s;
    else
        den <<= -s; /* only for m >= 2^25 * den, so den <= 10 here */
    uint64_t q = num / den;
    int sticky = num % den != 0;
    if (q >= (UINT64_C(1) << 25)) { /* 26 bits: drop one */
        sticky |= (int)(q & 1);
        q >>= 1;
        s--;
    }
    uint64_t mant = q >> 1; /* 24 bits: the value is mant * 2^(1 - s) */
    int exp = 151 - s;      /* biased exponent of that: mant / 2^23 * 2^(24 - s) */
    if ((q & 1) && (sticky || (mant & 1)) && ++mant == (UINT64_C(1) << 24)) {
        mant >>= 1;
        exp++;
    }
    uint32_t bits = (uint32_t)exp << 23 | (uint32_t)(mant & 0x7FFFFF);
    float v;
    memcpy(&v, &bits, 4);
    return v;
}

/* "[-]ddd[.ddd]" with at most 9 significant digits and 11 decimals, the
 * whole string: returns 0 and sets *out; anything else: -1. */
static int parse_plain_decimal(const char *s, float *out)
{
    int neg = *s == '-';
    const char *p = s + neg, *int_start = p;
    uint64_t m = 0; /* wraps when there are more than 19 digits; refused below then */
    while ((unsigned)(*p - '0') < 10)
        m = m * 10 + (uint64_t)(*p++ - '0');
    size_t digits = (size_t)(p - int_start), frac = 0;
    if (*p == '.') {
        const char *frac_start = ++p;
        while ((unsigned)(*p - '0') < 10)
            m = m * 10 + (uint64_t)(*p++ - '0');
        frac = (size_t)(p - frac_start);
    }
    digits += frac;
    /* Leading zeros do not count: m < 10^9 is at most 9 significant digits. */
    if (*p || digits == 0 || digits > 19 || m >= pow10_u64[DECIMAL_MAX_DIGITS] || frac > DECIMAL_MAX_FRACTION)
        return -1;
    float v = m ? decimal_to_float(m, (unsigned)frac) : 0.0f;
    *out = neg ? -v : v;
    return 0;
}

/* Parses a whole NUL-terminated field as a log10 value: a finite decimal
 * number, or -inf / -infinity (any case). Returns NULL, or why not. */
static const char *parse_log10(const char *s, float *out)
{
    if (parse_plain_decimal(s, out) == 0)
        return NULL;
    const char *t = s + (*s == '-' || *s == '+');
    if ((*t == 'i' || *t == 'I') && (strcasecmp(t, "inf") == 0 || strcasecmp(t, "infinity") == 0)) {
        if (*s != '-')
            return "is positive infinity";
        *out = -INFINITY;
        return NULL;
    }
    for (t = s; *t; t++)
        if (!decimal_char[(unsigned char)*t])
            return "is not a number";
    errno = 0;
    char *endp;
    float v = strtof(s, &endp);
    if (endp == s || *endp)
        return "is not a number";
    if (errno == ERANGE && isinf(v))
        return "is out of the range of a float";
    *out = v;
    return NULL;
}

/* Splits the entry line s (NUL-terminated, len bytes) into fields and fills e. */
static int parse_entry(arpa_reader *r, char *s, size_t len, arpa_entry *e, kvg_error *err)
{
    enum { MAX_FIELDS = ARPA_MAX_ORDER + 3 };
    char *field[MAX_FIELDS];
    size_t nf = 0; /* counts every field, stores the first MAX_FIELDS */
    /* s[len] is the NUL read_line put there: the scans stop at it without
     * checking the length; any other NUL is an error. */
    char *p = s, *end = s + len;
    for (;;) {
        while (byte_class[(unsigned char)*p] == C_SEP)
            p++;
        if (p == end)
            break;
        char *f = p;
        while (byte_class[(unsigned char)*p] == C_WORD)
            p++;
        if (*p == '\0' && p != end)
            return fail(r, err, r->line, "NUL byte in the line");
        if (nf < MAX_FIELDS)
            field[nf] = f;
        nf++;
        if (p < end)
            *p++ = '\0';
    }
    const int n = r->n, order = r->header.order;
    const size_t k = nf - 1; /* fields after the log-prob */
    const char *why = parse_log10(field[0], &e->log10p);
    if (why)
        return fail(r, err, r->line, "log-prob '%.40s' %s", field[0], why);
    if (k < (size_t)n)
        return fail(r, err, r->line, "expected %d word%s after the log-prob, got %zu", n,
                    n > 1 ? "s" : "", k);
    e->has_backoff = 0;
    e->backoff = 0.0f;
    if (k > (size_t)n) {
        float b;
        why = parse_log10(field[n + 1], &b);
        if (n == order) {
            if (why || k > (size_t)n + 1)
                return fail(r, err, r->line, "expected %d words after the log-prob, got %zu", n, k);
            return fail(r, err, r->line, "backoff on a highest-order n-gram (order %d)", n);
        }
        if (k > (size_t)n + 1) {
            if (!why)
                return fail(r, err, r->line, "unexpected text after the backoff: '%.40s'",
                            field[n + 2]);
            return fail(r, err, r->line,
                        "expected %d word%s and an optional backoff after the log-prob, got %zu "
                        "fields",
                        n, n > 1 ? "s" : "", k);
        }
        if (why)
            return fail(r, err, r->line, "backoff '%.40s' %s (or the line has %zu words, not %d)",
                        field[n + 1], why, k, n);
        e->backoff = b;
        e->has_backoff = 1;
    }
    e->order = n;
    e->line = r->line;
    for (int i = 0; i < n; i++)
        e->words[i] = field[1 + i];
    return 0;
}

/* After \end\: only blank lines may follow. */
static int finish(arpa_reader *r, kvg_error *err)
{
    for (;;) {
        char *line;
        size_t len;
        int rc = read_line(r, &line, &len, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            r->state = ST_DONE;
            return 0;
        }
        trim(&line, &len);
        if (len > 0)
            return fail(r, err, r->line, "unexpected text after \\end\\: '%.40s'", line);
    }
}

static int eof_error(arpa_reader *r, kvg_error *err)
{
    const arpa_header *h = &r->header;
    if (r->got < h->counts[r->n])
        return fail(r, err, r->line,
                    "unexpected end of file in the %d-grams section (%" PRIu64 " of %" PRIu64
                    " entries read)",
                    r->n, r->got, h->counts[r->n]);
    if (r->n < h->order)
        return fail(r, err, r->line, "unexpected end of file before the \\%d-grams: section",
                    r->n + 1);
    return fail(r, err, r->line, "unexpected end of file: \\end\\ is missing");
}

/* The next entry, parsed from the text (arpa_next without read-ahead). */
static int parse_next(arpa_reader *r, arpa_entry *e, kvg_error *err)
{
    if (r->state == ST_DONE)
        return 0;
    if (r->state == ST_FAILED) {
        if (err)
            *err = r->failure;
        return -1;
    }
    const arpa_header *h = &r->header;
    for (;;) {
        char *line, *s;
        size_t len, n;
        int rc = read_line(r, &line, &len, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return eof_error(r, err);
        s = line, n = len;
        trim(&s, &n);
        if (n == 0)
            continue;
        if (s[0] != '\\') {
            if (r->got == h->counts[r->n])
                return fail(r, err, r->line,
                            "the %d-grams section has more than the %" PRIu64
                            " entries declared in \\data\\ (entry %" PRIu64 " is here)",
                            r->n, h->counts[r->n], r->got + 1);
            if (parse_entry(r, line, len, e, err))
                return -1;
            r->got++;
            return 1;
        }
        if (r->got < h->counts[r->n])
            return fail(r, err, r->line,
                        "the %d-grams section has %" PRIu64 " entries, but \\data\\ declares %" PRIu64,
                        r->n, r->got, h->counts[r->n]);
        int sec = section_header(s, n);
        if (r->n < h->order) {
            if (sec == r->n + 1) {
                r->n++;
                r->got = 0;
                continue;
            }
            if (sec == 0)
                return fail(r, err, r->line,
                            "\\end\\ before the \\%d-grams: section (\\data\\ declares order %d)",
                            r->n + 1, h->order);
            if (sec > 0)
                return fail(r, err, r->line, "section \\%d-grams: out of order: expected \\%d-grams:",
                            sec, r->n + 1);
            return fail(r, err, r->line, "expected \\%d-grams:, got '%.40s'", r->n + 1, s);
        }
        if (sec == 0)
            return finish(r, err);
        if (sec > 0)
            return fail(r, err, r->line,
                        "section \\%d-grams: is not declared in \\data\\ (order %d); expected \\end\\",
                        sec, h->order);
        return fail(r, err, r->line, "expected \\end\\, got '%.40s'", s);
    }
}

static uint64_t bytes_read_now(const arpa_reader *r)
{
    z_off_t off = gzoffset(r->gz);
    return off >= 0 ? (uint64_t)off : r->consumed;
}

/* ---- read-ahead ----
 *
 * For a regular file, a second thread inflates and parses (the code above,
 * unchanged) while the caller works on the entries: zlib and the parsing
 * take about as long as what a converter does with each entry. Entries
 * reach the caller in batches, words copied, the end or error of the read
 * travelling last, so the caller sees the same entries, the same end and
 * the same error messages as without the thread. Pipes are read on the
 * caller's thread: a read from a pipe may block, and arpa_close could not
 * stop a thread waiting in one. */

/* A ring of n slots between a filling thread and an emptying one: slot
 * number k (at k % n) is the filler's until published, then the emptier's
 * until given back. */
typedef struct handoff {
    pthread_mutex_t lock;
    pthread_cond_t changed;   /* a slot was published or given back, or stop was set */
    uint64_t filled, emptied; /* slots ever published / given back */
    unsigned n;
    int stop;                 /* set by the emptier: the filler is to end */
} handoff;

static int handoff_init(handoff *h, unsigned n)
{
    h->filled = h->emptied = 0;
    h->n = n;
    h->stop = 0;
    if (pthread_mutex_init(&h->lock, NULL) != 0)
        return -1;
    if (pthread_cond_init(&h->changed, NULL) != 0) {
        pthread_mutex_destroy(&h->lock);
        return -1;
    }
    return 0;
}

static void handoff_destroy(handoff *h)
{
    pthread_cond_destroy(&h->changed);
    pthread_mutex_destroy(&h->lock);
}

/* Filler: waits until slot k is free. 0 when told to stop instead. */
static int handoff_claim(handoff *h, uint64_t k)
{
    pthread_mutex_lock(&h->lock);
    while (k - h->emptied >= h->n && !h->stop)
        pthread_cond_wait(&h->changed, &h->lock);
    int go = !h->stop;
    pthread_mutex_unlock(&h->lock);
    return go;
}

static void handoff_publish(handoff *h)
{
    pthread_mutex_lock(&h->lock);
    h->filled++;
    pthread_cond_signal(&h->changed);
    pthread_mutex_unlock(&h->lock);
}

/* Emptier: waits for the next published slot; returns its number. */
static uint64_t handoff_take(handoff *h)
{
    pthread_mutex_lock(&h->lock);
    while (h->filled == h->emptied)
        pthread_cond_wait(&h->changed, &h->lock);
    uint64_t k = h->emptied;
    pthread_mutex_unlock(&h->lock);
    return k;
}

static void handoff_give_back(handoff *h)
{
    pthread_mutex_lock(&h->lock);
    h->emptied++;
    pthread_cond_signal(&h->changed);
    pthread_mutex_unlock(&h->lock);
}

static void handoff_stop(handoff *h)
{
    pthread_mutex_lock(&h->lock);
    h->stop = 1;
    pthread_cond_signal(&h->changed);
    pthread_mutex_unlock(&h->lock);
}

#define RA_SLOTS 4
#define RA_ENTRIES 4096u                           /* entries per batch at most */
#define RA_TEXT (256u << 10)                       /* a batch ends once its words fill this */
#define RA_TEXT_CAP (RA_TEXT + ARPA_MAX_LINE + 1u) /* ...so one more line's words always fit */

typedef struct batch {
    arpa_entry entries[RA_ENTRIES];
    size_t n;
    char *text;          /* RA_TEXT_CAP bytes: the entries' words */
    int end;             /* 0: more batches follow; 1: the end of the model; -1: an error */
    kvg_error failure;   /* the error, when end is -1 */
    uint64_t bytes_read; /* arpa_bytes_read after this batch */
} batch;

typedef struct read_ahead {
    pthread_t thread;
    handoff ring;
    batch slots[RA_SLOTS];
    /* The caller's side. */
    batch *cur;  /* taken, not yet given back */
    size_t next; /* its next entry */
    uint64_t bytes_read;
} read_ahead;

/* Parses entries into b until it is full or the model ends or fails. */
static void fill_batch(arpa_reader *r, batch *b)
{
    size_t used = 0;
    b->n = 0;
    b->end = 0;
    while (b->n < RA_ENTRIES && used < RA_TEXT) {
        arpa_entry *e = &b->entries[b->n];
        int rc = parse_next(r, e, &b->failure);
        if (rc <= 0) {
            b->end = rc == 0 ? 1 : -1;
            break;
        }
        /* The words leave the line buffer: they lie in a row in it, so
         * one copy takes them all (and what separates them). */
        const char *first = e->words[0], *last = e->words[e->order - 1];
        size_t span = (size_t)(last - first) + strlen(last) + 1;
        memcpy(b->text + used, first, span);
        for (int i = 0; i < e->order; i++)
            e->words[i] = b->text + used + (e->words[i] - first);
        used += span;
        b->n++;
    }
    b->bytes_read = bytes_read_now(r);
}

static void *read_ahead_main(void *arg)
{
    arpa_reader *r = arg;
    read_ahead *ra = r->ra;
    for (uint64_t k = 0; handoff_claim(&ra->ring, k); k++) {
        batch *b = &ra->slots[k % RA_SLOTS];
        fill_batch(r, b);
        handoff_publish(&ra->ring);
        if (b->end)
            break;
    }
    return NULL;
}

/* arpa_next from the batches. The last batch stays: its end or error is
 * the answer to every later call. */
static int read_ahead_next(read_ahead *ra, arpa_entry *e, kvg_error *err)
{
    while (!ra->cur || ra->next == ra->cur->n) {
        if (ra->cur && ra->cur->end) {
            if (ra->cur->end > 0)
                return 0;
            if (err)
                *err = ra->cur->failure;
            return -1;
        }
        if (ra->cur)
            handoff_give_back(&ra->ring);
        ra->cur = &ra->slots[handoff_take(&ra->ring) % RA_SLOTS];
        ra->next = 0;
        ra->bytes_read = ra->cur->bytes_read;
    }
    /* The fields in use, not the whole struct: most of words[] is unused,
     * and every byte comes from another core's cache. */
    const arpa_entry *src = &ra->cur->entries[ra->next++];
    e->order = src->order;
    e->log10p = src->log10p;
    e->backoff = src->backoff;
    e->has_backoff = src->has_backoff;
    e->line = src->line;
    memcpy(e->words, src->words, (size_t)src->order * sizeof *e->words);
    return 1;
}

static void read_ahead_free(read_ahead *ra)
{
    for (int i = 0; i < RA_SLOTS; i++)
        free(ra->slots[i].text);
    free(ra);
}

/* Starts the read-ahead thread; if it cannot start, the caller's thread
 * parses. */
static void read_ahead_start(arpa_reader *r)
{
    read_ahead *ra = calloc(1, sizeof *ra);
    int ok = ra != NULL;
    for (int i = 0; ok && i < RA_SLOTS; i++)
        ok = (ra->slots[i].text = malloc(RA_TEXT_CAP)) != NULL;
    if (ok && handoff_init(&ra->ring, RA_SLOTS) == 0) {
        ra->bytes_read = bytes_read_now(r);
        r->ra = ra;
        if (pthread_create(&ra->thread, NULL, read_ahead_main, r) == 0)
            return;
        r->ra = NULL;
        handoff_destroy(&ra->ring);
    }
    if (ra)
        read_ahead_free(ra);
}

static void read_ahead_stop(read_ahead *ra)
{
    handoff_stop(&ra->ring);
    pthread_join(ra->thread, NULL);
    handoff_destroy(&ra->ring);
    read_ahead_free(ra);
}

int arpa_next(arpa_reader *r, arpa_entry *e, kvg_error *err)
{
    return r->ra ? read_ahead_next(r->ra, e, err) : parse_next(r, e, err);
}

uint64_t arpa_bytes_read(const arpa_reader *r)
{
    return r->ra ? r->ra->bytes_read : bytes_read_now(r);
}

uint64_t arpa_file_size(const arpa_reader *r)
{
    return r->file_size;
}

void arpa_close(arpa_reader *r)
{
    if (!r)
        return;
    if (r->ra)
        read_ahead_stop(r->ra);
    if (r->gz)
        gzclose(r->gz);
    free(r->buf);
    free(r->path);
    free(r);
}
