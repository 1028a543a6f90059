/* test_arpa_reader.c — the streaming ARPA reader: KenLM's and lmplz's files
 * read in full, odd-but-valid layouts accepted, and every malformed input
 * refused with one line naming the file and the right line number. */
#include "arpa_reader.h"
#include "kvg_test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char shared_dir[1024];

/* One entry to look for while reading a whole file. */
typedef struct expect_entry {
    uint64_t line;
    int order;
    float log10p;      /* compared exactly: both sides come from strtof */
    int has_backoff;
    float backoff;
    const char *words; /* joined by single spaces */
    int seen;
} expect_entry;

/* What reading a whole file gives, per section. */
typedef struct file_stats {
    uint64_t entries[ARPA_MAX_ORDER + 1];
    uint64_t with_backoff[ARPA_MAX_ORDER + 1];
    double sum_log10p[ARPA_MAX_ORDER + 1]; /* finite values only */
    double sum_backoff[ARPA_MAX_ORDER + 1];
    uint64_t bytes_read, file_size;
    arpa_header header;
} file_stats;

static void join_words(const arpa_entry *e, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < e->order; i++)
        used += (size_t)snprintf(out + used, used < cap ? cap - used : 0, "%s%s", i ? " " : "",
                                 e->words[i]);
}

/* Reads PATH to the end; checks the entries in WANT on the way. Returns
 * arpa_next's last result (0 on success), or -2 if arpa_open failed. */
static int read_all(const char *path, file_stats *st, expect_entry *want, size_t nwant,
                    kvg_error *err)
{
    memset(st, 0, sizeof *st);
    arpa_reader *r;
    if (arpa_open(path, &r, err))
        return -2;
    st->header = *arpa_get_header(r);
    arpa_entry e;
    int rc;
    uint64_t last_line = 0, backwards = 0, stray_backoff = 0;
    while ((rc = arpa_next(r, &e, err)) == 1) {
        backwards += e.line <= last_line; /* lines only go forward */
        last_line = e.line;
        st->entries[e.order]++;
        if (isfinite(e.log10p))
            st->sum_log10p[e.order] += e.log10p;
        if (e.has_backoff) {
            st->with_backoff[e.order]++;
            st->sum_backoff[e.order] += e.backoff;
        } else {
            stray_backoff += e.backoff != 0.0f;
        }
        for (size_t i = 0; i < nwant; i++) {
            if (want[i].line != e.line)
                continue;
            char joined[512];
            join_words(&e, joined, sizeof joined);
            want[i].seen = 1;
            CHECK_INT(want[i].order, e.order);
            CHECK_NEAR(want[i].log10p, e.log10p, 0);
            CHECK_INT(want[i].has_backoff, e.has_backoff);
            CHECK_NEAR(want[i].backoff, e.backoff, 0);
            CHECK_STR_CONTAINS(joined, want[i].words);
            CHECK_INT(strlen(want[i].words), strlen(joined));
        }
    }
    CHECK_INT(0, backwards);
    CHECK_INT(0, stray_backoff);
    st->bytes_read = arpa_bytes_read(r);
    st->file_size = arpa_file_size(r);
    if (rc == 0) {
        arpa_entry again;
        CHECK_INT(0, arpa_next(r, &again, err)); /* stays at the end */
    }
    arpa_close(r);
    for (size_t i = 0; i < nwant; i++) {
        if (!want[i].seen)
            fprintf(stderr, "%s: no entry at line %" PRIu64 "\n", path, want[i].line);
        CHECK(want[i].seen);
    }
    return rc;
}

static uint64_t stored_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* A real ARPA file and what its text says. Numbers come from the files:
 * counts from their \data\ lines, line numbers from `grep -n` (on `zcat`'s
 * output for .gz), and per section the entries, the entries with a backoff
 * and the sums of both columns from
 *   awk -F'\t' '/^\\[0-9]-grams:/{s=substr($0,2,1);next} /^\\end/{s=0}
 *     s&&NF>0{c[s]++; p[s]+=$1; if(NF==3){b[s]++; q[s]+=$3}} END{...}'
 * (KenLM's files use tabs between fields, so NF counts them). */
typedef struct file_case {
    const char *name;             /* under KVG_SHARED_DIR, or KVG_SOURCE_DIR if in_source */
    int in_source;
    int order;
    uint64_t counts[6];           /* [n], n = 1..order */
    uint64_t backoffs[6];         /* entries with a backoff column */
    double sum_log10p[6], sum_backoff[6];
    double sum_tol;               /* the sums are of floats: tolerance grows with size */
    expect_entry want[10];        /* ends at line 0 */
} file_case;

static file_case file_cases[] = {
    /* KenLM's lm/test.arpa: order 5 with edge cases (positive backoff 3.0,
     * backoff -0.0, unigrams without backoff, <s> at -99, a blank first line). */
    {"data/kenlm/test.arpa", 0, 5,
     {0, 37, 47, 11, 6, 4}, {0, 35, 10, 7, 4, 0},
     {0, -163.365114, -45.584806, -17.027749, -4.181036, -5.048131},
     {0, -28.858163, -12.284439, -21.002579, -9.431364, 0}, 1e-4,
     {{13, 1, -99.0f, 1, -0.4149733f, "<s>", 0},
      {14, 1, -1.995635f, 1, -20.0f, "<unk>", 0},
      {44, 1, -3.141592f, 0, 0.0f, "foo", 0},
      {45, 1, -2.718281f, 1, 3.0f, "bar", 0},
      {46, 1, -6.535897f, 1, -0.0f, "baz", 0},
      {49, 2, -0.6925742f, 0, 0.0f, ", .", 0},
      {93, 2, -15.0f, 1, -2.0f, "<unk> <unk>", 0},
      {95, 2, -6.0f, 0, 0.0f, "foo bar", 0},
      {106, 3, -3.0f, 1, -7.0f, "also would consider", 0},
      {122, 5, -5.0f, 0, 0.0f, "also would consider higher looking", 0}}},
    /* test.arpa less its <unk> entries (`diff` of the two). */
    {"data/kenlm/test_nounk.arpa", 0, 5,
     {0, 36, 45, 10, 6, 4}, {0, 34, 8, 6, 4, 0},
     {0, -161.369479, -26.584806, -11.027749, -4.181036, -5.048131},
     {0, -8.858163, -9.284439, -9.002579, -9.431364, 0}, 1e-4,
     {{91, 2, -2.0f, 1, -6.0f, "also would", 0},
      {118, 5, -5.0f, 0, 0.0f, "also would consider higher looking", 0}}},
    /* Made by lmplz: <s> has log-prob 0 (not -99); </s> and <unk> a backoff
     * column of 0. */
    {"data/kenlm/toy0.arpa", 0, 3,
     {0, 5, 7, 7}, {0, 5, 7, 0},
     {0, -2.516718, -3.164101, -1.929554}, {0, -0.903090, -1.505150, 0}, 1e-5,
     {{7, 1, -0.90309f, 1, 0.0f, "<unk>", 0},
      {8, 1, 0.0f, 1, -0.30103f, "<s>", 0},
      {29, 3, -0.20102891f, 0, 0.0f, "a a b", 0}}},
    /* lmplz -o 3 on 3,000 KJV verses, read through zlib. */
    {"data/kjv/kjv.small.o3.arpa.gz", 0, 3,
     {0, 3526, 24144, 50495}, {0, 3526, 24144, 0},
     {0, -13933.749841, -47409.690847, -54614.789948}, {0, -641.211735, -3924.937132, 0}, 1e-2,
     {{7, 1, -4.35f, 1, 0.0f, "<unk>", 0},
      {3532, 1, -4.2007623f, 1, -0.14573003f, "adulteress", 0},
      {3535, 2, -0.060275316f, 1, 0.0f, ". </s>", 0},
      {27678, 2, -3.9177694f, 1, -0.11681938f, "the adulteress", 0},
      {27681, 3, -0.02677338f, 0, 0.0f, "in . </s>", 0},
      {78175, 3, -3.5366306f, 0, 0.0f, "and the adulteress", 0}}},
    /* The fixture made by models/make_arpa.py. */
    {"models/tinystories.o3.arpa", 1, 3,
     {0, 152, 1285, 3276}, {0, 150, 1283, 0},
     {0, -461.184878, -1866.019219, -2852.199002}, {0, -55.555846, -546.488786, 0}, 1e-3,
     {{7, 1, -3.046732f, 0, 0.0f, "<unk>", 0},
      {8, 1, -99.0f, 1, -1.721015f, "<s>", 0},
      {4723, 3, -0.3989992f, 0, 0.0f, "yellow shiny shell", 0}}},
};

/* Each file reads to the end with every section as declared; bytes_read
 * ends at the size as stored (compressed for .gz). */
static void test_real_files(void)
{
    const char *src = getenv("KVG_SOURCE_DIR");
    for (size_t i = 0; i < sizeof file_cases / sizeof file_cases[0]; i++) {
        file_case *fc = &file_cases[i];
        char path[1200];
        snprintf(path, sizeof path, "%s/%s",
                 fc->in_source ? (src && *src ? src : ".") : shared_dir, fc->name);
        size_t nwant = 0;
        while (nwant < 10 && fc->want[nwant].line)
            nwant++;
        file_stats st;
        kvg_error err = {{0}};
        int rc = read_all(path, &st, fc->want, nwant, &err);
        if (rc)
            fprintf(stderr, "%s: %s\n", fc->name, err.msg);
        CHECK_INT(0, rc);
        CHECK_INT(fc->order, st.header.order);
        for (int n = 1; n <= fc->order; n++) {
            CHECK_INT(fc->counts[n], st.header.counts[n]);
            CHECK_INT(fc->counts[n], st.entries[n]);
            CHECK_INT(fc->backoffs[n], st.with_backoff[n]);
            CHECK_NEAR(fc->sum_log10p[n], st.sum_log10p[n], fc->sum_tol);
            CHECK_NEAR(fc->sum_backoff[n], st.sum_backoff[n], fc->sum_tol);
        }
        CHECK_INT(stored_size(path), st.file_size);
        CHECK_INT(st.file_size, st.bytes_read);
        CHECK(st.file_size > 0);
    }
    /* 689809 = `stat -c %s` of the .gz: the compressed size, not the text's. */
    char path[1200];
    snprintf(path, sizeof path, "%s/data/kjv/kjv.small.o3.arpa.gz", shared_dir);
    CHECK_INT(689809, stored_size(path));
}

/* The "-0.0" backoff of baz in test.arpa keeps its sign, as strtof gives it. */
static void test_negative_zero(void)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/data/kenlm/test.arpa", shared_dir);
    arpa_reader *r;
    kvg_error err = {{0}};
    CHECK_INT(0, arpa_open(path, &r, &err));
    if (!r)
        return;
    arpa_entry e;
    while (arpa_next(r, &e, &err) == 1 && e.line != 46)
        ;
    CHECK_INT(46, e.line);
    CHECK(signbit(e.backoff) && e.backoff == 0.0f);
    CHECK(e.log10p == strtof("-6.535897", NULL));
    arpa_close(r);
}

/* --- temp files ---------------------------------------------------------- */

static void temp_path(char *out, size_t cap)
{
    const char *dir = getenv("TMPDIR");
    snprintf(out, cap, "%s/arpa_test_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(out);
    CHECK(fd >= 0);
    if (fd >= 0)
        close(fd);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    CHECK_INT(len, fwrite(text, 1, len, f));
    fclose(f);
}

/* Reads a whole file and expects an error "PATH:LINE: ..." containing
 * NEEDLE (LINE 0: "PATH: ..."). */
static void expect_error_file(const char *path, const char *label, uint64_t line,
                              const char *needle)
{
    kvg_error err = {{0}};
    arpa_reader *r = NULL;
    int rc = arpa_open(path, &r, &err);
    if (rc == 0) {
        arpa_entry e;
        while ((rc = arpa_next(r, &e, &err)) == 1)
            ;
        if (rc == -1) { /* the error sticks */
            kvg_error again = {{0}};
            CHECK_INT(-1, arpa_next(r, &e, &again));
            CHECK(strcmp(err.msg, again.msg) == 0);
        }
        arpa_close(r);
    }
    if (rc != -1)
        fprintf(stderr, "case '%s': expected an error, got %d\n", label, rc);
    CHECK_INT(-1, rc);
    char prefix[1300];
    if (line)
        snprintf(prefix, sizeof prefix, "%s:%" PRIu64 ": ", path, line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", path);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0)
        fprintf(stderr, "case '%s': message does not start with \"%s\"\n", label, prefix);
    CHECK(strncmp(err.msg, prefix, strlen(prefix)) == 0);
    CHECK_STR_CONTAINS(err.msg, needle);
    CHECK(strchr(err.msg, '\n') == NULL);
    if (getenv("KVG_TEST_VERBOSE"))
        printf("%-32s %s\n", label, err.msg);
}

static void expect_error_n(const char *label, const char *text, size_t len, uint64_t line,
                           const char *needle)
{
    char path[1100];
    temp_path(path, sizeof path);
    write_file(path, text, len);
    expect_error_file(path, label, line, needle);
    unlink(path);
}

/* Malformed inputs: the text, the line the error must name, and a piece of
 * the message. */
typedef struct bad_case {
    const char *label;
    const char *text;
    size_t len;       /* of text; it may hold a NUL */
    uint64_t line;
    const char *needle;
} bad_case;

/* TEXT is a string literal; its length counts any NUL inside. */
#define CASE(label, text, line, needle) {label, text, sizeof(text) - 1, line, needle}

#define HEAD2 "\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1\ta\t-0.5\n-2\tb\t-0.25\n\n"
/* HEAD2 is 8 lines; a file is HEAD2, then the 2-grams. */

static const bad_case bad_cases[] = {
    CASE("empty file", "", 1, "empty file"),
    CASE("blank only", "\n\n  \n", 3, "no \\data\\"),
    CASE("no \\data\\", "hello\nworld\n", 2, "no \\data\\"),
    CASE("no counts", "\\data\\\n\n\\1-grams:\n-1 a\n\\end\\\n", 3,
         "no 'ngram N=COUNT' lines"),
    CASE("eof in \\data\\", "\\data\\\nngram 1=2\n", 2,
         "unexpected end of file in the \\data\\ section"),
    CASE("count not a number", "\\data\\\nngram 1=abc\n", 2, "bad count line"),
    CASE("negative count", "\\data\\\nngram 1=-5\n", 2, "bad count line"),
    CASE("count trailing text", "\\data\\\nngram 1=5x\n", 2, "bad count line"),
    CASE("count without =", "\\data\\\nngram 1 5\n", 2, "bad count line"),
    CASE("count overflow", "\\data\\\n\nngram 1=18446744073709551616\n", 3,
         "does not fit in 64 bits"),
    CASE("counts start at 2", "\\data\\\nngram 2=5\n", 2, "expected 'ngram 1=COUNT'"),
    CASE("counts with a gap", "\\data\\\nngram 1=1\nngram 3=1\n", 3,
         "expected 'ngram 2=COUNT'"),
    CASE("counts repeated", "\\data\\\nngram 1=1\nngram 1=1\n", 3,
         "expected 'ngram 2=COUNT'"),
    CASE("garbage among counts", "\\data\\\nngram 1=1\nfoo bar\n", 3,
         "expected 'ngram 2=COUNT' or \\1-grams:"),
    CASE("first header wrong", "\\data\\\nngram 1=1\nngram 2=1\n\\2-grams:\n", 4,
         "expected \\1-grams:"),
    CASE("section out of order", HEAD2 "\\3-grams:\n", 9,
         "section \\3-grams: out of order: expected \\2-grams:"),
    CASE("unknown section header", HEAD2 "\\bigrams:\n", 9,
         "expected \\2-grams:, got '\\bigrams:'"),
    CASE("\\end\\ too early", HEAD2 "\\end\\\n", 9, "\\end\\ before the \\2-grams:"),
    CASE("too few entries", "\\data\\\nngram 1=3\nngram 2=1\n\\1-grams:\n-1 a\n-1 b\n\n"
         "\\2-grams:\n-1 a b\n\\end\\\n", 8,
         "the 1-grams section has 2 entries, but \\data\\ declares 3"),
    CASE("too many entries", HEAD2 "\\2-grams:\n-1 a b\n-1 b a\n\\end\\\n", 11,
         "the 2-grams section has more than the 1 entries declared in \\data\\ (entry 2"),
    CASE("section beyond order", HEAD2 "\\2-grams:\n-1 a b\n\\3-grams:\n", 11,
         "\\3-grams: is not declared in \\data\\ (order 2)"),
    CASE("not \\end\\", HEAD2 "\\2-grams:\n-1 a b\n\\the end\\\n", 11,
         "expected \\end\\, got"),
    CASE("too few words", HEAD2 "\\2-grams:\n-1 a\n", 10,
         "expected 2 words after the log-prob, got 1"),
    CASE("no words", HEAD2 "\\2-grams:\n-1\n", 10,
         "expected 2 words after the log-prob, got 0"),
    CASE("too many words, highest order", HEAD2 "\\2-grams:\n-1 a b c\n", 10,
         "expected 2 words after the log-prob, got 3"),
    CASE("backoff on highest order", HEAD2 "\\2-grams:\n-1\ta b\t-0.5\n", 10,
         "backoff on a highest-order n-gram"),
    CASE("bad backoff", "\\data\\\nngram 1=1\nngram 2=1\n\\1-grams:\n-1 a xyz\n", 5,
         "backoff 'xyz' is not a number"),
    CASE("trailing garbage", "\\data\\\nngram 1=1\nngram 2=1\n\\1-grams:\n-1 a -0.5 junk\n",
                 5, "unexpected text after the backoff: 'junk'"),
    CASE("log-prob not a number", HEAD2 "\\2-grams:\nabc a b\n", 10,
         "log-prob 'abc' is not a number"),
    CASE("log-prob with junk", HEAD2 "\\2-grams:\n-1.5x a b\n", 10,
         "log-prob '-1.5x' is not a number"),
    CASE("log-prob NaN", HEAD2 "\\2-grams:\nnan a b\n", 10, "log-prob 'nan' is not a number"),
    CASE("log-prob +inf", HEAD2 "\\2-grams:\ninf a b\n", 10, "positive infinity"),
    CASE("log-prob hex", HEAD2 "\\2-grams:\n0x1p-3 a b\n", 10, "is not a number"),
    CASE("log-prob overflow", HEAD2 "\\2-grams:\n-1e50 a b\n", 10, "out of the range"),
    CASE("backoff NaN", "\\data\\\nngram 1=1\nngram 2=1\n\\1-grams:\n-1 a NaN\n", 5,
         "backoff 'NaN' is not a number"),
    CASE("NUL byte", HEAD2 "\\2-grams:\n-1 a\0b c\n", 10, "NUL byte"),
    CASE("text after \\end\\", HEAD2 "\\2-grams:\n-1 a b\n\\end\\\n\n\nmore\n", 14,
         "unexpected text after \\end\\: 'more'"),
    CASE("eof mid-section", HEAD2 "\\2-grams:\n", 9,
         "unexpected end of file in the 2-grams section (0 of 1 entries read)"),
    CASE("eof mid-section of 3", "\\data\\\nngram 1=1\nngram 2=1\nngram 3=7\n\\1-grams:\n"
         "-1 a -1\n\\2-grams:\n-1 a a -1\n\\3-grams:\n-1 a a a\n-1 a a a", 11,
         "unexpected end of file in the 3-grams section (2 of 7 entries read)"),
    CASE("eof before a section", HEAD2, 8,
         "unexpected end of file before the \\2-grams: section"),
    CASE("eof, no \\end\\", HEAD2 "\\2-grams:\n-1 a b\n\n", 11,
         "unexpected end of file: \\end\\ is missing"),
    CASE("huge count, eof", "\\data\\\nngram 1=18446744073709551615\n\\1-grams:\n", 3,
         "(0 of 18446744073709551615 entries read)"),
    CASE("CRLF, error line still right", "\\data\\\r\nngram 1=1\r\nngram 2=1\r\n\r\n"
         "\\1-grams:\r\n-1\ta\t-1\r\n\\end\\\r\n", 7, "\\end\\ before the \\2-grams:"),
};

static void test_malformed(void)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        expect_error_n(c->label, c->text, c->len, c->line, c->needle);
    }
    {
        /* 17 count lines: the 17th is refused. */
        char text[1024] = "\\data\\\n";
        for (int n = 1; n <= 17; n++)
            snprintf(text + strlen(text), sizeof text - strlen(text), "ngram %d=1\n", n);
        expect_error_n("order 17", text, strlen(text), 18, "order 17 is above the maximum of 16");
    }

    /* Files that are not ARPA text at all. */
    char path[1100];
    temp_path(path, sizeof path);
    unlink(path);
    expect_error_file(path, "missing file", 0, "No such file or directory");
    CHECK_INT(0, mkdir(path, 0700));
    expect_error_file(path, "directory", 0, "is a directory");
    rmdir(path);
}

/* A line longer than ARPA_MAX_LINE is refused, naming its line; one just
 * under the cap is read (the buffer grows). */
static void test_long_lines(void)
{
    size_t big = ARPA_MAX_LINE - 100;
    const char *head = "\\data\\\nngram 1=2\n\\1-grams:\n-1 a\n-2 ";
    const char *tail = "\n\\end\\\n";
    size_t hl = strlen(head), tl = strlen(tail);
    char *text = malloc(hl + ARPA_MAX_LINE + 16 + tl);
    CHECK(text != NULL);
    if (!text)
        return;
    memcpy(text, head, hl);
    memset(text + hl, 'w', big);
    memcpy(text + hl + big, tail, tl);
    size_t len = hl + big + tl;

    char path[1100];
    temp_path(path, sizeof path);
    write_file(path, text, len);
    kvg_error err = {{0}};
    arpa_reader *r;
    CHECK_INT(0, arpa_open(path, &r, &err));
    arpa_entry e;
    CHECK_INT(1, arpa_next(r, &e, &err));
    CHECK_INT(1, arpa_next(r, &e, &err));
    CHECK_INT(5, e.line);
    CHECK_INT(big, strlen(e.words[0]));
    CHECK_INT(0, arpa_next(r, &e, &err));
    arpa_close(r);

    /* The word grows past the cap: line 5 is now too long. */
    memset(text + hl, 'w', ARPA_MAX_LINE);
    memcpy(text + hl + ARPA_MAX_LINE, tail, tl);
    write_file(path, text, hl + ARPA_MAX_LINE + tl);
    expect_error_file(path, "line too long", 5, "line is longer than 1048576 bytes");
    unlink(path);
    free(text);
}

/* Valid though unusual: SRILM-style text before \data\, spaces instead of
 * tabs, runs of blanks, CRLF, no final newline, invalid UTF-8 words, -inf,
 * a positive log-prob, an empty section, trailing whitespace. */
static void test_odd_but_valid(void)
{
    const char *text = "This is an SRILM-style comment\n"
                       "ngram 1=99 (not a count yet)\n"
                       "\r\n"
                       "  \\data\\  \r\n"
                       "ngram  1 = 4\r\n"
                       "\n"
                       "ngram 2=0\r\n"
                       "ngram 3=2\r\n"
                       "\\1-grams:\r\n"                    /* line 9 */
                       "-inf\t<s>\t-0.5\r\n"               /* 10 */
                       "  -Infinity   \xff\xfe\t  -1e-3 \r\n" /* 11 */
                       "\n"
                       "0.25\tw\t-INF\r\n"                  /* 13 */
                       "-1.5 \t \xc3\xa9t\xc3\xa9\r\n"      /* 14 */
                       "\\2-grams:\r\n"
                       "\r\n"
                       "\\3-grams:\n"
                       "-0.5 <s> w \xff\xfe\n"              /* 18 */
                       "-7.25e-1\tw w w \t\n"               /* 19 */
                       "\\end\\\n"
                       "\n"
                       "   \t";
    char path[1100];
    temp_path(path, sizeof path);
    write_file(path, text, strlen(text));
    kvg_error err = {{0}};
    arpa_reader *r;
    int rc = arpa_open(path, &r, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    CHECK_INT(0, rc);
    if (rc)
        return;
    const arpa_header *h = arpa_get_header(r);
    CHECK_INT(3, h->order);
    CHECK_INT(4, h->counts[1]);
    CHECK_INT(0, h->counts[2]);
    CHECK_INT(2, h->counts[3]);
    arpa_entry e;
    CHECK_INT(1, arpa_next(r, &e, &err));
    CHECK_INT(10, e.line);
    CHECK(isinf(e.log10p) && e.log10p < 0);
    CHECK_NEAR(-0.5, e.backoff, 0);
    CHECK(strcmp(e.words[0], "<s>") == 0);
    CHECK_INT(1, arpa_next(r, &e, &err));
    CHECK_INT(11, e.line);
    CHECK(isinf(e.log10p) && e.log10p < 0);
    CHECK(strcmp(e.words[0], "\xff\xfe") == 0);
    CHECK(e.backoff == strtof("-1e-3", NULL));
    CHECK_INT(1, arpa_next(r, &e, &err));
    CHECK_INT(13, e.line);
    CHECK_NEAR(0.25, e.log10p, 0); /* positive: accepted */
    CHECK(isinf(e.backoff) && e.backoff < 0);
    CHECK_INT(1, arpa_next(r, &e, &err));
    CHECK_INT(14, e.line);
    CHECK(strcmp(e.words[0], "\xc3\xa9t\xc3\xa9") == 0);
    CHECK_INT(0, e.has_backoff);
    CHECK_INT(1, arpa_next(r, &e, &err));
    CHECK_INT(18, e.line);
    CHECK_INT(3, e.order);
    CHECK(strcmp(e.words[0], "<s>") == 0 && strcmp(e.words[1], "w") == 0 &&
          strcmp(e.words[2], "\xff\xfe") == 0);
    CHECK_INT(1, arpa_next(r, &e, &err));
    CHECK_INT(19, e.line);
    CHECK(e.log10p == strtof("-7.25e-1", NULL));
    CHECK(strcmp(e.words[2], "w") == 0);
    rc = arpa_next(r, &e, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    CHECK_INT(0, rc);
    CHECK_INT(strlen(text), arpa_file_size(r));
    CHECK_INT(strlen(text), arpa_bytes_read(r));
    arpa_close(r);
    unlink(path);
}

/* A synthetic model of N unigrams and N bigrams, as text. */
static char *synthetic_arpa(int n, size_t *len)
{
    size_t cap = (size_t)n * 64 + 256, used = 0;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    used += (size_t)snprintf(t + used, cap - used, "\\data\\\nngram 1=%d\nngram 2=%d\n\n\\1-grams:\n",
                             n, n);
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(t + used, cap - used, "-%d.%04d\tword%d\t-0.%d\n", i % 7, i % 9973,
                                 i, i % 10);
    used += (size_t)snprintf(t + used, cap - used, "\n\\2-grams:\n");
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(t + used, cap - used, "-0.%05d\tword%d word%d\n", i, i,
                                 (i * 7) % n);
    used += (size_t)snprintf(t + used, cap - used, "\n\\end\\\n");
    *len = used;
    return t;
}

/* gzip written with gzwrite reads back the same; cut short, it is refused
 * as a truncated stream; with bytes flipped, as corrupt. */
static void test_gzip(void)
{
    const int n = 100000;
    size_t len;
    char *text = synthetic_arpa(n, &len);
    CHECK(text != NULL);
    if (!text)
        return;
    char path[1100];
    temp_path(path, sizeof path);
    gzFile gz = gzopen(path, "wb6");
    CHECK(gz != NULL);
    if (!gz) {
        free(text);
        return;
    }
    CHECK_INT((long long)len, gzwrite(gz, text, (unsigned)len));
    CHECK_INT(Z_OK, gzclose(gz));
    uint64_t size = stored_size(path);
    CHECK(size > 0 && size < len);

    file_stats st;
    kvg_error err = {{0}};
    expect_entry want[] = {
        {6, 1, strtof("-0.0000", NULL), 1, -0.0f, "word0", 0},
        {6 + 12345, 1, strtof("-4.2372", NULL), 1, strtof("-0.5", NULL), "word12345", 0},
        {7 + 2 * n, 2, strtof("-0.99999", NULL), 0, 0.0f, "word99999 word99993", 0},
    };
    CHECK_INT(0, read_all(path, &st, want, 3, &err));
    CHECK_INT(n, st.entries[1]);
    CHECK_INT(n, st.entries[2]);
    CHECK_INT(size, st.file_size);
    CHECK_INT(size, st.bytes_read);

    /* Cut in the middle. */
    CHECK_INT(0, truncate(path, (off_t)(size / 2)));
    expect_error_file(path, "truncated gzip", 0, "truncated gzip stream");

    /* Whole again, but with garbage in the middle of the deflate data. */
    gz = gzopen(path, "wb6");
    CHECK(gz != NULL);
    if (gz) {
        gzwrite(gz, text, (unsigned)len);
        gzclose(gz);
    }
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (f) {
        fseek(f, (long)(size / 2), SEEK_SET);
        char junk[4096];
        memset(junk, 0xa5, sizeof junk);
        fwrite(junk, 1, sizeof junk, f);
        fclose(f);
    }
    expect_error_file(path, "corrupt gzip", 0, "corrupt gzip data near line");
    unlink(path);

    /* A gzip header and nothing more. */
    write_file(path, "\x1f\x8b", 2);
    expect_error_file(path, "gzip header only", 0, "truncated gzip stream");
    unlink(path);
    free(text);
}

int main(void)
{
    const char *dir = getenv("KVG_SHARED_DIR");
    snprintf(shared_dir, sizeof shared_dir, "%s", dir && *dir ? dir : "/work/shared");
    test_real_files();
    test_negative_zero();
    test_malformed();
    test_long_lines();
    test_odd_but_valid();
    test_gzip();
    return kvg_test_end();
}
