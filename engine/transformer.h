/* transformer.h — decoder-only transformers (GPT-2, Llama family, GPT-NeoX)
 * stored in a .kvg file (format/SPEC.md §9), run in batches.
 *
 * Open a model with kvg_transformer_open: every weight becomes a plain
 * pointer into the file's mapping (zero copy), checked for presence, dtype
 * and shape in one place. Then make a state (KV cache + activation scratch)
 * and push batches of tokens through kvg_transformer_forward. A batch holds
 * tokens of any number of independent sequences — each sequence owns a run
 * of KV cache rows — so many scored lines go through the weight matrices
 * together as matrix–matrix products, and generation is the special case of
 * one token of one sequence. */
#ifndef KVG_TRANSFORMER_H
#define KVG_TRANSFORMER_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/kernels.h"
#include "kvg_error.h"
#include "kvg_reader.h"
#include "kvg_writer.h"

typedef enum { KVG_ARCH_GPT2, KVG_ARCH_LLAMA, KVG_ARCH_GPTNEOX } kvg_arch;
typedef enum { KVG_ACT_GELU_TANH, KVG_ACT_GELU, KVG_ACT_SILU } kvg_activation;

/* The transformer.* metadata of SPEC §9, decoded. */
typedef struct kvg_tf_config {
    kvg_arch arch;
    uint32_t n_layers, d_model, n_heads, n_kv_heads, head_dim, ffn_dim, vocab_size, context_length;
    double norm_eps;
    kvg_rope rope;              /* rope.rot_dims = 0 for gpt2 (learned positions) */
    int tied_embeddings;        /* output.weight absent: logits use tok_embd */
    int qkv_bias, parallel_residual;
    kvg_activation activation;
    kvg_dtype weight_type;      /* the type conversion stored matrices in */
} kvg_tf_config;

/* Writes cfg as transformer.* metadata (and general.kind = "transformer"),
 * exactly the keys kvg_transformer_open reads. For converters. */
int kvg_tf_config_write(const kvg_tf_config *cfg, kvg_writer *w, kvg_error *err);

/* "gpt2" / "llama" / "gptneox"; "gelu_tanh" / "gelu" / "silu". */
const char *kvg_arch_name(kvg_arch a);
const char *kvg_activation_name(kvg_activation a);

/* A matrix in the mapping: [rows, cols] of type. */
typedef struct kvg_tf_matrix {
    const void *data;
    kvg_dtype type;
} kvg_tf_matrix;

/* One block's weights; NULL / {NULL} where the architecture has none. */
typedef struct kvg_tf_layer {
    const float *attn_norm, *attn_norm_b;                /* [d] */
    kvg_tf_matrix wq, wk, wv;                            /* [n_heads*hd, d], [n_kv*hd, d] x2 */
    const float *bq, *bk, *bv;                           /* [out] */
    kvg_tf_matrix wo;                                    /* [d, n_heads*hd] */
    const float *bo;                                     /* [d] */
    const float *ffn_norm, *ffn_norm_b;                  /* [d] */
    kvg_tf_matrix w_gate, w_up, w_down;                  /* [ffn, d], [ffn, d], [d, ffn] */
    const float *b_up, *b_down;                          /* [ffn], [d] */
} kvg_tf_layer;

typedef struct kvg_transformer {
    kvg_tf_config c;
    kvg_tf_matrix tok_embd;        /* [V, d] */
    const float *pos_embd;         /* [n_ctx, d], gpt2 only */
    kvg_tf_layer *layers;          /* [n_layers] */
    const float *out_norm, *out_norm_b;
    kvg_tf_matrix output;          /* [V, d]; = tok_embd when tied */
    double *inv_freq;              /* [rope.rot_dims / 2] */
} kvg_transformer;

/* Reads the config and points every weight into f's mapping (f must stay
 * open while the model is used). Refuses, naming the file and the key or
 * tensor, a file that is not general.kind = "transformer", a missing or
 * out-of-range key, and a missing, mistyped or misshapen tensor. */
int kvg_transformer_open(const kvg_file *f, kvg_transformer **out, kvg_error *err);
void kvg_transformer_free(kvg_transformer *m);

/* Analysis hooks (issue 7), called from inside the forward pass with the
 * batch's activations; any may be NULL. */
typedef struct kvg_tf_hooks {
    void *user;
    /* heads [n_tok, n_heads*head_dim]: each head's attention output, before
     * the output projection. */
    void (*attn_heads)(void *user, uint32_t layer, const float *heads, size_t n_tok);
    /* x [n_tok, d]: the residual stream after block `layer`. */
    void (*residual)(void *user, uint32_t layer, const float *x, size_t n_tok);
} kvg_tf_hooks;

/* KV cache of n_rows rows (one row per position of a sequence; the caller
 * lays sequences out in it), and scratch for batches of up to max_tok tokens. */
typedef struct kvg_tf_state {
    uint32_t n_rows, max_tok;
    float *k_cache, *v_cache;      /* [n_layers, n_rows, n_kv*hd] */
    float *x, *xb, *xb2;           /* [max_tok, d] */
    float *q, *att;                /* [max_tok, n_heads*hd] */
    float *k, *v;                  /* [max_tok, n_kv*hd] */
    float *hb, *hb2;               /* [max_tok, ffn] */
    /* When a matrix is q8_0 / q4_0: kvg_qact_bytes(max_tok, max(d, n_heads*hd,
     * ffn)) bytes where the forward pass quantizes a product's input once
     * for all the products that read it (else NULL); after a pass, it holds
     * the wanted rows of xb for the output layer (xb_q, xb_q_rows rows). */
    void *qx;
    kvg_qact xb_q;
    size_t xb_q_rows;
    uint32_t *rows;                /* [max_tok]: the wanted tokens of the pass */
    float *rope_cs;                /* [min(n_rows, context), rot_dims]: kvg_rope_table rows, filled as used */
    uint32_t rope_rows;            /* positions of rope_cs filled so far */
    const kvg_tf_hooks *hooks;     /* NULL = none */
} kvg_tf_state;

int kvg_tf_state_new(const kvg_transformer *m, uint32_t n_rows, uint32_t max_tok, kvg_tf_state **out,
                     kvg_error *err);
void kvg_tf_state_free(kvg_tf_state *s);

/* Bytes kvg_tf_state_new would allocate (cache + scratch), for sizing. */
uint64_t kvg_tf_state_bytes(const kvg_transformer *m, uint32_t n_rows, uint32_t max_tok);

/* A batch: token t is tokens[t] at position pos[t] of a sequence whose
 * position 0 lives in cache row row0[t] (so this token's k, v go to row
 * row0[t] + pos[t]). The sequence's positions 0..pos[t]-1 must already be in
 * the cache (from earlier batches or earlier tokens of this one). want: NULL
 * for logits at every token, else logits only where want[t] is non-zero. */
typedef struct kvg_tf_batch {
    size_t n_tok;
    const uint32_t *tokens, *row0, *pos;
    const uint8_t *want;
} kvg_tf_batch;

/* Runs the batch through the model: fills the KV cache at the batch's
 * rows and writes logits [n_wanted, vocab] (rows in token order). With
 * logits NULL it stops before the output layer and leaves the wanted tokens'
 * final hidden states (after the output norm) in s->xb [n_wanted, d], for
 * kvg_transformer_logits to compute the logits a slice of the vocabulary at
 * a time (the scoring path: no [n_wanted, vocab] buffer). Refuses
 * (-1, err) a token id >= vocab, a position >= context_length, a cache row
 * row0 + pos >= n_rows, more than max_tok tokens. */
int kvg_transformer_forward(const kvg_transformer *m, kvg_tf_state *s, const kvg_tf_batch *b, float *logits,
                            kvg_error *err);

/* out[n_rows, nv] = the logits of vocabulary entries v0 .. v0+nv-1 for the
 * first n_rows hidden states left in s->xb by kvg_transformer_forward(...,
 * NULL, ...): the same values, bit for bit, as those columns of its full
 * logits. v0 + nv <= vocab. Returns 0, or -1 when scratch memory runs out. */
int kvg_transformer_logits(const kvg_transformer *m, const kvg_tf_state *s, size_t n_rows, uint32_t v0, uint32_t nv,
                           float *out);

#endif
