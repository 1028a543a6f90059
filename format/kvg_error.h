/* kvg_error.h — the one way errors travel in kvgram.
 *
 * Library code never prints and never exits: a failing call fills a kvg_error
 * with one line of text ("FILE: problem") and returns a non-zero status. The
 * CLI prints that line to stderr and exits non-zero. */
#ifndef KVG_ERROR_H
#define KVG_ERROR_H

#include <stddef.h>

#define KVG_ERROR_MAX 768

typedef struct kvg_error {
    char msg[KVG_ERROR_MAX]; /* one line, NUL-terminated, no trailing newline */
} kvg_error;

#if defined(__GNUC__)
#define KVG_PRINTF(fmt_idx, arg_idx) __attribute__((format(printf, fmt_idx, arg_idx)))
#else
#define KVG_PRINTF(fmt_idx, arg_idx)
#endif

/* Sets err->msg to "WHERE: " followed by the formatted problem (WHERE may be
 * NULL for errors with no file). Newlines in the result are replaced by
 * spaces so the message always stays one line. err may be NULL. Returns -1 so
 * callers can write `return kvg_errorf(err, path, "...")`. */
int kvg_errorf(kvg_error *err, const char *where, const char *fmt, ...) KVG_PRINTF(3, 4);

#endif
