#!/usr/bin/env python3
"""make_safetensors_fixtures.py OUTDIR — safetensors files for tests/convert/test_safetensors.c.

Written from the format's definition, with the standard library only (struct,
json), independently of the C reader in tools/safetensors.c:

    u64 little-endian N | N bytes of UTF-8 JSON, padded with spaces | data region

The JSON maps tensor names to {"dtype", "shape", "data_offsets": [begin, end)}
(offsets relative to the data region) and may hold "__metadata__" (string ->
string). A sharded checkpoint adds model.safetensors.index.json with
{"metadata": {...}, "weight_map": {tensor name: shard file}}.

Every float element is value(name, i) below, exactly representable in F32,
F16 and BF16, so the C test can check each one exactly. Layout of OUTDIR:

    good/model.safetensors       every dtype family, odd header length (unaligned data)
    single_dir/model.safetensors the same tensors, header padded to 8 (as the Rust writer does)
    sharded/                     index + 2 shards
    big/model.safetensors        one 2 GiB F32 tensor in a sparse file (open must not read it)
    bad/*.safetensors            one malformed file per check, plus empty / short / text files
    bad_sharded/CASE/            malformed sharded checkpoints and directories
"""
import json
import os
import struct
import sys


def seed(name):
    return sum(name.encode()) % 17


def value(name, i):
    """Element i of tensor `name`: a multiple of 1/8 in [-1, 1]."""
    return (((i + seed(name)) % 17) - 8) * 0.125


def ivalue(name, i):
    """Element i of an integer tensor: value(name, i) * 8, in [-8, 8]."""
    return ((i + seed(name)) % 17) - 8


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def encode(dtype, name, shape):
    n = count(shape)
    fv = [value(name, i) for i in range(n)]
    iv = [ivalue(name, i) for i in range(n)]
    if dtype == "F32":
        return struct.pack("<%df" % n, *fv)
    if dtype == "F64":
        return struct.pack("<%dd" % n, *fv)
    if dtype == "F16":
        return struct.pack("<%de" % n, *fv)
    if dtype == "BF16":
        # bfloat16 is the high half of the float32 bits; exact for these values.
        return b"".join(struct.pack("<f", v)[2:] for v in fv)
    if dtype == "I64":
        return struct.pack("<%dq" % n, *iv)
    if dtype == "I32":
        return struct.pack("<%di" % n, *iv)
    if dtype == "I8":
        return struct.pack("<%db" % n, *iv)
    if dtype == "U8":
        return bytes(v + 8 for v in iv)
    if dtype == "BOOL":
        return bytes((v & 1) for v in iv)
    if dtype == "F8_E4M3":
        return bytes(0x38 for _ in range(n))  # 1.0 in e4m3; not checked by value
    raise ValueError(dtype)


def pack(tensors, metadata=None):
    """tensors: [(name, dtype, shape)] -> (header dict, data bytes), laid out in order."""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        blob = encode(dtype, name, shape)
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    return header, data


def write(path, header, data, align=8, rem=0, raw=None, declared=None, size=None, grow=0):
    """Writes a safetensors file. The JSON (or `raw` bytes instead) is padded
    with spaces until 8 + N = rem (mod align). `declared` overrides N as
    written; `size` sets the file's length, `grow` adds to it (sparsely)."""
    text = raw if raw is not None else json.dumps(header).encode()
    while (8 + len(text)) % align != rem:
        text += b" "
    n = len(text) if declared is None else declared
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", n) + text + data)
        if size is not None or grow:
            f.truncate((size if size is not None else f.tell()) + grow)


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(text)


# The tensors of the single-file checkpoint (the C test holds the same list).
SINGLE = [
    ("model.embed.weight", "F32", (5, 7)),
    ("layers.0.attn.q", "F16", (2, 3, 4)),
    ("layers.0.norm", "BF16", (11,)),
    ("scalar", "F32", ()),
    ("empty", "F16", (0, 4)),
    ("lm_head", "BF16", (3, 1, 2, 1, 2)),
    ("eight_dims", "F32", (1, 2, 1, 2, 1, 2, 1, 2)),
    ("ids", "I64", (4,)),
    ("mask", "BOOL", (3,)),
    ("bytes", "U8", (6,)),
    ("f64", "F64", (2,)),
    ("fp8", "F8_E4M3", (4,)),
]
SINGLE_META = {"format": "pt", "source": "kvgram fixture"}

SHARD1 = [("model.embed.weight", "F32", (4, 6)), ("layers.0.w", "BF16", (6, 4))]
SHARD2 = [("layers.1.w", "F16", (6, 4)), ("lm_head.weight", "F32", (3, 4))]
SHARD_NAMES = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")


def write_sharded(folder, shards, weight_map=None, index_raw=None):
    """shards: {file name: tensor list or raw bytes}; weight_map defaults to
    where the tensors really are."""
    wm = {}
    for fname, content in shards.items():
        if isinstance(content, bytes):
            write_text(os.path.join(folder, fname), content)
            continue
        meta = {"format": "pt"}
        if fname == SHARD_NAMES[1]:
            meta["extra"] = "two"
        header, data = pack(content, meta)
        write(os.path.join(folder, fname), header, data)
        for name, _, _ in content:
            wm[name] = fname
    if weight_map is not None:
        wm = weight_map
    index = index_raw if index_raw is not None else json.dumps(
        {"metadata": {"total_size": 0}, "weight_map": wm}, indent=2).encode()
    write_text(os.path.join(folder, "model.safetensors.index.json"), index)


def one(name="w", dtype="F32", shape=(2, 3), offsets=(0, 24)):
    return {name: {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}}


def bad_single(out):
    d = os.path.join(out, "bad")
    data24 = encode("F32", "w", (2, 3))
    dumps = lambda h: json.dumps(h).encode()
    base = one()

    def entry(**changes):
        e = dict(base["w"])
        for k, v in changes.items():
            if v is None:
                del e[k]
            else:
                e[k] = v
        return dumps({"w": e})

    cases = {
        "missing_dtype": entry(dtype=None),
        "missing_shape": entry(shape=None),
        "missing_offsets": entry(data_offsets=None),
        "dtype_not_string": entry(dtype=32),
        "dtype_unknown": entry(dtype="F33"),
        "shape_not_array": entry(shape=6),
        "shape_negative": entry(shape=[-2, -3]),
        "shape_fraction": entry(shape=[2.5, 3]),
        "shape_string": entry(shape=["2", 3]),
        "shape_overflow": entry(shape=[2 ** 32, 2 ** 32]),
        "shape_too_many_dims": entry(shape=[1] * 9, data_offsets=[0, 4]),
        "offsets_not_pair": entry(data_offsets=[0]),
        "offsets_fraction": entry(data_offsets=[0, 24.0]),
        "offsets_negative": entry(data_offsets=[-8, 24]),
        "offsets_reversed": entry(data_offsets=[24, 0]),
        "offsets_beyond": entry(data_offsets=[0, 48]),
        "size_mismatch": entry(data_offsets=[0, 20]),
        "dtype_f4_odd": entry(dtype="F4", shape=[3], data_offsets=[0, 2]),
        "entry_not_object": dumps({"w": [1, 2]}),
        "metadata_not_object": dumps(dict(base, __metadata__="pt")),
        "metadata_not_string": dumps(dict(base, __metadata__={"n": 1})),
        "overlap": dumps({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                          "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}),
        "duplicate_key": b'{"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},'
                         b' "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}',
        "header_not_json": b'{"w": {"dtype": "F32",\n  "shape": [2, 3],, "data_offsets": [0, 24]}}',
        "name_nul": b'{"w\\u0000x": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}}',
        "header_not_object": b"[1, 2]",
    }
    for case, raw in cases.items():
        write(os.path.join(d, case + ".safetensors"), None, data24, raw=raw)

    # Header lengths: absurd (the file is sparse and longer than N, so only
    # the limit can refuse it), past the end of the file, zero.
    write(os.path.join(d, "header_absurd.safetensors"), base, data24, declared=150_000_000,
          size=150_000_100)
    write(os.path.join(d, "header_beyond_file.safetensors"), base, data24, declared=5000)
    write(os.path.join(d, "header_zero.safetensors"), None, data24, raw=b"", declared=0)
    write_text(os.path.join(d, "empty.safetensors"), b"")
    write_text(os.path.join(d, "short.safetensors"), b"\x10\x00\x00\x00\x00")
    write_text(os.path.join(d, "text.safetensors"), b"hello, this is not a safetensors file\n")

    # A small valid file: the C test mutates its header byte by byte.
    header, data = pack([("a", "F32", (2, 2)), ("b", "BF16", (3,))], {"k": "v"})
    write(os.path.join(d, "valid_small.safetensors"), header, data)


def bad_sharded(out):
    d = os.path.join(out, "bad_sharded")
    s1, s2 = SHARD_NAMES
    p = lambda case: os.path.join(d, case)

    # The index names shard 2, which is not there.
    write_sharded(p("shard_missing"), {s1: SHARD1},
                  weight_map=dict({n: s1 for n, _, _ in SHARD1}, **{"lm_head.weight": s2}))
    # weight_map lists a tensor no shard holds / puts one in the wrong shard.
    wm = {n: s1 for n, _, _ in SHARD1}
    wm.update({n: s2 for n, _, _ in SHARD2})
    write_sharded(p("shard_lacks_tensor"), {s1: SHARD1, s2: SHARD2}, weight_map=dict(wm, ghost=s1))
    write_sharded(p("shard_wrong"), {s1: SHARD1, s2: SHARD2},
                  weight_map=dict(wm, **{"lm_head.weight": s1}))
    # One name in both shards.
    write_sharded(p("shard_duplicate"), {s1: SHARD1, s2: SHARD2 + [("layers.0.w", "BF16", (6, 4))]},
                  weight_map=wm)
    # Shard 2 is not safetensors / has a bad header.
    write_sharded(p("shard_not_safetensors"), {s1: SHARD1, s2: b"PK\x03\x04 a zip, not safetensors"},
                  weight_map=wm)
    write_sharded(p("shard_bad_header"), {s1: SHARD1}, weight_map=wm)
    write(os.path.join(p("shard_bad_header"), s2), None, encode("F32", "w", (2, 3)),
          raw=json.dumps(one(name="lm_head.weight", offsets=(0, 48))).encode())
    # Broken indexes.
    write_sharded(p("index_not_json"), {s1: SHARD1}, index_raw=b'{\n  "weight_map": {\n    "a": }\n}\n')
    write_sharded(p("index_no_weight_map"), {s1: SHARD1}, index_raw=b'{"metadata": {}}')
    write_sharded(p("index_empty_map"), {s1: SHARD1}, index_raw=b'{"weight_map": {}}')
    write_sharded(p("index_map_not_string"), {s1: SHARD1}, index_raw=b'{"weight_map": {"a": 3}}')
    write_sharded(p("index_escape"), {s1: SHARD1},
                  index_raw=b'{"weight_map": {"a": "../outside.safetensors"}}')
    # Directories without a safetensors checkpoint.
    write_text(os.path.join(p("no_safetensors"), "config.json"), b"{}\n")
    write_text(os.path.join(p("pytorch_bin"), "pytorch_model.bin"), b"PK\x03\x04")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_safetensors_fixtures.py OUTDIR")
    out = sys.argv[1]

    header, data = pack(SINGLE, SINGLE_META)
    # 8 + N = 3 (mod 8): every tensor's data is misaligned for its dtype.
    write(os.path.join(out, "good", "model.safetensors"), header, data, rem=3)
    write(os.path.join(out, "single_dir", "model.safetensors"), header, data)
    write_sharded(os.path.join(out, "sharded"), {SHARD_NAMES[0]: SHARD1, SHARD_NAMES[1]: SHARD2})

    # 2 GiB of F32 zeros, sparse: opening must cost O(header), not O(file).
    n = 1 << 29
    big = {"huge": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}
    write(os.path.join(out, "big", "model.safetensors"), big, b"", grow=4 * n)

    bad_single(out)
    bad_sharded(out)


if __name__ == "__main__":
    main()
