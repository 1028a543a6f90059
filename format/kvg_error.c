/* kvg_error.c — formatting of one-line error messages. */
#include "kvg_error.h"

#include <stdarg.h>
#include <stdio.h>

int kvg_errorf(kvg_error *err, const char *where, const char *fmt, ...)
{
    if (!err)
        return -1;
    size_t used = 0;
    if (where) {
        int n = snprintf(err->msg, sizeof err->msg, "%s: ", where);
        used = n < 0 ? 0 : (size_t)n;
        if (used >= sizeof err->msg)
            used = sizeof err->msg - 1;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg + used, sizeof err->msg - used, fmt, ap);
    va_end(ap);
    /* A message is one line, whatever a file name or a strerror contained. */
    for (char *p = err->msg; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    return -1;
}
