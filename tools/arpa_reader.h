/* arpa_reader.h — a streaming reader for ARPA back-off language models.
 *
 * Reads `.arpa` text, plain or gzip-compressed (zlib detects which), one
 * entry at a time, in bounded memory: a line buffer, never the whole text.
 * The layout it accepts:
 *
 *     (any text, e.g. SRILM comments)
 *     \data\
 *     ngram 1=COUNT          n = 1, 2, 3, ... in order
 *     \1-grams:
 *     LOG10P  w1  [BACKOFF]  exactly counts[1] lines, then \2-grams: ...
 *     \end\
 *
 * Fields are separated by runs of spaces and/or tabs; blank lines may stand
 * between any two lines; '\r\n' line ends are accepted. Every error is one
 * line, "FILE:LINE: problem", in the kvg_error. */
#ifndef ARPA_READER_H
#define ARPA_READER_H

#include <stdint.h>

#include "kvg_error.h"

#define ARPA_MAX_ORDER 16          /* larger orders are refused */
#define ARPA_MAX_LINE (1u << 20)   /* bytes in one line, '\n' excluded */

typedef struct arpa_reader arpa_reader;

typedef struct arpa_header {
    int order;                               /* highest n */
    uint64_t counts[ARPA_MAX_ORDER + 1];     /* counts[n], n = 1..order; counts[0] = 0 */
} arpa_header;

typedef struct arpa_entry {
    int order;                         /* n of the section this line is in */
    float log10p;                      /* strtof's correctly rounded value; -INFINITY for -inf */
    float backoff;                     /* log10; 0 when the line has none */
    int has_backoff;
    const char *words[ARPA_MAX_ORDER]; /* words[0..order-1], NUL-terminated, valid until
                                          the next arpa_next or arpa_close */
    uint64_t line;                     /* 1-based line number in the (decompressed) text */
} arpa_entry;

/* Opens PATH (plain or gzip) and reads through the \data\ counts and the
 * \1-grams: header. Returns 0 and sets *out, or -1 with err set. */
int arpa_open(const char *path, arpa_reader **out, kvg_error *err);

/* The counts declared in \data\. */
const arpa_header *arpa_get_header(const arpa_reader *r);

/* Reads the next entry into *e. Returns 1 for an entry; 0 once \end\ has
 * been read, every section held exactly its declared count and nothing but
 * blank lines followed; -1 on an error (and again on every later call). */
int arpa_next(arpa_reader *r, arpa_entry *e, kvg_error *err);

/* Bytes consumed from the file as stored (compressed bytes for .gz), for
 * progress; read-ahead included. Where the file cannot report its position
 * (a pipe), the decompressed bytes consumed. */
uint64_t arpa_bytes_read(const arpa_reader *r);

/* Size of the file as stored; 0 if unknown (not a regular file). */
uint64_t arpa_file_size(const arpa_reader *r);

/* Closes the file and frees the reader; r may be NULL. */
void arpa_close(arpa_reader *r);

#endif
