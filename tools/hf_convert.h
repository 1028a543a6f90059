/* hf_convert.h — `kvgram convert HF_DIR -o MODEL.kvg [--type f32|f16|bf16]`:
 * a Hugging Face checkpoint folder (config.json, model.safetensors or
 * model.safetensors.index.json + shards, tokenizer files) into a transformer
 * .kvg laid out as contract A / format/SPEC.md §9 says.
 *
 * Everything is checked before a byte is written: the config, every
 * safetensors header, the presence, shape and dtype of every tensor the
 * architecture needs, the tokenizer. Tensors are then streamed one at a
 * time (the checkpoint is memory-mapped and its pages released after each
 * tensor), so memory stays near the largest tensor, not the model. */
#ifndef KVG_HF_CONVERT_H
#define KVG_HF_CONVERT_H

#include "kvg_error.h"

typedef struct hf_convert_options {
    int weight_type; /* kvg_dtype of the matrices (F32, F16 or BF16); -1: the token embedding's source dtype */
    int progress;    /* report progress on stderr */
} hf_convert_options;

/* Converts the checkpoint folder dir to out_path (written atomically: on
 * failure nothing is left at out_path). 0 on success, else -1 with err set. */
int hf_convert(const char *dir, const char *out_path, const hf_convert_options *opt, kvg_error *err);

#endif
