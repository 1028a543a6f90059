/* kvg_test.h — the few macros every C test here uses.
 *
 * A failed check prints where it failed and the expected and actual values,
 * counts the failure and goes on; a test's main ends with `return kvg_test_end();`,
 * which prints "N passed, M failed" and gives a non-zero exit on any failure. */
#ifndef KVG_TEST_H
#define KVG_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int kvg_test_passed, kvg_test_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) {                                                                  \
            kvg_test_passed++;                                                       \
        } else {                                                                     \
            kvg_test_failed++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_INT(expected, actual)                                                        \
    do {                                                                                   \
        long long e_ = (long long)(expected), a_ = (long long)(actual);                    \
        if (e_ == a_) {                                                                    \
            kvg_test_passed++;                                                             \
        } else {                                                                           \
            kvg_test_failed++;                                                             \
            fprintf(stderr, "%s:%d: %s: expected %lld, got %lld\n", __FILE__, __LINE__,    \
                    #actual, e_, a_);                                                      \
        }                                                                                  \
    } while (0)

#define CHECK_NEAR(expected, actual, tol)                                                       \
    do {                                                                                        \
        double e_ = (double)(expected), a_ = (double)(actual), t_ = (double)(tol);              \
        if (fabs(e_ - a_) <= t_) {                                                              \
            kvg_test_passed++;                                                                  \
        } else {                                                                                \
            kvg_test_failed++;                                                                  \
            fprintf(stderr, "%s:%d: %s: expected %.17g, got %.17g (|diff| %.3g > tol %.3g)\n", \
                    __FILE__, __LINE__, #actual, e_, a_, fabs(e_ - a_), t_);                    \
        }                                                                                       \
    } while (0)

#define CHECK_STR_CONTAINS(haystack, needle)                                               \
    do {                                                                                   \
        const char *h_ = (haystack), *n_ = (needle);                                       \
        if (h_ && strstr(h_, n_)) {                                                        \
            kvg_test_passed++;                                                             \
        } else {                                                                           \
            kvg_test_failed++;                                                             \
            fprintf(stderr, "%s:%d: expected \"%s\" in \"%s\"\n", __FILE__, __LINE__, n_,  \
                    h_ ? h_ : "(null)");                                                   \
        }                                                                                  \
    } while (0)

static inline int kvg_test_end(void)
{
    printf("%d passed, %d failed\n", kvg_test_passed, kvg_test_failed);
    return kvg_test_failed ? 1 : 0;
}

#endif
