/* vocab.h — a string table with hashed lookup, stored as three tensors.
 *
 * Used for n-gram vocabularies (and later token tables). With prefix P:
 *   P.offsets  u32 [V+1]   string i is bytes [offsets[i], offsets[i+1]) of P.bytes
 *   P.bytes    u8  [B]     all strings, concatenated, no separators
 *   P.hash     u32 [S, 2]  open addressing, S a power of two >= 2V: slot
 *                          (fingerprint, id+1), 0 = empty; the home slot of a
 *                          string is XXH3-64(bytes) & (S-1), probing linearly;
 *                          the fingerprint is the hash's upper 32 bits.
 * Lookup costs one hash and usually one slot and one string compare. */
#ifndef KVG_VOCAB_H
#define KVG_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "kvg_error.h"
#include "kvg_reader.h"
#include "kvg_writer.h"

#define KVG_VOCAB_NONE UINT32_MAX

typedef struct kvg_vocab {
    uint32_t size;            /* V */
    const uint32_t *offsets;  /* V+1 */
    const uint8_t *bytes;
    const uint32_t *slots;    /* 2*n_slots */
    uint64_t n_slots;
} kvg_vocab;

/* Binds v to the tensors PREFIX.* of f and validates them (sizes, offsets
 * monotone and inside the bytes, every id findable at most once in the
 * hash). O(V). */
int kvg_vocab_open(const kvg_file *f, const char *prefix, kvg_vocab *v, kvg_error *err);

/* The id of the string, or KVG_VOCAB_NONE. */
uint32_t kvg_vocab_find(const kvg_vocab *v, const char *s, size_t len);

/* The bytes of string id (not NUL-terminated). */
static inline const char *kvg_vocab_str(const kvg_vocab *v, uint32_t id, size_t *len)
{
    *len = v->offsets[id + 1] - v->offsets[id];
    return (const char *)v->bytes + v->offsets[id];
}

/* Writes PREFIX.offsets, PREFIX.bytes and PREFIX.hash for strs[0..n). The
 * strings must be distinct (-1 with an error naming the duplicate if not). */
int kvg_vocab_write(kvg_writer *w, const char *prefix, const char *const *strs, const size_t *lens, uint32_t n,
                    kvg_error *err);

#endif
