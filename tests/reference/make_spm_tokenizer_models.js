// make_spm_tokenizer_models.js — writes the SentencePiece-style BPE tokenizers (byte fallback, "▁"
// for spaces, Llama 2 / TinyLlama / Mistral layout) and the NFC variant the tokenizer tests use.
//
// Needs Node and, OUTSIDE the repository, the npm package `tokenizers` (see make_tokenizer_models.js):
//   NODE_PATH=/tmp/tok-ref/node_modules node tests/reference/make_spm_tokenizer_models.js
// then make_tokenizer_goldens.js (which writes every tests/tokenizer/NAME.expected.jsonl).
//
// Training: Tokenizer.train with the BPE model's default trainer on the first 4000 lines of
// ../shared/data/kjv/kjv.train.txt under a Metaspace pre-tokenizer (spaces become "▁", which
// starts each word), so the merges never cross a word boundary, as SentencePiece's do.
// The result is put in Llama 2's layout: <unk> 0, <s> 1, </s> 2, the byte pieces <0x00>..<0xFF>
// at 3..258, the trainer's alphabet, then one token per merge for the first 1000 merges.
//
// Writes tests/tokenizer/NAME.tokenizer.json:
//   spm-llama2      normalizer Sequence[Prepend("▁"), Replace(" ", "▁")], no pre-tokenizer,
//                   byte_fallback, fuse_unk, decoder Replace/ByteFallback/Fuse/Strip,
//                   post_processor "<s> $A" (Llama 2 / TinyLlama as converted by transformers)
//   spm-mistral     no normalizer, pre-tokenizer Metaspace(prepend_scheme "first", split false)
//                   (transformers' legacy=false conversion, Mistral)
//   spm-metaspace   pre-tokenizer Metaspace(prepend_scheme "always", split true), decoder Metaspace
//   spm-unk         as spm-llama2 without byte fallback: unknown characters become <unk>, fused
//   spm-unk-nofuse  the same with fuse_unk false
//   qwen2-nfc       qwen2-style.tokenizer.json with Qwen2's NFC normalizer
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Tokenizer, BPE, metaspacePreTokenizer } = require('tokenizers');

const root = path.resolve(__dirname, '..', '..');
const tdir = path.join(root, 'tests/tokenizer');
const N_MERGES = 1000;
const SP = '\u2581';

const corpus = path.join(os.tmpdir(), 'kvg-kjv-slice.txt');
const kjv = fs.readFileSync(path.join(root, '..', 'shared/data/kjv/kjv.train.txt'), 'utf8').split('\n');
fs.writeFileSync(corpus, kjv.slice(0, 4000).join('\n') + '\n');

const t = new Tokenizer(BPE.empty());
t.setPreTokenizer(metaspacePreTokenizer(SP, 'always', true));
t.train([corpus]);
const tmp = path.join(os.tmpdir(), 'kvg-trained-spm.json');
t.save(tmp, false);
const trained = JSON.parse(fs.readFileSync(tmp, 'utf8'));

// Llama 2 layout.
const vocab = { '<unk>': 0, '<s>': 1, '</s>': 2 };
for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
const single = Object.keys(trained.model.vocab).filter((k) => [...k].length === 1).sort();
for (const c of single) if (!(c in vocab)) vocab[c] = Object.keys(vocab).length;
const merges = trained.model.merges.slice(0, N_MERGES);
for (const [a, b] of merges) {
  if (!(a in vocab) || !(b in vocab)) throw new Error(`merge ${a} ${b}: part not in vocab`);
  if (!((a + b) in vocab)) vocab[a + b] = Object.keys(vocab).length;
}
const special = (id, content) => ({
  id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
});
const addedTokens = [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')];
const llamaDecoder = {
  type: 'Sequence',
  decoders: [
    { type: 'Replace', pattern: { String: SP }, content: ' ' },
    { type: 'ByteFallback' },
    { type: 'Fuse' },
    { type: 'Strip', content: ' ', start: 1, stop: 0 },
  ],
};
const bosTemplate = {
  type: 'TemplateProcessing',
  single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
  pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
         { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
  special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
};
function spm({ normalizer = null, preTokenizer = null, decoder = llamaDecoder, byteFallback = true, fuseUnk = true }) {
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: addedTokens,
    normalizer, pre_tokenizer: preTokenizer, post_processor: bosTemplate, decoder,
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: fuseUnk, byte_fallback: byteFallback, ignore_merges: false,
      vocab, merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}
const llamaNormalizer = {
  type: 'Sequence',
  normalizers: [{ type: 'Prepend', prepend: SP }, { type: 'Replace', pattern: { String: ' ' }, content: SP }],
};
const variants = {
  'spm-llama2': spm({ normalizer: llamaNormalizer }),
  'spm-mistral': spm({ preTokenizer: { type: 'Metaspace', replacement: SP, prepend_scheme: 'first', split: false } }),
  'spm-metaspace': spm({
    preTokenizer: { type: 'Metaspace', replacement: SP, prepend_scheme: 'always', split: true },
    decoder: { type: 'Metaspace', replacement: SP, prepend_scheme: 'always', split: true },
  }),
  'spm-unk': spm({ normalizer: llamaNormalizer, byteFallback: false }),
  'spm-unk-nofuse': spm({ normalizer: llamaNormalizer, byteFallback: false, fuseUnk: false }),
};
const qwen2 = JSON.parse(fs.readFileSync(path.join(tdir, 'qwen2-style.tokenizer.json'), 'utf8'));
qwen2.normalizer = { type: 'NFC' };
variants['qwen2-nfc'] = qwen2;
for (const [name, j] of Object.entries(variants)) {
  const p = path.join(tdir, `${name}.tokenizer.json`);
  fs.writeFileSync(p, JSON.stringify(j));
  Tokenizer.fromFile(p); // HF must accept it
}
console.log(`trained ${trained.model.merges.length} merges; kept ${N_MERGES}, vocab ${Object.keys(vocab).length}`);
