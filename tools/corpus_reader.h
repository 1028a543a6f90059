/* corpus_reader.h — reads text one line at a time from a file (plain or
 * gzip, zlib tells which) or standard input, in bounded memory: a read
 * buffer and the longest line. Lines may hold any bytes but '\n'. */
#ifndef KVG_CORPUS_READER_H
#define KVG_CORPUS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_error.h"

typedef struct corpus_reader corpus_reader;

/* Opens path; "-" or NULL is standard input. */
int corpus_open(const char *path, corpus_reader **out, kvg_error *err);

/* The next line (without its '\n'; a final line without one counts too):
 * 1 and *line, *len valid until the next call; 0 at the end; -1 on error. */
int corpus_next_line(corpus_reader *r, const char **line, size_t *len, kvg_error *err);

/* 1-based number of the line last returned. */
uint64_t corpus_line_number(const corpus_reader *r);

/* Bytes read from the file as stored (compressed bytes for .gz). */
uint64_t corpus_bytes_read(const corpus_reader *r);

/* Name for messages ("stdin" for standard input). */
const char *corpus_name(const corpus_reader *r);

void corpus_close(corpus_reader *r);

#endif
