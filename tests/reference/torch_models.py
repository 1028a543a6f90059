"""torch_models.py — PyTorch reference forward passes for the transformer families kvgram runs.

Written from the architectures' published definitions (GPT-2, Llama / Qwen2, GPT-NeoX / Pythia,
and llama2.c's run.c), independent of kvgram's C code. Every model is a pure function

    logits = forward(cfg, sd, ids)      ids: LongTensor [B, T]  ->  logits [B, T, V]

where cfg is a Hugging Face config.json dict and sd a state dict with Hugging Face's tensor names
and layouts (the names save_pretrained writes). The weights' dtype decides the compute dtype, so
the goldens run in float64 (sd converted with to_dtype) and training runs in float32 with
nn.Parameters in sd. No batching masks: every row of ids is one full sequence starting at
position 0.

llama2.c checkpoints (the legacy header of seven int32s) are loaded by load_llama2c into
llama2.c's own layout and run by forward_llama2c with llama2.c's own RoPE, which rotates
interleaved pairs (2i, 2i+1). That is deliberately NOT the HF rotate_half convention: comparing
kvgram (which permutes q/k rows at conversion) against it checks the permutation.

Needs: Debian python3-torch (run with /usr/bin/python3).
"""
import json
import math
import struct

import torch
import torch.nn.functional as F


# --------------------------------------------------------------------------- shared ops

def rms_norm(x, w, eps):
    """Llama RMSNorm: x / sqrt(mean(x^2) + eps) * w over the last dim."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


def gelu_tanh(x):
    """GPT-2's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


ACTIVATIONS = {
    'gelu_new': gelu_tanh, 'gelu_pytorch_tanh': gelu_tanh, 'gelu_tanh': gelu_tanh,
    'gelu': gelu_erf, 'silu': F.silu, 'swish': F.silu,
}


def linear(x, w, b=None):
    """nn.Linear convention: w is [out, in], y = x w^T + b."""
    y = x @ w.t()
    return y if b is None else y + b


def causal_attention(q, k, v):
    """q [B, H, T, hd], k and v [B, Hkv, T, hd] with H a multiple of Hkv (grouped-query:
    query head h reads kv head h // (H/Hkv)). Returns [B, T, H*hd]."""
    B, H, T, hd = q.shape
    group = H // k.shape[1]
    if group > 1:
        k = k.repeat_interleave(group, dim=1)
        v = v.repeat_interleave(group, dim=1)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    scores = scores.masked_fill(mask, float('-inf'))
    out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(1, 2).reshape(B, T, H * hd)


def split_heads(x, n, hd):
    """[B, T, n*hd] -> [B, n, T, hd]."""
    B, T, _ = x.shape
    return x.view(B, T, n, hd).transpose(1, 2)


# --------------------------------------------------------------------------- RoPE (HF rotate_half)

def rope_inv_freq(rot_dims, theta, scaling=None, dtype=torch.float64):
    """Inverse frequencies theta^(-2i/rot_dims), i < rot_dims/2, with HF's rope_scaling:
    'linear' divides every frequency by factor (same as dividing positions);
    'llama3' keeps high frequencies, divides low ones by factor and blends in between
    (wavelengths measured against original_max_position_embeddings)."""
    inv = 1.0 / (theta ** (torch.arange(0, rot_dims, 2, dtype=torch.float64) / rot_dims))
    kind = (scaling or {}).get('rope_type', (scaling or {}).get('type', 'none')) if scaling else 'none'
    if kind in ('none', 'default'):
        pass
    elif kind == 'linear':
        inv = inv / float(scaling['factor'])
    elif kind == 'llama3':
        factor = float(scaling['factor'])
        low = float(scaling['low_freq_factor'])
        high = float(scaling['high_freq_factor'])
        old_ctx = float(scaling['original_max_position_embeddings'])
        low_wavelen = old_ctx / low
        high_wavelen = old_ctx / high
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > low_wavelen, inv / factor, inv)
        smooth = (old_ctx / wavelen - low) / (high - low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
        inv = torch.where(medium, blended, scaled)
    else:
        raise ValueError(f'rope scaling {kind!r} not supported')
    return inv.to(dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rope(x, inv_freq, rot_dims):
    """x [B, H, T, hd]: rotates the first rot_dims of each head, pairing i with i + rot_dims/2
    (HF rotate_half); the rest passes through. Angle of pair i at position p: p * inv_freq[i]."""
    T = x.shape[2]
    pos = torch.arange(T, dtype=torch.float64, device=x.device)
    ang = torch.outer(pos, inv_freq.to(torch.float64))          # [T, rot/2]
    ang = torch.cat((ang, ang), dim=-1)                           # [T, rot]
    cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
    xr, xp = x[..., :rot_dims], x[..., rot_dims:]
    xr = xr * cos + rotate_half(xr) * sin
    return torch.cat((xr, xp), dim=-1)


# --------------------------------------------------------------------------- GPT-2

def _gpt2_prefix(sd):
    return 'transformer.' if 'transformer.wte.weight' in sd else ''


def forward_gpt2(cfg, sd, ids):
    """GPT-2 (GPT2LMHeadModel): learned positions, pre-LayerNorm blocks, Conv1D weights stored
    [in, out] (y = x W + b), fused c_attn = [q | k | v] along out, gelu_new, tied unembedding
    (lm_head.weight used when present)."""
    p = _gpt2_prefix(sd)
    d, H = cfg['n_embd'], cfg['n_head']
    hd = d // H
    eps = cfg.get('layer_norm_epsilon', 1e-5)
    act = ACTIVATIONS[cfg.get('activation_function', 'gelu_new')]
    T = ids.shape[1]
    x = sd[p + 'wte.weight'][ids] + sd[p + 'wpe.weight'][:T]
    for L in range(cfg['n_layer']):
        b = f'{p}h.{L}.'
        h = layer_norm(x, sd[b + 'ln_1.weight'], sd[b + 'ln_1.bias'], eps)
        qkv = h @ sd[b + 'attn.c_attn.weight'] + sd[b + 'attn.c_attn.bias']
        q, k, v = qkv.split(d, dim=-1)
        a = causal_attention(split_heads(q, H, hd), split_heads(k, H, hd), split_heads(v, H, hd))
        x = x + a @ sd[b + 'attn.c_proj.weight'] + sd[b + 'attn.c_proj.bias']
        h = layer_norm(x, sd[b + 'ln_2.weight'], sd[b + 'ln_2.bias'], eps)
        h = act(h @ sd[b + 'mlp.c_fc.weight'] + sd[b + 'mlp.c_fc.bias'])
        x = x + h @ sd[b + 'mlp.c_proj.weight'] + sd[b + 'mlp.c_proj.bias']
    x = layer_norm(x, sd[p + 'ln_f.weight'], sd[p + 'ln_f.bias'], eps)
    return linear(x, sd.get('lm_head.weight', sd[p + 'wte.weight']))


# --------------------------------------------------------------------------- Llama / Qwen2

def forward_llama(cfg, sd, ids):
    """Llama family (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM): RMSNorm pre-norm,
    separate q/k/v/o (q/k/v biases when present, as in Qwen2), RoPE rotate_half over the whole
    head with rope_theta and rope_scaling, grouped-query attention, SwiGLU MLP
    down(silu(gate x) * up x), lm_head.weight or tied embed_tokens."""
    d = cfg['hidden_size']
    H = cfg['num_attention_heads']
    Hkv = cfg.get('num_key_value_heads') or H
    hd = cfg.get('head_dim') or d // H
    eps = cfg.get('rms_norm_eps', 1e-6)
    act = ACTIVATIONS[cfg.get('hidden_act', 'silu')]
    inv = rope_inv_freq(hd, float(cfg.get('rope_theta', 10000.0)), cfg.get('rope_scaling'))
    x = sd['model.embed_tokens.weight'][ids]
    for L in range(cfg['num_hidden_layers']):
        b = f'model.layers.{L}.'
        h = rms_norm(x, sd[b + 'input_layernorm.weight'], eps)
        q = linear(h, sd[b + 'self_attn.q_proj.weight'], sd.get(b + 'self_attn.q_proj.bias'))
        k = linear(h, sd[b + 'self_attn.k_proj.weight'], sd.get(b + 'self_attn.k_proj.bias'))
        v = linear(h, sd[b + 'self_attn.v_proj.weight'], sd.get(b + 'self_attn.v_proj.bias'))
        q = apply_rope(split_heads(q, H, hd), inv, hd)
        k = apply_rope(split_heads(k, Hkv, hd), inv, hd)
        a = causal_attention(q, k, split_heads(v, Hkv, hd))
        x = x + linear(a, sd[b + 'self_attn.o_proj.weight'], sd.get(b + 'self_attn.o_proj.bias'))
        h = rms_norm(x, sd[b + 'post_attention_layernorm.weight'], eps)
        g = act(linear(h, sd[b + 'mlp.gate_proj.weight'])) * linear(h, sd[b + 'mlp.up_proj.weight'])
        x = x + linear(g, sd[b + 'mlp.down_proj.weight'])
    x = rms_norm(x, sd['model.norm.weight'], eps)
    return linear(x, sd.get('lm_head.weight', sd['model.embed_tokens.weight']))


# --------------------------------------------------------------------------- GPT-NeoX / Pythia

def forward_gptneox(cfg, sd, ids):
    """GPT-NeoX (GPTNeoXForCausalLM): LayerNorm pre-norm, fused query_key_value whose output is
    interleaved per head as [H, 3, hd] (q, k, v of head 0, then head 1, ...), rotary on the first
    int(hd * rotary_pct) dims (rotate_half), parallel residual x + attn(ln1 x) + mlp(ln2 x) when
    use_parallel_residual else sequential, activation hidden_act, untied embed_out."""
    d = cfg['hidden_size']
    H = cfg['num_attention_heads']
    hd = d // H
    rot = int(hd * cfg.get('rotary_pct', 1.0))
    eps = cfg.get('layer_norm_eps', 1e-5)
    act = ACTIVATIONS[cfg.get('hidden_act', 'gelu')]
    base = float(cfg.get('rotary_emb_base', cfg.get('rope_theta', 10000.0)))
    inv = rope_inv_freq(rot, base, cfg.get('rope_scaling'))
    parallel = cfg.get('use_parallel_residual', True)
    x = sd['gpt_neox.embed_in.weight'][ids]
    B, T, _ = x.shape
    for L in range(cfg['num_hidden_layers']):
        b = f'gpt_neox.layers.{L}.'

        def attn(h):
            qkv = linear(h, sd[b + 'attention.query_key_value.weight'], sd[b + 'attention.query_key_value.bias'])
            qkv = qkv.view(B, T, H, 3, hd)
            q, k, v = (qkv[:, :, :, i].transpose(1, 2) for i in range(3))
            a = causal_attention(apply_rope(q, inv, rot), apply_rope(k, inv, rot), v)
            return linear(a, sd[b + 'attention.dense.weight'], sd[b + 'attention.dense.bias'])

        def mlp(h):
            h = act(linear(h, sd[b + 'mlp.dense_h_to_4h.weight'], sd[b + 'mlp.dense_h_to_4h.bias']))
            return linear(h, sd[b + 'mlp.dense_4h_to_h.weight'], sd[b + 'mlp.dense_4h_to_h.bias'])

        ln1 = lambda t: layer_norm(t, sd[b + 'input_layernorm.weight'], sd[b + 'input_layernorm.bias'], eps)
        ln2 = lambda t: layer_norm(t, sd[b + 'post_attention_layernorm.weight'],
                                   sd[b + 'post_attention_layernorm.bias'], eps)
        if parallel:
            x = x + attn(ln1(x)) + mlp(ln2(x))
        else:
            x = x + attn(ln1(x))
            x = x + mlp(ln2(x))
    x = layer_norm(x, sd['gpt_neox.final_layer_norm.weight'], sd['gpt_neox.final_layer_norm.bias'], eps)
    return linear(x, sd.get('embed_out.weight', sd['gpt_neox.embed_in.weight']))


FORWARD = {'gpt2': forward_gpt2, 'llama': forward_llama, 'mistral': forward_llama,
           'qwen2': forward_llama, 'gpt_neox': forward_gptneox}


def forward(cfg, sd, ids):
    return FORWARD[cfg['model_type']](cfg, sd, ids)


def to_dtype(sd, dtype):
    return {k: v.to(dtype) for k, v in sd.items()}


# --------------------------------------------------------------------------- safetensors + HF dirs

ST_DTYPES = {'F32': (torch.float32, 4), 'F16': (torch.float16, 2), 'BF16': (torch.bfloat16, 2),
             'F64': (torch.float64, 8), 'I64': (torch.int64, 8), 'I32': (torch.int32, 4)}


def load_safetensors(path):
    """Reads a .safetensors file: u64 LE header length, JSON header, raw little-endian data."""
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack_from('<Q', raw, 0)
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    sd = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        dtype, size = ST_DTYPES[info['dtype']]
        start, end = info['data_offsets']
        t = torch.frombuffer(bytearray(data[start:end]), dtype=dtype) if end > start else torch.empty(0, dtype=dtype)
        sd[name] = t.reshape(info['shape'])
    return sd


def save_safetensors(path, sd, metadata=None):
    """Writes tensors in name order, each at an offset aligned to 8 bytes, header padded with
    spaces to a multiple of 8 (what the safetensors library does)."""
    names = sorted(sd)
    rev = {v[0]: k for k, v in ST_DTYPES.items()}
    header, blobs, off = {}, [], 0
    if metadata:
        header['__metadata__'] = metadata
    for name in names:
        t = sd[name].detach().contiguous().cpu()
        b = t.view(torch.uint8).numpy().tobytes() if t.numel() else b''
        header[name] = {'dtype': rev[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_hf_dir(d):
    with open(f'{d}/config.json') as f:
        cfg = json.load(f)
    return cfg, load_safetensors(f'{d}/model.safetensors')


# --------------------------------------------------------------------------- llama2.c

def load_llama2c(path):
    """Legacy llama2.c export: int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size,
    seq_len (vocab_size < 0 means a separate classifier follows), then float32 arrays in run.c's
    order: token_embedding [V, dim], rms_att [L, dim], wq [L, dim, dim], wk [L, kv_dim, dim],
    wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim],
    w2 [L, dim, hidden], w3 [L, hidden, dim], rms_final [dim], freq_cis_real and freq_cis_imag
    [seq_len, head_size/2] (unused), then wcls [V, dim] when not shared. Every matrix is
    [out, in] (run.c's matmul computes W x with W row-major [d, n])."""
    with open(path, 'rb') as f:
        raw = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack_from('<7i', raw, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    hs = dim // n_heads
    kv_dim = n_kv * hs
    floats = torch.frombuffer(bytearray(raw[28:]), dtype=torch.float32)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = math.prod(shape)
        t = floats[pos:pos + n].reshape(shape).clone()
        pos += n
        return t

    w = {}
    w['tok'] = take(vocab, dim)
    w['rms_att'] = take(n_layers, dim)
    w['wq'] = take(n_layers, dim, dim)
    w['wk'] = take(n_layers, kv_dim, dim)
    w['wv'] = take(n_layers, kv_dim, dim)
    w['wo'] = take(n_layers, dim, dim)
    w['rms_ffn'] = take(n_layers, dim)
    w['w1'] = take(n_layers, hidden, dim)
    w['w2'] = take(n_layers, dim, hidden)
    w['w3'] = take(n_layers, hidden, dim)
    w['rms_final'] = take(dim)
    take(seq_len, hs // 2)
    take(seq_len, hs // 2)
    w['wcls'] = w['tok'] if shared else take(vocab, dim)
    if pos != floats.numel():
        raise ValueError(f'{path}: {floats.numel() - pos} floats left over after the weights')
    cfg = dict(dim=dim, hidden_dim=hidden, n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_kv,
               vocab_size=vocab, seq_len=seq_len, shared_classifier=shared)
    return cfg, w


def llama2c_rope(x, pos, head_size):
    """run.c's RoPE on x [T, H, hs]: pairs (2i, 2i+1) within each head, frequency
    10000^(-(2i)/head_size), angle pos * freq; (a, b) -> (a cos - b sin, a sin + b cos)."""
    i2 = torch.arange(0, head_size, 2, dtype=torch.float64)
    freq = 1.0 / (10000.0 ** (i2 / head_size))
    ang = torch.outer(pos.to(torch.float64), freq)                # [T, hs/2]
    cos = ang.cos().to(x.dtype)[:, None, :]
    sin = ang.sin().to(x.dtype)[:, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def forward_llama2c(cfg, w, ids):
    """run.c's transformer over a whole sequence ids [T] (positions 0..T-1), returning logits
    [T, V]: RMSNorm eps 1e-5, interleaved RoPE, GQA (head h reads kv head h // (H/Hkv)),
    SwiGLU w2(silu(w1 x) * w3 x), final RMSNorm, classifier wcls."""
    dim, H, Hkv = cfg['dim'], cfg['n_heads'], cfg['n_kv_heads']
    hs = dim // H
    T = ids.shape[0]
    pos = torch.arange(T)
    x = w['tok'][ids]
    for L in range(cfg['n_layers']):
        h = rms_norm(x, w['rms_att'][L], 1e-5)
        q = llama2c_rope((h @ w['wq'][L].t()).view(T, H, hs), pos, hs)
        k = llama2c_rope((h @ w['wk'][L].t()).view(T, Hkv, hs), pos, hs)
        v = (h @ w['wv'][L].t()).view(T, Hkv, hs)
        a = causal_attention(q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None])[0]
        x = x + a @ w['wo'][L].t()
        h = rms_norm(x, w['rms_ffn'][L], 1e-5)
        x = x + (F.silu(h @ w['w1'][L].t()) * (h @ w['w3'][L].t())) @ w['w2'][L].t()
    x = rms_norm(x, w['rms_final'], 1e-5)
    return x @ w['wcls'].t()


class Llama2cTokenizer:
    """llama2.c's tokenizer.bin: int32 max_token_length, then per token float32 score, int32 len,
    bytes. encode() follows run.c: optional BOS (1), a dummy-prefix ' ' token when the text is not
    empty, one token per UTF-8 code point (its vocab entry, else byte fallback id byte + 3), then
    repeatedly merge the adjacent pair whose concatenation is in the vocab with the highest score
    (first such pair on ties)."""

    def __init__(self, path, vocab_size):
        with open(path, 'rb') as f:
            raw = f.read()
        (self.max_len,) = struct.unpack_from('<i', raw, 0)
        off = 4
        self.pieces, self.scores = [], []
        for _ in range(vocab_size):
            score, n = struct.unpack_from('<fi', raw, off)
            off += 8
            self.pieces.append(raw[off:off + n])
            off += n
            self.scores.append(score)
        self.lookup = {}
        for i, p in enumerate(self.pieces):
            self.lookup.setdefault(p, i)   # run.c's bsearch over sorted pieces; pieces are unique

    def encode(self, text, bos=True, eos=False):
        data = text.encode('utf-8') if isinstance(text, str) else bytes(text)
        toks = [1] if bos else []
        if data:
            toks.append(self.lookup[b' '])
        i = 0
        while i < len(data):
            j = i + 1
            while j < len(data) and (data[j] & 0xC0) == 0x80 and j - i < 4:
                j += 1
            cp = data[i:j]
            if cp in self.lookup:
                toks.append(self.lookup[cp])
            else:
                toks.extend(b + 3 for b in cp)
            i = j
        while True:
            best, best_i = -1e10, -1
            for k in range(len(toks) - 1):
                m = self.lookup.get(self.pieces[toks[k]] + self.pieces[toks[k + 1]])
                if m is not None and self.scores[m] > best:
                    best, best_i = self.scores[m], k
            if best_i < 0:
                break
            merged = self.lookup[self.pieces[toks[best_i]] + self.pieces[toks[best_i + 1]]]
            toks[best_i:best_i + 2] = [merged]
        if eos:
            toks.append(2)
        return toks

    def piece_bytes(self, prev, tok):
        """run.c's decode of one token after prev: strip the leading space after BOS, and turn
        '<0xHH>' into the byte."""
        p = self.pieces[tok]
        if prev == 1 and p.startswith(b' '):
            p = p[1:]
        if len(p) == 6 and p.startswith(b'<0x') and p.endswith(b'>'):
            p = bytes([int(p[3:5], 16)])
        return p
