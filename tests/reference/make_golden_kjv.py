"""make_golden_kjv.py — golden logits for the KJV fixture models (contract C).

  NODE_PATH=/tmp/tok-ref/node_modules /usr/bin/python3 tests/reference/make_golden_kjv.py gpt2|llama|neox

Reads models/kjv-NAME (config.json, model.safetensors, tokenizer.json) and writes
tests/transformer/golden/kjv-NAME.logits and .json. Ids: the BOS of the model (prepended, as
kvgram score does) + the ids Hugging Face's npm `tokenizers` gives for each text (run through
node; no special tokens). Logits: torch_models.forward in float64 on the stored weights (F16/BF16
upcast exactly), stored as float32. The held-out perplexities measured by train_kjv.py
(WORK/kjv-NAME.eval.json) are copied into the .json so a test can compare kvgram's with them.
Deterministic for the same model files.
"""
import argparse
import json
import math
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden          # noqa: E402
import torch_models as tm  # noqa: E402

# Two short held-out verses (kjv.test.txt lines 141 and 69) and an edge text the training corpus
# never had (capitals, digits, non-ASCII, emoji, a tab, a run of spaces).
TEXTS = [
    'and the sons of dan ; hushim .',
    'and jacob said , sell me this day thy birthright .',
    'Zoë: 日 🙂\t12  x',
]
BOS = {'gpt2': 2047, 'llama': 1, 'neox': 0}
BOS_TOKEN = {'gpt2': '<|endoftext|>', 'llama': '<s>', 'neox': '<|endoftext|>'}

NODE_ENCODE = r"""
const tk = require('tokenizers');
const t = tk.Tokenizer.fromFile(process.argv[1]);
const texts = JSON.parse(require('fs').readFileSync(0, 'utf8'));
(async () => {
  const out = [];
  for (const s of texts) out.push((await t.encode(s, null, { addSpecialTokens: false })).getIds());
  console.log(JSON.stringify(out));
})();
"""


def encode(tokenizer_json, texts):
    r = subprocess.run(['node', '-e', NODE_ENCODE, tokenizer_json], input=json.dumps(texts),
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser()
    ap.add_argument('arch', choices=sorted(BOS))
    ap.add_argument('--work', default='/tmp/kvg-kjv-work')
    ap.add_argument('--out', default=os.path.join(root, 'tests', 'transformer', 'golden'))  # see README there
    a = ap.parse_args()
    torch.set_num_threads(1)
    name = 'kjv-' + a.arch
    mdir = os.path.join(root, 'models', name)
    cfg, sd = tm.load_hf_dir(mdir)
    dtypes = sorted({str(v.dtype).replace('torch.', '') for v in sd.values()})
    sd64 = tm.to_dtype(sd, torch.float64)
    vocab = cfg['vocab_size']
    bos = BOS[a.arch]

    seqs, meta = [], []
    for ids in encode(os.path.join(mdir, 'tokenizer.json'), TEXTS):
        ids = [bos] + ids
        lg = tm.forward(cfg, sd64, torch.tensor([ids]))[0].numpy()
        seqs.append((ids, lg))
        meta.append({'n_tok': len(ids), 'max_abs_logit': float(abs(lg).max()),
                     'argmax_margin_min': golden.argmax_margin(lg)})
    tight = [i for i, m in enumerate(meta) if m['argmax_margin_min'] <= 2e-4 * m['max_abs_logit']]
    margin_note = ('every argmax_margin_min is above 2x that tolerance' if not tight else
                   'sequences %s have a position whose top-2 gap is within 2x the tolerance' % tight)

    with open(os.path.join(a.work, f'{name}.eval.json')) as f:
        ev = json.load(f)
    # The other scoring convention, for a scorer that prepends no BOS: the first token of each
    # line is context only and the rest are predicted (lines of one token predict nothing).
    with open(os.path.join(a.work, f'{name}.test.ids.jsonl')) as f:
        head = [json.loads(line) for line, _ in zip(f, range(200))]
    sd32 = tm.to_dtype(sd, torch.float32)
    nb_total, nb_n = 0.0, 0
    with torch.no_grad():
        for v in head:
            if len(v) < 2:
                continue
            logp = torch.log_softmax(tm.forward(cfg, sd32, torch.tensor([v]))[0].double(), dim=-1)
            nb_total += float(logp[torch.arange(len(v) - 1), torch.tensor(v[1:])].sum())
            nb_n += len(v) - 1
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, f'{name}.logits')
    golden.write_logits(path, seqs, vocab)
    if os.path.getsize(path) > 400 * 1024:
        raise SystemExit(f'{path}: {os.path.getsize(path)} bytes, over the 400 KB budget')
    golden.write_json(os.path.join(a.out, f'{name}.json'), {
        'model': f'models/{name}',
        'source': 'tests/reference/make_golden_kjv.py: torch_models.forward (%s) in float64 on the stored %s '
                  'weights; ids from HF tokenizers (npm 0.23.2) on models/%s/tokenizer.json'
                  % (cfg['model_type'], '/'.join(dtypes), name),
        'dtype': 'f32',
        'weight_dtype': '/'.join(dtypes),
        'bos': bos,
        'bos_token': BOS_TOKEN[a.arch],
        'texts': TEXTS,
        'text_note': 'ids of sequence i are [bos] + the tokenizer ids of texts[i] (no other special tokens)',
        'sequences': meta,
        'tolerance': 'converted with --type f32: per sequence max |kvgram - golden| <= 1e-4 * max |golden logit|, '
                     'argmax equal at every position (' + margin_note + ')',
        'heldout': {
            'rule': 'each line scored as [bos] + tokenizer ids from position 0; every id predicted, bos only '
                    'context; ppl = exp(-total_ln / tokens); reference forward in float32. no_bos: the line\'s '
                    'ids alone from position 0, the first only context',
            'kjv.test.head200.txt': {'path': '../shared/data/kjv/kjv.test.head200.txt', 'lines': 200,
                                     'tokens': ev['head200_tokens'], 'total_ln': ev['head200_total_ln'],
                                     'ppl': ev['head200_ppl'],
                                     'no_bos': {'tokens': nb_n, 'total_ln': nb_total,
                                                'ppl': math.exp(-nb_total / nb_n)}},
            'kjv.test.txt': {'path': '../shared/data/kjv/kjv.test.txt', 'lines': 3110,
                             'tokens': ev['heldout_tokens'], 'total_ln': ev['heldout_total_ln'],
                             'ppl': ev['heldout_ppl']},
            'uniform_ppl': vocab,
            'ppl_tolerance': 'relative 1e-4 on ppl (f32 accumulation differences only)',
        },
        'training': {k: ev[k] for k in ('params', 'steps', 'batch', 'ctx', 'lr', 'seed', 'torch',
                                        'final_train_loss_mean_last50', 'train_seconds')},
    })
    print(name, [m['n_tok'] for m in meta], os.path.getsize(path), 'bytes; head200 ppl', ev['head200_ppl'])


if __name__ == '__main__':
    main()
