/* kvg_layout.h — byte positions of the .kvg container (format/SPEC.md is the
 * normative text; this header only names its numbers for the reader and the
 * writer, which must agree on them). All integers are little-endian. */
#ifndef KVG_LAYOUT_H
#define KVG_LAYOUT_H

#include <stdint.h>
#include <string.h>

#define KVG_MAGIC "\x89KVG\r\n\x1a\n" /* 8 bytes; catches text-mode and 7-bit mangling */
#define KVG_MAGIC_LEN 8
#define KVG_VERSION_MAJOR 1
#define KVG_VERSION_MINOR 0

/* Header: 128 bytes at offset 0. */
#define KVG_HEADER_SIZE 128
#define KVG_H_MAGIC 0           /* u8[8]  */
#define KVG_H_VERSION_MAJOR 8   /* u16    */
#define KVG_H_VERSION_MINOR 10  /* u16    */
#define KVG_H_FLAGS 12          /* u32, 0 */
#define KVG_H_FILE_SIZE 16      /* u64    */
#define KVG_H_ALIGNMENT 24      /* u32    */
#define KVG_H_RESERVED0 28      /* u32, 0 */
#define KVG_H_DATA_OFFSET 32    /* u64    */
#define KVG_H_META_OFFSET 40    /* u64    */
#define KVG_H_META_SIZE 48      /* u64    */
#define KVG_H_META_COUNT 56     /* u64    */
#define KVG_H_DIR_OFFSET 64     /* u64    */
#define KVG_H_DIR_SIZE 72       /* u64    */
#define KVG_H_TENSOR_COUNT 80   /* u64    */
#define KVG_H_RESERVED1 88      /* u8[32], 0 */
#define KVG_H_HEAD_CHECKSUM 120 /* u64: XXH3-64 of header[0,120) ‖ metadata ‖ directory */

#define KVG_MIN_ALIGNMENT 64u
#define KVG_MAX_ALIGNMENT (1u << 20)
#define KVG_DEFAULT_ALIGNMENT 64u

/* Directory entry: 80 bytes each, tensor_count of them, then the names area. */
#define KVG_DIR_ENTRY_SIZE 80
#define KVG_D_NAME_OFFSET 0 /* u64, relative to dir_offset, inside the names area */
#define KVG_D_NAME_LEN 8    /* u32, 1..KVG_MAX_NAME_LEN */
#define KVG_D_DTYPE 12      /* u32 */
#define KVG_D_N_DIMS 16     /* u32, 1..KVG_MAX_DIMS */
#define KVG_D_RESERVED 20   /* u32, 0 */
#define KVG_D_SHAPE 24      /* u64[4], outermost first; unused dims 0 */
#define KVG_D_OFFSET 56     /* u64, absolute, multiple of the alignment */
#define KVG_D_SIZE 64       /* u64, bytes */
#define KVG_D_CHECKSUM 72   /* u64, XXH3-64 of the tensor's bytes */

#define KVG_MAX_DIMS 4
#define KVG_MAX_NAME_LEN 255
#define KVG_MAX_KEY_LEN 255

/* Metadata value types. */
#define KVG_META_U64 1
#define KVG_META_I64 2
#define KVG_META_F64 3
#define KVG_META_STR 4
#define KVG_META_ARR 5

static inline uint16_t kvg_rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t kvg_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t kvg_rd64(const uint8_t *p) { return kvg_rd32(p) | ((uint64_t)kvg_rd32(p + 4) << 32); }
static inline void kvg_wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void kvg_wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void kvg_wr64(uint8_t *p, uint64_t v)
{
    kvg_wr32(p, (uint32_t)v);
    kvg_wr32(p + 4, (uint32_t)(v >> 32));
}

/* Rounds v up to a multiple of a (a power of two); 0 when that overflows. */
static inline uint64_t kvg_align_up(uint64_t v, uint64_t a)
{
    uint64_t r = (v + a - 1) & ~(a - 1);
    return r < v ? 0 : r;
}

#endif
