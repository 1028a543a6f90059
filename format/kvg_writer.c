/* kvg_writer.c — streaming, atomic writing of a .kvg file (format/SPEC.md).
 *
 * File order: header placeholder, tensor data (each aligned), metadata,
 * directory, and finally the real header written at offset 0. Writing the
 * index last is what lets tensors stream: nothing about a tensor has to be
 * known before its bytes go out. */
#include "kvg_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "kvg_dtype.h"
#include "kvg_layout.h"

#define WRITE_BUF_SIZE (1u << 20)
#define MAX_OPEN_TEMPS 32
#define TEMP_PATH_MAX 4096

/* Temporaries of open writers, for kvg_writer_remove_temporaries, which may
 * run in a signal handler: plain arrays and sig_atomic_t flags only. */
static char temp_paths[MAX_OPEN_TEMPS][TEMP_PATH_MAX];
static volatile sig_atomic_t temp_in_use[MAX_OPEN_TEMPS];

typedef struct dir_entry {
    char *name;
    uint32_t dtype, n_dims;
    uint64_t shape[KVG_MAX_DIMS];
    uint64_t offset, size, checksum;
} dir_entry;

typedef struct byte_buf {
    uint8_t *p;
    size_t len, cap;
} byte_buf;

struct kvg_writer {
    char *path;      /* the target */
    char *tmp_path;  /* the temporary next to it */
    int temp_slot;   /* index in temp_paths, or -1 */
    int fd;
    int failed;      /* after the first error, every call fails */
    uint32_t alignment;
    uint64_t pos;    /* logical file position, buffered bytes included */
    uint8_t *buf;
    size_t buf_len;

    dir_entry *entries;
    size_t n_entries, cap_entries;
    int in_tensor;
    uint64_t tensor_written;
    XXH3_state_t *hash;

    byte_buf meta;   /* metadata, encoded as on disk */
    char **keys;
    size_t n_keys, cap_keys;
};

static int fail(kvg_writer *w, kvg_error *err, const char *fmt, const char *detail)
{
    w->failed = 1;
    return kvg_errorf(err, w->path, fmt, detail);
}

static int write_all(kvg_writer *w, const void *data, size_t n, kvg_error *err)
{
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return fail(w, err, "write failed: %s", strerror(errno));
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int flush_buf(kvg_writer *w, kvg_error *err)
{
    if (w->buf_len && write_all(w, w->buf, w->buf_len, err))
        return -1;
    w->buf_len = 0;
    return 0;
}

/* Appends n bytes to the output stream. */
static int emit(kvg_writer *w, const void *data, size_t n, kvg_error *err)
{
    if (n >= WRITE_BUF_SIZE) {
        if (flush_buf(w, err) || write_all(w, data, n, err))
            return -1;
    } else {
        if (w->buf_len + n > WRITE_BUF_SIZE && flush_buf(w, err))
            return -1;
        memcpy(w->buf + w->buf_len, data, n);
        w->buf_len += n;
    }
    w->pos += n;
    return 0;
}

static int emit_zeros(kvg_writer *w, uint64_t n, kvg_error *err)
{
    static const uint8_t zeros[4096];
    while (n > 0) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (emit(w, zeros, k, err))
            return -1;
        n -= k;
    }
    return 0;
}

static int pad_to(kvg_writer *w, uint64_t alignment, kvg_error *err)
{
    uint64_t target = kvg_align_up(w->pos, alignment);
    if (target < w->pos)
        return fail(w, err, "%s", "file offset overflows 64 bits");
    return emit_zeros(w, target - w->pos, err);
}

static void register_temp(kvg_writer *w)
{
    w->temp_slot = -1;
    if (strlen(w->tmp_path) >= TEMP_PATH_MAX)
        return;
    for (int i = 0; i < MAX_OPEN_TEMPS; i++) {
        if (!temp_in_use[i]) {
            strcpy(temp_paths[i], w->tmp_path);
            temp_in_use[i] = 1;
            w->temp_slot = i;
            return;
        }
    }
}

static void unregister_temp(kvg_writer *w)
{
    if (w->temp_slot >= 0)
        temp_in_use[w->temp_slot] = 0;
    w->temp_slot = -1;
}

void kvg_writer_remove_temporaries(void)
{
    for (int i = 0; i < MAX_OPEN_TEMPS; i++)
        if (temp_in_use[i])
            unlink(temp_paths[i]);
}

/* Opens a fresh temporary ".NAME.PID.N.tmp" beside path, with O_EXCL so it
 * never clobbers anything; mode 0666 minus the umask, like the target would
 * get from a plain create. */
static int create_temp(kvg_writer *w, kvg_error *err)
{
    const char *slash = strrchr(w->path, '/');
    size_t dir_len = slash ? (size_t)(slash - w->path + 1) : 0;
    const char *base = slash ? slash + 1 : w->path;
    size_t cap = strlen(w->path) + 64;
    w->tmp_path = malloc(cap);
    if (!w->tmp_path)
        return kvg_errorf(err, w->path, "out of memory");
    static unsigned counter;
    for (int attempt = 0; attempt < 100; attempt++) {
        snprintf(w->tmp_path, cap, "%.*s.%s.%ld.%u.tmp", (int)dir_len, w->path, base, (long)getpid(),
                 counter++);
        w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (w->fd >= 0) {
            register_temp(w);
            return 0;
        }
        if (errno != EEXIST)
            return kvg_errorf(err, w->path, "cannot create a temporary file in its directory: %s",
                              strerror(errno));
    }
    return kvg_errorf(err, w->path, "cannot create a temporary file: too many name collisions");
}

static void free_writer(kvg_writer *w)
{
    for (size_t i = 0; i < w->n_entries; i++)
        free(w->entries[i].name);
    for (size_t i = 0; i < w->n_keys; i++)
        free(w->keys[i]);
    free(w->entries);
    free(w->keys);
    free(w->meta.p);
    free(w->buf);
    if (w->hash)
        XXH3_freeState(w->hash);
    free(w->tmp_path);
    free(w->path);
    free(w);
}

void kvg_writer_abort(kvg_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp_path && w->temp_slot != -2)
        unlink(w->tmp_path);
    unregister_temp(w);
    free_writer(w);
}

int kvg_writer_open(const char *path, uint32_t alignment, kvg_writer **out, kvg_error *err)
{
    *out = NULL;
    if (alignment == 0)
        alignment = KVG_DEFAULT_ALIGNMENT;
    if ((alignment & (alignment - 1)) || alignment < KVG_MIN_ALIGNMENT || alignment > KVG_MAX_ALIGNMENT)
        return kvg_errorf(err, path, "invalid alignment %u (a power of two from %u to %u)", alignment,
                          KVG_MIN_ALIGNMENT, KVG_MAX_ALIGNMENT);
    if (!*path || path[strlen(path) - 1] == '/')
        return kvg_errorf(err, path, "output path names a directory, not a file");
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return kvg_errorf(err, path, "is a directory; give a file name for the output");
    kvg_writer *w = calloc(1, sizeof *w);
    if (!w)
        return kvg_errorf(err, path, "out of memory");
    w->fd = -1;
    w->temp_slot = -2; /* no temporary yet */
    w->alignment = alignment;
    w->path = strdup(path);
    w->buf = malloc(WRITE_BUF_SIZE);
    w->hash = XXH3_createState();
    if (!w->path || !w->buf || !w->hash) {
        kvg_errorf(err, path, "out of memory");
        free_writer(w);
        return -1;
    }
    if (create_temp(w, err)) {
        w->temp_slot = -2;
        kvg_writer_abort(w);
        return -1;
    }
    /* The header is written last; reserve its place and pad to the first
     * tensor's alignment. */
    if (emit_zeros(w, KVG_HEADER_SIZE, err) || pad_to(w, alignment, err)) {
        kvg_writer_abort(w);
        return -1;
    }
    *out = w;
    return 0;
}

/* ---- metadata ---- */

static int buf_reserve(byte_buf *b, size_t more)
{
    if (more > SIZE_MAX - b->len)
        return -1;
    size_t need = b->len + more;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_put(byte_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n))
        return -1;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

static int buf_put64(byte_buf *b, uint64_t v)
{
    uint8_t tmp[8];
    kvg_wr64(tmp, v);
    return buf_put(b, tmp, 8);
}

static int buf_pad8(byte_buf *b)
{
    static const uint8_t zeros[8];
    return buf_put(b, zeros, (8 - b->len % 8) % 8);
}

static int buf_put_str(byte_buf *b, const char *s, size_t len)
{
    return buf_put64(b, len) || buf_put(b, s, len) || buf_pad8(b);
}

static int key_ok(const char *key)
{
    size_t n = strlen(key);
    if (n == 0 || n > KVG_MAX_KEY_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* Validates key, records it, and writes the entry's key header. */
static int meta_begin(kvg_writer *w, const char *key, uint32_t type, kvg_error *err)
{
    if (w->failed)
        return kvg_errorf(err, w->path, "writer already failed");
    if (!key_ok(key))
        return fail(w, err, "invalid metadata key \"%s\" (1..255 bytes of [A-Za-z0-9_.-])", key);
    for (size_t i = 0; i < w->n_keys; i++)
        if (strcmp(w->keys[i], key) == 0)
            return fail(w, err, "duplicate metadata key \"%s\"", key);
    if (w->n_keys == w->cap_keys) {
        size_t cap = w->cap_keys ? 2 * w->cap_keys : 16;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k)
            return fail(w, err, "%s", "out of memory");
        w->keys = k;
        w->cap_keys = cap;
    }
    if (!(w->keys[w->n_keys] = strdup(key)))
        return fail(w, err, "%s", "out of memory");
    w->n_keys++;
    uint8_t head[8];
    kvg_wr32(head, (uint32_t)strlen(key));
    kvg_wr32(head + 4, type);
    if (buf_put(&w->meta, head, 8) || buf_put(&w->meta, key, strlen(key)) || buf_pad8(&w->meta))
        return fail(w, err, "%s", "out of memory");
    return 0;
}

static int meta_scalar(kvg_writer *w, const char *key, uint32_t type, uint64_t bits, kvg_error *err)
{
    if (meta_begin(w, key, type, err))
        return -1;
    if (buf_put64(&w->meta, bits))
        return fail(w, err, "%s", "out of memory");
    return 0;
}

int kvg_writer_meta_u64(kvg_writer *w, const char *key, uint64_t v, kvg_error *err)
{
    return meta_scalar(w, key, KVG_META_U64, v, err);
}

int kvg_writer_meta_i64(kvg_writer *w, const char *key, int64_t v, kvg_error *err)
{
    return meta_scalar(w, key, KVG_META_I64, (uint64_t)v, err);
}

int kvg_writer_meta_f64(kvg_writer *w, const char *key, double v, kvg_error *err)
{
    return meta_scalar(w, key, KVG_META_F64, kvg_f64_bits(v), err);
}

int kvg_writer_meta_str(kvg_writer *w, const char *key, const char *s, size_t len, kvg_error *err)
{
    if (meta_begin(w, key, KVG_META_STR, err))
        return -1;
    if (buf_put_str(&w->meta, s, len))
        return fail(w, err, "%s", "out of memory");
    return 0;
}

static int meta_array_head(kvg_writer *w, const char *key, uint32_t elem_type, size_t n, kvg_error *err)
{
    if (meta_begin(w, key, KVG_META_ARR, err))
        return -1;
    uint8_t head[16];
    kvg_wr32(head, elem_type);
    kvg_wr32(head + 4, 0);
    kvg_wr64(head + 8, n);
    if (buf_put(&w->meta, head, 16))
        return fail(w, err, "%s", "out of memory");
    return 0;
}

/* Numeric arrays: n values of 8 bytes each, given as raw host words. */
static int meta_array_words(kvg_writer *w, const char *key, uint32_t elem_type, const void *v, size_t n,
                            kvg_error *err)
{
    if (meta_array_head(w, key, elem_type, n, err))
        return -1;
    if (n > SIZE_MAX / 8 || buf_reserve(&w->meta, n * 8))
        return fail(w, err, "%s", "out of memory");
    for (size_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, (const uint8_t *)v + 8 * i, 8);
        buf_put64(&w->meta, bits); /* cannot fail: reserved above */
    }
    return 0;
}

int kvg_writer_meta_u64_array(kvg_writer *w, const char *key, const uint64_t *v, size_t n, kvg_error *err)
{
    return meta_array_words(w, key, KVG_META_U64, v, n, err);
}

int kvg_writer_meta_i64_array(kvg_writer *w, const char *key, const int64_t *v, size_t n, kvg_error *err)
{
    return meta_array_words(w, key, KVG_META_I64, v, n, err);
}

int kvg_writer_meta_f64_array(kvg_writer *w, const char *key, const double *v, size_t n, kvg_error *err)
{
    return meta_array_words(w, key, KVG_META_F64, v, n, err);
}

int kvg_writer_meta_str_array(kvg_writer *w, const char *key, const char *const *strs, const size_t *lens,
                              size_t n, kvg_error *err)
{
    if (meta_array_head(w, key, KVG_META_STR, n, err))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (buf_put_str(&w->meta, strs[i], lens[i]))
            return fail(w, err, "%s", "out of memory");
    return 0;
}

/* ---- tensors ---- */

static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > KVG_MAX_NAME_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7F)
            return 0;
    }
    return 1;
}

int kvg_writer_tensor_begin(kvg_writer *w, const char *name, kvg_dtype dtype, uint32_t n_dims,
                            const uint64_t *shape, kvg_error *err)
{
    if (w->failed)
        return kvg_errorf(err, w->path, "writer already failed");
    if (w->in_tensor)
        return fail(w, err, "tensor \"%s\" begun before the previous one ended", name);
    if (!name_ok(name))
        return fail(w, err, "invalid tensor name \"%s\" (1..255 bytes, no control characters)", name);
    for (size_t i = 0; i < w->n_entries; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return fail(w, err, "duplicate tensor name \"%s\"", name);
    const kvg_dtype_traits *dt = kvg_dtype_get(dtype);
    if (!dt)
        return fail(w, err, "tensor \"%s\": unknown dtype", name);
    if (n_dims < 1 || n_dims > KVG_MAX_DIMS)
        return fail(w, err, "tensor \"%s\": dimension count must be 1..4", name);
    uint64_t n = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (shape[d] != 0 && n > UINT64_MAX / shape[d])
            return fail(w, err, "tensor \"%s\": element count overflows 64 bits", name);
        n *= shape[d];
    }
    if (shape[n_dims - 1] % dt->block_elems)
        return fail(w, err, "tensor \"%s\": last dimension is not a multiple of the dtype's block size", name);
    uint64_t size;
    if (kvg_dtype_nbytes(dtype, n, &size))
        return fail(w, err, "tensor \"%s\": byte size overflows 64 bits", name);
    if (w->n_entries == w->cap_entries) {
        size_t cap = w->cap_entries ? 2 * w->cap_entries : 16;
        dir_entry *e = realloc(w->entries, cap * sizeof *e);
        if (!e)
            return fail(w, err, "%s", "out of memory");
        w->entries = e;
        w->cap_entries = cap;
    }
    if (pad_to(w, w->alignment, err))
        return -1;
    dir_entry *e = &w->entries[w->n_entries];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return fail(w, err, "%s", "out of memory");
    w->n_entries++;
    e->dtype = dtype;
    e->n_dims = n_dims;
    memcpy(e->shape, shape, n_dims * sizeof *shape);
    e->offset = w->pos;
    e->size = size;
    w->in_tensor = 1;
    w->tensor_written = 0;
    XXH3_64bits_reset(w->hash);
    return 0;
}

int kvg_writer_tensor_write(kvg_writer *w, const void *data, size_t n, kvg_error *err)
{
    if (w->failed)
        return kvg_errorf(err, w->path, "writer already failed");
    if (!w->in_tensor)
        return fail(w, err, "%s", "tensor data written outside a tensor");
    dir_entry *e = &w->entries[w->n_entries - 1];
    if (n > e->size - w->tensor_written)
        return fail(w, err, "tensor \"%s\": more bytes written than its shape holds", e->name);
    XXH3_64bits_update(w->hash, data, n);
    w->tensor_written += n;
    return emit(w, data, n, err);
}

int kvg_writer_tensor_end(kvg_writer *w, kvg_error *err)
{
    if (w->failed)
        return kvg_errorf(err, w->path, "writer already failed");
    if (!w->in_tensor)
        return fail(w, err, "%s", "tensor ended that was not begun");
    dir_entry *e = &w->entries[w->n_entries - 1];
    if (w->tensor_written != e->size) {
        w->failed = 1;
        return kvg_errorf(err, w->path, "tensor \"%s\": %llu bytes written, its shape needs %llu", e->name,
                          (unsigned long long)w->tensor_written, (unsigned long long)e->size);
    }
    e->checksum = XXH3_64bits_digest(w->hash);
    w->in_tensor = 0;
    return 0;
}

int kvg_writer_tensor(kvg_writer *w, const char *name, kvg_dtype dtype, uint32_t n_dims, const uint64_t *shape,
                      const void *data, kvg_error *err)
{
    if (kvg_writer_tensor_begin(w, name, dtype, n_dims, shape, err))
        return -1;
    const dir_entry *e = &w->entries[w->n_entries - 1];
    if (e->size > SIZE_MAX)
        return fail(w, err, "tensor \"%s\" too large for this host", name);
    if (kvg_writer_tensor_write(w, data, (size_t)e->size, err))
        return -1;
    return kvg_writer_tensor_end(w, err);
}

/* ---- finishing ---- */

static int build_directory(kvg_writer *w, byte_buf *dir)
{
    size_t entries_bytes = w->n_entries * KVG_DIR_ENTRY_SIZE;
    if (entries_bytes == 0)
        return 0;
    if (buf_reserve(dir, entries_bytes))
        return -1;
    memset(dir->p, 0, entries_bytes);
    dir->len = entries_bytes;
    for (size_t i = 0; i < w->n_entries; i++) {
        const dir_entry *e = &w->entries[i];
        uint8_t *d = dir->p + i * KVG_DIR_ENTRY_SIZE;
        size_t name_len = strlen(e->name);
        kvg_wr64(d + KVG_D_NAME_OFFSET, dir->len);
        kvg_wr32(d + KVG_D_NAME_LEN, (uint32_t)name_len);
        kvg_wr32(d + KVG_D_DTYPE, e->dtype);
        kvg_wr32(d + KVG_D_N_DIMS, e->n_dims);
        for (uint32_t k = 0; k < e->n_dims; k++)
            kvg_wr64(d + KVG_D_SHAPE + 8 * k, e->shape[k]);
        kvg_wr64(d + KVG_D_OFFSET, e->offset);
        kvg_wr64(d + KVG_D_SIZE, e->size);
        kvg_wr64(d + KVG_D_CHECKSUM, e->checksum);
        /* d points into dir->p, which the next put may move: done with it. */
        if (buf_put(dir, e->name, name_len))
            return -1;
    }
    return buf_pad8(dir);
}

int kvg_writer_finish(kvg_writer *w, kvg_error *err)
{
    if (w->failed) {
        kvg_errorf(err, w->path, "writer already failed");
        kvg_writer_abort(w);
        return -1;
    }
    if (w->in_tensor) {
        fail(w, err, "%s", "finished in the middle of a tensor");
        kvg_writer_abort(w);
        return -1;
    }
    byte_buf dir = {0};
    uint8_t header[KVG_HEADER_SIZE] = {0};
    uint64_t data_offset = kvg_align_up(KVG_HEADER_SIZE, w->alignment);
    if (pad_to(w, 8, err))
        goto fail;
    uint64_t meta_offset = w->pos;
    if (emit(w, w->meta.p ? w->meta.p : header, w->meta.len, err) || pad_to(w, 8, err))
        goto fail;
    uint64_t dir_offset = w->pos;
    if (build_directory(w, &dir)) {
        fail(w, err, "%s", "out of memory");
        goto fail;
    }
    if ((dir.len && emit(w, dir.p, dir.len, err)) || flush_buf(w, err))
        goto fail;

    memcpy(header + KVG_H_MAGIC, KVG_MAGIC, KVG_MAGIC_LEN);
    kvg_wr16(header + KVG_H_VERSION_MAJOR, KVG_VERSION_MAJOR);
    kvg_wr16(header + KVG_H_VERSION_MINOR, KVG_VERSION_MINOR);
    kvg_wr64(header + KVG_H_FILE_SIZE, w->pos);
    kvg_wr32(header + KVG_H_ALIGNMENT, w->alignment);
    kvg_wr64(header + KVG_H_DATA_OFFSET, data_offset);
    kvg_wr64(header + KVG_H_META_OFFSET, meta_offset);
    kvg_wr64(header + KVG_H_META_SIZE, w->meta.len);
    kvg_wr64(header + KVG_H_META_COUNT, w->n_keys);
    kvg_wr64(header + KVG_H_DIR_OFFSET, dir_offset);
    kvg_wr64(header + KVG_H_DIR_SIZE, dir.len);
    kvg_wr64(header + KVG_H_TENSOR_COUNT, w->n_entries);
    XXH3_64bits_reset(w->hash);
    XXH3_64bits_update(w->hash, header, KVG_H_HEAD_CHECKSUM);
    if (w->meta.len)
        XXH3_64bits_update(w->hash, w->meta.p, w->meta.len);
    if (dir.len)
        XXH3_64bits_update(w->hash, dir.p, dir.len);
    kvg_wr64(header + KVG_H_HEAD_CHECKSUM, XXH3_64bits_digest(w->hash));
    free(dir.p);
    dir.p = NULL;

    for (size_t done = 0; done < KVG_HEADER_SIZE;) {
        ssize_t k = pwrite(w->fd, header + done, KVG_HEADER_SIZE - done, (off_t)done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            fail(w, err, "write failed: %s", strerror(errno));
            goto fail;
        }
        done += (size_t)k;
    }
    if (fsync(w->fd) != 0) {
        fail(w, err, "sync failed: %s", strerror(errno));
        goto fail;
    }
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0) {
        fail(w, err, "close failed: %s", strerror(errno));
        goto fail;
    }
    if (rename(w->tmp_path, w->path) != 0) {
        fail(w, err, "cannot move the finished file into place: %s", strerror(errno));
        goto fail;
    }
    unregister_temp(w);
    w->temp_slot = -2; /* renamed: nothing left to remove */
    free_writer(w);
    return 0;
fail:
    free(dir.p);
    kvg_writer_abort(w);
    return -1;
}
