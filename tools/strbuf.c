/* strbuf.c — output text building. */
#include "strbuf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "num_format.h"

static int grow(strbuf *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void sb_put(strbuf *b, const char *s, size_t n)
{
    if (n == 0 || grow(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void sb_puts(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
void sb_putc(strbuf *b, char c) { sb_put(b, &c, 1); }

void sb_u64(strbuf *b, uint64_t v)
{
    char tmp[24];
    int i = 24;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sb_put(b, tmp + i, (size_t)(24 - i));
}

void sb_float(strbuf *b, float x)
{
    char tmp[KVG_NUM_BUF];
    sb_put(b, tmp, (size_t)kvg_format_float(x, tmp));
}

void sb_double(strbuf *b, double x)
{
    char tmp[KVG_NUM_BUF];
    sb_put(b, tmp, (size_t)kvg_format_double(x, tmp));
}

void sb_json_num(strbuf *b, double x)
{
    if (isfinite(x))
        sb_double(b, x);
    else
        sb_puts(b, "null");
}

size_t sb_utf8_len(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    else if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void sb_json_str(strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    sb_putc(b, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            sb_putc(b, '\\');
            sb_putc(b, (char)c);
            i++;
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sb_put(b, esc, 6);
            i++;
        } else {
            size_t len = sb_utf8_len(s + i, n - i);
            if (len == 0) {
                sb_puts(b, "\xEF\xBF\xBD"); /* U+FFFD */
                i++;
            } else {
                sb_put(b, s + i, len);
                i += len;
            }
        }
    }
    sb_putc(b, '"');
}

void sb_free(strbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void sb_json_key(strbuf *b, const char *key)
{
    sb_putc(b, ',');
    sb_json_str(b, key, strlen(key));
    sb_putc(b, ':');
}

void sb_json_field_num(strbuf *b, const char *key, double v)
{
    sb_json_key(b, key);
    sb_json_num(b, v);
}

void sb_json_field_u64(strbuf *b, const char *key, uint64_t v)
{
    sb_json_key(b, key);
    sb_u64(b, v);
}

void sb_json_field_str(strbuf *b, const char *key, const char *s)
{
    sb_json_key(b, key);
    sb_json_str(b, s, strlen(s));
}
