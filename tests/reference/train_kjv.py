"""train_kjv.py — trains one tiny KJV fixture model with the PyTorch reference and saves it in HF layout.

  NODE_PATH=/tmp/tok-ref/node_modules node tests/reference/make_kjv_tokenizers.js   # tokenizers + ids
  /usr/bin/python3 tests/reference/train_kjv.py gpt2|llama|neox [--steps N] [--work /tmp/kvg-kjv-work]

The architecture is run by torch_models.forward on a state dict of nn.Parameters that already has
Hugging Face's names and layouts, so what is trained is exactly what is saved:
models/kjv-NAME/config.json, model.safetensors (written by torch_models.save_safetensors, in the
dtype listed in ARCH), tokenizer_config.json. The tokenizer.json beside them comes from
make_kjv_tokenizers.js, whose corpus encodings (WORK/kjv-NAME.{train,test}.ids.jsonl) this reads.

Data: every training verse becomes BOS + ids (+ EOS for llama), all concatenated in corpus order
into one stream; each step takes BATCH windows of CTX+1 tokens at offsets drawn from a seeded
generator. AdamW, linear warmup then cosine decay. Single-threaded, fixed seeds: the same torch
build on the same CPU gives the same bytes.

Held-out perplexity (kjv.test.txt and its first 200 verses, kjv.test.head200.txt; written to WORK/kjv-NAME.eval.json for make_golden_kjv.py): every verse of
kjv.test.txt scored as BOS + ids from position 0, every id predicted (BOS is only context),
exp(-sum ln p / n). The saved (rounded) weights are reloaded for it.
"""
import argparse
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models as tm  # noqa: E402

VOCAB = 2048
CTX = 128
BATCH = 8

ARCH = {
    'gpt2': dict(dtype=torch.float32, bos=2047, eos=None, config=dict(
        model_type='gpt2', architectures=['GPT2LMHeadModel'], vocab_size=VOCAB, n_positions=CTX, n_ctx=CTX,
        n_embd=96, n_layer=2, n_head=4, n_inner=None, activation_function='gelu_new',
        layer_norm_epsilon=1e-5, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.02,
        scale_attn_weights=True, use_cache=True, bos_token_id=2047, eos_token_id=2047,
        tie_word_embeddings=True, torch_dtype='float32')),
    'llama': dict(dtype=torch.bfloat16, bos=1, eos=2, config=dict(
        model_type='llama', architectures=['LlamaForCausalLM'], vocab_size=VOCAB, hidden_size=96,
        intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=24, max_position_embeddings=CTX, rms_norm_eps=1e-5, rope_theta=50000.0, rope_scaling=None,
        hidden_act='silu', attention_bias=False, mlp_bias=False, tie_word_embeddings=False,
        initializer_range=0.02, bos_token_id=1, eos_token_id=2, pad_token_id=None, use_cache=True,
        torch_dtype='bfloat16')),
    'neox': dict(dtype=torch.float16, bos=0, eos=None, config=dict(
        model_type='gpt_neox', architectures=['GPTNeoXForCausalLM'], vocab_size=VOCAB, hidden_size=96,
        intermediate_size=384, num_hidden_layers=2, num_attention_heads=4, rotary_pct=0.25,
        rotary_emb_base=10000, max_position_embeddings=CTX, layer_norm_eps=1e-5, use_parallel_residual=True,
        hidden_act='gelu', attention_bias=True, tie_word_embeddings=False, initializer_range=0.02,
        bos_token_id=0, eos_token_id=0, use_cache=True, torch_dtype='float16')),
}

TOKENIZER_CONFIG = {
    'gpt2': {'tokenizer_class': 'GPT2Tokenizer', 'bos_token': '<|endoftext|>', 'eos_token': '<|endoftext|>',
             'unk_token': '<|endoftext|>', 'add_bos_token': True, 'add_prefix_space': False,
             'model_max_length': CTX},
    'llama': {'tokenizer_class': 'LlamaTokenizer', 'bos_token': '<s>', 'eos_token': '</s>', 'unk_token': '<unk>',
              'add_bos_token': True, 'add_eos_token': False, 'model_max_length': CTX},
    'neox': {'tokenizer_class': 'GPTNeoXTokenizer', 'bos_token': '<|endoftext|>', 'eos_token': '<|endoftext|>',
             'unk_token': '<|endoftext|>', 'pad_token': '<|padding|>', 'add_bos_token': True,
             'add_prefix_space': False, 'model_max_length': CTX},
}


def init_params(name, cfg, gen):
    """HF-named parameters: matrices N(0, 0.02) (output projections of each block scaled by
    1/sqrt(2 n_layers), as GPT-2 does), norm weights 1, biases 0."""
    sd = {}

    def normal(*shape, std=0.02):
        return torch.randn(*shape, generator=gen) * std

    if name == 'gpt2':
        d, L = cfg['n_embd'], cfg['n_layer']
        f = 4 * d
        proj = 0.02 / math.sqrt(2 * L)
        sd['transformer.wte.weight'] = normal(VOCAB, d)
        sd['transformer.wpe.weight'] = normal(CTX, d, std=0.01)
        for i in range(L):
            b = f'transformer.h.{i}.'
            sd[b + 'ln_1.weight'], sd[b + 'ln_1.bias'] = torch.ones(d), torch.zeros(d)
            sd[b + 'attn.c_attn.weight'], sd[b + 'attn.c_attn.bias'] = normal(d, 3 * d), torch.zeros(3 * d)
            sd[b + 'attn.c_proj.weight'], sd[b + 'attn.c_proj.bias'] = normal(d, d, std=proj), torch.zeros(d)
            sd[b + 'ln_2.weight'], sd[b + 'ln_2.bias'] = torch.ones(d), torch.zeros(d)
            sd[b + 'mlp.c_fc.weight'], sd[b + 'mlp.c_fc.bias'] = normal(d, f), torch.zeros(f)
            sd[b + 'mlp.c_proj.weight'], sd[b + 'mlp.c_proj.bias'] = normal(f, d, std=proj), torch.zeros(d)
        sd['transformer.ln_f.weight'], sd['transformer.ln_f.bias'] = torch.ones(d), torch.zeros(d)
    elif name == 'llama':
        d, L, f = cfg['hidden_size'], cfg['num_hidden_layers'], cfg['intermediate_size']
        hd, H, Hkv = cfg['head_dim'], cfg['num_attention_heads'], cfg['num_key_value_heads']
        proj = 0.02 / math.sqrt(2 * L)
        sd['model.embed_tokens.weight'] = normal(VOCAB, d)
        for i in range(L):
            b = f'model.layers.{i}.'
            sd[b + 'input_layernorm.weight'] = torch.ones(d)
            sd[b + 'self_attn.q_proj.weight'] = normal(H * hd, d)
            sd[b + 'self_attn.k_proj.weight'] = normal(Hkv * hd, d)
            sd[b + 'self_attn.v_proj.weight'] = normal(Hkv * hd, d)
            sd[b + 'self_attn.o_proj.weight'] = normal(d, H * hd, std=proj)
            sd[b + 'post_attention_layernorm.weight'] = torch.ones(d)
            sd[b + 'mlp.gate_proj.weight'] = normal(f, d)
            sd[b + 'mlp.up_proj.weight'] = normal(f, d)
            sd[b + 'mlp.down_proj.weight'] = normal(d, f, std=proj)
        sd['model.norm.weight'] = torch.ones(d)
        sd['lm_head.weight'] = normal(VOCAB, d)
    else:
        d, L, f = cfg['hidden_size'], cfg['num_hidden_layers'], cfg['intermediate_size']
        proj = 0.02 / math.sqrt(2 * L)
        sd['gpt_neox.embed_in.weight'] = normal(VOCAB, d)
        for i in range(L):
            b = f'gpt_neox.layers.{i}.'
            for n in ('input_layernorm', 'post_attention_layernorm'):
                sd[b + n + '.weight'], sd[b + n + '.bias'] = torch.ones(d), torch.zeros(d)
            sd[b + 'attention.query_key_value.weight'] = normal(3 * d, d)
            sd[b + 'attention.query_key_value.bias'] = torch.zeros(3 * d)
            sd[b + 'attention.dense.weight'], sd[b + 'attention.dense.bias'] = normal(d, d, std=proj), torch.zeros(d)
            sd[b + 'mlp.dense_h_to_4h.weight'], sd[b + 'mlp.dense_h_to_4h.bias'] = normal(f, d), torch.zeros(f)
            sd[b + 'mlp.dense_4h_to_h.weight'] = normal(d, f, std=proj)
            sd[b + 'mlp.dense_4h_to_h.bias'] = torch.zeros(d)
        sd['gpt_neox.final_layer_norm.weight'] = torch.ones(d)
        sd['gpt_neox.final_layer_norm.bias'] = torch.zeros(d)
        sd['embed_out.weight'] = normal(VOCAB, d)
    return {k: torch.nn.Parameter(v) for k, v in sd.items()}


def read_ids(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def stream(verses, bos, eos):
    out = []
    for v in verses:
        out.append(bos)
        out.extend(v)
        if eos is not None:
            out.append(eos)
    return torch.tensor(out, dtype=torch.long)


def heldout_ppl(cfg, sd, verses, bos, batch=64):
    """Per-token perplexity of verses scored as BOS + ids, each id predicted; returns
    (perplexity, n_tokens, total_ln)."""
    order = sorted(range(len(verses)), key=lambda i: len(verses[i]))
    total, n = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(order), batch):
            group = [verses[i] for i in order[s:s + batch]]
            T = max(len(v) for v in group) + 1
            ids = torch.full((len(group), T), bos, dtype=torch.long)
            for r, v in enumerate(group):
                ids[r, 1:len(v) + 1] = torch.tensor(v)
            logp = torch.log_softmax(tm.forward(cfg, sd, ids).double(), dim=-1)
            for r, v in enumerate(group):
                lp = logp[r, torch.arange(len(v)), torch.tensor(v)]
                total += float(lp.sum())
                n += len(v)
    return math.exp(-total / n), n, total


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser()
    ap.add_argument('arch', choices=sorted(ARCH))
    ap.add_argument('--steps', type=int, default=1000)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--seed', type=int, default=1611)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--work', default='/tmp/kvg-kjv-work')
    ap.add_argument('--out', default=None)
    ap.add_argument('--skip-eval', action='store_true', help='save the model, skip the held-out perplexity')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    spec = ARCH[a.arch]
    cfg = dict(spec['config'])
    name = 'kjv-' + a.arch
    out = a.out or os.path.join(root, 'models', name)

    train = read_ids(os.path.join(a.work, f'{name}.train.ids.jsonl'))
    test = read_ids(os.path.join(a.work, f'{name}.test.ids.jsonl'))
    data = stream(train, spec['bos'], spec['eos'])
    gen = torch.Generator().manual_seed(a.seed)
    sd = init_params(a.arch, cfg, gen)
    decay = [p for k, p in sd.items() if p.dim() == 2]
    no_decay = [p for k, p in sd.items() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=a.lr, betas=(0.9, 0.95))
    warm = max(1, a.steps // 20)
    t0 = time.time()
    log = []
    for step in range(a.steps):
        lr = a.lr * (step + 1) / warm if step < warm else \
            a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, a.steps - warm))))
        for g in opt.param_groups:
            g['lr'] = lr
        off = torch.randint(0, len(data) - CTX - 1, (BATCH,), generator=gen)
        win = torch.stack([data[o:o + CTX + 1] for o in off.tolist()])
        logits = tm.forward(cfg, sd, win[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), win[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(sd.values()), 1.0)
        opt.step()
        log.append(float(loss))
        if step % 100 == 0 or step == a.steps - 1:
            print(f'{name} step {step} loss {float(loss):.4f} lr {lr:.2e} {time.time() - t0:.0f}s', flush=True)
    final_loss = sum(log[-50:]) / len(log[-50:])

    os.makedirs(out, exist_ok=True)
    n_params = sum(p.numel() for p in sd.values())
    tm.save_safetensors(os.path.join(out, 'model.safetensors'),
                        {k: v.detach().to(spec['dtype']) for k, v in sd.items()}, {'format': 'pt'})
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(cfg, f, indent=2)
        f.write('\n')
    with open(os.path.join(out, 'tokenizer_config.json'), 'w') as f:
        json.dump(TOKENIZER_CONFIG[a.arch], f, indent=2)
        f.write('\n')

    if a.skip_eval:
        return
    cfg2, sd2 = tm.load_hf_dir(out)
    sd32 = tm.to_dtype(sd2, torch.float32)
    ppl, n, total = heldout_ppl(cfg2, sd32, test, spec['bos'])
    ppl200, n200, total200 = heldout_ppl(cfg2, sd32, test[:200], spec['bos'])
    ev = {'name': name, 'params': n_params, 'steps': a.steps, 'batch': BATCH, 'ctx': CTX, 'lr': a.lr,
          'seed': a.seed, 'train_seconds': round(time.time() - t0), 'torch': torch.__version__,
          'final_train_loss_mean_last50': final_loss, 'heldout_ppl': ppl, 'heldout_tokens': n,
          'heldout_total_ln': total,
          'head200_ppl': ppl200, 'head200_tokens': n200, 'head200_total_ln': total200, 'uniform_ppl': VOCAB, 'bos': spec['bos'],
          'weight_dtype': str(spec['dtype']).replace('torch.', '')}
    with open(os.path.join(a.work, f'{name}.eval.json'), 'w') as f:
        json.dump(ev, f, indent=1)
    print(json.dumps(ev))


if __name__ == '__main__':
    main()
