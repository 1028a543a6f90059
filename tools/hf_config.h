/* hf_config.h — a Hugging Face config.json, read into what a .kvg transformer
 * needs (contract A, format/SPEC.md §9).
 *
 * Families and the model_type values (or, without model_type, the
 * architectures[0] class names) that map to them:
 *   gpt2     gpt2                     (GPT2LMHeadModel)
 *   llama    llama, mistral, qwen2    (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM;
 *                                      SmolLM and TinyLlama are model_type llama)
 *   gptneox  gpt_neox                 (GPTNeoXForCausalLM; Pythia)
 * Anything else is refused, naming it and listing these.
 *
 * The dimension keys and the norm epsilon are required (a missing one is an
 * error naming it); keys HF's config classes default (num_key_value_heads,
 * head_dim, rope_theta, rope_scaling, tie_word_embeddings, hidden_act,
 * rotary_pct, use_parallel_residual, attention_bias, n_inner, ...) take the
 * same defaults as the transformers library. */
#ifndef KVG_HF_CONFIG_H
#define KVG_HF_CONFIG_H

#include <stdint.h>

#include "kvg_error.h"

typedef enum hf_arch { HF_ARCH_GPT2, HF_ARCH_LLAMA, HF_ARCH_GPTNEOX } hf_arch;

typedef struct hf_config {
    hf_arch arch;
    const char *arch_name;   /* "gpt2" | "llama" | "gptneox": transformer.arch */
    char model_type[64];     /* as config.json says it (or derived from architectures), for messages */
    uint64_t n_layers, d_model, n_heads, n_kv_heads, head_dim, ffn_dim, vocab_size, context_length;
    double norm_eps;
    /* Rotary embeddings (llama, gptneox); rope_dims = rotary dims per head. */
    double rope_theta;
    uint64_t rope_dims;
    const char *rope_scaling;  /* "none" | "linear" | "llama3" */
    double rope_factor;        /* 1 for "none" */
    double rope_low_freq_factor, rope_high_freq_factor; /* llama3 only */
    uint64_t rope_original_context;                     /* llama3 only */
    int tie_word_embeddings;   /* what config.json says, or the family's default */
    int qkv_bias;              /* q/k/v projections have biases */
    int attn_out_bias;         /* llama attention_bias: o_proj has one too (gpt2/gptneox always do) */
    int parallel_residual;     /* gptneox use_parallel_residual */
    const char *activation;    /* "gelu_tanh" | "gelu" | "silu" */
} hf_config;

/* Reads path (a config.json). Returns 0 and fills *cfg, or -1 with err set
 * to one line naming the file and the key or value at fault. */
int hf_config_load(const char *path, hf_config *cfg, kvg_error *err);

#endif
