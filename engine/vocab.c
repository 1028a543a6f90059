/* vocab.c — hashed string tables (see vocab.h for the layout). */
#include "vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* Inlined: a word is a few bytes, and the call into the shared library
 * would cost as much as the hash itself. Same function, same values. */
#define XXH_INLINE_ALL
#include <xxhash.h>

static uint64_t slot_count(uint32_t n)
{
    uint64_t s = 8;
    while (s < 2 * (uint64_t)n)
        s <<= 1;
    return s;
}

uint32_t kvg_vocab_find(const kvg_vocab *v, const char *s, size_t len)
{
    uint64_t h = XXH3_64bits(s, len);
    uint32_t fp = (uint32_t)(h >> 32);
    uint64_t mask = v->n_slots - 1;
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t id1 = v->slots[2 * i + 1];
        if (id1 == 0)
            return KVG_VOCAB_NONE;
        if (v->slots[2 * i] == fp) {
            uint32_t id = id1 - 1;
            size_t n;
            const char *w = kvg_vocab_str(v, id, &n);
            if (n == len && memcmp(w, s, len) == 0)
                return id;
        }
    }
}

static const kvg_tensor *need(const kvg_file *f, const char *prefix, const char *suffix, uint32_t dtype,
                              kvg_error *err)
{
    char name[256];
    snprintf(name, sizeof name, "%s.%s", prefix, suffix);
    const kvg_tensor *t = kvg_tensor_find(f, name);
    if (!t) {
        kvg_errorf(err, kvg_path(f), "tensor \"%s\" is missing", name);
        return NULL;
    }
    if (t->dtype != dtype) {
        kvg_errorf(err, kvg_path(f), "tensor \"%s\" has dtype %s, expected %s", name, kvg_dtype_get(t->dtype)->name,
                   kvg_dtype_get(dtype)->name);
        return NULL;
    }
    return t;
}

int kvg_vocab_open(const kvg_file *f, const char *prefix, kvg_vocab *v, kvg_error *err)
{
    const char *path = kvg_path(f);
    const kvg_tensor *off = need(f, prefix, "offsets", KVG_DTYPE_U32, err);
    const kvg_tensor *bytes = off ? need(f, prefix, "bytes", KVG_DTYPE_U8, err) : NULL;
    const kvg_tensor *hash = bytes ? need(f, prefix, "hash", KVG_DTYPE_U32, err) : NULL;
    if (!hash)
        return -1;
    if (off->n_dims != 1 || off->n_elems < 1 || off->n_elems - 1 > UINT32_MAX - 1)
        return kvg_errorf(err, path, "%s.offsets: bad shape", prefix);
    v->size = (uint32_t)(off->n_elems - 1);
    v->offsets = off->data;
    v->bytes = bytes->data;
    if (hash->n_dims != 2 || hash->shape[1] != 2 || hash->shape[0] != slot_count(v->size))
        return kvg_errorf(err, path, "%s.hash: shape does not match a vocabulary of %u", prefix, v->size);
    v->slots = hash->data;
    v->n_slots = hash->shape[0];
    if (v->offsets[0] != 0 || v->offsets[v->size] != bytes->n_elems)
        return kvg_errorf(err, path, "%s.offsets: does not span %s.bytes", prefix, prefix);
    for (uint32_t i = 0; i < v->size; i++)
        if (v->offsets[i] > v->offsets[i + 1])
            return kvg_errorf(err, path, "%s.offsets: decreasing at %u", prefix, i);
    /* Every occupied slot names a valid id, and the table has an empty slot
     * (so lookups of absent strings stop). */
    uint64_t used = 0;
    for (uint64_t i = 0; i < v->n_slots; i++) {
        uint32_t id1 = v->slots[2 * i + 1];
        if (id1 > v->size)
            return kvg_errorf(err, path, "%s.hash: slot %llu holds id %u beyond the vocabulary", prefix,
                              (unsigned long long)i, id1 - 1);
        used += id1 != 0;
    }
    if (used != v->size)
        return kvg_errorf(err, path, "%s.hash: %llu entries for %u strings", prefix, (unsigned long long)used,
                          v->size);
    return 0;
}

int kvg_vocab_write(kvg_writer *w, const char *prefix, const char *const *strs, const size_t *lens, uint32_t n,
                    kvg_error *err)
{
    char name[256];
    uint64_t n_slots = slot_count(n);
    uint32_t *offsets = malloc(((size_t)n + 1) * sizeof *offsets);
    uint32_t *slots = calloc((size_t)n_slots * 2, sizeof *slots);
    int rc = -1;
    if (!offsets || !slots) {
        kvg_errorf(err, NULL, "out of memory building a vocabulary of %u strings", n);
        goto done;
    }
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        offsets[i] = (uint32_t)total;
        total += lens[i];
        if (total > UINT32_MAX) {
            kvg_errorf(err, NULL, "vocabulary strings exceed 4 GiB");
            goto done;
        }
    }
    offsets[n] = (uint32_t)total;
    for (uint32_t id = 0; id < n; id++) {
        uint64_t h = XXH3_64bits(strs[id], lens[id]);
        uint32_t fp = (uint32_t)(h >> 32);
        uint64_t i = h & (n_slots - 1);
        for (; slots[2 * i + 1]; i = (i + 1) & (n_slots - 1)) {
            uint32_t other = slots[2 * i + 1] - 1;
            if (slots[2 * i] == fp && lens[other] == lens[id] && memcmp(strs[other], strs[id], lens[id]) == 0) {
                kvg_errorf(err, NULL, "duplicate vocabulary entry \"%.*s\"", (int)(lens[id] > 200 ? 200 : lens[id]),
                           strs[id]);
                goto done;
            }
        }
        slots[2 * i] = fp;
        slots[2 * i + 1] = id + 1;
    }
    uint64_t shape_off[] = {(uint64_t)n + 1}, shape_bytes[] = {total}, shape_hash[] = {n_slots, 2};
    snprintf(name, sizeof name, "%s.offsets", prefix);
    if (kvg_writer_tensor(w, name, KVG_DTYPE_U32, 1, shape_off, offsets, err))
        goto done;
    snprintf(name, sizeof name, "%s.bytes", prefix);
    if (kvg_writer_tensor_begin(w, name, KVG_DTYPE_U8, 1, shape_bytes, err))
        goto done;
    for (uint32_t i = 0; i < n; i++)
        if (kvg_writer_tensor_write(w, strs[i], lens[i], err))
            goto done;
    if (kvg_writer_tensor_end(w, err))
        goto done;
    snprintf(name, sizeof name, "%s.hash", prefix);
    if (kvg_writer_tensor(w, name, KVG_DTYPE_U32, 2, shape_hash, slots, err))
        goto done;
    rc = 0;
done:
    free(offsets);
    free(slots);
    return rc;
}
