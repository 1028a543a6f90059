/* test_num_format.c — kvg_format_float / kvg_format_double print numbers
 * byte for byte as KenLM's `query` does (double-conversion's ToShortestSingle /
 * ToShortest with decimal notation for exponents -6..20).
 *
 * Oracles, all independent of engine/num_format.c:
 *   1. every number in KenLM's own outputs under $KVG_SHARED_DIR/data;
 *   2. tests/engine/num_format_golden.txt, from numpy's Dragon4 and Python's
 *      repr (tests/reference/make_num_format_golden.py);
 *   3. properties over a strided sweep of all 2^32 float bit patterns and random
 *      doubles: strtof/strtod reads the output back to the same bits, and
 *      neither neighbour with one digit fewer does.
 * And the two ways to the digits inside num_format.c agree: the fixed-point
 * fast path (where it answers) and the default output against the exact
 * big-integer reference, over powers of two, boundaries, subnormals, short
 * decimals and a large strided sweep (KVG_NUM_FORMAT_TESTING exposes both). */
#define KVG_NUM_FORMAT_TESTING
#include "kvg_test.h"
#include "num_format.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Mismatches printed per test before going quiet; all are still counted. */
#define MAX_REPORTS 20

static int reports;

static uint32_t float_bits(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static uint64_t double_bits(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

static float float_from_bits(uint32_t b)
{
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}

static double double_from_bits(uint64_t b)
{
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* One check: the formatted float/double equals expected; where says whence. */
static void check_float(float x, const char *expected, const char *where, int line)
{
    char got[KVG_NUM_BUF];
    int len = kvg_format_float(x, got);
    if (strcmp(got, expected) == 0 && len == (int)strlen(expected)) {
        kvg_test_passed++;
        return;
    }
    kvg_test_failed++;
    if (reports++ < MAX_REPORTS)
        fprintf(stderr, "%s:%d: float bits %08" PRIx32 ": expected \"%s\", got \"%s\" (len %d)\n",
                where, line, float_bits(x), expected, got, len);
}

static void check_double(double x, const char *expected, const char *where, int line)
{
    char got[KVG_NUM_BUF];
    int len = kvg_format_double(x, got);
    if (strcmp(got, expected) == 0 && len == (int)strlen(expected)) {
        kvg_test_passed++;
        return;
    }
    kvg_test_failed++;
    if (reports++ < MAX_REPORTS)
        fprintf(stderr, "%s:%d: double bits %016" PRIx64 ": expected \"%s\", got \"%s\" (len %d)\n",
                where, line, double_bits(x), expected, got, len);
}

static void test_layout_examples(void)
{
    check_float(-0.4846522f, "-0.4846522", __FILE__, __LINE__);
    check_float(-99.0f, "-99", __FILE__, __LINE__);
    check_float(100.0f, "100", __FILE__, __LINE__);
    check_float(1e-6f, "0.000001", __FILE__, __LINE__);
    check_float(1e-7f, "1e-7", __FILE__, __LINE__);
    check_float(-1.5e-7f, "-1.5e-7", __FILE__, __LINE__);
    check_float(1e21f, "1e21", __FILE__, __LINE__);
    check_float(1.2345e22f, "1.2345e22", __FILE__, __LINE__);
    check_float(9.999999e20f, "999999900000000000000", __FILE__, __LINE__);
    check_float(0.0f, "0", __FILE__, __LINE__);
    check_float(-0.0f, "-0", __FILE__, __LINE__);
    check_float(INFINITY, "inf", __FILE__, __LINE__);
    check_float(-INFINITY, "-inf", __FILE__, __LINE__);
    check_float(NAN, "NaN", __FILE__, __LINE__);
    check_float(-NAN, "NaN", __FILE__, __LINE__);
    check_float(float_from_bits(0x00000001u), "1e-45", __FILE__, __LINE__);   /* FLT_TRUE_MIN */
    check_float(float_from_bits(0x7f7fffffu), "3.4028235e38", __FILE__, __LINE__); /* FLT_MAX */
    /* 3e10 is the lower midpoint of this float, whose significand is even: the
     * reader rounds the tie to it, so the one-digit "3" is in its interval. */
    check_float(float_from_bits(0x50df8476u), "30000000000", __FILE__, __LINE__);
    check_double(266294.70636568527, "266294.70636568527", __FILE__, __LINE__);
    check_double(11714167941334770000.0, "11714167941334770000", __FILE__, __LINE__);
    check_double(1e21, "1e21", __FILE__, __LINE__);
    check_double(-0.0, "-0", __FILE__, __LINE__);
    check_double(double_from_bits(1), "5e-324", __FILE__, __LINE__);
    check_double(double_from_bits(0x7fefffffffffffffull), "1.7976931348623157e308", __FILE__,
                 __LINE__);
}

/* Oracle 1: KenLM's own output. A line holds tab-separated "word=ID N LOGPROB"
 * fields and "Total: X OOV: n" (floats), or is "Perplexity ...:\tX" (double). */
static void check_kenlm_file(const char *path, int *words, int *totals, int *perplexities)
{
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return;
    }
    char line[1 << 16];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "Perplexity ", 11) == 0) {
            const char *num = strchr(line, '\t');
            CHECK(num != NULL);
            if (!num)
                continue;
            check_double(strtod(num + 1, NULL), num + 1, path, lineno);
            ++*perplexities;
            continue;
        }
        for (char *field = strtok(line, "\t"); field; field = strtok(NULL, "\t")) {
            char num[64];
            if (strncmp(field, "Total: ", 7) == 0) {
                size_t len = strcspn(field + 7, " ");
                if (len >= sizeof num)
                    len = sizeof num - 1;
                memcpy(num, field + 7, len);
                num[len] = '\0';
                ++*totals;
            } else if (strchr(field, '=') && strrchr(field, ' ')) {
                snprintf(num, sizeof num, "%s", strrchr(field, ' ') + 1);
                ++*words;
            } else {
                continue;
            }
            check_float(strtof(num, NULL), num, path, lineno);
        }
    }
    fclose(f);
}

static void test_kenlm_outputs(void)
{
    const char *shared = getenv("KVG_SHARED_DIR");
    CHECK(shared != NULL);
    if (!shared)
        return;
    char path[4096];
    int files = 0, words = 0, totals = 0, perplexities = 0;
    snprintf(path, sizeof path, "%s/data/kenlm/expected", shared);
    DIR *dir = opendir(path);
    CHECK(dir != NULL);
    for (struct dirent *de; dir && (de = readdir(dir));) {
        size_t len = strlen(de->d_name);
        if (!strstr(de->d_name, ".query") || len < 4 || strcmp(de->d_name + len - 4, ".txt"))
            continue;
        snprintf(path, sizeof path, "%s/data/kenlm/expected/%s", shared, de->d_name);
        check_kenlm_file(path, &words, &totals, &perplexities);
        files++;
    }
    if (dir)
        closedir(dir);
    snprintf(path, sizeof path, "%s/data/kjv/kjv5.test.head200.query.txt", shared);
    check_kenlm_file(path, &words, &totals, &perplexities);
    files++;
    printf("KenLM outputs: %d files, %d word log-probs, %d totals, %d perplexities\n", files,
           words, totals, perplexities);
    /* The data holds 4 toy outputs plus 6203 KJV tokens over 200 sentences. */
    CHECK(files >= 5);
    CHECK(words >= 6203);
    CHECK(totals >= 200);
    CHECK(perplexities >= 10);
}

/* Oracle 2: the golden file, "f HEX8 TEXT" / "d HEX16 TEXT" per line. */
static void test_golden(void)
{
    const char *src = getenv("KVG_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/engine/num_format_golden.txt", src ? src : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL); /* missing golden file: a failure, not a skip */
    if (!f) {
        fprintf(stderr, "cannot open %s (set KVG_SOURCE_DIR to the repository root)\n", path);
        return;
    }
    char line[256];
    int lineno = 0, floats = 0, doubles = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char kind, text[64];
        unsigned long long bits;
        if (sscanf(line, "%c %llx %63s", &kind, &bits, text) != 3 || (kind != 'f' && kind != 'd')) {
            CHECK(!"malformed golden line");
            fprintf(stderr, "%s:%d: %s\n", path, lineno, line);
            continue;
        }
        if (kind == 'f') {
            check_float(float_from_bits((uint32_t)bits), text, path, lineno);
            floats++;
        } else {
            check_double(double_from_bits((uint64_t)bits), text, path, lineno);
            doubles++;
        }
    }
    fclose(f);
    printf("golden: %d floats, %d doubles\n", floats, doubles);
    CHECK(floats >= 20000);
    CHECK(doubles >= 10000);
}

/* Significant digits of a printed number (no leading or trailing zeros) into
 * dig, NUL-terminated; returns their count and sets *point to k in
 * value = 0.d1d2.. * 10^k. */
static int significant_digits(const char *s, char *dig, int *point)
{
    int n = 0, int_digits = -1;
    if (*s == '-')
        s++;
    for (; *s && *s != 'e'; s++) {
        if (*s == '.')
            int_digits = n;
        else
            dig[n++] = *s;
    }
    if (int_digits < 0)
        int_digits = n;
    int k = int_digits + (*s == 'e' ? atoi(s + 1) : 0);
    int lead = 0;
    while (lead < n - 1 && dig[lead] == '0')
        lead++;
    memmove(dig, dig + lead, (size_t)(n - lead));
    n -= lead;
    k -= lead;
    while (n > 1 && dig[n - 1] == '0')
        n--;
    dig[n] = '\0';
    *point = k;
    return n;
}

/* Writes sign, digits and "e<exp10>" to out (a string strto* reads); no
 * snprintf, which would dominate the sweep's run time. */
static void write_sci(char *out, int neg, const char *digits, int exp10)
{
    if (neg)
        *out++ = '-';
    size_t n = strlen(digits);
    memcpy(out, digits, n);
    out += n;
    *out++ = 'e';
    if (exp10 < 0) {
        *out++ = '-';
        exp10 = -exp10;
    }
    char rev[8];
    int m = 0;
    do {
        rev[m++] = (char)('0' + exp10 % 10);
        exp10 /= 10;
    } while (exp10);
    while (m)
        *out++ = rev[--m];
    *out = '\0';
}

/* The two numbers with one significant digit fewer that bracket the printed
 * digits (truncated, and truncated plus one unit), as strings strto* reads. */
static void shorter_neighbours(const char *printed, char *down, char *up)
{
    char dig[KVG_NUM_BUF], inc[KVG_NUM_BUF + 1];
    int point, n = significant_digits(printed, dig, &point);
    int neg = printed[0] == '-';
    dig[n - 1] = '\0';
    int exp10 = point - (n - 1); /* value of the last kept digit */
    write_sci(down, neg, dig, exp10);
    /* dig + 1 in the last place, carrying (99 -> 100). */
    strcpy(inc + 1, dig);
    inc[0] = '0';
    int i = n - 1;
    while (inc[i] == '9')
        inc[i--] = '0';
    inc[i]++;
    write_sci(up, neg, inc[0] == '0' ? inc + 1 : inc, exp10);
}

/* Oracle 3: round trip and minimality over a strided sweep of all floats. */
static void test_float_sweep(void)
{
    const uint64_t stride = 401; /* prime: the low bits vary as well as the high */
    long count = 0, bad_trip = 0, not_shortest = 0;
    reports = 0;
    for (uint64_t b = 0; b < (1ull << 32); b += stride) {
        float x = float_from_bits((uint32_t)b);
        char out[KVG_NUM_BUF], down[2 * KVG_NUM_BUF], up[2 * KVG_NUM_BUF];
        kvg_format_float(x, out);
        count++;
        if (isnan(x)) {
            if (strcmp(out, "NaN") != 0)
                bad_trip++;
            continue;
        }
        if (float_bits(strtof(out, NULL)) != (uint32_t)b) {
            if (bad_trip++ < 10)
                fprintf(stderr, "float %08" PRIx32 " printed %s does not read back\n", (uint32_t)b,
                        out);
            continue;
        }
        char dig[KVG_NUM_BUF];
        int point;
        if (isinf(x) || x == 0 || significant_digits(out, dig, &point) < 2)
            continue;
        shorter_neighbours(out, down, up);
        if (strtof(down, NULL) == x || strtof(up, NULL) == x) {
            if (not_shortest++ < 10)
                fprintf(stderr, "float %08" PRIx32 " printed %s but %s or %s reads back too\n",
                        (uint32_t)b, out, down, up);
        }
    }
    printf("float sweep: %ld bit patterns, %ld not read back, %ld not shortest\n", count, bad_trip,
           not_shortest);
    CHECK(count >= 10000000);
    CHECK_INT(0, bad_trip);
    CHECK_INT(0, not_shortest);
}

static uint64_t xorshift64(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void test_double_random(void)
{
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    long count = 0, bad_trip = 0, not_shortest = 0;
    for (int i = 0; i < 1000000; i++) {
        uint64_t b = xorshift64(&seed);
        double x = double_from_bits(b);
        char out[KVG_NUM_BUF], down[2 * KVG_NUM_BUF], up[2 * KVG_NUM_BUF], dig[KVG_NUM_BUF];
        int point;
        kvg_format_double(x, out);
        count++;
        if (isnan(x))
            continue;
        if (double_bits(strtod(out, NULL)) != b) {
            if (bad_trip++ < 10)
                fprintf(stderr, "double %016" PRIx64 " printed %s does not read back\n", b, out);
            continue;
        }
        if (isinf(x) || x == 0 || significant_digits(out, dig, &point) < 2)
            continue;
        shorter_neighbours(out, down, up);
        if (strtod(down, NULL) == x || strtod(up, NULL) == x) {
            if (not_shortest++ < 10)
                fprintf(stderr, "double %016" PRIx64 " printed %s but %s or %s reads back too\n",
                        b, out, down, up);
        }
    }
    printf("double random: %ld bit patterns, %ld not read back, %ld not shortest\n", count,
           bad_trip, not_shortest);
    CHECK_INT(0, bad_trip);
    CHECK_INT(0, not_shortest);
}

/* Fast path against reference for one number: where the fast path answers it
 * must print the reference's bytes, and so must the default entry point. */
typedef struct {
    long count, fallbacks, mismatches;
} agreement;

/* Counts one number, formatted three ways (length, text): the reference, the
 * fast path (length -1 where it gave up) and the default. */
static void tally(agreement *a, const char *kind, uint64_t bits, int le, const char *exact, int lf,
                  const char *fast, int lb, const char *both)
{
    a->count++;
    a->fallbacks += lf < 0;
    int fast_ok = lf < 0 || (lf == le && strcmp(fast, exact) == 0);
    if (fast_ok && lb == le && strcmp(both, exact) == 0)
        return;
    if (a->mismatches++ < 10)
        fprintf(stderr, "%s %" PRIx64 ": reference \"%s\", fast \"%s\", default \"%s\"\n", kind,
                bits, exact, lf >= 0 ? fast : "(gave up)", both);
}

static void agree_float(uint64_t b, agreement *a)
{
    float x = float_from_bits((uint32_t)b);
    char exact[KVG_NUM_BUF], fast[KVG_NUM_BUF], both[KVG_NUM_BUF];
    int le = kvg_format_float_exact(x, exact);
    int lf = kvg_format_float_fast(x, fast);
    tally(a, "float", b, le, exact, lf, fast, kvg_format_float(x, both), both);
}

static void agree_double(uint64_t b, agreement *a)
{
    double x = double_from_bits(b);
    char exact[KVG_NUM_BUF], fast[KVG_NUM_BUF], both[KVG_NUM_BUF];
    int le = kvg_format_double_exact(x, exact);
    int lf = kvg_format_double_fast(x, fast);
    tally(a, "double", b, le, exact, lf, fast, kvg_format_double(x, both), both);
}

/* The bits of the float / double nearest to d * 10^n, as strtof / strtod read it. */
static uint64_t float_decimal(int d, int n)
{
    char text[32];
    snprintf(text, sizeof text, "%de%d", d, n);
    return float_bits(strtof(text, NULL));
}

static uint64_t double_decimal(int d, int n)
{
    char text[32];
    snprintf(text, sizeof text, "%de%d", d, n);
    return double_bits(strtod(text, NULL));
}

/* A binary format: its field widths, its checker, and where to look for short
 * decimals (d * 10^n for 1 <= d < max_d, n in min_n..max_n). */
typedef struct {
    int frac_bits, exp_bits;
    void (*agree)(uint64_t bits, agreement *a);
    uint64_t (*decimal)(int d, int n);
    int max_d, min_n, max_n;
} ieee_format;

static const ieee_format float_format = {23, 8, agree_float, float_decimal, 1000, -45, 38};
static const ieee_format double_format = {52, 11, agree_double, double_decimal, 100, -324, 308};

/* Both signs of the number with these fields. */
static void agree_fields(const ieee_format *fmt, uint64_t biased_exp, uint64_t frac, agreement *a)
{
    uint64_t b = biased_exp << fmt->frac_bits | frac;
    fmt->agree(b, a);
    fmt->agree(b | 1ull << (fmt->frac_bits + fmt->exp_bits), a);
}

/* The cases both formats share. Every exponent (subnormal, normal, inf/NaN)
 * at its edges: the powers of two and their neighbours, the fractions with one
 * bit set, the last. Then short decimals and their neighbours: where the
 * scaled value can be exact, and the fast path has to settle it in integers. */
static void agree_edges_and_decimals(const ieee_format *fmt, agreement *a)
{
    uint64_t last = (1ull << fmt->frac_bits) - 1, half = 1ull << (fmt->frac_bits - 1);
    const uint64_t fracs[] = {0, 1, 2, 3, last, last - 1, last - 2, half, half - 1, half + 1};
    for (uint64_t be = 0; be < 1ull << fmt->exp_bits; be++) {
        for (size_t i = 0; i < sizeof fracs / sizeof fracs[0]; i++)
            agree_fields(fmt, be, fracs[i], a);
        for (int bit = 0; bit < fmt->frac_bits; bit++)
            agree_fields(fmt, be, 1ull << bit, a);
    }
    uint64_t inf = ((1ull << fmt->exp_bits) - 1) << fmt->frac_bits;
    for (int n = fmt->min_n; n <= fmt->max_n; n++)
        for (int d = 1; d < fmt->max_d; d++) {
            uint64_t b = fmt->decimal(d, n);
            if ((b & inf) == inf)
                continue;
            for (uint64_t nb = b > 2 ? b - 2 : 0; nb <= b + 2; nb++)
                fmt->agree(nb, a);
        }
}

/* No mismatch over at least min_count numbers. The fast path gives up only by
 * chance (odds ~2^-31 per float, ~2^-64 per double) outside the range where
 * it settles exact cases in integers: a handful at most, if any. */
static void check_agreement(const char *kind, const agreement *a, long min_count)
{
    printf("fast vs reference, %s: %ld numbers, %ld mismatches, fast path gave up on %ld\n", kind,
           a->count, a->mismatches, a->fallbacks);
    CHECK(a->count >= min_count);
    CHECK_INT(0, a->mismatches);
    CHECK(a->fallbacks <= 10);
}

static void test_fast_path_floats(void)
{
    agreement a = {0, 0, 0};
    agree_edges_and_decimals(&float_format, &a);
    /* The first and last 2^17 subnormals, and every 61st in between. */
    for (uint32_t frac = 1; frac < 0x800000;) {
        agree_fields(&float_format, 0, frac, &a);
        frac += frac < (1u << 17) || frac > 0x7fffff - (1u << 17) ? 1 : 61;
    }
    /* A strided sweep of all bit patterns (prime stride). */
    for (uint64_t b = 5; b < (1ull << 32); b += 1021)
        agree_float(b, &a);
    check_agreement("floats", &a, 4000000);
}

static void test_fast_path_doubles(void)
{
    agreement a = {0, 0, 0};
    agree_edges_and_decimals(&double_format, &a);
    for (uint64_t frac = 1; frac < 20000; frac++) /* the smallest subnormals */
        agree_fields(&double_format, 0, frac, &a);
    uint64_t seed = 0x0123456789abcdefull; /* and random bit patterns */
    for (int i = 0; i < 400000; i++)
        agree_double(xorshift64(&seed), &a);
    check_agreement("doubles", &a, 1000000);
}

/* Not a check: prints ns per number for KenLM-like values. */
static void report_speed(void)
{
    enum { N = 1 << 20 };
    static float xs[N];
    uint64_t seed = 12345;
    for (int i = 0; i < N; i++) /* log10 probabilities in (-10, 0], a few digits of spread */
        xs[i] = -(float)(xorshift64(&seed) >> 11) / 9007199254740992.0f * 10.0f;
    char out[KVG_NUM_BUF];
    long sink = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++)
        sink += kvg_format_float(xs[i], out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / N;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++)
        sink += kvg_format_double(10.0 + xs[i] * -1e4, out);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns_d = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / N;
    printf("speed: %.0f ns per float log-prob, %.0f ns per double (%ld chars)\n", ns, ns_d, sink);
}

int main(void)
{
    test_layout_examples();
    reports = 0;
    test_kenlm_outputs();
    reports = 0;
    test_golden();
    test_float_sweep();
    reports = 0;
    test_double_random();
    test_fast_path_floats();
    test_fast_path_doubles();
    report_speed();
    return kvg_test_end();
}
