/* html.h — what the HTML reports (`lens --html`, `compare --html`) share:
 * escaping, the page skeleton, data embedded as JSON, and writing the file.
 *
 * A report is ONE self-contained page: CSS and JavaScript inline, data in a
 * <script type="application/json"> block the page's script reads with
 * JSON.parse, nothing fetched from the network. Everything that came from
 * the user or a model (file names, token pieces) goes through html_text or
 * html_json_embed, never into the page raw. */
#ifndef KVG_HTML_H
#define KVG_HTML_H

#include <stddef.h>

#include "kvg_error.h"
#include "strbuf.h"

/* s[0..n) as HTML text, safe both between tags and inside a quoted
 * attribute value: & < > " ' become entities; bytes that are not valid UTF-8
 * and control characters other than tab and newline become U+FFFD. */
void html_text(strbuf *b, const char *s, size_t n);

/* "<!DOCTYPE html>…<head>…<title>TITLE</title><style>CSS</style></head><body>".
 * title is escaped; css is written as is (it is the program's own text). */
void html_page_begin(strbuf *b, const char *title, const char *css);

/* "<script>JS</script></body></html>" (js NULL: no script). js is the
 * program's own text and must not contain "</script". */
void html_page_end(strbuf *b, const char *js);

/* <script type="application/json" id="ID">JSON</script>: json[0..n) must be
 * valid JSON text (strbuf's sb_json_* output is). '<', '>' and '&' are
 * written as \u003c, \u003e, \u0026 — they can only occur inside JSON
 * strings, where the escape means the same — so no "</script>" or "<!--"
 * in the data can end the block early. Read it back in the page with
 * JSON.parse(document.getElementById(ID).textContent). */
void html_json_embed(strbuf *b, const char *id, const char *json, size_t n);

/* Writes data[0..n) to path whole: into a temporary next to it, renamed over
 * path only when everything was written, so a failure leaves no partial
 * file. For any report file (HTML, JSON). Returns 0, or -1 with err naming
 * the path. */
int html_file_write(const char *path, const char *data, size_t n, kvg_error *err);

#endif
