/* safetensors.c — open and validate safetensors checkpoints (see safetensors.h).
 *
 * Each file is mapped read-only; its header JSON is parsed with jansson,
 * checked entry by entry, turned into st_tensor rows pointing into the
 * mapping, and freed before the next file is read, so memory stays O(header).
 * Checks that span files (duplicate names, the index's weight_map) run once
 * all files are read. */
#define _DEFAULT_SOURCE /* madvise (MADV_DONTNEED): Linux/BSD, not POSIX */
#include "safetensors.h"

#include "kvg_mmap.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvg_dtype.h"

#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_SINGLE_NAME "model.safetensors"

/* Every safetensors dtype, with its width in bits. Sub-byte types (F4, F6_*)
 * pack elements; a tensor of them must fill whole bytes. */
typedef struct st_dtype_row {
    const char *name;
    uint32_t bits;
    int kvg; /* kvg_dtype, or -1: listed but not taken by kvgram */
} st_dtype_row;

static const st_dtype_row st_dtypes[] = {
    {"F32", 32, KVG_DTYPE_F32},  {"F16", 16, KVG_DTYPE_F16}, {"BF16", 16, KVG_DTYPE_BF16},
    {"F64", 64, -1},     {"I64", 64, -1},     {"U64", 64, -1},     {"I32", 32, -1},
    {"U32", 32, -1},     {"I16", 16, -1},     {"U16", 16, -1},     {"I8", 8, -1},
    {"U8", 8, -1},       {"BOOL", 8, -1},     {"F8_E4M3", 8, -1},  {"F8_E5M2", 8, -1},
    {"F8_E8M0", 8, -1},  {"C64", 64, -1},     {"F4", 4, -1},       {"F6_E2M3", 6, -1},
    {"F6_E3M2", 6, -1},
};

typedef struct st_file {
    char *path;
    const void *map;
    size_t size;
} st_file;

typedef struct st_kv {
    char *key, *value;
} st_kv;

struct st_checkpoint {
    st_file *files;
    size_t n_files, cap_files;
    st_tensor *tensors;
    size_t n_tensors, cap_tensors;
    st_kv *meta;
    size_t n_meta, cap_meta;
};

/* One tensor's byte range inside its file's data region, for the overlap check. */
typedef struct st_range {
    uint64_t begin, end;
    const char *name;
} st_range;

/* ---- small helpers ----------------------------------------------------- */

/* p (an array of `elem`-byte elements, n used, *cap allocated) with room
 * for one more: p itself, a reallocation, or NULL when memory ran out (p is
 * then left as it was). */
static void *reserve(void *p, size_t n, size_t *cap, size_t elem)
{
    if (n < *cap)
        return p;
    size_t want = *cap ? *cap * 2 : 16;
    if (want > SIZE_MAX / elem)
        return NULL;
    void *q = realloc(p, want * elem);
    if (q)
        *cap = want;
    return q;
}

static uint64_t rd_le64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static const st_dtype_row *dtype_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0)
            return &st_dtypes[i];
    return NULL;
}

char *st_join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    if (a == 0 || dir[a - 1] != '/')
        p[a++] = '/';
    memcpy(p + a, name, b + 1);
    return p;
}

static int is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- one file: map it, check its header, add its tensors ----------------- */

static int map_file(const char *path, st_file *f, kvg_error *err)
{
    const void *map;
    size_t size;
    if (kvg_map_file(path, "safetensors", &map, &size, err))
        return -1;
    if (size < 8) {
        munmap((void *)map, size);
        return kvg_errorf(err, path, "not a safetensors file (%zu bytes, too short for the header length)", size);
    }
    f->map = map;
    f->size = size;
    return 0;
}

/* A JSON value as a non-negative integer (shape entries, offsets). */
static int json_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int add_metadata(st_checkpoint *c, const char *path, json_t *meta, kvg_error *err)
{
    if (!json_is_object(meta))
        return kvg_errorf(err, path, "\"__metadata__\" is not a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach(meta, key, v) {
        if (!json_is_string(v))
            return kvg_errorf(err, path, "\"__metadata__\" value for \"%s\" is not a string", key);
        st_kv *meta = reserve(c->meta, c->n_meta, &c->cap_meta, sizeof *meta);
        if (!meta)
            return kvg_errorf(err, path, "out of memory");
        c->meta = meta;
        st_kv *kv = &c->meta[c->n_meta];
        kv->key = strdup(key);
        kv->value = strdup(json_string_value(v));
        if (!kv->key || !kv->value) {
            free(kv->key);
            free(kv->value);
            return kvg_errorf(err, path, "out of memory");
        }
        c->n_meta++;
    }
    return 0;
}

/* Checks one header entry and fills *t (all but name and file). data_size is
 * the byte length of the file's data region. */
static int parse_entry(const char *path, const char *name, json_t *v, const uint8_t *data,
                       uint64_t data_size, st_tensor *t, st_range *r, kvg_error *err)
{
    if (!json_is_object(v))
        return kvg_errorf(err, path, "tensor \"%s\": entry is not a JSON object", name);

    json_t *jd = json_object_get(v, "dtype");
    json_t *js = json_object_get(v, "shape");
    json_t *jo = json_object_get(v, "data_offsets");
    if (!jd || !js || !jo)
        return kvg_errorf(err, path, "tensor \"%s\": missing \"%s\"", name,
                          !jd ? "dtype" : !js ? "shape" : "data_offsets");

    if (!json_is_string(jd))
        return kvg_errorf(err, path, "tensor \"%s\": \"dtype\" is not a string", name);
    const st_dtype_row *dt = dtype_lookup(json_string_value(jd));
    if (!dt)
        return kvg_errorf(err, path, "tensor \"%s\": unknown dtype \"%s\"", name, json_string_value(jd));
    t->dtype = dt->kvg;
    memset(t->st_dtype, 0, sizeof t->st_dtype);
    memcpy(t->st_dtype, dt->name, strlen(dt->name)); /* every row fits in 7 chars */

    if (!json_is_array(js))
        return kvg_errorf(err, path, "tensor \"%s\": \"shape\" is not an array", name);
    size_t n_dims = json_array_size(js);
    if (n_dims > ST_MAX_DIMS)
        return kvg_errorf(err, path, "tensor \"%s\": %zu dimensions, more than the %d supported", name, n_dims,
                          ST_MAX_DIMS);
    t->n_dims = (uint32_t)n_dims;
    memset(t->shape, 0, sizeof t->shape);
    int has_zero = 0;
    for (size_t i = 0; i < n_dims; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d))
            return kvg_errorf(err, path, "tensor \"%s\": shape[%zu] is not an integer", name, i);
        if (json_u64(d, &t->shape[i]) != 0)
            return kvg_errorf(err, path, "tensor \"%s\": shape[%zu] is negative (%lld)", name, i,
                              (long long)json_integer_value(d));
        has_zero |= t->shape[i] == 0;
    }
    uint64_t n_elems = has_zero ? 0 : 1; /* with a zero dim, no product can overflow */
    for (size_t i = 0; i < n_dims && n_elems; i++)
        if (__builtin_mul_overflow(n_elems, t->shape[i], &n_elems))
            return kvg_errorf(err, path, "tensor \"%s\": element count of the shape overflows 64 bits", name);
    t->n_elems = n_elems;

    uint64_t begin, end;
    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)))
        return kvg_errorf(err, path, "tensor \"%s\": \"data_offsets\" is not an array of two integers", name);
    if (json_u64(json_array_get(jo, 0), &begin) != 0 || json_u64(json_array_get(jo, 1), &end) != 0)
        return kvg_errorf(err, path, "tensor \"%s\": data_offsets [%lld, %lld] is negative", name,
                          (long long)json_integer_value(json_array_get(jo, 0)),
                          (long long)json_integer_value(json_array_get(jo, 1)));
    if (begin > end)
        return kvg_errorf(err, path, "tensor \"%s\": data_offsets [%llu, %llu] begin after end", name,
                          (unsigned long long)begin, (unsigned long long)end);
    if (end > data_size)
        return kvg_errorf(err, path,
                          "tensor \"%s\": data_offsets [%llu, %llu] outside the data region (%llu bytes; "
                          "truncated file?)",
                          name, (unsigned long long)begin, (unsigned long long)end,
                          (unsigned long long)data_size);

    uint64_t bits;
    if (__builtin_mul_overflow(n_elems, (uint64_t)dt->bits, &bits))
        return kvg_errorf(err, path, "tensor \"%s\": byte size of %llu %s elements overflows 64 bits", name,
                          (unsigned long long)n_elems, dt->name);
    if (bits % 8 != 0)
        return kvg_errorf(err, path, "tensor \"%s\": %llu %s elements do not fill whole bytes", name,
                          (unsigned long long)n_elems, dt->name);
    if (end - begin != bits / 8)
        return kvg_errorf(err, path,
                          "tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes, but %llu %s elements "
                          "take %llu",
                          name, (unsigned long long)begin, (unsigned long long)end,
                          (unsigned long long)(end - begin), (unsigned long long)n_elems, dt->name,
                          (unsigned long long)(bits / 8));

    t->data = data + begin;
    t->size = end - begin;
    r->begin = begin;
    r->end = end;
    return 0;
}

static int cmp_range(const void *a, const void *b)
{
    const st_range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* No byte belongs to two tensors. Empty tensors own no bytes. */
static int check_overlaps(const char *path, st_range *r, size_t n, kvg_error *err)
{
    qsort(r, n, sizeof *r, cmp_range);
    const st_range *last = NULL; /* the non-empty range reaching furthest so far */
    for (size_t i = 0; i < n; i++) {
        if (r[i].begin == r[i].end)
            continue;
        if (last && r[i].begin < last->end)
            return kvg_errorf(err, path, "tensors \"%s\" [%llu, %llu] and \"%s\" [%llu, %llu] overlap",
                              last->name, (unsigned long long)last->begin, (unsigned long long)last->end,
                              r[i].name, (unsigned long long)r[i].begin, (unsigned long long)r[i].end);
        if (!last || r[i].end > last->end)
            last = &r[i];
    }
    return 0;
}

/* Maps path, validates its header and appends its tensors and metadata. */
static int add_file(st_checkpoint *c, const char *path, kvg_error *err)
{
    st_file *files = reserve(c->files, c->n_files, &c->cap_files, sizeof *files);
    if (!files)
        return kvg_errorf(err, path, "out of memory");
    c->files = files;
    st_file *f = &c->files[c->n_files];
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path)
        return kvg_errorf(err, path, "out of memory");
    c->n_files++; /* owned by c from here on: st_close frees and unmaps it */
    if (map_file(path, f, err) != 0)
        return -1;

    const uint8_t *b = f->map;
    uint64_t size = f->size;
    uint64_t n = rd_le64(b);
    if (n > ST_MAX_HEADER)
        return kvg_errorf(err, path,
                          "not a safetensors file: header length %llu is over the %u-byte limit",
                          (unsigned long long)n, ST_MAX_HEADER);
    if (n > size - 8)
        return kvg_errorf(err, path,
                          "truncated or not a safetensors file: header length %llu, but only %llu bytes follow",
                          (unsigned long long)n, (unsigned long long)(size - 8));
    if (n == 0 || b[8] != '{')
        return kvg_errorf(err, path, "not a safetensors file: the header does not start with '{'");

    json_error_t je;
    json_t *root = json_loadb((const char *)b + 8, (size_t)n, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return kvg_errorf(err, path, "header JSON does not parse at line %d, column %d: %s", je.line, je.column,
                          je.text);

    const uint8_t *data = b + 8 + n;
    uint64_t data_size = size - 8 - n;
    size_t n_entries = json_object_size(root);
    st_range *ranges = calloc(n_entries ? n_entries : 1, sizeof *ranges);
    int rc = ranges ? 0 : kvg_errorf(err, path, "out of memory");
    size_t n_ranges = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (rc != 0)
            break;
        if (strcmp(key, "__metadata__") == 0) {
            rc = add_metadata(c, path, v, err);
            continue;
        }
        st_tensor *tensors = reserve(c->tensors, c->n_tensors, &c->cap_tensors, sizeof *tensors);
        if (!tensors) {
            rc = kvg_errorf(err, path, "out of memory");
            break;
        }
        c->tensors = tensors;
        st_tensor *t = &c->tensors[c->n_tensors];
        memset(t, 0, sizeof *t);
        rc = parse_entry(path, key, v, data, data_size, t, &ranges[n_ranges], err);
        if (rc != 0)
            break;
        char *name = strdup(key);
        if (!name) {
            rc = kvg_errorf(err, path, "out of memory");
            break;
        }
        t->name = name;
        t->file = f->path;
        ranges[n_ranges++].name = name;
        c->n_tensors++;
    }
    if (rc == 0)
        rc = check_overlaps(path, ranges, n_ranges, err);
    free(ranges);
    json_decref(root);
    return rc;
}

/* ---- the whole checkpoint ------------------------------------------------ */

static int cmp_tensor(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static size_t file_index(const st_checkpoint *c, const char *path)
{
    size_t k = 0;
    while (k < c->n_files && c->files[k].path != path)
        k++;
    return k;
}

/* Sorts the tensors by name and refuses a name held by two files (one file
 * cannot hold a name twice: its JSON is parsed with duplicate keys refused). */
static int sort_tensors(st_checkpoint *c, kvg_error *err)
{
    qsort(c->tensors, c->n_tensors, sizeof *c->tensors, cmp_tensor);
    for (size_t i = 1; i < c->n_tensors; i++) {
        const st_tensor *a = &c->tensors[i - 1], *b = &c->tensors[i];
        if (strcmp(a->name, b->name) != 0)
            continue;
        if (file_index(c, a->file) > file_index(c, b->file)) { /* name the later shard */
            const st_tensor *t = a;
            a = b;
            b = t;
        }
        return kvg_errorf(err, b->file, "tensor \"%s\" is also in %s (duplicate across shards)", b->name,
                          a->file);
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A shard name from weight_map: a relative path that stays next to the index. */
static int shard_name_ok(const char *s)
{
    if (!*s || *s == '/')
        return 0;
    for (const char *p = s; *p;) {
        const char *q = strchr(p, '/');
        size_t len = q ? (size_t)(q - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        p += len + (q != NULL);
    }
    return 1;
}

/* Reads the index, opens every shard it names (in name order), and checks
 * that each weight_map entry is in the shard it names. */
static int open_index(st_checkpoint *c, const char *index_path, kvg_error *err)
{
    struct stat st;
    if (stat(index_path, &st) != 0)
        return kvg_errorf(err, index_path, "cannot open: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return kvg_errorf(err, index_path, "not a regular file");
    if ((uint64_t)st.st_size > ST_MAX_HEADER)
        return kvg_errorf(err, index_path, "index of %lld bytes is over the %u-byte limit", (long long)st.st_size,
                          ST_MAX_HEADER);

    json_error_t je;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return kvg_errorf(err, index_path, "index JSON does not parse at line %d, column %d: %s", je.line,
                          je.column, je.text);
    int rc = 0;
    const char **shards = NULL;
    char *dir = NULL;
    json_t *wm = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(root)) {
        rc = kvg_errorf(err, index_path, "index is not a JSON object");
        goto done;
    }
    if (!json_is_object(wm)) {
        rc = kvg_errorf(err, index_path, "index has no \"weight_map\" object");
        goto done;
    }
    size_t n = json_object_size(wm);
    if (n == 0) {
        rc = kvg_errorf(err, index_path, "\"weight_map\" is empty");
        goto done;
    }

    /* The distinct shard names, sorted. */
    shards = malloc(n * sizeof *shards);
    if (!shards) {
        rc = kvg_errorf(err, index_path, "out of memory");
        goto done;
    }
    size_t n_shards = 0;
    const char *key;
    json_t *v;
    json_object_foreach(wm, key, v) {
        if (!json_is_string(v)) {
            rc = kvg_errorf(err, index_path, "weight_map entry \"%s\" is not a string", key);
            goto done;
        }
        if (!shard_name_ok(json_string_value(v))) {
            rc = kvg_errorf(err, index_path, "weight_map entry \"%s\": shard name \"%s\" is not a relative path "
                            "inside the checkpoint folder", key, json_string_value(v));
            goto done;
        }
        shards[n_shards++] = json_string_value(v);
    }
    qsort(shards, n_shards, sizeof *shards, cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n_shards; i++)
        if (u == 0 || strcmp(shards[u - 1], shards[i]) != 0)
            shards[u++] = shards[i];
    n_shards = u;

    const char *slash = strrchr(index_path, '/');
    dir = slash ? strndup(index_path, (size_t)(slash - index_path) + (slash == index_path)) : strdup(".");
    if (!dir) {
        rc = kvg_errorf(err, index_path, "out of memory");
        goto done;
    }
    size_t first_file = c->n_files;
    for (size_t i = 0; i < n_shards && rc == 0; i++) {
        char *p = st_join_path(dir, shards[i]);
        if (!p)
            rc = kvg_errorf(err, index_path, "out of memory");
        else if (access(p, F_OK) != 0 && errno == ENOENT)
            rc = kvg_errorf(err, p, "missing shard: %s names it in its weight_map", index_path);
        else
            rc = add_file(c, p, err);
        free(p);
    }
    if (rc == 0)
        rc = sort_tensors(c, err);

    /* Every weight_map entry is in the shard it names. */
    json_object_foreach(wm, key, v) {
        if (rc != 0)
            break;
        /* shards[i] was opened as files[first_file + i]. */
        const char *shard = json_string_value(v);
        const char **hit = bsearch(&shard, shards, n_shards, sizeof *shards, cmp_str);
        const st_file *want = &c->files[first_file + (size_t)(hit - shards)];
        const st_tensor *t = st_find(c, key);
        if (!t)
            rc = kvg_errorf(err, index_path, "weight_map puts tensor \"%s\" in %s, which does not hold it", key,
                            want->path);
        else if (t->file != want->path)
            rc = kvg_errorf(err, index_path, "weight_map puts tensor \"%s\" in %s, which does not hold it "
                            "(it is in %s)", key, want->path, t->file);
    }
done:
    free(dir);
    free(shards);
    json_decref(root);
    return rc;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int open_any(st_checkpoint *c, const char *path, kvg_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return kvg_errorf(err, path, "cannot open: %s", strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        if (ends_with(path, ".json"))
            return open_index(c, path, err);
        if (add_file(c, path, err) != 0)
            return -1;
        return sort_tensors(c, err);
    }

    char *index = st_join_path(path, ST_INDEX_NAME);
    char *single = st_join_path(path, ST_SINGLE_NAME);
    char *bin = st_join_path(path, "pytorch_model.bin");
    int rc;
    if (!index || !single || !bin)
        rc = kvg_errorf(err, path, "out of memory");
    else if (is_regular(index))
        rc = open_index(c, index, err);
    else if (is_regular(single))
        rc = add_file(c, single, err) != 0 ? -1 : sort_tensors(c, err);
    else
        rc = kvg_errorf(err, path, "no %s or %s in this directory%s", ST_SINGLE_NAME, ST_INDEX_NAME,
                        is_regular(bin) ? " (pytorch_model.bin is a PyTorch pickle, not read: save the model "
                                          "as safetensors)"
                                        : "");
    free(index);
    free(single);
    free(bin);
    return rc;
}

int st_open(const char *path, st_checkpoint **out, kvg_error *err)
{
    *out = NULL;
    st_checkpoint *c = calloc(1, sizeof *c);
    if (!c)
        return kvg_errorf(err, path, "out of memory");
    if (open_any(c, path, err) != 0) {
        st_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

void st_close(st_checkpoint *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_tensors; i++)
        free((char *)c->tensors[i].name);
    for (size_t i = 0; i < c->n_meta; i++) {
        free(c->meta[i].key);
        free(c->meta[i].value);
    }
    for (size_t i = 0; i < c->n_files; i++) {
        if (c->files[i].map)
            munmap((void *)c->files[i].map, c->files[i].size);
        free(c->files[i].path);
    }
    free(c->tensors);
    free(c->meta);
    free(c->files);
    free(c);
}

size_t st_count(const st_checkpoint *c) { return c->n_tensors; }

const st_tensor *st_at(const st_checkpoint *c, size_t i) { return i < c->n_tensors ? &c->tensors[i] : NULL; }

const st_tensor *st_find(const st_checkpoint *c, const char *name)
{
    size_t lo = 0, hi = c->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = strcmp(c->tensors[mid].name, name);
        if (d == 0)
            return &c->tensors[mid];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *st_metadata(const st_checkpoint *c, const char *key)
{
    for (size_t i = 0; i < c->n_meta; i++)
        if (strcmp(c->meta[i].key, key) == 0)
            return c->meta[i].value;
    return NULL;
}

int st_to_f32(const st_tensor *t, uint64_t first, size_t n, float *dst, kvg_error *err)
{
    if (t->dtype != KVG_DTYPE_F32 && t->dtype != KVG_DTYPE_F16 && t->dtype != KVG_DTYPE_BF16)
        return kvg_errorf(err, t->file, "tensor \"%s\": dtype %s is not F32, F16 or BF16", t->name, t->st_dtype);
    if (first > t->n_elems || n > t->n_elems - first)
        return kvg_errorf(err, t->file, "tensor \"%s\": elements [%llu, +%zu) outside its %llu", t->name,
                          (unsigned long long)first, n, (unsigned long long)t->n_elems);
    const uint8_t *p = t->data;
    if (t->dtype == KVG_DTYPE_F32) {
        p += first * 4;
        for (size_t i = 0; i < n; i++, p += 4) {
            uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            memcpy(&dst[i], &u, 4);
        }
    } else {
        p += first * 2;
        for (size_t i = 0; i < n; i++, p += 2) {
            uint16_t h = (uint16_t)(p[0] | p[1] << 8);
            dst[i] = t->dtype == KVG_DTYPE_F16 ? kvg_f16_to_f32(h) : kvg_bf16_to_f32(h);
        }
    }
    return 0;
}

/* The whole pages around [p, p + size): neighbours' pages just fault back
 * in from the file when read again. */
static void release_bytes(const void *p, uint64_t size) { kvg_release_pages(p, (size_t)size); }

void st_release(const st_tensor *t) { release_bytes(t->data, t->size); }

void st_release_elems(const st_tensor *t, uint64_t first, uint64_t n)
{
    if (t->n_elems == 0 || first > t->n_elems || n > t->n_elems - first)
        return;
    uint64_t elem = t->size / t->n_elems;
    release_bytes((const uint8_t *)t->data + first * elem, n * elem);
}
