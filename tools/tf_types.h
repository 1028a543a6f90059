/* tf_types.h — which dtype each matrix of a transformer .kvg is stored in,
 * for the converters and `kvgram quantize` (one rule, one place).
 *
 * The user asks for a type T (--type) for the layer matrices and may
 * override the two vocabulary matrices (--output-type, --embd-type).
 * Defaults (format/SPEC.md §9, "Mixed precision"):
 *   - every matrix in T, except that for T = q4_0 the output matrix
 *     (output.weight, or tok_embd.weight when tied) is q8_0: its error goes
 *     straight into every logit with nothing after it to average it out, and
 *     it is one matrix of many, so keeping it at 8 bits costs little (llama.cpp
 *     keeps it at higher precision in its 4-bit mixes for the same reason);
 *   - an untied tok_embd is only read one row per token, so it takes T;
 *   - a tied tok_embd.weight is the output matrix: --output-type wins, then
 *     --embd-type, then the output default;
 *   - a matrix whose rows are not whole 32-element blocks (llama2.c's
 *     stories260K has ffn_dim 172) cannot be q8_0 / q4_0 and is stored as f16
 *     instead; the converter says so on stderr.
 * Norms, biases and pos_embd are not matrices here: they stay f32. */
#ifndef KVG_TF_TYPES_H
#define KVG_TF_TYPES_H

#include <stdint.h>

#include "kvg_dtype.h"

typedef struct tf_types {
    int type;        /* kvg_dtype of the layer matrices; -1: the converter's default */
    int output_type; /* output.weight (tied: tok_embd.weight); -1: the default for type */
    int embd_type;   /* an untied tok_embd.weight; -1: type */
} tf_types;

#define TF_TYPES_DEFAULT {-1, -1, -1}

/* 1 for the option names tf_types_set takes: --type, --output-type, --embd-type. */
int tf_types_is_option(const char *opt);

/* Sets the field of option opt from a dtype name. -1 when the name is not
 * one of f32, f16, bf16, q8_0, q4_0. */
int tf_types_set(tf_types *t, const char *opt, const char *name);

/* 1 when every field is -1 or one of the five matrix dtypes (for library
 * callers that fill the struct themselves). */
int tf_types_ok(const tf_types *t);

/* 1 if the tensor `name` of rank n_dims is a matrix the types apply to
 * (every rank-2 "*.weight" except pos_embd.weight). */
int tf_is_matrix(const char *name, uint32_t n_dims);

/* The dtype of matrix `name` with rows of `cols` elements. t->type must be
 * resolved (>= 0); tied: tok_embd.weight is also the output matrix.
 * *fell_back_from is set to the quantized type that was due when the rows
 * are not whole blocks (f16 is returned instead), else to -1. */
kvg_dtype tf_matrix_type(const tf_types *t, const char *name, int tied, uint64_t cols, int *fell_back_from);

/* One stderr line for a fall-back: "kvgram CMD: note: PATH: NAME has rows of
 * COLS elements, not whole 32-element blocks: stored as f16 instead of T". */
void tf_note_fallback(const char *cmd, const char *path, const char *name, uint64_t cols, kvg_dtype wanted);

#endif
