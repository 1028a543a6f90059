/* strbuf.h — a growable byte buffer for building output text, with the
 * appenders the output formats need (numbers in shortest form, JSON strings). */
#ifndef KVG_STRBUF_H
#define KVG_STRBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct strbuf {
    char *p;
    size_t len, cap;
    int failed; /* set when memory ran out; appends become no-ops */
} strbuf;

void sb_put(strbuf *b, const char *s, size_t n);
void sb_puts(strbuf *b, const char *s);
void sb_putc(strbuf *b, char c);
void sb_u64(strbuf *b, uint64_t v);
void sb_float(strbuf *b, float x);   /* shortest round-trip, KenLM's layout */
void sb_double(strbuf *b, double x); /* shortest round-trip, KenLM's layout */
/* A JSON string literal with quotes. Bytes that are not valid UTF-8 become
 * U+FFFD, so the output is always valid JSON (and valid UTF-8). */
void sb_json_str(strbuf *b, const char *s, size_t n);
/* A JSON number: like sb_double, but non-finite values become null. */
void sb_json_num(strbuf *b, double x);
/* `,"key":value` — one more field of a JSON object already opened (the
 * first field is written by the caller, so every helper leads with a comma). */
void sb_json_key(strbuf *b, const char *key); /* `,"key":` — the value follows */
void sb_json_field_num(strbuf *b, const char *key, double v);
void sb_json_field_u64(strbuf *b, const char *key, uint64_t v);
void sb_json_field_str(strbuf *b, const char *key, const char *s);
/* Length (1..4) of the valid UTF-8 sequence at s[0..n), n >= 1; 0 when the
 * bytes there are not valid UTF-8 (overlong, surrogate, truncated, ...). */
size_t sb_utf8_len(const char *s, size_t n);
void sb_free(strbuf *b);

#endif
