/* llama2c_convert.h — `kvgram convert model.bin --tokenizer tok.bin -o model.kvg`
 * for Karpathy's llama2.c checkpoints:
 *   legacy (v0): seven int32 — dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *                vocab_size (negative: separate classifier), seq_len — then
 *                f32 weights: embedding, per-kind layer stacks, final norm,
 *                the RoPE tables (skipped), the classifier when separate;
 *   versioned:   u32 magic 0x616b3432 ("ak42"), i32 version, the seven ints,
 *                u8 shared_classifier (v2: i32 group_size), zeros up to byte
 *                256; v1: f32 weights (norms first); v2: f32 norms, then int8
 *                weights of every matrix, then their f32 group scales.
 * The q and k rows are permuted from llama2.c's interleaved RoPE pairs
 * (2i, 2i+1) into the rotate_half convention of SPEC §9. */
#ifndef KVG_LLAMA2C_CONVERT_H
#define KVG_LLAMA2C_CONVERT_H

#include "kvg_dtype.h"
#include "kvg_error.h"
#include "tf_types.h"

typedef struct llama2c_options {
    const char *tokenizer; /* tok.bin, or NULL: no tokenizer stored */
    tf_types types;        /* matrix dtypes (tf_types.h); types.type -1: f32 */
    int progress;          /* report progress on stderr */
    int notes;             /* say on stderr which matrices fell back to f16 */
} llama2c_options;

/* 1 if path looks like a llama2.c checkpoint (starts with the "ak42" magic,
 * or ends in .bin). */
int llama2c_is_checkpoint(const char *path);

/* Converts in_path to out_path (written atomically). 0 on success, else -1
 * with one line naming the file and the problem. */
int llama2c_convert(const char *in_path, const char *out_path, const llama2c_options *opt, kvg_error *err);

#endif
