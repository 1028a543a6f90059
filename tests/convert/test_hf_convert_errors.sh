#!/usr/bin/env bash
# test_hf_convert_errors.sh — `kvgram convert HF_DIR` refuses bad checkpoints
# with one line naming the file and the problem, exit status 1, and leaves no
# file behind (neither the output nor a temporary).
# The checkpoints and the expected error fragments come from
# tests/reference/make_hf_fixtures.py (bad/ and bad/bad.json).
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" hf-convert-errors
set -u

python3 "$KVG_SOURCE_DIR/tests/reference/make_hf_fixtures.py" "$tmp/fx" || { fail "fixture script"; finish; exit 1; }
mkdir "$tmp/out"

# One "CASE<TAB>FRAGMENT" line per bad checkpoint.
cases=$(python3 -c 'import json,sys; [print(k + "\t" + v) for k, v in json.load(open(sys.argv[1])).items()]' \
    "$tmp/fx/bad/bad.json")
[ "$(printf '%s\n' "$cases" | wc -l)" -ge 20 ] && pass || fail "fewer bad cases than expected"

while IFS=$'\t' read -r case fragment; do
    "$KVG_BIN" convert "$tmp/fx/bad/$case" -o "$tmp/out/model.kvg" 2>"$tmp/err" >"$tmp/stdout"
    rc=$?
    [ "$rc" -eq 1 ] && pass || fail "$case: exit status $rc, expected 1"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] && pass || fail "$case: stderr is not one line: $(cat "$tmp/err")"
    grep -qF -- "$fragment" "$tmp/err" && pass || fail "$case: expected \"$fragment\" in: $(cat "$tmp/err")"
    grep -q "^kvgram: $tmp/fx/bad/$case" "$tmp/err" && pass || fail "$case: the error does not name the checkpoint: $(cat "$tmp/err")"
    [ ! -s "$tmp/stdout" ] && pass || fail "$case: wrote to stdout"
    [ -z "$(ls -A "$tmp/out")" ] && pass || fail "$case: left files behind: $(ls -A "$tmp/out")"
done <<<"$cases"

# Usage errors: exit 2, nothing written.
good="$tmp/fx/good/llama-f32-tied"
"$KVG_BIN" convert "$good" -o "$tmp/out/model.kvg" --type q8_1 2>"$tmp/err"
[ $? -eq 2 ] && grep -q -- "--type takes f32, f16, bf16, q8_0 or q4_0" "$tmp/err" && pass || fail "--type q8_1: $(cat "$tmp/err")"
"$KVG_BIN" convert "$good" -o "$tmp/out/model.kvg" --quantize 8 2>"$tmp/err"
[ $? -eq 2 ] && grep -q -- "--quantize is not for Hugging Face checkpoint folders" "$tmp/err" && pass || fail "--quantize on HF: $(cat "$tmp/err")"
printf '\\data\\\n' >"$tmp/x.arpa"
"$KVG_BIN" convert "$tmp/x.arpa" -o "$tmp/out/model.kvg" --type f16 2>"$tmp/err"
[ $? -eq 2 ] && grep -q -- "--type is for transformer checkpoints" "$tmp/err" && pass || fail "--type on ARPA: $(cat "$tmp/err")"
[ -z "$(ls -A "$tmp/out")" ] && pass || fail "usage errors left files: $(ls -A "$tmp/out")"

# An existing output is left untouched when the conversion fails.
echo "keep me" >"$tmp/out/model.kvg"
"$KVG_BIN" convert "$tmp/fx/bad/wrong_shape" -o "$tmp/out/model.kvg" 2>/dev/null
[ "$(cat "$tmp/out/model.kvg")" = "keep me" ] && pass || fail "a failed conversion changed the existing output"
[ "$(ls -A "$tmp/out")" = "model.kvg" ] && pass || fail "temporaries left: $(ls -A "$tmp/out")"

# The good checkpoint converts (the same output folder, so the checks above were not vacuous).
# Progress goes to stderr only when it is a terminal: here it is a file, so nothing.
"$KVG_BIN" convert "$good" -o "$tmp/out/model.kvg" 2>"$tmp/err" && [ -s "$tmp/out/model.kvg" ] && pass || fail "good checkpoint"
[ ! -s "$tmp/err" ] && pass || fail "progress or noise on a non-terminal stderr: $(cat "$tmp/err")"
"$KVG_BIN" verify "$tmp/out/model.kvg" >/dev/null && pass || fail "verify"

finish
