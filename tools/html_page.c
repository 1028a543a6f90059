/* html_page.c — the skeleton of a self-contained report page, and writing
 * the report file whole (on text_output.h) (see html.h). */
#include "html.h"

#include <string.h>

#include "text_output.h"

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
    text_output out;
    if (text_output_open(&out, path, err))
        return -1;
    if (n)
        fwrite(data, 1, n, out.f); /* a short write sets the stream's error, which the commit reports */
    return text_output_commit(&out, err);
}
