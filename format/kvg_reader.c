/* kvg_reader.c — mapping and validating a .kvg file (format/SPEC.md).
 *
 * Order of checks: the file itself (exists, regular, big enough), the magic,
 * the version, the header's sizes and offsets against the real file size,
 * then the head checksum, then the directory and the metadata entry by
 * entry. Every range is checked with overflow-safe arithmetic before a byte
 * of it is read, so a hostile file can make us refuse it but never read
 * outside the mapping. */
#include "kvg_reader.h"

#include "kvg_mmap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

struct kvg_file {
    char *path;
    const uint8_t *map;
    uint64_t size;
    uint16_t major, minor;
    uint32_t alignment;
    uint64_t data_offset;
    uint64_t meta_offset, meta_size;
    uint64_t dir_offset, dir_size;
    uint64_t head_checksum;
    size_t n_tensors;
    kvg_tensor *tensors;
    size_t n_meta;
    kvg_meta *meta;
    char *strings; /* NUL-terminated copies of tensor names and metadata keys */
};

/* a + b without wrapping: 0 and *out, or -1 on overflow. */
static int add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a > UINT64_MAX - b)
        return -1;
    *out = a + b;
    return 0;
}

static int mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

/* [off, off+len) lies inside [lo, hi). */
static int range_inside(uint64_t off, uint64_t len, uint64_t lo, uint64_t hi)
{
    uint64_t end = 0;
    return off >= lo && add_u64(off, len, &end) == 0 && end <= hi;
}

static int is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

static int host_is_little_endian(void)
{
    const uint16_t probe = 1;
    uint8_t first;
    memcpy(&first, &probe, 1);
    return first == 1;
}

/* A tensor name: bytes 0x20..0xFF except 0x7F (printable ASCII or UTF-8),
 * never NUL or control characters, so it prints on one line. */
static int name_bytes_ok(const uint8_t *s, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] == 0x7F)
            return 0;
    return 1;
}

/* A metadata key: [A-Za-z0-9_.-]. */
static int key_bytes_ok(const uint8_t *s, uint64_t len)
{
    for (uint64_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* Checks that no two of n strings are equal, in O(n) expected time with an
 * open-addressing table of XXH3 hashes. kind names them in the error. */
static int check_unique(const char *path, const char *kind, char *const *names, size_t n,
                        kvg_error *err)
{
    if (n < 2)
        return 0;
    size_t cap = 4;
    while (cap < 2 * n)
        cap <<= 1;
    size_t *slots = malloc(cap * sizeof *slots);
    if (!slots)
        return kvg_errorf(err, path, "out of memory checking %zu %ss", n, kind);
    for (size_t i = 0; i < cap; i++)
        slots[i] = SIZE_MAX;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = strlen(names[i]);
        size_t h = (size_t)XXH3_64bits(names[i], len) & (cap - 1);
        while (slots[h] != SIZE_MAX) {
            if (strcmp(names[slots[h]], names[i]) == 0) {
                rc = kvg_errorf(err, path, "duplicate %s \"%s\"", kind, names[i]);
                break;
            }
            h = (h + 1) & (cap - 1);
        }
        slots[h] = i;
    }
    free(slots);
    return rc;
}

static int open_mapping(const char *path, kvg_file *f, kvg_error *err)
{
    const void *map;
    size_t size;
    if (kvg_map_file(path, ".kvg", &map, &size, err))
        return -1;
    f->map = map; /* unmapped by kvg_close, also on the errors below */
    f->size = size;
    if (size < KVG_HEADER_SIZE) {
        /* Could still be the start of a .kvg: say which, for a cut download. */
        if (size >= KVG_MAGIC_LEN && memcmp(map, KVG_MAGIC, KVG_MAGIC_LEN) == 0)
            return kvg_errorf(err, path, "truncated: %zu bytes, shorter than the %d-byte header", size,
                              KVG_HEADER_SIZE);
        return kvg_errorf(err, path, "not a .kvg file (%zu bytes, too small for a header)", size);
    }
    return 0;
}

static int check_header(kvg_file *f, kvg_error *err)
{
    const char *path = f->path;
    const uint8_t *h = f->map;
    if (memcmp(h + KVG_H_MAGIC, KVG_MAGIC, KVG_MAGIC_LEN) != 0) {
        if (memcmp(h, "GGUF", 4) == 0)
            return kvg_errorf(err, path, "this is a GGUF file, not .kvg: convert it with `kvgram convert`");
        return kvg_errorf(err, path, "not a .kvg file (bad magic)");
    }
    f->major = kvg_rd16(h + KVG_H_VERSION_MAJOR);
    f->minor = kvg_rd16(h + KVG_H_VERSION_MINOR);
    if (f->major > KVG_VERSION_MAJOR)
        return kvg_errorf(err, path,
                          "written in .kvg format %u.%u by a newer kvgram; this build reads format %d.x "
                          "(upgrade kvgram)",
                          f->major, f->minor, KVG_VERSION_MAJOR);
    if (f->major == 0)
        return kvg_errorf(err, path, "invalid format version %u.%u", f->major, f->minor);
    if (kvg_rd32(h + KVG_H_FLAGS) != 0)
        return kvg_errorf(err, path, "unknown header flags 0x%08x", kvg_rd32(h + KVG_H_FLAGS));

    uint64_t declared = kvg_rd64(h + KVG_H_FILE_SIZE);
    if (declared > f->size)
        return kvg_errorf(err, path, "truncated: header says %llu bytes, file has %llu",
                          (unsigned long long)declared, (unsigned long long)f->size);
    if (declared < f->size)
        return kvg_errorf(err, path, "%llu unexpected bytes after the end declared in the header (%llu)",
                          (unsigned long long)(f->size - declared), (unsigned long long)declared);

    f->alignment = kvg_rd32(h + KVG_H_ALIGNMENT);
    if (!is_pow2(f->alignment) || f->alignment < KVG_MIN_ALIGNMENT || f->alignment > KVG_MAX_ALIGNMENT)
        return kvg_errorf(err, path, "invalid alignment %u (a power of two from %u to %u)", f->alignment,
                          KVG_MIN_ALIGNMENT, KVG_MAX_ALIGNMENT);
    if (kvg_rd32(h + KVG_H_RESERVED0) != 0)
        return kvg_errorf(err, path, "reserved header field at offset %d is not zero", KVG_H_RESERVED0);
    for (int i = 0; i < 32; i++)
        if (h[KVG_H_RESERVED1 + i] != 0)
            return kvg_errorf(err, path, "reserved header byte at offset %d is not zero", KVG_H_RESERVED1 + i);

    f->data_offset = kvg_rd64(h + KVG_H_DATA_OFFSET);
    f->meta_offset = kvg_rd64(h + KVG_H_META_OFFSET);
    f->meta_size = kvg_rd64(h + KVG_H_META_SIZE);
    f->dir_offset = kvg_rd64(h + KVG_H_DIR_OFFSET);
    f->dir_size = kvg_rd64(h + KVG_H_DIR_SIZE);
    f->head_checksum = kvg_rd64(h + KVG_H_HEAD_CHECKSUM);
    uint64_t meta_count = kvg_rd64(h + KVG_H_META_COUNT);
    uint64_t tensor_count = kvg_rd64(h + KVG_H_TENSOR_COUNT);

    if (f->data_offset != kvg_align_up(KVG_HEADER_SIZE, f->alignment))
        return kvg_errorf(err, path, "data offset %llu is not the header size rounded up to the alignment",
                          (unsigned long long)f->data_offset);
    if (f->meta_offset % 8 || !range_inside(f->meta_offset, f->meta_size, f->data_offset, f->size))
        return kvg_errorf(err, path, "metadata section [%llu, +%llu) lies outside the file or is misaligned",
                          (unsigned long long)f->meta_offset, (unsigned long long)f->meta_size);
    if (f->dir_offset % 8 || f->dir_offset < f->meta_offset + f->meta_size ||
        !range_inside(f->dir_offset, f->dir_size, f->data_offset, f->size))
        return kvg_errorf(err, path, "tensor directory [%llu, +%llu) lies outside the file or is misaligned",
                          (unsigned long long)f->dir_offset, (unsigned long long)f->dir_size);
    if (f->dir_offset + f->dir_size != f->size)
        return kvg_errorf(err, path, "tensor directory does not end at the end of the file");
    /* Counts can only be as large as the bytes that describe them. */
    uint64_t dir_entries_bytes;
    if (mul_u64(tensor_count, KVG_DIR_ENTRY_SIZE, &dir_entries_bytes) || dir_entries_bytes > f->dir_size)
        return kvg_errorf(err, path, "tensor count %llu does not fit in the %llu-byte directory",
                          (unsigned long long)tensor_count, (unsigned long long)f->dir_size);
    if (meta_count > f->meta_size / 16)
        return kvg_errorf(err, path, "metadata count %llu does not fit in the %llu-byte metadata section",
                          (unsigned long long)meta_count, (unsigned long long)f->meta_size);
    f->n_tensors = (size_t)tensor_count;
    f->n_meta = (size_t)meta_count;

    /* Header, metadata and directory together: one checksum, verified before
     * any of their contents is believed. */
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return kvg_errorf(err, path, "out of memory");
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, h, KVG_H_HEAD_CHECKSUM);
    XXH3_64bits_update(st, h + f->meta_offset, (size_t)f->meta_size); /* inside the mapping, never NULL */
    XXH3_64bits_update(st, h + f->dir_offset, (size_t)f->dir_size);
    uint64_t got = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    if (got != f->head_checksum)
        return kvg_errorf(err, path,
                          "header/directory checksum mismatch (stored %016llx, computed %016llx): file is corrupted",
                          (unsigned long long)f->head_checksum, (unsigned long long)got);
    return 0;
}

/* Reserves len+1 bytes in the string pool for a NUL-terminated copy. */
static char *pool_copy(char **cursor, const uint8_t *s, uint64_t len)
{
    char *dst = *cursor;
    memcpy(dst, s, (size_t)len);
    dst[len] = '\0';
    *cursor += len + 1;
    return dst;
}

static int parse_directory(kvg_file *f, char **pool, kvg_error *err)
{
    const char *path = f->path;
    const uint8_t *dir = f->map + f->dir_offset;
    uint64_t names_start = (uint64_t)f->n_tensors * KVG_DIR_ENTRY_SIZE;
    uint64_t prev_end = f->data_offset;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const uint8_t *e = dir + i * KVG_DIR_ENTRY_SIZE;
        kvg_tensor *t = &f->tensors[i];
        uint64_t name_off = kvg_rd64(e + KVG_D_NAME_OFFSET);
        uint32_t name_len = kvg_rd32(e + KVG_D_NAME_LEN);
        if (name_len == 0 || name_len > KVG_MAX_NAME_LEN)
            return kvg_errorf(err, path, "tensor %zu: name length %u is not in 1..%d", i, name_len,
                              KVG_MAX_NAME_LEN);
        if (!range_inside(name_off, name_len, names_start, f->dir_size))
            return kvg_errorf(err, path, "tensor %zu: name lies outside the directory's names area", i);
        if (!name_bytes_ok(dir + name_off, name_len))
            return kvg_errorf(err, path, "tensor %zu: name contains a NUL or control byte", i);
        t->name = pool_copy(pool, dir + name_off, name_len);

        t->dtype = kvg_rd32(e + KVG_D_DTYPE);
        const kvg_dtype_traits *dt = kvg_dtype_get(t->dtype);
        if (!dt)
            return kvg_errorf(err, path, "tensor \"%s\": unknown dtype %u", t->name, t->dtype);
        t->n_dims = kvg_rd32(e + KVG_D_N_DIMS);
        if (t->n_dims < 1 || t->n_dims > KVG_MAX_DIMS)
            return kvg_errorf(err, path, "tensor \"%s\": %u dimensions (1..%d allowed)", t->name, t->n_dims,
                              KVG_MAX_DIMS);
        if (kvg_rd32(e + KVG_D_RESERVED) != 0)
            return kvg_errorf(err, path, "tensor \"%s\": reserved field is not zero", t->name);
        uint64_t n = 1;
        for (uint32_t d = 0; d < KVG_MAX_DIMS; d++) {
            uint64_t dim = kvg_rd64(e + KVG_D_SHAPE + 8 * d);
            if (d >= t->n_dims) {
                if (dim != 0)
                    return kvg_errorf(err, path, "tensor \"%s\": unused dimension %u is not zero", t->name, d);
                t->shape[d] = 0;
                continue;
            }
            t->shape[d] = dim;
            if (mul_u64(n, dim, &n))
                return kvg_errorf(err, path, "tensor \"%s\": element count overflows 64 bits", t->name);
        }
        t->n_elems = n;
        if (t->shape[t->n_dims - 1] % dt->block_elems)
            return kvg_errorf(err, path, "tensor \"%s\": last dimension %llu is not a multiple of %s's block of %u",
                              t->name, (unsigned long long)t->shape[t->n_dims - 1], dt->name, dt->block_elems);
        uint64_t want;
        if (kvg_dtype_nbytes(t->dtype, n, &want))
            return kvg_errorf(err, path, "tensor \"%s\": byte size overflows 64 bits", t->name);
        t->offset = kvg_rd64(e + KVG_D_OFFSET);
        t->size = kvg_rd64(e + KVG_D_SIZE);
        t->checksum = kvg_rd64(e + KVG_D_CHECKSUM);
        if (t->size != want)
            return kvg_errorf(err, path, "tensor \"%s\": size %llu bytes, but its shape and dtype need %llu",
                              t->name, (unsigned long long)t->size, (unsigned long long)want);
        if (t->offset % f->alignment)
            return kvg_errorf(err, path, "tensor \"%s\": offset %llu is not a multiple of the alignment %u",
                              t->name, (unsigned long long)t->offset, f->alignment);
        if (t->offset < prev_end)
            return kvg_errorf(err, path, "tensor \"%s\": offset %llu overlaps the previous tensor or the header",
                              t->name, (unsigned long long)t->offset);
        if (!range_inside(t->offset, t->size, f->data_offset, f->meta_offset))
            return kvg_errorf(err, path, "tensor \"%s\": data [%llu, +%llu) runs past the data region (ends at %llu)",
                              t->name, (unsigned long long)t->offset, (unsigned long long)t->size,
                              (unsigned long long)f->meta_offset);
        prev_end = t->offset + t->size;
        t->data = f->map + t->offset;
    }
    return 0;
}

/* 1 when the n bytes at p are all zero. */
static int all_zero(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* Bytes of an encoded string (u64 length, bytes, zero padding to 8) starting
 * at p, with `left` bytes available. 0 on success; -1 when it runs past the
 * section or its padding is not zero. */
static int str_span(const uint8_t *p, uint64_t left, uint64_t *len, uint64_t *span)
{
    if (left < 8)
        return -1;
    *len = kvg_rd64(p);
    uint64_t padded = kvg_align_up(*len, 8);
    if (padded < *len || padded > left - 8 || !all_zero(p + 8 + *len, padded - *len))
        return -1;
    *span = 8 + padded;
    return 0;
}

static int parse_metadata(kvg_file *f, char **pool, kvg_error *err)
{
    const char *path = f->path;
    const uint8_t *p = f->map + f->meta_offset;
    uint64_t left = f->meta_size;
    for (size_t i = 0; i < f->n_meta; i++) {
        kvg_meta *m = &f->meta[i];
        if (left < 8)
            return kvg_errorf(err, path, "metadata entry %zu runs past the metadata section", i);
        uint32_t key_len = kvg_rd32(p), type = kvg_rd32(p + 4);
        uint64_t key_span = kvg_align_up(key_len, 8);
        if (key_len == 0 || key_len > KVG_MAX_KEY_LEN)
            return kvg_errorf(err, path, "metadata entry %zu: key length %u is not in 1..%d", i, key_len,
                              KVG_MAX_KEY_LEN);
        if (key_span > left - 8)
            return kvg_errorf(err, path, "metadata entry %zu runs past the metadata section", i);
        if (!key_bytes_ok(p + 8, key_len))
            return kvg_errorf(err, path, "metadata entry %zu: key has bytes outside [A-Za-z0-9_.-]", i);
        if (!all_zero(p + 8 + key_len, key_span - key_len))
            return kvg_errorf(err, path, "metadata entry %zu: key padding is not zero", i);
        m->key = pool_copy(pool, p + 8, key_len);
        p += 8 + key_span;
        left -= 8 + key_span;
        m->type = type;
        m->elem_type = 0;
        m->count = 1;
        uint64_t span = 0;
        switch (type) {
        case KVG_META_U64:
        case KVG_META_I64:
        case KVG_META_F64:
            if (left < 8)
                return kvg_errorf(err, path, "metadata \"%s\": value runs past the section", m->key);
            m->value = p;
            m->value_size = 8;
            span = 8;
            break;
        case KVG_META_STR: {
            uint64_t len;
            if (str_span(p, left, &len, &span))
                return kvg_errorf(err, path, "metadata \"%s\": string runs past the section or its padding is not zero",
                                  m->key);
            m->value = p + 8;
            m->count = len;
            m->value_size = len;
            break;
        }
        case KVG_META_ARR: {
            if (left < 16)
                return kvg_errorf(err, path, "metadata \"%s\": array header runs past the section", m->key);
            m->elem_type = kvg_rd32(p);
            m->count = kvg_rd64(p + 8);
            if (kvg_rd32(p + 4) != 0)
                return kvg_errorf(err, path, "metadata \"%s\": reserved array field is not zero", m->key);
            const uint8_t *q = p + 16;
            uint64_t qleft = left - 16;
            if (m->elem_type == KVG_META_STR) {
                if (m->count > qleft / 8)
                    return kvg_errorf(err, path, "metadata \"%s\": %llu strings cannot fit in the section",
                                      m->key, (unsigned long long)m->count);
                uint64_t total = 0;
                for (uint64_t k = 0; k < m->count; k++) {
                    uint64_t len, s;
                    if (str_span(q + total, qleft - total, &len, &s))
                        return kvg_errorf(err, path,
                                          "metadata \"%s\": string %llu runs past the section or its padding is not zero",
                                          m->key, (unsigned long long)k);
                    total += s;
                }
                m->value_size = total;
            } else if (m->elem_type == KVG_META_U64 || m->elem_type == KVG_META_I64 ||
                       m->elem_type == KVG_META_F64) {
                if (m->count > qleft / 8)
                    return kvg_errorf(err, path, "metadata \"%s\": array of %llu runs past the section", m->key,
                                      (unsigned long long)m->count);
                m->value_size = m->count * 8;
            } else {
                return kvg_errorf(err, path, "metadata \"%s\": unknown array element type %u", m->key,
                                  m->elem_type);
            }
            m->value = q;
            span = 16 + m->value_size;
            break;
        }
        default:
            return kvg_errorf(err, path, "metadata \"%s\": unknown value type %u", m->key, type);
        }
        p += span;
        left -= span;
    }
    if (left != 0)
        return kvg_errorf(err, path, "%llu stray bytes after the last metadata entry", (unsigned long long)left);
    return 0;
}

/* Upper bound of the string pool: every name and key plus its NUL. Names are
 * at most 255 bytes, so this cannot overflow for counts that passed the
 * size checks. */
static uint64_t pool_bound(const kvg_file *f)
{
    return (uint64_t)f->n_tensors * (KVG_MAX_NAME_LEN + 1) + (uint64_t)f->n_meta * (KVG_MAX_KEY_LEN + 1) + 1;
}

int kvg_open(const char *path, kvg_file **out, kvg_error *err)
{
    *out = NULL;
    if (!host_is_little_endian())
        return kvg_errorf(err, path, "this host is big-endian; .kvg files are little-endian and "
                                     "this build cannot read them");
    kvg_file *f = calloc(1, sizeof *f);
    if (!f)
        return kvg_errorf(err, path, "out of memory");
    f->path = strdup(path);
    if (!f->path) {
        free(f);
        return kvg_errorf(err, path, "out of memory");
    }
    if (open_mapping(path, f, err) || check_header(f, err))
        goto fail;
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    f->meta = calloc(f->n_meta ? f->n_meta : 1, sizeof *f->meta);
    f->strings = malloc((size_t)pool_bound(f));
    if (!f->tensors || !f->meta || !f->strings) {
        kvg_errorf(err, path, "out of memory for %zu tensors and %zu metadata entries", f->n_tensors, f->n_meta);
        goto fail;
    }
    char *pool = f->strings;
    if (parse_directory(f, &pool, err) || parse_metadata(f, &pool, err))
        goto fail;

    char **names = malloc((f->n_tensors + f->n_meta + 1) * sizeof *names);
    if (!names) {
        kvg_errorf(err, path, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < f->n_tensors; i++)
        names[i] = (char *)f->tensors[i].name;
    int dup = check_unique(path, "tensor name", names, f->n_tensors, err);
    for (size_t i = 0; i < f->n_meta && !dup; i++)
        names[i] = (char *)f->meta[i].key;
    if (!dup)
        dup = check_unique(path, "metadata key", names, f->n_meta, err);
    free(names);
    if (dup)
        goto fail;
    *out = f;
    return 0;
fail:
    kvg_close(f);
    return -1;
}

void kvg_close(kvg_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap((void *)f->map, (size_t)f->size);
    free(f->tensors);
    free(f->meta);
    free(f->strings);
    free(f->path);
    free(f);
}

const char *kvg_path(const kvg_file *f) { return f->path; }
uint16_t kvg_version_major(const kvg_file *f) { return f->major; }
uint16_t kvg_version_minor(const kvg_file *f) { return f->minor; }
uint64_t kvg_file_size(const kvg_file *f) { return f->size; }
uint32_t kvg_alignment(const kvg_file *f) { return f->alignment; }
uint64_t kvg_head_checksum(const kvg_file *f) { return f->head_checksum; }
size_t kvg_tensor_count(const kvg_file *f) { return f->n_tensors; }
size_t kvg_meta_count(const kvg_file *f) { return f->n_meta; }

const kvg_tensor *kvg_tensor_at(const kvg_file *f, size_t i)
{
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const kvg_tensor *kvg_tensor_find(const kvg_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const kvg_meta *kvg_meta_at(const kvg_file *f, size_t i) { return i < f->n_meta ? &f->meta[i] : NULL; }

const kvg_meta *kvg_meta_find(const kvg_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0)
            return &f->meta[i];
    return NULL;
}

static const kvg_meta *meta_typed(const kvg_file *f, const char *key, uint32_t type, kvg_error *err)
{
    static const char *const type_names[] = {"?", "u64", "i64", "f64", "string", "array"};
    const kvg_meta *m = kvg_meta_find(f, key);
    if (!m) {
        kvg_errorf(err, f->path, "metadata key \"%s\" is missing", key);
        return NULL;
    }
    if (m->type != type) {
        kvg_errorf(err, f->path, "metadata key \"%s\" holds a %s, expected a %s", key,
                   type_names[m->type <= 5 ? m->type : 0], type_names[type]);
        return NULL;
    }
    return m;
}

int kvg_meta_get_u64(const kvg_file *f, const char *key, uint64_t *out, kvg_error *err)
{
    const kvg_meta *m = kvg_meta_find(f, key);
    if (m && m->type == KVG_META_I64 && (int64_t)kvg_rd64(m->value) >= 0) {
        *out = kvg_rd64(m->value);
        return 0;
    }
    if (!(m = meta_typed(f, key, KVG_META_U64, err)))
        return -1;
    *out = kvg_rd64(m->value);
    return 0;
}

int kvg_meta_get_i64(const kvg_file *f, const char *key, int64_t *out, kvg_error *err)
{
    const kvg_meta *m = kvg_meta_find(f, key);
    if (m && m->type == KVG_META_U64 && kvg_rd64(m->value) <= (uint64_t)INT64_MAX) {
        *out = (int64_t)kvg_rd64(m->value);
        return 0;
    }
    if (!(m = meta_typed(f, key, KVG_META_I64, err)))
        return -1;
    *out = (int64_t)kvg_rd64(m->value);
    return 0;
}

int kvg_meta_get_f64(const kvg_file *f, const char *key, double *out, kvg_error *err)
{
    const kvg_meta *m = meta_typed(f, key, KVG_META_F64, err);
    if (!m)
        return -1;
    uint64_t bits = kvg_rd64(m->value);
    memcpy(out, &bits, sizeof bits);
    return 0;
}

int kvg_meta_get_str(const kvg_file *f, const char *key, const char **s, uint64_t *len, kvg_error *err)
{
    const kvg_meta *m = meta_typed(f, key, KVG_META_STR, err);
    if (!m)
        return -1;
    *s = (const char *)m->value;
    *len = m->count;
    return 0;
}

uint64_t kvg_meta_arr_u64(const kvg_meta *m, uint64_t i) { return kvg_rd64(m->value + 8 * i); }
int64_t kvg_meta_arr_i64(const kvg_meta *m, uint64_t i) { return (int64_t)kvg_rd64(m->value + 8 * i); }

double kvg_meta_arr_f64(const kvg_meta *m, uint64_t i)
{
    uint64_t bits = kvg_rd64(m->value + 8 * i);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

kvg_meta_str_iter kvg_meta_str_begin(const kvg_meta *m)
{
    kvg_meta_str_iter it = {m->value, m->elem_type == KVG_META_STR ? m->count : 0};
    return it;
}

int kvg_meta_str_next(kvg_meta_str_iter *it, const char **s, uint64_t *len)
{
    if (it->left == 0)
        return 0;
    /* Bounds were checked at open. */
    *len = kvg_rd64(it->p);
    *s = (const char *)(it->p + 8);
    it->p += 8 + kvg_align_up(*len, 8);
    it->left--;
    return 1;
}

int kvg_verify_tensor(const kvg_file *f, const kvg_tensor *t, kvg_error *err)
{
    uint64_t got = XXH3_64bits(t->data, (size_t)t->size);
    if (got != t->checksum)
        return kvg_errorf(err, f->path, "tensor \"%s\": checksum mismatch (stored %016llx, computed %016llx)",
                          t->name, (unsigned long long)t->checksum, (unsigned long long)got);
    return 0;
}

static int check_zero(const kvg_file *f, uint64_t from, uint64_t to, const char *where, kvg_error *err)
{
    for (uint64_t i = from; i < to; i++)
        if (f->map[i] != 0)
            return kvg_errorf(err, f->path, "non-zero padding byte 0x%02x at offset %llu (%s)", f->map[i],
                              (unsigned long long)i, where);
    return 0;
}

int kvg_verify_padding(const kvg_file *f, kvg_error *err)
{
    uint64_t pos = KVG_HEADER_SIZE;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const kvg_tensor *t = &f->tensors[i];
        if (check_zero(f, pos, t->offset, "before a tensor", err))
            return -1;
        pos = t->offset + t->size;
    }
    if (check_zero(f, pos, f->meta_offset, "before the metadata", err))
        return -1;
    return check_zero(f, f->meta_offset + f->meta_size, f->dir_offset, "before the directory", err);
}

int kvg_verify_file(const kvg_file *f, kvg_error *err)
{
    if (kvg_verify_padding(f, err))
        return -1;
    for (size_t i = 0; i < f->n_tensors; i++)
        if (kvg_verify_tensor(f, &f->tensors[i], err))
            return -1;
    return 0;
}
