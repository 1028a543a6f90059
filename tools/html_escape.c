/* html_escape.c — text and JSON made safe to put into an HTML page (see html.h). */
#include "html.h"

#include <string.h>

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

void html_text(strbuf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        switch (c) {
        case '&': sb_puts(b, "&amp;"), i++; continue;
        case '<': sb_puts(b, "&lt;"), i++; continue;
        case '>': sb_puts(b, "&gt;"), i++; continue;
        case '"': sb_puts(b, "&quot;"), i++; continue;
        case '\'': sb_puts(b, "&#39;"), i++; continue;
        default: break;
        }
        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7F) {
            sb_puts(b, replacement);
            i++;
            continue;
        }
        size_t len = sb_utf8_len(s + i, n - i);
        if (len == 0) {
            sb_puts(b, replacement);
            i++;
        } else {
            sb_put(b, s + i, len);
            i += len;
        }
    }
}

void html_json_embed(strbuf *b, const char *id, const char *json, size_t n)
{
    sb_puts(b, "<script type=\"application/json\" id=\"");
    html_text(b, id, strlen(id));
    sb_puts(b, "\">");
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        const char *esc = json[i] == '<' ? "\\u003c" : json[i] == '>' ? "\\u003e" : json[i] == '&' ? "\\u0026" : NULL;
        if (esc) {
            sb_put(b, json + from, i - from);
            sb_puts(b, esc);
            from = i + 1;
        }
    }
    sb_put(b, json + from, n - from);
    sb_puts(b, "</script>\n");
}
