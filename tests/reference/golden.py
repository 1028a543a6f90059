"""golden.py — writes and reads golden logits files (contract C of the kvgram project).

NAME.logits, little-endian: 8 bytes "KVGLOGIT", u32 n_seq, u32 vocab, then per sequence
u32 n_tok, i32 ids[n_tok], f32 logits[n_tok * vocab] (row t = logits after reading ids[0..t]).
NAME.json beside it describes where the numbers came from (model, source, dtype, texts,
tolerance, and whatever else the maker records).
"""
import json
import struct

import numpy as np

MAGIC = b'KVGLOGIT'


def write_logits(path, seqs, vocab):
    """seqs: list of (ids: list[int], logits: array-like [n_tok, vocab])."""
    parts = [MAGIC, struct.pack('<II', len(seqs), vocab)]
    for ids, logits in seqs:
        lg = np.asarray(logits, dtype='<f4')
        if lg.shape != (len(ids), vocab):
            raise ValueError(f'{path}: logits shape {lg.shape}, want {(len(ids), vocab)}')
        parts.append(struct.pack('<I', len(ids)))
        parts.append(np.asarray(ids, dtype='<i4').tobytes())
        parts.append(lg.tobytes())
    with open(path, 'wb') as f:
        f.write(b''.join(parts))


def read_logits(path):
    """Returns (vocab, [(ids ndarray int32, logits ndarray float32 [n_tok, vocab])])."""
    with open(path, 'rb') as f:
        raw = f.read()
    if raw[:8] != MAGIC:
        raise ValueError(f'{path}: bad magic')
    n_seq, vocab = struct.unpack_from('<II', raw, 8)
    off, out = 16, []
    for _ in range(n_seq):
        (n,) = struct.unpack_from('<I', raw, off)
        off += 4
        ids = np.frombuffer(raw, dtype='<i4', count=n, offset=off)
        off += 4 * n
        lg = np.frombuffer(raw, dtype='<f4', count=n * vocab, offset=off).reshape(n, vocab)
        off += 4 * n * vocab
        out.append((ids, lg))
    if off != len(raw):
        raise ValueError(f'{path}: {len(raw) - off} trailing bytes')
    return vocab, out


def argmax_margin(logits):
    """Smallest gap between the largest and second-largest logit over all rows: positions whose
    gap is below the comparison tolerance cannot have a stable argmax."""
    lg = np.asarray(logits, dtype=np.float64)
    top2 = np.sort(lg, axis=1)[:, -2:]
    return float((top2[:, 1] - top2[:, 0]).min())


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write('\n')
