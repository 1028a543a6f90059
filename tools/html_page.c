/* html_page.c — the skeleton of a self-contained report page, and writing
 * the report file whole (see html.h). */
#include "html.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void html_page_begin(strbuf *b, const char *title, const char *css)
{
    sb_puts(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
               /* no network: the page may not load anything from anywhere */
               "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
               "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n<title>");
    html_text(b, title, strlen(title));
    sb_puts(b, "</title>\n<style>\n");
    if (css)
        sb_puts(b, css);
    sb_puts(b, "</style>\n</head>\n<body>\n");
}

void html_page_end(strbuf *b, const char *js)
{
    if (js) {
        sb_puts(b, "<script>\n");
        sb_puts(b, js);
        sb_puts(b, "</script>\n");
    }
    sb_puts(b, "</body>\n</html>\n");
}

int html_file_write(const char *path, const char *data, size_t n, kvg_error *err)
{
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp)
        return kvg_errorf(err, path, "out of memory");
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp-XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        kvg_errorf(err, path, "cannot create a temporary file next to it: %s", strerror(errno));
        free(tmp);
        return -1;
    }
    /* mkstemp makes the file 0600; a report is an ordinary file (0666 less the umask) */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    FILE *f = fdopen(fd, "wb");
    int bad = !f || (n && fwrite(data, 1, n, f) != n);
    int saved = errno;
    if (f && fclose(f) != 0 && !bad)
        bad = 1, saved = errno;
    if (!f)
        close(fd);
    if (!bad && rename(tmp, path) != 0)
        bad = 1, saved = errno;
    if (bad) {
        remove(tmp);
        kvg_errorf(err, path, "cannot write: %s", strerror(saved));
    }
    free(tmp);
    return bad ? -1 : 0;
}
