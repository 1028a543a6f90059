/* safetensors.h — read Hugging Face safetensors checkpoints, zero copy.
 *
 * A .safetensors file is a u64 little-endian N, then N bytes of UTF-8 JSON
 * (possibly padded with trailing spaces), then the data region. The JSON maps
 * each tensor name to {"dtype", "shape", "data_offsets": [begin, end)} with
 * offsets relative to the data region, plus an optional "__metadata__"
 * object of string -> string. A sharded checkpoint adds
 * model.safetensors.index.json: {"metadata": {...}, "weight_map": {name: shard}}.
 *
 * st_open maps every file read-only and validates every header before it
 * returns: JSON types, shapes (overflow-safe), offsets against the data
 * region, byte size = elements x dtype size, no two tensors overlapping, no
 * name in two shards, every weight_map entry present in its shard. It parses
 * only the headers: opening costs O(header), whatever the size of the data.
 * Every error is one line, "FILE: problem", naming the file at fault. */
#ifndef KVG_SAFETENSORS_H
#define KVG_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_error.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u * 1000u * 1000u) /* bytes of header JSON; more is refused */

typedef struct st_tensor {
    const char *name;
    /* The kvg_dtype for F32, F16 and BF16 (KVG_DTYPE_F32 / _F16 / _BF16);
     * -1 for any other safetensors dtype (F64, I64, I32, I16, I8, U8, BOOL,
     * F8_E4M3, ...): it is listed and validated, and st_dtype names it so a
     * converter can refuse it by name. Unknown dtype names fail st_open. */
    int dtype;
    char st_dtype[8];          /* the dtype as written in the file: "BF16", "F8_E4M3" */
    uint32_t n_dims;           /* 0 (a scalar) .. ST_MAX_DIMS */
    uint64_t shape[ST_MAX_DIMS]; /* outermost first; the last dim is contiguous */
    uint64_t n_elems;          /* product of the shape; 1 for a scalar */
    /* Into the read-only mapping. Little-endian, and NOT necessarily aligned
     * to the element size (the format does not promise it): read through
     * memcpy or st_to_f32, never through a float pointer. */
    const void *data;
    uint64_t size;             /* bytes at data */
    const char *file;          /* path of the file that holds it */
} st_tensor;

typedef struct st_checkpoint st_checkpoint;

/* Opens PATH: a .safetensors file, a model.safetensors.index.json file, or a
 * directory holding model.safetensors.index.json (preferred) or
 * model.safetensors. Shards named by an index are looked up next to it.
 * Returns 0 and sets *out, or -1 with err set and *out NULL. */
int st_open(const char *path, st_checkpoint **out, kvg_error *err);
void st_close(st_checkpoint *c);

/* Tensors of all files, sorted by name (strcmp order). */
size_t st_count(const st_checkpoint *c);
const st_tensor *st_at(const st_checkpoint *c, size_t i);
const st_tensor *st_find(const st_checkpoint *c, const char *name); /* NULL if absent */

/* A "__metadata__" value, or NULL. For a sharded checkpoint the shards'
 * __metadata__ are searched in shard-name order, first match wins. The
 * index's own "metadata" (e.g. total_size) is not exposed. */
const char *st_metadata(const st_checkpoint *c, const char *key);

/* Decodes elements [first, first + n) of an F32, F16 or BF16 tensor to f32
 * (exact: f16 and bf16 values are all representable). Returns 0, or -1 with
 * err set when the dtype is not one of the three or the range is outside the
 * tensor. */
int st_to_f32(const st_tensor *t, uint64_t first, size_t n, float *dst, kvg_error *err);

/* Tells the kernel the pages of t's data (or of its elements [first,
 * first + n)) are not needed for now, so a converter that streams tensor by
 * tensor keeps its resident memory far below the checkpoint's size. The data
 * stays readable (the mapping is read-only: pages come back from the file
 * when touched again). Only for byte-sized dtypes in st_release_elems. */
void st_release(const st_tensor *t);
void st_release_elems(const st_tensor *t, uint64_t first, uint64_t n);

/* "dir/name", malloc'd (NULL when memory ran out), with no doubled '/' when
 * dir already ends in one: for the files that sit beside a checkpoint. */
char *st_join_path(const char *dir, const char *name);

#endif
