#!/usr/bin/python3
"""make_llama2c_goldens.py — expected ids for llama2.c tokenizer files (tests/tokenizer/test_llama2c.c).

An independent re-implementation of llama2.c's encoder and decoder (run.c: encode() and
decode()), written from its documented algorithm, in the plainest form: no heap, no derived
merge table, a full scan for the best pair on every step.

  encode(text bytes):
    1. if the text is not empty, the token of the piece " " (the dummy prefix);
    2. the bytes grouped into characters: a byte plus the following continuation bytes
       (10xxxxxx), at most 4 bytes in all; a group that is a piece gives its id, else each
       of its bytes gives id byte + 3 (byte fallback, pieces <0x00>..<0xFF> at ids 3..258);
    3. repeat: among adjacent pairs whose concatenated pieces are a piece, take the one whose
       piece has the highest score (first such pair on ties, scores must beat -1e10) and merge
       it; stop when there is none.
  decode(ids after BOS): each piece; the first one loses a leading space (it follows BOS);
    a piece "<0xXX>" is the byte XX.

Usage: /usr/bin/python3 tests/reference/make_llama2c_goldens.py
Reads ../shared/models/{tok512.bin,aidreams260K_tok512.bin} and tests/tokenizer/test_text.txt;
writes tests/tokenizer/llama2c-NAME.expected.jsonl, one JSON object per case:
  {"case": ..., "bytes_hex": input bytes, "ids": [...], "decoded_hex": decode(ids) bytes}
"""
import json
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(ROOT), 'shared')
OUT = os.path.join(ROOT, 'tests', 'tokenizer')


def read_tok_bin(path, vocab_size):
    data = open(path, 'rb').read()
    off = 4
    pieces, scores = [], []
    for _ in range(vocab_size):
        score, n = struct.unpack_from('<fi', data, off)
        off += 8
        pieces.append(data[off:off + n])
        scores.append(score)
        off += n
    return pieces, scores


def encode(pieces, scores, text):
    lookup = {}
    for i, p in enumerate(pieces):
        lookup.setdefault(p, i)
    ids = []
    if text:
        ids.append(lookup[b' '])
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and (text[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        group = text[i:j]
        if group in lookup:
            ids.append(lookup[group])
        else:
            ids.extend(b + 3 for b in group)
        i = j
    while True:
        best, best_id, best_at = -1e10, -1, -1
        for k in range(len(ids) - 1):
            m = lookup.get(pieces[ids[k]] + pieces[ids[k + 1]], -1)
            if m != -1 and scores[m] > best:
                best, best_id, best_at = scores[m], m, k
        if best_at < 0:
            break
        ids[best_at:best_at + 2] = [best_id]
    return ids


def decode(pieces, ids):
    out = b''
    for k, t in enumerate(ids):
        p = pieces[t]
        if k == 0 and p.startswith(b' '):
            p = p[1:]
        m = re.fullmatch(rb'<0x([0-9A-Fa-f]{2})>', p)
        out += bytes([int(m.group(1), 16)]) if m else p
    return out


def cases():
    text = open(os.path.join(OUT, 'test_text.txt'), 'rb').read()
    lines = text.split(b'\n')[:-1]
    out = [('line %d' % (i + 1), l) for i, l in enumerate(lines)]
    out.append(('whole file', text))
    out.append(('empty', b''))
    extra = [b' ', b'  two leading', b'\n', b'a\nb', b'<0x41> <s> </s> <unk>', b'Lily', b' Lily',
             b'\xff', b'\xc3', b'\xe2\x82', b'\x80\x80\x80', b'A\xfeB\xffC', b'\xf0\x9f\x98', b'caf\xc3',
             b'\xe2\x80\x8a', b'\xe2\x80\x8a\x80\x80', b'\xf4\x90\x80\x80',
             b'Once upon a time, there was a little girl named Lily.']
    out += [('extra %d' % (i + 1), e) for i, e in enumerate(extra)]
    return out


def main():
    for name, fn in (('tok512', 'tok512.bin'), ('aidreams512', 'aidreams260K_tok512.bin')):
        pieces, scores = read_tok_bin(os.path.join(SHARED, 'models', fn), 512)
        rows = []
        for case, text in cases():
            ids = encode(pieces, scores, text)
            rows.append(json.dumps({'case': case, 'bytes_hex': text.hex(), 'ids': ids,
                                    'decoded_hex': decode(pieces, ids).hex()}))
        path = os.path.join(OUT, 'llama2c-%s.expected.jsonl' % name)
        with open(path, 'w') as f:
            f.write('\n'.join(rows) + '\n')
        print('%s: %d cases, %d ids' % (path, len(rows), sum(len(json.loads(r)['ids']) for r in rows)))


if __name__ == '__main__':
    main()
