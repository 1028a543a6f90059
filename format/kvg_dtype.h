/* kvg_dtype.h — element types of .kvg tensors, described once, in one table.
 *
 * Every dtype is a row of kvg_dtype_traits: its name, how many elements make a
 * block, how many bytes a block takes, and (for numeric float types) scalar
 * reference conversions to and from f32. Adding a dtype is adding a row.
 * The numeric values are part of the file format (format/SPEC.md) and never
 * change once released.
 *
 * Quantized blocks are byte-compatible with GGUF's Q8_0 and Q4_0:
 *   q8_0: fp16 scale d, then int8 q[32]            (34 bytes)  x = d*q
 *   q4_0: fp16 scale d, then 16 bytes of nibbles   (18 bytes)  x = d*(q-8)
 *         element j in the low nibble of byte j, element j+16 in its high nibble.
 * Blocks run along the last (contiguous) dimension of a tensor. */
#ifndef KVG_DTYPE_H
#define KVG_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum kvg_dtype {
    KVG_DTYPE_F32 = 0,
    KVG_DTYPE_F16 = 1,
    KVG_DTYPE_BF16 = 2,
    KVG_DTYPE_Q8_0 = 3,
    KVG_DTYPE_Q4_0 = 4,
    KVG_DTYPE_I8 = 5,
    KVG_DTYPE_U8 = 6,
    KVG_DTYPE_I16 = 7,
    KVG_DTYPE_U16 = 8,
    KVG_DTYPE_I32 = 9,
    KVG_DTYPE_U32 = 10,
    KVG_DTYPE_I64 = 11,
    KVG_DTYPE_U64 = 12,
    KVG_DTYPE_F64 = 13,
    KVG_DTYPE_COUNT
} kvg_dtype;

/* The bits of an IEEE binary32 / binary64 value and back (memcpy: the
 * defined way to reinterpret; compilers turn it into a register move). */
static inline uint32_t kvg_f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline float kvg_f32_from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}
static inline uint64_t kvg_f64_bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline double kvg_f64_from_bits(uint64_t u)
{
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#define KVG_QK8_0 32
#define KVG_QK4_0 32

typedef struct kvg_block_q8_0 {
    uint16_t d;             /* scale, IEEE binary16 bits */
    int8_t qs[KVG_QK8_0];   /* x[j] = d * qs[j] */
} kvg_block_q8_0;

typedef struct kvg_block_q4_0 {
    uint16_t d;                 /* scale, IEEE binary16 bits */
    uint8_t qs[KVG_QK4_0 / 2];  /* x[j] = d*((qs[j]&15)-8), x[j+16] = d*((qs[j]>>4)-8) */
} kvg_block_q4_0;

#ifdef __cplusplus /* the header is also read by the C++ benchmarks */
#define KVG_STATIC_ASSERT static_assert
#else
#define KVG_STATIC_ASSERT _Static_assert
#endif
KVG_STATIC_ASSERT(sizeof(kvg_block_q8_0) == 34, "q8_0 block must be 34 bytes (GGUF layout)");
KVG_STATIC_ASSERT(sizeof(kvg_block_q4_0) == 18, "q4_0 block must be 18 bytes (GGUF layout)");

/* Whether dtype is a block-quantized type (q8_0, q4_0): rows are whole
 * 32-element blocks, and products with it take integer dot products. */
static inline int kvg_dtype_is_quantized(uint32_t dtype) { return dtype == KVG_DTYPE_Q8_0 || dtype == KVG_DTYPE_Q4_0; }

typedef struct kvg_dtype_traits {
    const char *name;      /* "f32", "q8_0", ...: shown by `kvgram info`, accepted by --type */
    uint32_t block_elems;  /* elements per block: 1 for plain types, 32 for q8_0 / q4_0 */
    uint32_t block_bytes;  /* bytes per block */
    /* Scalar reference conversions over n elements (n a multiple of
     * block_elems). NULL for the integer types, which are stored, not
     * converted. */
    void (*to_f32)(const void *src, float *dst, size_t n);
    void (*from_f32)(const float *src, void *dst, size_t n);
} kvg_dtype_traits;

/* The row for `dtype`, or NULL when the value names no dtype this build knows. */
const kvg_dtype_traits *kvg_dtype_get(uint32_t dtype);

/* Looks a dtype up by its name ("q8_0"). Returns 0 and sets *out, or -1. */
int kvg_dtype_from_name(const char *name, kvg_dtype *out);

/* Bytes taken by n_elems elements of dtype. Returns 0 and sets *out, or -1
 * when the dtype is unknown, n_elems is not a multiple of the block size, or
 * the byte count does not fit in 64 bits. */
int kvg_dtype_nbytes(uint32_t dtype, uint64_t n_elems, uint64_t *out);

/* IEEE binary16 and bfloat16, round-to-nearest-even from f32; NaN stays NaN
 * (quiet), infinities and signed zeros are kept, f32 values beyond the f16
 * range become infinities, f16 subnormals are produced and read exactly. */
uint16_t kvg_f32_to_f16(float x);
float kvg_f16_to_f32(uint16_t h);
uint16_t kvg_f32_to_bf16(float x);
float kvg_bf16_to_f32(uint16_t h);

#endif
