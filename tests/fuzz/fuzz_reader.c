/* fuzz_reader.c — libFuzzer target for kvg_open and everything it hands out.
 *
 * Each input is opened twice: as it is, and with its head checksum re-sealed
 * (recomputed over header[0,120) ‖ metadata ‖ directory the way the reader
 * does), because random bytes almost never match a 64-bit checksum and the
 * parsing behind it would otherwise go unexplored. A file that opens is then
 * walked completely: every tensor (checksum, first and last byte, lookup by
 * name), the padding, every metadata entry (typed getters, every array
 * element, the string iterator). A refusal must be one line starting with the
 * path. Any sanitizer report or abort() is a finding.
 *
 * The input reaches kvg_open as a path: a memfd named through /proc/self/fd,
 * so nothing touches the disk. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "fuzz_common.h"
#include "kvg_reader.h"

static void walk_tensors(const kvg_file *f)
{
    kvg_error err;
    size_t n = kvg_tensor_count(f);
    check(kvg_tensor_at(f, n) == NULL, "kvg_tensor_at past the end is NULL");
    for (size_t i = 0; i < n; i++) {
        const kvg_tensor *t = kvg_tensor_at(f, i);
        check(t->n_dims >= 1 && t->n_dims <= KVG_MAX_DIMS, "n_dims in range");
        check(kvg_dtype_get(t->dtype) != NULL, "dtype known");
        check(t->offset % kvg_alignment(f) == 0, "tensor aligned");
        check(t->offset <= kvg_file_size(f) && t->size <= kvg_file_size(f) - t->offset, "tensor inside the file");
        check(kvg_tensor_find(f, t->name) == t, "names unique and found");
        check(strlen(t->name) >= 1 && strlen(t->name) <= KVG_MAX_NAME_LEN, "name length");
        if (kvg_verify_tensor(f, t, &err))
            check(strchr(err.msg, '\n') == NULL, "verify message is one line");
        if (t->size) {
            const uint8_t *d = t->data;
            sink += d[0] + d[t->size - 1];
        }
    }
}

static void walk_meta(const kvg_file *f)
{
    kvg_error err;
    size_t n = kvg_meta_count(f);
    check(kvg_meta_at(f, n) == NULL, "kvg_meta_at past the end is NULL");
    for (size_t i = 0; i < n; i++) {
        const kvg_meta *m = kvg_meta_at(f, i);
        check(kvg_meta_find(f, m->key) == m, "keys unique and found");
        uint64_t u;
        int64_t s64;
        double d;
        const char *s;
        uint64_t len;
        /* Every getter on every key: the right type succeeds, others refuse. */
        int got_u = kvg_meta_get_u64(f, m->key, &u, &err) == 0;
        int got_i = kvg_meta_get_i64(f, m->key, &s64, &err) == 0;
        int got_f = kvg_meta_get_f64(f, m->key, &d, &err) == 0;
        int got_s = kvg_meta_get_str(f, m->key, &s, &len, &err) == 0;
        check(got_f == (m->type == KVG_META_F64), "get_f64 succeeds exactly on f64");
        check(got_s == (m->type == KVG_META_STR), "get_str succeeds exactly on strings");
        check(!got_u || m->type == KVG_META_U64 || m->type == KVG_META_I64, "get_u64 on integers only");
        check(!got_i || m->type == KVG_META_U64 || m->type == KVG_META_I64, "get_i64 on integers only");
        if (got_s && len) {
            check(len == m->count, "string length");
            sink += (uint8_t)s[0] + (uint8_t)s[len - 1];
        }
        if (m->type != KVG_META_ARR)
            continue;
        if (m->elem_type == KVG_META_STR) {
            kvg_meta_str_iter it = kvg_meta_str_begin(m);
            uint64_t k = 0;
            while (kvg_meta_str_next(&it, &s, &len)) {
                if (len)
                    sink += (uint8_t)s[0] + (uint8_t)s[len - 1];
                k++;
            }
            check(k == m->count, "string iterator yields count strings");
        } else {
            check(m->value_size == m->count * 8, "numeric array size");
            for (uint64_t k = 0; k < m->count; k++)
                sink += kvg_meta_arr_u64(m, k) + (uint64_t)kvg_meta_arr_i64(m, k) +
                        (uint64_t)(kvg_meta_arr_f64(m, k) != 0);
        }
    }
}

/* Opens the memfd's current contents and walks whatever opens. */
static void open_and_walk(void)
{
    kvg_file *f = (kvg_file *)&memfd; /* any non-NULL value: kvg_open must reset it */
    kvg_error err;
    if (kvg_open(memfd_path, &f, &err)) {
        size_t pl = strlen(memfd_path);
        check(f == NULL, "*out is NULL after a failed open");
        check(strncmp(err.msg, memfd_path, pl) == 0 && err.msg[pl] == ':', "message starts with the path");
        check(strchr(err.msg, '\n') == NULL && strchr(err.msg, '\r') == NULL, "message is one line");
        return;
    }
    walk_tensors(f);
    walk_meta(f);
    if (kvg_verify_padding(f, &err) == 0 && kvg_verify_file(f, &err) == 0)
        sink++;
    kvg_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_both_ways(data, size, open_and_walk);
    return 0;
}
