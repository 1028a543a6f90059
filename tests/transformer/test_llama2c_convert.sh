#!/usr/bin/env bash
# test_llama2c_convert.sh — `kvgram convert` on llama2.c checkpoints.
#  - The versioned exports (v1 f32, v2 int8 groups) and the legacy file with
#    a separate classifier, written from stories260K by an independent Python
#    script (make_llama2c_variants.py, from export.py's documented layout),
#    convert; v1 gives tensor data byte-identical to the legacy file's.
#  - Broken checkpoints (empty, truncated, trailing bytes, absurd or
#    inconsistent header values, an unknown export version) are refused with
#    exit 1 and one stderr line naming the file, and leave no output behind.
set -u
: "${KVG_BIN:?}" "${KVG_SHARED_DIR:?}" "${KVG_SOURCE_DIR:?}"
# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" llama2c-convert

legacy=$KVG_SHARED_DIR/models/stories260K.bin
in=$tmp/in
out=$tmp/out
mkdir "$in" "$out"

run() {
    timeout 60 "$KVG_BIN" "$@" >"$tmp/stdout" 2>"$tmp/err" </dev/null
    status=$?
    err=$(cat "$tmp/err")
}

# The tensor data of a .kvg: bytes [128, meta_offset).
tensor_data() { python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read()
sys.stdout.buffer.write(b[128:struct.unpack("<Q", b[40:48])[0]])' "$1"; }

# ---- good inputs ----
python3 "$KVG_SOURCE_DIR/tests/transformer/make_llama2c_variants.py" "$legacy" "$in" || fail "variants script failed"
for v in legacy v1 v2 unshared; do
    src=$in/$v.bin
    [ "$v" = legacy ] && src=$legacy
    run convert "$src" -o "$out/$v.kvg" --quiet
    if [ "$status" -eq 0 ] && [ -s "$out/$v.kvg" ]; then pass; else fail "$v: exit $status: $err"; fi
done
if cmp -s <(tensor_data "$out/legacy.kvg") <(tensor_data "$out/v1.kvg"); then pass; else
    fail "v1 export: tensor data differs from the legacy file's"; fi
run info "$out/unshared.kvg"
if grep -q 'output.weight' "$tmp/stdout" && grep -q 'tied_embeddings *u64 *0' "$tmp/stdout"; then pass; else
    fail "unshared: no separate output.weight / tied_embeddings 0"; fi
run info "$out/legacy.kvg"
if grep -q 'attn_q.weight *f32 *\[64, 64\]' "$tmp/stdout" && ! grep -q 'output.weight' "$tmp/stdout"; then pass; else
    fail "legacy: unexpected tensor table: $(head -c 400 "$tmp/stdout")"; fi
run convert "$legacy" -o "$out/f16.kvg" --type f16 --quiet
run info "$out/f16.kvg"
if grep -q 'attn_q.weight *f16' "$tmp/stdout" && grep -q 'attn_norm.weight *f32' "$tmp/stdout"; then pass; else
    fail "--type f16: matrices not f16 or norms not f32"; fi
rm -f "$out"/*

# ---- bad inputs ----
# expect_refused WHAT FILE REGEX: converting FILE exits 1 with one line "kvgram: FILE: ...REGEX..." and no output.
expect_refused() {
    run convert "$2" -o "$out/bad.kvg"
    expect_refusal "$1" 1 "$tmp/stdout" "kvgram: $2:"
    expect_err_matches "$1" "$3"
    if [ -z "$(ls -A "$out")" ]; then pass; else fail "$1: left $(ls -A "$out")"; fi
}
# header I0..I6 FILE: a legacy header with these seven ints followed by the stories260K weights.
header() {
    python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack("<7i", *map(int, sys.argv[1:8])))' "$@" >"$in/$8"
    tail -c +29 "$legacy" >>"$in/$8"
}
: >"$in/empty.bin"
expect_refused empty "$in/empty.bin" "empty"
head -c 20 "$legacy" >"$in/short.bin"
expect_refused "short header" "$in/short.bin" "truncated llama2.c header"
head -c 1000000 "$legacy" >"$in/truncated.bin"
expect_refused truncated "$in/truncated.bin" "needs 1056540.*truncated"
{ cat "$legacy"; printf 'xyz'; } >"$in/trailing.bin"
expect_refused "trailing bytes" "$in/trailing.bin" "trailing bytes"
header 1073741824 172 5 8 4 512 512 huge-dim.bin
expect_refused "absurd dim" "$in/huge-dim.bin" "dim = 1073741824 is out of range"
header 64 172 -5 8 4 512 512 neg-layers.bin
expect_refused "negative layers" "$in/neg-layers.bin" "n_layers = -5"
header 64 172 5 7 4 512 512 bad-heads.bin
expect_refused "dim not a multiple of heads" "$in/bad-heads.bin" "n_heads"
header 64 172 5 8 3 512 512 bad-kv.bin
expect_refused "heads not a multiple of kv heads" "$in/bad-kv.bin" "n_kv_heads = 3"
header 64 172 6 8 4 512 512 more-layers.bin
expect_refused "header claims more layers" "$in/more-layers.bin" "truncated"
python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack("<Ii", 0x616b3432, 3) + bytes(248))' >"$in/v3.bin"
expect_refused "unknown version" "$in/v3.bin" "version 3 is not supported"
python3 -c 'import struct, sys; sys.stdout.buffer.write(struct.pack("<Ii", 0x616b3432, 1) + bytes(20))' >"$in/v1-short.bin"
expect_refused "short versioned header" "$in/v1-short.bin" "truncated"
mkdir "$in/dir.bin"
expect_refused directory "$in/dir.bin" "directory"
finish
