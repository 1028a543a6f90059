/* kvg_reader.h — open a .kvg file: map it read-only, validate it, and hand out
 * tensors as pointers into the mapping.
 *
 * kvg_open checks every offset, size and count in the header, the metadata and
 * the tensor directory against the file size (overflow-safe) and verifies the
 * head checksum (header + metadata + directory) before returning. It touches
 * only those parts of the file: opening costs O(header), not O(file). Tensor
 * data is checked on request (kvg_verify_tensor / kvg_verify_file). */
#ifndef KVG_READER_H
#define KVG_READER_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_dtype.h"
#include "kvg_error.h"
#include "kvg_layout.h"

typedef struct kvg_file kvg_file;

typedef struct kvg_tensor {
    const char *name;               /* NUL-terminated copy of the name */
    uint32_t dtype;                 /* a kvg_dtype */
    uint32_t n_dims;                /* 1..KVG_MAX_DIMS */
    uint64_t shape[KVG_MAX_DIMS];   /* outermost first; the last dim is contiguous */
    uint64_t n_elems;               /* product of the shape */
    uint64_t offset;                /* absolute byte offset in the file */
    uint64_t size;                  /* bytes */
    uint64_t checksum;              /* XXH3-64 of the bytes, as stored in the directory */
    const void *data;               /* into the read-only mapping */
} kvg_tensor;

typedef struct kvg_meta {
    const char *key;       /* NUL-terminated copy */
    uint32_t type;         /* KVG_META_U64 / I64 / F64 / STR / ARR */
    uint32_t elem_type;    /* element type of an array (U64 / I64 / F64 / STR), else 0 */
    uint64_t count;        /* array length; string length for STR; 1 for numbers */
    const uint8_t *value;  /* numbers: the 8 bytes; STR: the bytes; ARR: the first element */
    uint64_t value_size;   /* bytes at value (arrays: all elements with their padding) */
} kvg_meta;

/* Opens and validates path. On success returns 0 and sets *out. On failure
 * returns -1, fills err with "PATH: problem", and *out is NULL. */
int kvg_open(const char *path, kvg_file **out, kvg_error *err);
void kvg_close(kvg_file *f);

const char *kvg_path(const kvg_file *f);
uint16_t kvg_version_major(const kvg_file *f);
uint16_t kvg_version_minor(const kvg_file *f);
uint64_t kvg_file_size(const kvg_file *f);
uint32_t kvg_alignment(const kvg_file *f);
uint64_t kvg_head_checksum(const kvg_file *f);

size_t kvg_tensor_count(const kvg_file *f);
const kvg_tensor *kvg_tensor_at(const kvg_file *f, size_t i);
const kvg_tensor *kvg_tensor_find(const kvg_file *f, const char *name); /* NULL if absent */

size_t kvg_meta_count(const kvg_file *f);
const kvg_meta *kvg_meta_at(const kvg_file *f, size_t i);
const kvg_meta *kvg_meta_find(const kvg_file *f, const char *key); /* NULL if absent */

/* Typed lookups: 0 and the value, or -1 (with err filled) when the key is
 * missing or holds another type. U64 values are also accepted by get_i64 when
 * they fit, and I64 values >= 0 by get_u64. */
int kvg_meta_get_u64(const kvg_file *f, const char *key, uint64_t *out, kvg_error *err);
int kvg_meta_get_i64(const kvg_file *f, const char *key, int64_t *out, kvg_error *err);
int kvg_meta_get_f64(const kvg_file *f, const char *key, double *out, kvg_error *err);
/* The string's bytes (not NUL-terminated) and length. */
int kvg_meta_get_str(const kvg_file *f, const char *key, const char **s, uint64_t *len,
                     kvg_error *err);

/* Element i of a numeric array (U64 / I64 / F64 arrays; caller checks i < count). */
uint64_t kvg_meta_arr_u64(const kvg_meta *m, uint64_t i);
int64_t kvg_meta_arr_i64(const kvg_meta *m, uint64_t i);
double kvg_meta_arr_f64(const kvg_meta *m, uint64_t i);

/* Walks the strings of a string array in order: start with
 * kvg_meta_str_iter it = kvg_meta_str_begin(m); then while
 * (kvg_meta_str_next(&it, &s, &len)) { ... }. */
typedef struct kvg_meta_str_iter {
    const uint8_t *p;
    uint64_t left;
} kvg_meta_str_iter;
kvg_meta_str_iter kvg_meta_str_begin(const kvg_meta *m);
int kvg_meta_str_next(kvg_meta_str_iter *it, const char **s, uint64_t *len);

/* Recomputes the XXH3-64 of one tensor's bytes and compares it with the
 * directory. 0 if equal, -1 with err naming the tensor otherwise. */
int kvg_verify_tensor(const kvg_file *f, const kvg_tensor *t, kvg_error *err);

/* Every byte between the parts of the file (alignment padding between the
 * header, the tensors, the metadata and the directory) must be zero. 0 if so,
 * -1 with err naming the first non-zero byte's offset otherwise. */
int kvg_verify_padding(const kvg_file *f, kvg_error *err);

/* Full check: kvg_verify_padding and every tensor's checksum. Together with
 * the head checksum verified at open this covers every byte of the file, so
 * any change to a byte is detected. Reports the first problem found. */
int kvg_verify_file(const kvg_file *f, kvg_error *err);

#endif
