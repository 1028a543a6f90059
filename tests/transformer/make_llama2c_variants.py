#!/usr/bin/env python3
"""make_llama2c_variants.py LEGACY.bin OUTDIR — rewrites a llama2.c legacy
checkpoint (v0) into the other layouts llama2.c's export.py writes, from the
layouts as export.py documents them (not from kvgram's reader):
  v1.bin      magic "ak42", version 1, header padded to 256, f32 weights
              (norms first, then embedding and the matrix stacks);
  v2.bin      version 2: f32 norms, int8 matrices (symmetric, groups of 64
              along the flattened weight, scale = max|w| / 127), then the scales;
  unshared.bin  the legacy file with a separate classifier (negative vocab),
              the classifier equal to the embedding;
  tiny.bin    a legacy file with random weights (seed 1) and the same
              vocabulary size: dim 8, hidden 16, 1 layer, 2 heads, 1 kv head,
              seq_len 64 — cheap enough to score a megabyte, with a context
              short enough that long texts span many windows.
Plain Python (struct + array), no numpy."""
import array
import random
import struct
import sys

src, outdir = sys.argv[1], sys.argv[2]
raw = open(src, "rb").read()
dim, hidden, L, nh, nkv, vocab, seq = struct.unpack("<7i", raw[:28])
assert vocab > 0, "expects a shared-classifier legacy file"
hs = dim // nh
kv = hs * nkv
f = array.array("f")
f.frombytes(raw[28:])
at = 0


def take(n):
    global at
    a = f[at:at + n]
    at += n
    return a


emb = take(vocab * dim)
att_norm = [take(dim) for _ in range(L)]
wq = [take(dim * dim) for _ in range(L)]
wk = [take(kv * dim) for _ in range(L)]
wv = [take(kv * dim) for _ in range(L)]
wo = [take(dim * dim) for _ in range(L)]
ffn_norm = [take(dim) for _ in range(L)]
w1 = [take(hidden * dim) for _ in range(L)]
w2 = [take(dim * hidden) for _ in range(L)]
w3 = [take(hidden * dim) for _ in range(L)]
norm = take(dim)
rope = take(seq * hs)
assert at == len(f)


def header(version, extra=b""):
    h = struct.pack("<Ii7iB", 0x616B3432, version, dim, hidden, L, nh, nkv, vocab, seq, 1) + extra
    return h + b"\0" * (256 - len(h))


mats = [emb] + wq + wk + wv + wo + w1 + w2 + w3
norms = att_norm + ffn_norm + [norm]
with open(outdir + "/v1.bin", "wb") as out:
    out.write(header(1))
    for a in norms + mats:
        out.write(a.tobytes())

G = 64
with open(outdir + "/v2.bin", "wb") as out:
    out.write(header(2, struct.pack("<i", G)))
    for a in norms:
        out.write(a.tobytes())
    scales = []
    for a in mats:
        q = array.array("b")
        for g in range(0, len(a), G):
            block = a[g:g + G]
            s = max(abs(x) for x in block) / 127.0
            scales.append(s)
            q.extend(int(round(x / s)) if s else 0 for x in block)
        out.write(q.tobytes())
    out.write(array.array("f", scales).tobytes())

with open(outdir + "/unshared.bin", "wb") as out:
    out.write(struct.pack("<7i", dim, hidden, L, nh, nkv, -vocab, seq))
    out.write(raw[28:])
    out.write(emb.tobytes())

rng = random.Random(1)
td, th, tL, tnh, tnkv, tseq = 8, 16, 1, 2, 1, 64
ths = td // tnh
n_floats = (vocab * td + tL * td + tL * td * td + 2 * tL * ths * tnkv * td + tL * td * td + tL * td
            + 3 * tL * th * td + td + tseq * ths)
tw = array.array("f", (rng.gauss(0, 0.5) for _ in range(n_floats)))
with open(outdir + "/tiny.bin", "wb") as out:
    out.write(struct.pack("<7i", td, th, tL, tnh, tnkv, vocab, tseq))
    out.write(tw.tobytes())
