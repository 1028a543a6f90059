#!/usr/bin/env bash
# test_cli_format.sh — `kvgram info` and `kvgram verify` the way a user runs
# them: help and usage errors, a good file, and bad inputs. A bad input must
# exit non-zero without crashing (status < 128) and print exactly one line to
# stderr, "kvgram: PATH: problem", naming the file and the problem.
#
# Environment (set by CTest): KVG_BIN, the kvgram binary; KVG_MAKE_SAMPLE, the
# make_sample_kvg helper that writes a valid sample (tests/format/kvg_sample.h).
set -u

: "${KVG_BIN:?KVG_BIN must name the kvgram binary}"
: "${KVG_MAKE_SAMPLE:?KVG_MAKE_SAMPLE must name the make_sample_kvg helper}"

# shellcheck source=testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh" cli-format

# run ARGS...: runs kvgram with a 10-second deadline; sets $status, $out, $err.
run() {
    timeout 10 "$KVG_BIN" "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
    out=$(cat "$tmp/out")
    err=$(cat "$tmp/err")
}

# expect_status WANT WHAT
expect_status() {
    if [ "$status" -eq "$1" ]; then pass; else fail "$2: exit status $status, expected $1 (stderr: $err)"; fi
}

# expect_contains TEXT NEEDLE WHAT
expect_contains() {
    case "$1" in
    *"$2"*) pass ;;
    *) fail "$3: expected \"$2\" in: $1" ;;
    esac
}

# expect_refused WHAT PATH PHRASE COMMAND...: the command fails cleanly with one
# stderr line "kvgram: PATH: ..." containing PHRASE, and prints nothing on stdout.
expect_refused() {
    local what=$1 path=$2 phrase=$3
    shift 3
    run "$@"
    expect_refusal "$what: \`kvgram $*\`" fail "$tmp/out" "kvgram: $path: "
    expect_err_says "$what" "$phrase"
}

# u64 FILE OFFSET: the little-endian u64 at OFFSET.
u64() { od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }

# flip FILE OFFSET: inverts the byte at OFFSET in place.
flip() {
    local byte
    byte=$(od -An -t u1 -j "$2" -N 1 "$1" | tr -d ' ')
    printf "\\$(printf '%03o' $((byte ^ 255)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# ---- help, version, usage errors ---------------------------------------------

run --version
expect_status 0 "--version"
expect_contains "$out" "kvgram " "--version"
expect_contains "$out" ".kvg format 1." "--version"

for args in "--help" "-h" "help"; do
    run $args
    expect_status 0 "kvgram $args"
    expect_contains "$out" "usage: kvgram COMMAND" "kvgram $args"
    for cmd in convert info verify; do
        expect_contains "$out" "  $cmd " "kvgram $args lists $cmd"
    done
done

for cmd in info verify convert; do
    run "$cmd" --help
    expect_status 0 "kvgram $cmd --help"
    expect_contains "$out" "usage: kvgram $cmd" "kvgram $cmd --help"
    run help "$cmd"
    expect_status 0 "kvgram help $cmd"
    expect_contains "$out" "usage: kvgram $cmd" "kvgram help $cmd"
done

run
expect_status 2 "kvgram with no command"
expect_contains "$err" "usage: kvgram COMMAND" "kvgram with no command"
run frobnicate
expect_status 2 "unknown command"
expect_contains "$err" 'unknown command "frobnicate"' "unknown command"
for cmd in info verify convert; do
    run "$cmd" --no-such-option x.kvg
    expect_status 2 "kvgram $cmd --no-such-option"
    expect_contains "$err" "unknown option --no-such-option" "kvgram $cmd --no-such-option"
done
run info
expect_status 2 "info without FILE"
expect_contains "$err" "missing FILE" "info without FILE"
run verify
expect_status 2 "verify without FILE"
expect_contains "$err" "missing FILE" "verify without FILE"

# ---- a good file -----------------------------------------------------------

good="$tmp/good.kvg"
if ! "$KVG_MAKE_SAMPLE" "$good" full; then
    echo "cannot write the sample file" >&2
    exit 2
fi
size=$(stat -c %s "$good")

run verify "$good"
expect_status 0 "verify good file"
expect_contains "$out" "$good: OK (7 tensors, $size bytes" "verify good file"
if [ -z "$err" ]; then pass; else fail "verify good file: stderr: $err"; fi
run verify -q "$good"
expect_status 0 "verify -q good file"
if [ -z "$out$err" ]; then pass; else fail "verify -q printed: $out$err"; fi

run info "$good"
expect_status 0 "info good file"
expect_contains "$out" "format:     .kvg 1.0, little-endian, alignment 64" "info header"
expect_contains "$out" "size:       $size bytes" "info size"
expect_contains "$out" "metadata:   11 keys" "info metadata count"
expect_contains "$out" '"llama"' "info string value"
expect_contains "$out" 'str[4]' "info string array"
expect_contains "$out" "tensors:    7" "info tensor count"
for row in "tok_embd.weight  q8_0   [4, 64]" "out_norm.weight  f32    [5]" "attn.f16         f16    [3, 3]" \
    "attn.bf16        bf16   [2, 1, 1, 3]" "q4               q4_0   [32]" "ids              i32    [2, 2, 2]" \
    "bytes            u8     [7]"; do
    expect_contains "$out" "$row" "info tensor row"
done
# elements 256+5+9+6+32+8+7 = 323; bytes 272+20+18+12+18+32+7 = 379
expect_contains "$out" "total:      7 tensors, 323 elements, 379 bytes of tensor data" "info totals"
run info --full "$good"
expect_status 0 "info --full"
run info "$good" "$good"
expect_status 2 "info with two files"

# ---- bad inputs ------------------------------------------------------------

meta_offset=$(u64 "$good" 40)
dir_offset=$(u64 "$good" 64)
first_tensor=$(u64 "$good" "$((dir_offset + 56))")

missing="$tmp/missing.kvg"
empty="$tmp/empty.kvg"
: >"$empty"
cut_header="$tmp/cut-header.kvg"
head -c 100 "$good" >"$cut_header"
cut_data="$tmp/cut-data.kvg"
head -c 300 "$good" >"$cut_data"
cut_dir="$tmp/cut-dir.kvg"
head -c "$((size - 3))" "$good" >"$cut_dir"
tiny="$tmp/tiny.kvg"
printf 'hi\n' >"$tiny"
magic="$tmp/magic.kvg"
cp "$good" "$magic"
flip "$magic" 2
gguf="$tmp/model.gguf"
{ printf 'GGUF\003\000\000\000'; head -c 200 /dev/zero; } >"$gguf"
head_flip="$tmp/head-flip.kvg"
cp "$good" "$head_flip"
flip "$head_flip" 100
minor_flip="$tmp/minor-flip.kvg"
cp "$good" "$minor_flip"
flip "$minor_flip" 10
meta_flip="$tmp/meta-flip.kvg"
cp "$good" "$meta_flip"
flip "$meta_flip" "$((meta_offset + 9))"
dir_flip="$tmp/dir-flip.kvg"
cp "$good" "$dir_flip"
flip "$dir_flip" "$((dir_offset + 20))"
trailing="$tmp/trailing.kvg"
{ cat "$good"; printf 'x'; } >"$trailing"
tensor_flip="$tmp/tensor-flip.kvg"
cp "$good" "$tensor_flip"
flip "$tensor_flip" "$((first_tensor + 10))"
fifo="$tmp/fifo.kvg"
mkfifo "$fifo"

for cmd in info verify; do
    expect_refused "$cmd missing file" "$missing" "cannot open: No such file or directory" "$cmd" "$missing"
    expect_refused "$cmd empty file" "$empty" "empty file" "$cmd" "$empty"
    expect_refused "$cmd directory" "$tmp" "is a directory" "$cmd" "$tmp"
    expect_refused "$cmd /dev/null" "/dev/null" "not a regular file" "$cmd" /dev/null
    expect_refused "$cmd FIFO" "$fifo" "not a regular file" "$cmd" "$fifo"
    expect_refused "$cmd cut in the header" "$cut_header" "truncated: 100 bytes" "$cmd" "$cut_header"
    expect_refused "$cmd cut in the data" "$cut_data" "truncated: header says $size bytes, file has 300" "$cmd" "$cut_data"
    expect_refused "$cmd cut in the directory" "$cut_dir" "truncated" "$cmd" "$cut_dir"
    expect_refused "$cmd 3-byte text file" "$tiny" "not a .kvg file" "$cmd" "$tiny"
    expect_refused "$cmd wrong magic" "$magic" "not a .kvg file (bad magic)" "$cmd" "$magic"
    expect_refused "$cmd GGUF file" "$gguf" "GGUF file" "$cmd" "$gguf"
    expect_refused "$cmd flipped header byte" "$head_flip" "reserved header byte at offset 100" "$cmd" "$head_flip"
    expect_refused "$cmd flipped version byte" "$minor_flip" "header/directory checksum mismatch" "$cmd" "$minor_flip"
    expect_refused "$cmd flipped metadata byte" "$meta_flip" "checksum mismatch" "$cmd" "$meta_flip"
    expect_refused "$cmd flipped directory byte" "$dir_flip" "checksum mismatch" "$cmd" "$dir_flip"
    expect_refused "$cmd trailing byte" "$trailing" "1 unexpected bytes after the end" "$cmd" "$trailing"
done

# Tensor data is not read by info, only by verify.
run info "$tensor_flip"
expect_status 0 "info on a file with a damaged tensor"
expect_refused "verify flipped tensor byte" "$tensor_flip" 'tensor "tok_embd.weight": checksum mismatch' \
    verify "$tensor_flip"

# Several files: each bad one gets its line, the status is 1, good ones still say OK.
run verify "$good" "$missing" "$tensor_flip"
expect_status 1 "verify good and bad files"
expect_contains "$out" "$good: OK" "verify good and bad files"
if [ "$(wc -l <"$tmp/err")" -eq 2 ]; then pass; else fail "verify good and bad files: stderr: $err"; fi

finish
