/* kvg_writer.h — write a .kvg file, streaming, atomically.
 *
 * Tensors are streamed to disk as they come (the writer never holds tensor
 * data beyond a fixed-size buffer) and checksummed on the way. Metadata and
 * the directory are small and kept in memory until kvg_writer_finish writes
 * them after the data, then the header at offset 0. Everything goes to a
 * temporary file in the target's directory, renamed over the target only when
 * complete: on any error, or on kvg_writer_abort, the target is untouched and
 * the temporary is removed. */
#ifndef KVG_WRITER_H
#define KVG_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_dtype.h"
#include "kvg_error.h"

typedef struct kvg_writer kvg_writer;

/* Creates the temporary next to path. alignment: 0 for the default (64),
 * else a power of two from 64 to 1 MiB. */
int kvg_writer_open(const char *path, uint32_t alignment, kvg_writer **out, kvg_error *err);

/* Metadata: keys are 1..255 bytes of [A-Za-z0-9_.-], unique. Values are copied. */
int kvg_writer_meta_u64(kvg_writer *w, const char *key, uint64_t v, kvg_error *err);
int kvg_writer_meta_i64(kvg_writer *w, const char *key, int64_t v, kvg_error *err);
int kvg_writer_meta_f64(kvg_writer *w, const char *key, double v, kvg_error *err);
int kvg_writer_meta_str(kvg_writer *w, const char *key, const char *s, size_t len, kvg_error *err);
int kvg_writer_meta_u64_array(kvg_writer *w, const char *key, const uint64_t *v, size_t n, kvg_error *err);
int kvg_writer_meta_i64_array(kvg_writer *w, const char *key, const int64_t *v, size_t n, kvg_error *err);
int kvg_writer_meta_f64_array(kvg_writer *w, const char *key, const double *v, size_t n, kvg_error *err);
/* strs[i] has lens[i] bytes (any bytes; not NUL-terminated necessarily). */
int kvg_writer_meta_str_array(kvg_writer *w, const char *key, const char *const *strs, const size_t *lens,
                              size_t n, kvg_error *err);

/* A tensor in pieces: begin, any number of writes totalling exactly the size
 * its dtype and shape need, end. Names are 1..255 bytes without NUL or
 * control bytes, unique. shape is outermost first; the last dimension must be
 * a multiple of the dtype's block size. */
int kvg_writer_tensor_begin(kvg_writer *w, const char *name, kvg_dtype dtype, uint32_t n_dims,
                            const uint64_t *shape, kvg_error *err);
int kvg_writer_tensor_write(kvg_writer *w, const void *data, size_t n, kvg_error *err);
int kvg_writer_tensor_end(kvg_writer *w, kvg_error *err);

/* A whole tensor in one call. */
int kvg_writer_tensor(kvg_writer *w, const char *name, kvg_dtype dtype, uint32_t n_dims, const uint64_t *shape,
                      const void *data, kvg_error *err);

/* Writes metadata, directory and header, syncs, renames the temporary onto
 * the target and frees w — on success and on failure alike (on failure the
 * temporary is removed). */
int kvg_writer_finish(kvg_writer *w, kvg_error *err);

/* Gives up: removes the temporary, frees w. The target is untouched. */
void kvg_writer_abort(kvg_writer *w);

/* Removes the temporaries of all writers still open. Async-signal-safe: for
 * a CLI's SIGINT/SIGTERM handler, so an interrupted run leaves nothing behind. */
void kvg_writer_remove_temporaries(void);

#endif
