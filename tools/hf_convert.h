/* hf_convert.h — `kvgram convert HF_DIR -o MODEL.kvg [--type T] [--output-type T] [--embd-type T]`:
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
#include "tf_types.h"

typedef struct hf_convert_options {
    tf_types types; /* matrix dtypes (tf_types.h); types.type -1: the token embedding's source dtype */
    int progress;   /* report progress on stderr */
    int notes;      /* say on stderr which matrices fell back to f16 (tf_types.h) */
} hf_convert_options;

/* Converts the checkpoint folder dir to out_path (written atomically: on
 * failure nothing is left at out_path). 0 on success, else -1 with err set. */
int hf_convert(const char *dir, const char *out_path, const hf_convert_options *opt, kvg_error *err);

#endif
