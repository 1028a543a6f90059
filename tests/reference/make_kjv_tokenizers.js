// make_kjv_tokenizers.js — trains the tokenizers of the KJV fixture models and encodes the corpus.
//
// Needs Node and, OUTSIDE the repository, Hugging Face's npm package `tokenizers` (0.23.2):
//   NODE_PATH=/tmp/tok-ref/node_modules node tests/reference/make_kjv_tokenizers.js [SHARED_DIR [WORK_DIR]]
// SHARED_DIR defaults to ../shared (next to the repository), WORK_DIR to /tmp/kvg-kjv-work.
// CI needs neither: it reads the committed tokenizer.json files.
//
// Training: Tokenizer.train with the BPE model's default trainer (the Node binding exposes no
// trainer options, so it learns merges until its default vocabulary of 30000) on
// SHARED_DIR/data/kjv/kjv.train.txt. BPE training is greedy, so keeping the first merges is what a
// trainer with a smaller vocabulary would have produced. Each tokenizer keeps merges until its
// vocabulary holds VOCAB = 2048 tokens, specials included:
//
//   models/kjv-gpt2/tokenizer.json   byte-level like GPT-2: ByteLevel(add_prefix_space=false)
//       pre-tokenizer, ByteLevel post-processor and decoder; ids 0..255 the 256 byte-level
//       characters in byte order, then one token per merge, "<|endoftext|>" last (2047).
//   models/kjv-neox/tokenizer.json   the same merges laid out like Pythia's: "<|endoftext|>" 0,
//       "<|padding|>" 1, then the 256 byte characters, then merges (one fewer).
//   models/kjv-llama/tokenizer.json  SentencePiece-style like Llama 2's: normalizer Prepend("▁") +
//       Replace(" ", "▁"), no pre-tokenizer, BPE with byte_fallback and fuse_unk, "<unk>" 0,
//       "<s>" 1, "</s>" 2, "<0x00>".."<0xFF>" 3..258, the corpus' characters, then merges;
//       post-processor TemplateProcessing "<s> $A"; decoder Replace("▁", " "), ByteFallback, Fuse,
//       Strip(" ", 1, 0). Merges were learned under a Metaspace pre-tokenizer (split on "▁", so no
//       merge crosses a word start), as SentencePiece does.
//
// Every tokenizer.json is then reloaded with Tokenizer.fromFile and must decode each held-out
// verse back to itself. The corpus encodings (ids WITHOUT specials, one JSON array per line) go to
// WORK_DIR/NAME.{train,test}.ids.jsonl for train_kjv.py. Deterministic: same inputs, same files.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const tk = require('tokenizers');

const root = path.resolve(__dirname, '..', '..');
const shared = path.resolve(process.argv[2] || path.join(root, '..', 'shared'));
const work = path.resolve(process.argv[3] || '/tmp/kvg-kjv-work');
const trainTxt = path.join(shared, 'data', 'kjv', 'kjv.train.txt');
const testTxt = path.join(shared, 'data', 'kjv', 'kjv.test.txt');
const VOCAB = 2048;
fs.mkdirSync(work, { recursive: true });

function trainMerges(preTokenizer) {
  const t = new tk.Tokenizer(tk.BPE.empty());
  t.setPreTokenizer(preTokenizer);
  t.train([trainTxt]);
  const tmp = path.join(os.tmpdir(), `kvg-kjv-trained-${process.pid}.json`);
  t.save(tmp, false);
  const j = JSON.parse(fs.readFileSync(tmp, 'utf8'));
  fs.unlinkSync(tmp);
  const merges = j.model.merges.map((m) => (typeof m === 'string' ? m.split(' ') : m));
  // The trainer's single characters (its alphabet), in the trainer's id order.
  const alphabet = Object.entries(j.model.vocab).filter(([s]) => [...s].length === 1)
    .sort((a, b) => a[1] - b[1]).map(([s]) => s);
  return { merges, alphabet };
}

// Adds merges to vocab (string -> id) in order until it holds `limit` entries; returns merges kept.
function addMerges(vocab, merges, limit) {
  const kept = [];
  for (const [a, b] of merges) {
    if (Object.keys(vocab).length >= limit) break;
    if (!(a in vocab) || !(b in vocab)) throw new Error(`merge ${a} ${b}: a part is not in the vocabulary`);
    if (!((a + b) in vocab)) vocab[a + b] = Object.keys(vocab).length;
    kept.push([a, b]);
  }
  return kept;
}

const added = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
const bpeModel = (vocab, merges, o = {}) => ({
  type: 'BPE', dropout: null, unk_token: o.unk || null, continuing_subword_prefix: null, end_of_word_suffix: null,
  fuse_unk: !!o.fuseUnk, byte_fallback: !!o.byteFallback, ignore_merges: false, vocab, merges,
});
const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };

function byteLevelJson(specialsFirst) {
  const { merges } = trainMerges(tk.byteLevelPreTokenizer(false, true));
  const vocab = {};
  const specials = specialsFirst ? ['<|endoftext|>', '<|padding|>'] : [];
  specials.forEach((s, i) => { vocab[s] = i; });
  byteAlphabet().forEach((c) => { vocab[c] = Object.keys(vocab).length; });
  const kept = addMerges(vocab, merges, specialsFirst ? VOCAB : VOCAB - 1);
  const addedTokens = specials.map((s, i) => added(i, s));
  if (!specialsFirst) {
    vocab['<|endoftext|>'] = Object.keys(vocab).length;
    addedTokens.push(added(vocab['<|endoftext|>'], '<|endoftext|>'));
  }
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: addedTokens, normalizer: null,
    pre_tokenizer: byteLevel, post_processor: byteLevel, decoder: byteLevel, model: bpeModel(vocab, kept),
  };
}

// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to U+0100 upwards.
function byteAlphabet() {
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars = [];
  let n = 0;
  for (let b = 0; b < 256; b++) chars.push(String.fromCodePoint(printable(b) ? b : 0x100 + n++));
  return chars;
}

function sentencePieceJson() {
  const { merges, alphabet } = trainMerges(tk.metaspacePreTokenizer('▁', 'always', true));
  const vocab = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  for (const c of alphabet) if (!(c in vocab)) vocab[c] = Object.keys(vocab).length;
  const kept = addMerges(vocab, merges, VOCAB);
  const tokSpec = (s, id) => ({ id: s, ids: [id], tokens: [s] });
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [added(0, '<unk>'), added(1, '<s>'), added(2, '</s>')],
    normalizer: { type: 'Sequence', normalizers: [
      { type: 'Prepend', prepend: '▁' },
      { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
    ] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': tokSpec('<s>', 1) },
    },
    decoder: { type: 'Sequence', decoders: [
      { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
      { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 },
    ] },
    model: bpeModel(vocab, kept, { unk: '<unk>', fuseUnk: true, byteFallback: true }),
  };
}

const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.length > 0);

async function main() {
  const made = {
    'kjv-gpt2': byteLevelJson(false),
    'kjv-neox': byteLevelJson(true),
    'kjv-llama': sentencePieceJson(),
  };
  const test = lines(testTxt);
  const train = lines(trainTxt);
  for (const [name, json] of Object.entries(made)) {
    const dir = path.join(root, 'models', name);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, 'tokenizer.json');
    fs.writeFileSync(file, JSON.stringify(json, null, 1) + '\n');
    const t = tk.Tokenizer.fromFile(file);
    if (t.getVocabSize(true) !== VOCAB) throw new Error(`${name}: vocabulary ${t.getVocabSize(true)}, want ${VOCAB}`);
    for (const [split, ls] of [['train', train], ['test', test]]) {
      const encs = await t.encodeBatch(ls, { addSpecialTokens: false });
      const out = encs.map((e) => JSON.stringify(e.getIds())).join('\n') + '\n';
      fs.writeFileSync(path.join(work, `${name}.${split}.ids.jsonl`), out);
      let n = 0;
      for (const e of encs) n += e.getLength();
      if (split === 'test') {
        for (let i = 0; i < ls.length; i++) {
          const back = await t.decode(encs[i].getIds(), false);
          if (back !== ls[i]) throw new Error(`${name}: test line ${i + 1} decodes to ${JSON.stringify(back)}`);
        }
      }
      console.log(`${name} ${split}: ${ls.length} lines, ${n} tokens`);
    }
  }
}

main().catch((e) => { console.error(e.message); process.exit(1); });
