/* hf_tensor_map.h — which Hugging Face tensor becomes which .kvg tensor, per
 * architecture (contract A, format/SPEC.md §9), and how its elements move.
 *
 * Every .kvg tensor is a set of rows (a 1-D tensor: rows of one element)
 * taken from one source tensor in one of two ways:
 *  - row gather: output row r is source row (r / group) * group_stride + row0 + r % group.
 *    Plain copies are group = rows, row0 = 0. GPT-NeoX's query_key_value,
 *    whose rows are [n_heads, 3, head_dim] (q, k, v interleaved per head),
 *    gives q with group = head_dim, group_stride = 3 * head_dim, row0 = 0
 *    (k: row0 = head_dim, v: 2 * head_dim). GPT-2's fused c_attn bias [3d]
 *    gives q/k/v with row0 = 0, d, 2d.
 *  - transpose: the source is [in, cols] (GPT-2's Conv1D, y = x W + b);
 *    output row r is source column col0 + r, so the output is [n, in] like
 *    nn.Linear. c_attn [d, 3d] gives q/k/v with col0 = 0, d, 2d.
 * HF Llama/Qwen2/Mistral q and k rows are already in the rotate_half order
 * contract A stores: they are copied as they are, never permuted. */
#ifndef KVG_HF_TENSOR_MAP_H
#define KVG_HF_TENSOR_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "hf_config.h"
#include "kvg_error.h"
#include "safetensors.h"

typedef struct hf_tensor_plan {
    char name[64];           /* the .kvg name: "blk.3.attn_q.weight" */
    int is_matrix;           /* stored in the weight type; norms, biases and pos_embd stay f32 */
    uint32_t n_dims;         /* 1 or 2 */
    uint64_t shape[2];       /* output shape, outermost first */
    char src[160];           /* the HF name: "model.layers.3.self_attn.q_proj.weight" */
    uint32_t src_n_dims;
    uint64_t src_shape[2];   /* the shape the source must have, from config.json */
    int transpose;           /* 1: output row r = source column col0 + r */
    uint64_t col0;
    uint64_t group, group_stride, row0; /* transpose 0: the row gather above */
} hf_tensor_plan;

typedef struct hf_plan {
    hf_tensor_plan *t;
    size_t n, cap;
    int tied;                /* output.weight left out: the unembedding is tok_embd */
} hf_plan;

/* Lists the tensors cfg's architecture needs, in .kvg order. The tied flag
 * comes from tie_word_embeddings or from the checkpoint lacking the lm_head
 * tensor. Then checks that every source is in ck with the expected shape
 * and an F32, F16 or BF16 dtype, and that ck holds nothing else but known
 * buffers (a config with fewer layers than the weights is refused); the
 * first problem is the error (naming the tensor and the file). Nothing is read but headers. On failure the plan is
 * freed. */
int hf_plan_build(const hf_config *cfg, const st_checkpoint *ck, const char *ck_path, hf_plan *plan,
                  kvg_error *err);
void hf_plan_free(hf_plan *plan);

#endif
