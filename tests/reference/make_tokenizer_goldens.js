// make_tokenizer_goldens.js — the expected token ids for tests/tokenizer/test_bpe.c.
//
// Run after make_tokenizer_models.js, with the same NODE_PATH (see there):
//   NODE_PATH=/tmp/tok-ref/node_modules node tests/reference/make_tokenizer_goldens.js
//
// Cases: every line of tests/tokenizer/test_text.txt (without its "\n"), the whole file as one
// text, whitespace edge cases, and invalid UTF-8 byte sequences. A JS string cannot hold invalid
// bytes, so for those the oracle encodes new TextDecoder().decode(bytes) — each maximal invalid
// subpart becomes one U+FFFD — while kvgram is given the raw bytes ("bytes_hex").
//
// Oracles: Hugging Face `tokenizers` (Tokenizer.fromFile, encode without special tokens, decode
// keeping them) for every tokenizer.json; for GPT-2's real vocabulary, `gpt-3-encoder`, except on
// the whitespace edge cases, where gpt-3-encoder's JavaScript \s (which has U+FEFF and lacks
// U+0085) differs from the Python `regex` module GPT-2 was made with and from HF's Oniguruma
// (U+0085 is space, U+FEFF is not) — there the oracle is HF tokenizers with the same vocab.json +
// merges.txt (BPE.fromFile + ByteLevel). On all other cases the script checks both oracles agree.
//
// Writes tests/tokenizer/NAME.expected.jsonl, one JSON object per case:
//   {"case": "...", "text": "...", "bytes_hex": "..." (only when the input is not text),
//    "ids": [...], "decoded": "..." (only when decode(ids) != text), "oracle": "..."}
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const os = require('os');
const { Tokenizer, BPE, byteLevelPreTokenizer } = require('tokenizers');
const gpt3 = require('gpt-3-encoder');

const root = path.resolve(__dirname, '..', '..');
const tdir = path.join(root, 'tests/tokenizer');

const textFile = fs.readFileSync(path.join(tdir, 'test_text.txt'), 'utf8');
const lines = textFile.split('\n');
lines.pop(); // the file ends in "\n"
const common = lines.map((l, i) => ({ case: `line ${i + 1}`, text: l }));
common.push({ case: 'whole file', text: textFile });
common.push({ case: 'empty', text: '' });
const invalid = [
  'ff', 'c3', 'e282', 'e28241', 'eda080', 'f4908080', 'c0af', 'f09f98', '808080', '41fe42ff43',
  'e08080', 'f888808080', '636166c3', '68656c6c6f20f09f9880f0', '20c3a9c320c3', 'efbbbf41', 'e2808b',
];
for (const hex of invalid) {
  const bytes = Buffer.from(hex, 'hex');
  const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes); // keep a BOM
  const valid = Buffer.from(text, 'utf8').equals(bytes);
  common.push(valid ? { case: `bytes ${hex}`, text } : { case: `bytes ${hex}`, text, bytes_hex: hex });
}
// Where JavaScript's \s and HF's (Oniguruma's) disagree, and newline handling.
const edge = [
  'a\u0085\u0085b', 'x \u0085 y\u0085', 'x\ufeff\ufeff y', '\ufeffstart', 'a\u2028\u2029b', '\u00a0\u00a0 a',
  'a\n\nb', 'a \n b', 'line\r\nnext\r\n', '\n', ' \n ', '\t\n\t', 'x\u000b\u000cy', '  \u0085  ', 'end  \n',
].map((s, i) => ({ case: `edge ${i + 1}`, text: s }));

async function hfIds(tok, c) {
  const enc = await tok.encode(c.text, null, { addSpecialTokens: false });
  const ids = enc.getIds();
  const decoded = await tok.decode(ids, false);
  return { ids, decoded };
}

function write(name, rows) {
  const body = rows.map((r) => {
    const o = { case: r.case, text: r.text };
    if (r.bytes_hex) o.bytes_hex = r.bytes_hex;
    o.ids = r.ids;
    if (r.decoded !== r.text) o.decoded = r.decoded;
    o.oracle = r.oracle;
    return JSON.stringify(o);
  });
  fs.writeFileSync(path.join(tdir, `${name}.expected.jsonl`), body.join('\n') + '\n');
  console.log(`${name}: ${rows.length} cases, ${rows.reduce((s, r) => s + r.ids.length, 0)} ids`);
}

(async () => {
  // GPT-2's real vocabulary.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kvg-gpt2-'));
  for (const f of ['vocab.json', 'merges.txt'])
    fs.writeFileSync(path.join(tmp, f), zlib.gunzipSync(fs.readFileSync(path.join(tdir, 'gpt2', f + '.gz'))));
  // gpt-3-encoder's decode() drops a leading BOM (TextDecoder's default): decode byte-level here.
  const idToTok = {};
  for (const [k, v] of Object.entries(JSON.parse(fs.readFileSync(path.join(tmp, 'vocab.json'), 'utf8')))) idToTok[v] = k;
  const byteOf = {};
  { let n = 0; for (let b = 0; b < 256; b++) {
    const p = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    byteOf[String.fromCodePoint(p ? b : 0x100 + n++)] = b; } }
  const gpt2Decode = (ids) => new TextDecoder('utf-8', { ignoreBOM: true })
    .decode(Uint8Array.from([...ids.map((i) => idToTok[i]).join('')].map((c) => byteOf[c])));
  const hfGpt2 = new Tokenizer(await BPE.fromFile(path.join(tmp, 'vocab.json'), path.join(tmp, 'merges.txt')));
  hfGpt2.setPreTokenizer(byteLevelPreTokenizer(false, true));
  const rows = [];
  let disagree = 0;
  for (const c of common) {
    const ids = gpt3.encode(c.text);
    const hf = await hfIds(hfGpt2, c);
    if (JSON.stringify(ids) !== JSON.stringify(hf.ids)) {
      disagree++;
      console.error(`gpt2 ${c.case}: gpt-3-encoder and HF tokenizers disagree`);
    }
    rows.push({ ...c, ids, decoded: gpt2Decode(ids), oracle: 'gpt-3-encoder' });
  }
  for (const c of edge) { // hfGpt2 has no decoder
    const { ids } = await hfIds(hfGpt2, c);
    rows.push({ ...c, ids, decoded: gpt2Decode(ids), oracle: 'tokenizers' });
  }
  write('gpt2', rows);
  if (disagree) process.exitCode = 1;

  // The tokenizer.json files.
  const files = {
    'tinystories-bpe': path.join(root, 'models/tinystories-bpe/tokenizer.json'),
  };
  for (const f of fs.readdirSync(tdir).sort())
    if (f.endsWith('.tokenizer.json')) files[f.replace('.tokenizer.json', '')] = path.join(tdir, f);
  for (const [name, file] of Object.entries(files)) {
    const tok = Tokenizer.fromFile(file);
    const out = [];
    for (const c of [...common, ...edge]) out.push({ ...c, ...(await hfIds(tok, c)), oracle: 'tokenizers' });
    write(name, out);
  }
})();
