"""make_golden_stories260k.py — golden logits for llama2.c legacy exports: Karpathy's stories260K
(8 heads, 4 kv heads) and, with --model aidreams260K, the other llama2.c model in ../shared
(4 heads = 4 kv heads, 4 layers, seq_len 128, its own tokenizer).

  /usr/bin/python3 tests/reference/make_golden_stories260k.py [--model aidreams260K] [--shared ../shared]

Writes tests/transformer/golden/MODEL.logits and .json. Ids come from this folder's own
llama2.c encoder (torch_models.Llama2cTokenizer, BOS + dummy-prefix space + BPE by score with
byte fallback); logits from forward_llama2c (run.c's interleaved RoPE on run.c's layout) in
float64 from the float32 checkpoint, stored as float32. As a self-check the script also permutes
wq/wk into HF's rotate_half order and runs forward_llama (the HF Llama reference); the two must
agree to 1e-9, which tests both RoPE conventions and the permutation against each other.
The greedy continuation of "Once upon a time" (run.c's loop: argmax, stop at BOS) is recorded.
Deterministic: running it again gives byte-identical files.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden          # noqa: E402
import torch_models as tm  # noqa: E402

MODELS = {
    'stories260K': dict(tokenizer='tok512.bin', prompt='Once upon a time', steps=36,
                        expected_prefix='Once upon a time, there was a little girl named Lily'),
    'aidreams260K': dict(tokenizer='aidreams260K_tok512.bin', prompt='I dreamed', steps=30, expected_prefix=None),
}
TEXTS_AIDREAMS = [
    'I dreamed of pixels and petals, a gentle hum of probability in the nodes.',
    'Zoë said: "¡Hola!" 日本 🙂\n\t123 + 456 = 579?!',
]
TEXTS = [
    'Tom and his dog went to the park. They played with a red ball all day.',
    'One day, a little bird found a shiny stone near the river. "What is this?" she asked her mom. '
    'Her mom smiled and said, "It is a gift from the water."',
    'Zoë said: "¡Hola!" 日本 🙂\n\t123 + 456 = 579?!',
]


def hf_permute(w, n_heads):
    """llama2.c/Meta q or k rows (pairs 2i, 2i+1 per head) -> HF rotate_half rows (i, i+hd/2):
    the permutation of HF's convert_llama_weights_to_hf, applied in reverse direction of its
    un-permute (view [H, hd/2, 2, in] -> swap the middle axes)."""
    out_dim, in_dim = w.shape
    hd = out_dim // n_heads
    return w.view(n_heads, hd // 2, 2, in_dim).transpose(1, 2).reshape(out_dim, in_dim)


def as_hf(cfg, w):
    sd = {'model.embed_tokens.weight': w['tok'], 'model.norm.weight': w['rms_final']}
    if not cfg['shared_classifier']:
        sd['lm_head.weight'] = w['wcls']
    for L in range(cfg['n_layers']):
        b = f'model.layers.{L}.'
        sd[b + 'input_layernorm.weight'] = w['rms_att'][L]
        sd[b + 'self_attn.q_proj.weight'] = hf_permute(w['wq'][L], cfg['n_heads'])
        sd[b + 'self_attn.k_proj.weight'] = hf_permute(w['wk'][L], cfg['n_kv_heads'])
        sd[b + 'self_attn.v_proj.weight'] = w['wv'][L]
        sd[b + 'self_attn.o_proj.weight'] = w['wo'][L]
        sd[b + 'post_attention_layernorm.weight'] = w['rms_ffn'][L]
        sd[b + 'mlp.gate_proj.weight'] = w['w1'][L]
        sd[b + 'mlp.up_proj.weight'] = w['w3'][L]
        sd[b + 'mlp.down_proj.weight'] = w['w2'][L]
    hf_cfg = dict(model_type='llama', hidden_size=cfg['dim'], intermediate_size=cfg['hidden_dim'],
                  num_hidden_layers=cfg['n_layers'], num_attention_heads=cfg['n_heads'],
                  num_key_value_heads=cfg['n_kv_heads'], rms_norm_eps=1e-5, rope_theta=10000.0,
                  vocab_size=cfg['vocab_size'], hidden_act='silu')
    return hf_cfg, sd


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', choices=sorted(MODELS), default='stories260K')
    ap.add_argument('--shared', default=os.path.join(root, '..', 'shared'))
    ap.add_argument('--out', default=os.path.join(root, 'tests', 'transformer', 'golden'))
    a = ap.parse_args()
    torch.set_num_threads(1)

    spec = MODELS[a.model]
    PROMPT, GREEDY_STEPS = spec['prompt'], spec['steps']
    texts_in = TEXTS if a.model == 'stories260K' else TEXTS_AIDREAMS
    cfg, w = tm.load_llama2c(os.path.join(a.shared, 'models', a.model + '.bin'))
    tok = tm.Llama2cTokenizer(os.path.join(a.shared, 'models', spec['tokenizer']), cfg['vocab_size'])
    w64 = tm.to_dtype(w, torch.float64)
    hf_cfg, hf_sd = as_hf(cfg, w64)

    def logits(ids):
        t = torch.tensor(ids)
        lg = tm.forward_llama2c(cfg, w64, t)
        lg_hf = tm.forward_llama(hf_cfg, hf_sd, t[None])[0]
        diff = float((lg - lg_hf).abs().max())
        if diff > 1e-9:
            raise SystemExit(f'llama2.c and HF-permuted references disagree by {diff}')
        return lg

    # Greedy continuation, run.c style: feed the prompt, then argmax until BOS or the step limit.
    ids = tok.encode(PROMPT, bos=True)
    n_prompt = len(ids)
    for _ in range(GREEDY_STEPS):
        nxt = int(logits(ids)[-1].argmax())
        if nxt == 1:
            break
        ids.append(nxt)
    greedy_text = b''.join(tok.piece_bytes(p, t) for p, t in zip(ids[:-1], ids[1:])).decode('utf-8')

    seqs, texts, meta = [], [], []
    for text in texts_in:
        s = tok.encode(text, bos=True)
        lg = logits(s)
        seqs.append((s, lg.numpy()))
        texts.append(text)
    # Last sequence: the greedy run itself (prompt + continuation), so its argmax chain is checked.
    lg = logits(ids)
    seqs.append((ids, lg.numpy()))
    texts.append(greedy_text)

    for s, lg in seqs:
        meta.append({'n_tok': len(s), 'max_abs_logit': float(abs(lg).max()),
                     'argmax_margin_min': golden.argmax_margin(lg)})
    tol_ratio = 1e-4
    tight = [i for i, m in enumerate(meta) if m['argmax_margin_min'] <= 2 * tol_ratio * m['max_abs_logit']]
    margin_note = ('every argmax_margin_min is above 2x that tolerance' if not tight else
                   'sequences %s have a position whose top-2 gap is within 2x the tolerance' % tight)
    os.makedirs(a.out, exist_ok=True)
    golden.write_logits(os.path.join(a.out, a.model + '.logits'), seqs, cfg['vocab_size'])
    golden.write_json(os.path.join(a.out, a.model + '.json'), {
        'model': '../shared/models/%s.bin' % a.model,
        'tokenizer': '../shared/models/' + spec['tokenizer'],
        'source': 'tests/reference/make_golden_stories260k.py: torch_models.forward_llama2c (llama2.c run.c '
                  'semantics, interleaved RoPE, no permutation) in float64 from the float32 checkpoint; '
                  'cross-checked against forward_llama on HF-permuted q/k to 1e-9',
        'dtype': 'f32',
        'bos': True,
        'texts': texts,
        'text_note': 'ids of sequence i are BOS + the llama2.c encoding of texts[i] (dummy-prefix space, '
                     'byte fallback); the last sequence is the greedy run: prompt + continuation, '
                     'texts[-1] is its decoded text',
        'sequences': meta,
        'tolerance': 'per sequence: max |kvgram - golden| <= 1e-4 * max |golden logit|; argmax equal at every '
                     'position (' + margin_note + ')',
        'greedy': {'prompt': PROMPT, 'n_prompt_tokens': n_prompt, 'ids': ids, 'text': greedy_text,
                   'rule': 'argmax of the last position, stop at BOS (id 1) or after %d tokens' % GREEDY_STEPS,
                   'expected_prefix': spec['expected_prefix']},
    })
    size = os.path.getsize(os.path.join(a.out, a.model + '.logits'))
    if size > 400 * 1024:
        raise SystemExit(f'{a.model}.logits is {size} bytes, over the 400 KB budget')
    print(f'{size} bytes, {len(seqs)} sequences, {sum(len(s) for s, _ in seqs)} positions; greedy: {greedy_text!r}')


if __name__ == '__main__':
    main()
