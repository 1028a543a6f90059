#!/usr/bin/env python3
"""make_hf_fixtures.py OUTDIR — tiny random Hugging Face checkpoints for tests/convert/.

Standard library only (json, struct, random), written from the transformers
library's module definitions and the safetensors format, independently of the
C converter:

    GPT2LMHeadModel     Conv1D weights are [in, out] (y = x W + b); c_attn's
                        output columns are q | k | v.
    LlamaForCausalLM    nn.Linear weights [out, in]; q/k already in HF's
    (Mistral, Qwen2)    rotate_half order; Qwen2 adds q/k/v biases.
    GPTNeoXForCausalLM  query_key_value [3d, d]: its output viewed as
                        [n_heads, 3 * head_dim] splits into q, k, v per head.

Each OUTDIR/good/CASE/ is a checkpoint (config.json, safetensors, maybe an
index) and OUTDIR/good/CASE.expected/ what kvgram convert must store:
expected.json ({"meta": {key: value}, "tensors": {name: {"shape", "dtype"
per --type}}, "types": [...]}) and TYPE.safetensors per --type, holding each
.kvg tensor as F32: the values after the transposes and splits of contract A
and the rounding to the stored dtype (f16 / bf16 round to nearest even),
computed here. OUTDIR/bad/CASE/ are checkpoints kvgram must refuse; bad.json
maps each CASE to a fragment of the one-line error it must print.
"""
import json
import os
import random
import shutil
import struct
import sys

# ---- numbers ---------------------------------------------------------------


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def f16(x):
    # struct's "e" rounds to nearest, ties to even.
    return struct.unpack("<e", struct.pack("<e", x))[0]


def bf16(x):
    u = struct.unpack("<I", struct.pack("<f", x))[0]
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16  # round to nearest even on the dropped 16 bits
    return struct.unpack("<f", struct.pack("<I", u << 16))[0]


ROUND = {"F32": f32, "F16": f16, "BF16": bf16}
TYPE_OF = {"f32": "F32", "f16": "F16", "bf16": "BF16"}


def encode(dtype, values):
    if dtype == "F32":
        return struct.pack("<%df" % len(values), *values)
    if dtype == "F16":
        return struct.pack("<%de" % len(values), *values)
    if dtype == "BF16":
        return b"".join(struct.pack("<f", v)[2:] for v in values)  # exact: values are bf16 already
    if dtype == "U8":
        return bytes(int(v) & 255 for v in values)
    if dtype == "I32":
        return struct.pack("<%di" % len(values), *[int(v) for v in values])
    raise ValueError(dtype)


class T:
    """A tensor: shape (outermost first) and its elements, row-major."""

    def __init__(self, shape, values, dtype="F32"):
        self.shape, self.values, self.dtype = list(shape), values, dtype

    def rows(self):
        return self.shape[0]

    def row_len(self):
        n = 1
        for d in self.shape[1:]:
            n *= d
        return n


def random_tensor(rng, shape, dtype):
    n = 1
    for d in shape:
        n *= d
    return T(shape, [ROUND[dtype](rng.uniform(-1, 1)) for _ in range(n)], dtype)


def transpose(t):
    """[a, b] -> [b, a]"""
    a, b = t.shape
    return T([b, a], [t.values[i * b + j] for j in range(b) for i in range(a)])


def columns(t, c0, n):
    """Columns [c0, c0 + n) of [a, b] -> [a, n]"""
    a, b = t.shape
    return T([a, n], [t.values[i * b + c0 + j] for i in range(a) for j in range(n)])


def rows(t, idx):
    """The rows idx of t, in that order."""
    L = t.row_len()
    return T([len(idx)] + t.shape[1:], [v for r in idx for v in t.values[r * L:(r + 1) * L]])


# ---- tokenizer ----------------------------------------------------------------
#
# A tiny GPT-2-style byte-level BPE: the 256 byte symbols (GPT-2's
# bytes_to_unicode), three merges, "<|endoftext|>". By hand: "the the" splits
# into "the" and " the" ("Ġthe"); "the" -> t h e -> t he; "Ġthe" -> Ġt h e
# (rank 0 first) -> Ġt he -> Ġthe.


def bytes_to_unicode():
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


MERGES = [("\u0120", "t"), ("h", "e"), ("\u0120t", "he")]


def tokenizer_vocab():
    vocab = {ch: b for b, ch in bytes_to_unicode().items()}
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def tokenizer_expectation():
    v = tokenizer_vocab()
    return {"n_tokens": len(v), "text": "the the", "ids": [v["t"], v["he"], v["\u0120the"]]}


def write_tokenizer(folder, kind):
    vocab = tokenizer_vocab()
    if kind == "json":
        tj = {"version": "1.0", "truncation": None, "padding": None,
              "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False,
                                "lstrip": False, "rstrip": False, "normalized": False, "special": True}],
              "normalizer": None,
              "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                                "use_regex": True},
              "post_processor": None,
              "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
              "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                        "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                        "vocab": vocab, "merges": [a + " " + b for a, b in MERGES]}}
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
    elif kind == "gpt2":  # GPT-2's original files
        with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(vocab, f, ensure_ascii=False)
        with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "".join(a + " " + b + "\n" for a, b in MERGES))


# ---- safetensors --------------------------------------------------------------


def write_safetensors(path, tensors, declared=None, cut=0, lie=None):
    """tensors: {name: T}. declared overrides the header length, cut drops
    bytes from the end, lie = (name, end) rewrites one data_offsets end."""
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, t in tensors.items():
        blob = encode(t.dtype, t.values)
        header[name] = {"dtype": t.dtype, "shape": t.shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    if lie:
        header[lie[0]]["data_offsets"][1] = lie[1]
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    blob = struct.pack("<Q", len(text) if declared is None else declared) + text + data
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(blob[:len(blob) - cut])


def write_checkpoint(folder, tensors, config, shards=1, tokenizer="json", **bad):
    """config.json, the tokenizer and the tensors, in one file or `shards` files with an index."""
    os.makedirs(folder, exist_ok=True)
    write_tokenizer(folder, tokenizer)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    names = list(tensors)
    if shards == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), tensors, **bad)
        return
    wm = {}
    for s in range(shards):
        fname = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
        part = {n: tensors[n] for n in names[s::shards]}
        write_safetensors(os.path.join(folder, fname), part, **(bad if s == shards - 1 else {}))
        wm.update({n: fname for n in part})
    with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=2)


# ---- the three families: HF tensors, and the .kvg tensors they become ----------


def gpt2(rng, dtype, c, prefix="transformer.", lm_head=False):
    d, V, n_ctx, L = c["n_embd"], c["vocab_size"], c["n_positions"], c["n_layer"]
    f = c.get("n_inner") or 4 * d
    R = lambda *shape: random_tensor(rng, shape, dtype)
    R32 = lambda *shape: random_tensor(rng, shape, "F32")  # norms and biases are often kept in f32
    src, out = {}, {}
    src[prefix + "wte.weight"] = out["tok_embd.weight"] = R(V, d)
    src[prefix + "wpe.weight"] = out["pos_embd.weight"] = R(n_ctx, d)
    for i in range(L):
        h = "%sh.%d." % (prefix, i)
        b = "blk.%d." % i
        src[h + "ln_1.weight"] = out[b + "attn_norm.weight"] = R32(d)
        src[h + "ln_1.bias"] = out[b + "attn_norm.bias"] = R(d)
        w, bias = R(d, 3 * d), R(3 * d)  # Conv1D [in, out]; output columns q | k | v
        src[h + "attn.c_attn.weight"], src[h + "attn.c_attn.bias"] = w, bias
        for s, name in enumerate(("attn_q", "attn_k", "attn_v")):
            out[b + name + ".weight"] = transpose(columns(w, s * d, d))
            out[b + name + ".bias"] = T([d], bias.values[s * d:(s + 1) * d])
        src[h + "attn.c_proj.weight"] = w = R(d, d)
        out[b + "attn_out.weight"] = transpose(w)
        src[h + "attn.c_proj.bias"] = out[b + "attn_out.bias"] = R(d)
        src[h + "ln_2.weight"] = out[b + "ffn_norm.weight"] = R(d)
        src[h + "ln_2.bias"] = out[b + "ffn_norm.bias"] = R(d)
        src[h + "mlp.c_fc.weight"] = w = R(d, f)
        out[b + "ffn_up.weight"] = transpose(w)
        src[h + "mlp.c_fc.bias"] = out[b + "ffn_up.bias"] = R(f)
        src[h + "mlp.c_proj.weight"] = w = R(f, d)
        out[b + "ffn_down.weight"] = transpose(w)
        src[h + "mlp.c_proj.bias"] = out[b + "ffn_down.bias"] = R(d)
        # The causal-mask buffer old checkpoints carry: not a weight, ignored.
        src[h + "attn.bias"] = T([1, 1, n_ctx, n_ctx], [1] * (n_ctx * n_ctx), "U8")
    src[prefix + "ln_f.weight"] = out["output_norm.weight"] = R(d)
    src[prefix + "ln_f.bias"] = out["output_norm.bias"] = R(d)
    if lm_head:  # GPT-2 ties it; a copy in the file is ignored
        src["lm_head.weight"] = R(V, d)
    return src, out


def llama(rng, dtype, c, lm_head=True, qkv_bias=False, o_bias=False):
    d, V, L, f = c["hidden_size"], c["vocab_size"], c["num_hidden_layers"], c["intermediate_size"]
    nh = c["num_attention_heads"]
    nkv = c.get("num_key_value_heads", nh)
    hd = c.get("head_dim", d // nh)
    R = lambda *shape: random_tensor(rng, shape, dtype)
    src, out = {}, {}
    src["model.embed_tokens.weight"] = out["tok_embd.weight"] = R(V, d)
    for i in range(L):
        h = "model.layers.%d." % i
        b = "blk.%d." % i
        src[h + "input_layernorm.weight"] = out[b + "attn_norm.weight"] = R(d)
        # nn.Linear [out, in], copied as they are (HF q/k are rotate_half already).
        src[h + "self_attn.q_proj.weight"] = out[b + "attn_q.weight"] = R(nh * hd, d)
        src[h + "self_attn.k_proj.weight"] = out[b + "attn_k.weight"] = R(nkv * hd, d)
        src[h + "self_attn.v_proj.weight"] = out[b + "attn_v.weight"] = R(nkv * hd, d)
        if qkv_bias:
            src[h + "self_attn.q_proj.bias"] = out[b + "attn_q.bias"] = R(nh * hd)
            src[h + "self_attn.k_proj.bias"] = out[b + "attn_k.bias"] = R(nkv * hd)
            src[h + "self_attn.v_proj.bias"] = out[b + "attn_v.bias"] = R(nkv * hd)
        src[h + "self_attn.o_proj.weight"] = out[b + "attn_out.weight"] = R(d, nh * hd)
        if o_bias:
            src[h + "self_attn.o_proj.bias"] = out[b + "attn_out.bias"] = R(d)
        src[h + "post_attention_layernorm.weight"] = out[b + "ffn_norm.weight"] = R(d)
        src[h + "mlp.gate_proj.weight"] = out[b + "ffn_gate.weight"] = R(f, d)
        src[h + "mlp.up_proj.weight"] = out[b + "ffn_up.weight"] = R(f, d)
        src[h + "mlp.down_proj.weight"] = out[b + "ffn_down.weight"] = R(d, f)
        src[h + "self_attn.rotary_emb.inv_freq"] = T([hd // 2], [0.5] * (hd // 2))  # buffer, ignored
    src["model.norm.weight"] = out["output_norm.weight"] = R(d)
    if lm_head:
        src["lm_head.weight"] = R(V, d)
        if not c.get("tie_word_embeddings", False):
            out["output.weight"] = src["lm_head.weight"]
    return src, out


def gptneox(rng, dtype, c, embed_out=True):
    d, V, L, f = c["hidden_size"], c["vocab_size"], c["num_hidden_layers"], c["intermediate_size"]
    nh = c["num_attention_heads"]
    hd = d // nh
    R = lambda *shape: random_tensor(rng, shape, dtype)
    src, out = {}, {}
    src["gpt_neox.embed_in.weight"] = out["tok_embd.weight"] = R(V, d)
    for i in range(L):
        h = "gpt_neox.layers.%d." % i
        b = "blk.%d." % i
        src[h + "input_layernorm.weight"] = out[b + "attn_norm.weight"] = R(d)
        src[h + "input_layernorm.bias"] = out[b + "attn_norm.bias"] = R(d)
        w, bias = R(3 * d, d), R(3 * d)
        src[h + "attention.query_key_value.weight"], src[h + "attention.query_key_value.bias"] = w, bias
        # GPTNeoXAttention: qkv.view(..., n_heads, 3 * head_dim), then q = [..., :hd],
        # k = [..., hd:2hd], v = [..., 2hd:]: output row (head, part, j) is row head*3*hd + part*hd + j.
        for s, name in enumerate(("attn_q", "attn_k", "attn_v")):
            idx = [head * 3 * hd + s * hd + j for head in range(nh) for j in range(hd)]
            out[b + name + ".weight"] = rows(w, idx)
            out[b + name + ".bias"] = rows(bias, idx)
        src[h + "attention.dense.weight"] = out[b + "attn_out.weight"] = R(d, d)
        src[h + "attention.dense.bias"] = out[b + "attn_out.bias"] = R(d)
        src[h + "post_attention_layernorm.weight"] = out[b + "ffn_norm.weight"] = R(d)
        src[h + "post_attention_layernorm.bias"] = out[b + "ffn_norm.bias"] = R(d)
        src[h + "mlp.dense_h_to_4h.weight"] = out[b + "ffn_up.weight"] = R(f, d)
        src[h + "mlp.dense_h_to_4h.bias"] = out[b + "ffn_up.bias"] = R(f)
        src[h + "mlp.dense_4h_to_h.weight"] = out[b + "ffn_down.weight"] = R(d, f)
        src[h + "mlp.dense_4h_to_h.bias"] = out[b + "ffn_down.bias"] = R(d)
        src[h + "attention.rotary_emb.inv_freq"] = T([2], [0.5, 0.25])  # buffer, ignored
    src["gpt_neox.final_layer_norm.weight"] = out["output_norm.weight"] = R(d)
    src["gpt_neox.final_layer_norm.bias"] = out["output_norm.bias"] = R(d)
    if embed_out:
        src["embed_out.weight"] = out["output.weight"] = R(V, d)
    return src, out


# ---- configs --------------------------------------------------------------------

V = 300

GPT2 = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": 2, "n_embd": 16, "n_head": 4,
        "n_positions": 12, "n_inner": None, "vocab_size": V, "layer_norm_epsilon": 1e-5,
        "activation_function": "gelu_new"}
LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_hidden_layers": 2, "hidden_size": 16,
         "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 24, "vocab_size": V,
         "max_position_embeddings": 32, "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu",
         "tie_word_embeddings": False, "rope_scaling": None}
NEOX = {"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"], "num_hidden_layers": 2,
        "hidden_size": 16, "num_attention_heads": 4, "intermediate_size": 64, "vocab_size": V,
        "max_position_embeddings": 24, "layer_norm_eps": 1e-5, "rotary_pct": 0.5, "rotary_emb_base": 10000,
        "use_parallel_residual": True, "hidden_act": "gelu", "tie_word_embeddings": False}


def derive(base, **changes):
    c = dict(base)
    for k, v in changes.items():
        if v is None and k in c:
            del c[k]
        elif v is not None:
            c[k] = v
    return c


def meta_gpt2(c, tied=1):
    d = c["n_embd"]
    return {"general.kind": "transformer", "transformer.arch": "gpt2", "transformer.n_layers": c["n_layer"],
            "transformer.d_model": d, "transformer.n_heads": c["n_head"], "transformer.n_kv_heads": c["n_head"],
            "transformer.head_dim": d // c["n_head"], "transformer.ffn_dim": c.get("n_inner") or 4 * d,
            "transformer.vocab_size": c["vocab_size"], "transformer.context_length": c["n_positions"],
            "transformer.norm_eps": c["layer_norm_epsilon"], "transformer.tied_embeddings": tied,
            "transformer.qkv_bias": 1, "transformer.parallel_residual": 0, "transformer.activation": "gelu_tanh"}


def meta_llama(c, tied, qkv_bias=0, ctx=None, scaling=None):
    nh = c["num_attention_heads"]
    hd = c.get("head_dim", c["hidden_size"] // nh)
    m = {"general.kind": "transformer", "transformer.arch": "llama", "transformer.n_layers": c["num_hidden_layers"],
         "transformer.d_model": c["hidden_size"], "transformer.n_heads": nh,
         "transformer.n_kv_heads": c.get("num_key_value_heads", nh), "transformer.head_dim": hd,
         "transformer.ffn_dim": c["intermediate_size"], "transformer.vocab_size": c["vocab_size"],
         "transformer.context_length": ctx or c["max_position_embeddings"], "transformer.norm_eps": c["rms_norm_eps"],
         "transformer.rope_theta": c.get("rope_theta", 10000.0), "transformer.rope_dims": hd,
         "transformer.rope_scaling": "none", "transformer.rope_scaling_factor": 1.0,
         "transformer.tied_embeddings": tied, "transformer.qkv_bias": qkv_bias, "transformer.parallel_residual": 0,
         "transformer.activation": "silu"}
    if scaling:
        m.update(scaling)
    return m


def meta_neox(c, tied=0):
    hd = c["hidden_size"] // c["num_attention_heads"]
    return {"general.kind": "transformer", "transformer.arch": "gptneox",
            "transformer.n_layers": c["num_hidden_layers"], "transformer.d_model": c["hidden_size"],
            "transformer.n_heads": c["num_attention_heads"], "transformer.n_kv_heads": c["num_attention_heads"],
            "transformer.head_dim": hd, "transformer.ffn_dim": c["intermediate_size"],
            "transformer.vocab_size": c["vocab_size"], "transformer.context_length": c["max_position_embeddings"],
            "transformer.norm_eps": c["layer_norm_eps"], "transformer.rope_theta": float(c["rotary_emb_base"]),
            "transformer.rope_dims": int(hd * c["rotary_pct"]), "transformer.rope_scaling": "none",
            "transformer.rope_scaling_factor": 1.0, "transformer.tied_embeddings": tied, "transformer.qkv_bias": 1,
            "transformer.parallel_residual": 1 if c.get("use_parallel_residual", True) else 0,
            "transformer.activation": {"gelu": "gelu", "gelu_new": "gelu_tanh"}[c["hidden_act"]]}


def good_cases(rng):
    """(name, config, (src, out), shards, meta); every dtype, sharded and single-file, for each family."""
    cases = []
    c = GPT2
    cases.append(("gpt2-f32", c, gpt2(rng, "F32", c), 1, meta_gpt2(c)))
    # The original upload's names (no "transformer."), F16, and a stray lm_head copy.
    c = derive(GPT2, n_inner=40, activation_function="gelu")
    m = dict(meta_gpt2(c), **{"transformer.activation": "gelu"})
    cases.append(("gpt2-f16-noprefix", c, gpt2(rng, "F16", c, prefix="", lm_head=True), 1, m))
    cases.append(("gpt2-bf16-sharded", GPT2, gpt2(rng, "BF16", GPT2), 3, meta_gpt2(GPT2)))

    c = LLAMA
    cases.append(("llama-bf16-sharded", c, llama(rng, "BF16", c), 3, meta_llama(c, 0)))
    # Tied by the config (the lm_head copy is ignored); Llama 3 rope scaling.
    c = derive(LLAMA, tie_word_embeddings=True, rope_theta=500000.0,
               rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 16})
    sc = {"transformer.rope_scaling": "llama3", "transformer.rope_scaling_factor": 8.0,
          "transformer.rope_llama3_low_freq_factor": 1.0, "transformer.rope_llama3_high_freq_factor": 4.0,
          "transformer.rope_llama3_original_context": 16}
    cases.append(("llama-f32-tied", c, llama(rng, "F32", c), 1, meta_llama(c, 1, scaling=sc)))
    # Tied because there is no lm_head; no model_type (architectures decides); no num_key_value_heads (MHA);
    # linear rope scaling written the old way ("type").
    c = derive(LLAMA, model_type=None, num_key_value_heads=None, rope_theta=None,
               rope_scaling={"type": "linear", "factor": 2.0})
    sc = {"transformer.rope_scaling": "linear", "transformer.rope_scaling_factor": 2.0}
    cases.append(("llama-f16-nolmhead", c, llama(rng, "F16", c, lm_head=False), 2, meta_llama(c, 1, scaling=sc)))
    c = derive(LLAMA, model_type="qwen2", architectures=["Qwen2ForCausalLM"], use_sliding_window=False,
               sliding_window=8, tie_word_embeddings=True)
    cases.append(("qwen2-f16-bias", c, llama(rng, "F16", c, lm_head=False, qkv_bias=True), 1,
                  meta_llama(c, 1, qkv_bias=1)))
    # Llama's attention_bias: biases on q, k, v and o_proj.
    c = derive(LLAMA, attention_bias=True)
    cases.append(("llama-f32-attnbias", c, llama(rng, "F32", c, qkv_bias=True, o_bias=True), 1,
                  meta_llama(c, 0, qkv_bias=1)))
    c = derive(LLAMA, model_type="mistral", architectures=["MistralForCausalLM"], sliding_window=16,
               max_position_embeddings=64, head_dim=8)  # head_dim != hidden/heads, as in Mistral Nemo
    cases.append(("mistral-f32-window", c, llama(rng, "F32", c), 1, meta_llama(c, 0, ctx=16)))

    c = NEOX
    cases.append(("neox-f32-sharded", c, gptneox(rng, "F32", c), 2, meta_neox(c)))
    c = derive(NEOX, hidden_act="gelu_new", use_parallel_residual=False, rotary_pct=1.0, tie_word_embeddings=True)
    cases.append(("neox-bf16-tied", c, gptneox(rng, "BF16", c, embed_out=False), 1, meta_neox(c, tied=1)))
    c = derive(NEOX, rotary_pct=0.25, hidden_size=32, intermediate_size=48)  # head_dim 8: 2 rotary dims
    cases.append(("neox-f16", c, gptneox(rng, "F16", c), 1, meta_neox(c)))
    return cases


def write_expected(folder, src, out, meta, types, default_type):
    """expected.json and one TYPE.safetensors per --type (F32 tensors holding the stored values)."""
    os.makedirs(folder, exist_ok=True)
    matrices = {n for n, t in out.items() if len(t.shape) == 2 and n != "pos_embd.weight"}
    tensors = {}
    for n, t in out.items():
        tensors[n] = {"shape": t.shape, "dtype": {ty: (ty if n in matrices else "f32") for ty in types}}
    for ty in types:
        r = ROUND[TYPE_OF[ty]]
        stored = {n: T(t.shape, [r(v) if n in matrices else v for v in t.values]) for n, t in out.items()}
        write_safetensors(os.path.join(folder, ty + ".safetensors"), stored)
    m = dict(meta)
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump({"meta": m, "tensors": tensors, "types": types, "default_type": default_type,
                   "tokenizer": tokenizer_expectation()}, f, indent=1)


# ---- checkpoints kvgram must refuse ---------------------------------------------------


def bad_cases(rng, out):
    """{case: fragment of the error}"""
    d = os.path.join(out, "bad")
    expect = {}

    def ck(case, config, tensors, fragment, shards=1, **bad):
        write_checkpoint(os.path.join(d, case), tensors, config, shards, **bad)
        expect[case] = fragment

    src, _ = llama(rng, "F32", LLAMA)
    ck("missing_key", derive(LLAMA, hidden_size=None), src, 'missing key "hidden_size"')
    ck("missing_eps", derive(LLAMA, rms_norm_eps=None), src, 'missing key "rms_norm_eps"')
    ck("bad_value", derive(LLAMA, num_attention_heads=-4), src, '"num_attention_heads" must be an integer')
    ck("unsupported_type", derive(LLAMA, model_type="bert", architectures=["BertForMaskedLM"]), src,
       'unsupported model_type "bert" (BertForMaskedLM); supported: gpt2, llama, mistral, qwen2, gpt_neox')
    ck("unsupported_class", derive(LLAMA, model_type=None, architectures=["T5ForConditionalGeneration"]), src,
       'unsupported architecture "T5ForConditionalGeneration"')
    ck("no_model_type", derive(LLAMA, model_type=None, architectures=None), src, 'missing key "model_type"')
    ck("rope_yarn", derive(LLAMA, rope_scaling={"rope_type": "yarn", "factor": 4.0}), src,
       'rope_scaling type "yarn" is not supported')
    ck("gqa_mismatch", derive(LLAMA, num_key_value_heads=3), src, "not a multiple of num_key_value_heads")
    ck("bad_act", derive(LLAMA, hidden_act="relu"), src, 'hidden_act "relu" is not supported')

    ck("fewer_layers", derive(LLAMA, num_hidden_layers=1), src,
       'tensor "model.layers.1.input_layernorm.weight" is not part of a llama model with 1 layers')
    ck("other_arch_tensor", LLAMA, dict(src, **{"model.layers.0.mlp.fc1.weight": random_tensor(rng, (4, 4), "F32")}),
       'tensor "model.layers.0.mlp.fc1.weight" is not part of a llama model')
    missing = {k: v for k, v in src.items() if k != "model.layers.1.mlp.up_proj.weight"}
    ck("missing_tensor", LLAMA, missing, 'tensor "model.layers.1.mlp.up_proj.weight" is missing')
    shaped = dict(src, **{"model.layers.0.self_attn.k_proj.weight": random_tensor(rng, (16, 16), "F32")})
    ck("wrong_shape", LLAMA, shaped,
       'tensor "model.layers.0.self_attn.k_proj.weight" has shape [16, 16], but config.json makes it [8, 16]')
    typed = dict(src, **{"model.norm.weight": T([16], list(range(16)), "I32")})
    ck("wrong_dtype", LLAMA, typed, 'tensor "model.norm.weight" has dtype I32')
    ck("offsets_lie", LLAMA, src, 'data_offsets', lie=("model.norm.weight", 1 << 30))
    ck("truncated", LLAMA, src, "outside the data region", cut=100)
    ck("truncated_shard", LLAMA, src, "outside the data region", shards=2, cut=3)
    ck("huge_header", LLAMA, src, "is over the", declared=1 << 40)

    ck("no_tokenizer", LLAMA, src, "no tokenizer", tokenizer=None)
    small = derive(LLAMA, vocab_size=200)
    ck("tokenizer_too_big", small, llama(rng, "F32", small)[0], "more than config.json's vocab_size 200")

    gsrc, _ = gpt2(rng, "F32", GPT2)
    g = dict(gsrc, **{"transformer.h.1.attn.c_attn.weight": random_tensor(rng, (16, 47), "F32")})
    ck("gpt2_wrong_shape", GPT2, g, 'tensor "transformer.h.1.attn.c_attn.weight" has shape [16, 47]')
    nsrc, _ = gptneox(rng, "F32", NEOX)
    n = {k: v for k, v in nsrc.items() if k != "gpt_neox.layers.0.attention.query_key_value.bias"}
    ck("neox_missing_bias", NEOX, n, 'tensor "gpt_neox.layers.0.attention.query_key_value.bias" is missing')

    # The index names a shard that is not there.
    ck("missing_shard", LLAMA, src, "missing shard", shards=2)
    os.remove(os.path.join(d, "missing_shard", "model-00002-of-00002.safetensors"))
    # No config.json; config.json not JSON; no weights.
    ck("no_config", LLAMA, src, "is a directory without config.json")
    os.remove(os.path.join(d, "no_config", "config.json"))
    ck("config_not_json", LLAMA, src, "config.json: JSON does not parse at line 1")
    with open(os.path.join(d, "config_not_json", "config.json"), "w") as f:
        f.write('{"model_type": "llama",, }\n')
    ck("no_weights", LLAMA, src, "no model.safetensors")
    os.remove(os.path.join(d, "no_weights", "model.safetensors"))

    with open(os.path.join(d, "bad.json"), "w") as f:
        json.dump(expect, f, indent=1)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_hf_fixtures.py OUTDIR")
    out = sys.argv[1]
    shutil.rmtree(out, ignore_errors=True)
    rng = random.Random(20261129)
    names = []
    for name, config, (src, expected), shards, meta in good_cases(rng):
        write_checkpoint(os.path.join(out, "good", name), src, config, shards,
                         tokenizer="gpt2" if name == "gpt2-f16-noprefix" else "json")
        # Without --type the matrices keep the token embedding's source dtype.
        emb = next(t for n, t in src.items() if n.endswith(("wte.weight", "embed_tokens.weight", "embed_in.weight")))
        default = {"F32": "f32", "F16": "f16", "BF16": "bf16"}[emb.dtype]
        meta = dict(meta, **{"general.kind": "transformer"})
        write_expected(os.path.join(out, "good", name + ".expected"), src, expected, meta,
                       ["f32", "f16", "bf16"], default)
        names.append(name)
    with open(os.path.join(out, "good", "cases.txt"), "w") as f:
        f.write("\n".join(names) + "\n")
    bad_cases(rng, out)


if __name__ == "__main__":
    main()
