/* arpa_diff.c — `arpa_diff EXPECTED GOT [TOLERANCE]`: two ARPA files (plain
 * or gzip) that should hold the same model in the same order (lmplz's: each
 * section in suffix order). Line by line: the same \data\ counts and section
 * headers, the same n-gram words, and log10 probabilities and backoffs within
 * TOLERANCE (default 1e-4; a missing backoff reads as 0). Prints the first
 * differences with line numbers and a summary line; exit status 0 only when
 * the files agree. A test helper (C because the kjv5 files have 1.7 million
 * lines each). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define LINE_MAX_BYTES (1 << 16)

typedef struct entry {
    int is_gram;
    double prob, backoff;
    const char *words; /* points into the line */
    size_t words_len;
} entry;

/* Splits "PROB\tWORDS[\tBACKOFF]" when the line starts with a number. */
static void parse(char *line, entry *e)
{
    memset(e, 0, sizeof *e);
    char *tab = strchr(line, '\t');
    if (!tab || line[0] == '\\')
        return;
    char *end;
    e->prob = strtod(line, &end);
    if (end != tab)
        return;
    e->is_gram = 1;
    e->words = tab + 1;
    char *tab2 = strchr(tab + 1, '\t');
    e->words_len = tab2 ? (size_t)(tab2 - (tab + 1)) : strlen(tab + 1);
    e->backoff = tab2 ? strtod(tab2 + 1, NULL) : 0.0;
}

static int read_line(gzFile f, char *buf)
{
    if (!gzgets(f, buf, LINE_MAX_BYTES))
        return 0;
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: arpa_diff EXPECTED GOT [TOLERANCE]\n");
        return 2;
    }
    double tol = argc > 3 ? atof(argv[3]) : 1e-4;
    gzFile a = gzopen(argv[1], "rb"), b = gzopen(argv[2], "rb");
    if (!a || !b) {
        fprintf(stderr, "arpa_diff: cannot open %s\n", !a ? argv[1] : argv[2]);
        return 2;
    }
    char *la = malloc(LINE_MAX_BYTES), *lb = malloc(LINE_MAX_BYTES);
    unsigned long long line = 0, grams = 0, bad = 0;
    double worst = 0.0;
    for (;;) {
        int ga = read_line(a, la), gb = read_line(b, lb);
        line++;
        if (!ga || !gb) {
            if (ga != gb) {
                printf("line %llu: %s ends first\n", line, ga ? argv[2] : argv[1]);
                bad++;
            }
            break;
        }
        entry ea, eb;
        parse(la, &ea);
        parse(lb, &eb);
        if (!ea.is_gram || !eb.is_gram) {
            if (strcmp(la, lb) != 0 && bad++ < 10)
                printf("line %llu: expected \"%.200s\", got \"%.200s\"\n", line, la, lb);
            continue;
        }
        grams++;
        double d = fmax(fabs(ea.prob - eb.prob), fabs(ea.backoff - eb.backoff));
        if (d > worst)
            worst = d;
        if (ea.words_len != eb.words_len || memcmp(ea.words, eb.words, ea.words_len) != 0 || !(d <= tol)) {
            if (bad++ < 10)
                printf("line %llu: expected \"%.200s\", got \"%.200s\"\n", line, la, lb);
        }
    }
    printf("%llu lines, %llu n-grams, %llu differences (tolerance %g), largest difference %.3g\n", line - 1, grams,
           bad, tol, worst);
    gzclose(a);
    gzclose(b);
    free(la);
    free(lb);
    return bad ? 1 : 0;
}
