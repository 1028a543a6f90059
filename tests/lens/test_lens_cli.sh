#!/usr/bin/env bash
# test_lens_cli.sh — `kvgram lens` as a user runs it, on stories260K: the
# JSON follows the schema and its last layer equals `kvgram score` on the
# same text (check_lens_json.py); --json / --html files are written whole;
# bad input (empty text, text beyond the context, an n-gram model, a model
# without tokenizer, missing files, bad options) fails with one line, a
# non-zero exit and no output file.
set -u
: "${KVG_BIN:?}" "${KVG_SHARED_DIR:?}" "${KVG_SOURCE_DIR:?}"
# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" lens-cli

models=$KVG_SHARED_DIR/models
check=$KVG_SOURCE_DIR/tests/lens/check_lens_json.py
run() {
    timeout 120 "$KVG_BIN" "$@" >"$tmp/stdout" 2>"$tmp/err" </dev/null
    status=$?
    err=$(cat "$tmp/err")
}
expect_ok() { if [ "$status" -eq 0 ]; then pass; else fail "$1: exit $status: $err"; fi; }
expect_fail() { # WHAT REGEX
    if [ "$status" -ne 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -Eq -- "$2" "$tmp/err"; then pass; else
        fail "$1: exit $status, stderr \"$err\" (expected one line matching /$2/)"; fi
}

run convert "$models/stories260K.bin" --tokenizer "$models/tok512.bin" -o "$tmp/s.kvg" --quiet
expect_ok convert
printf 'Once upon a time, there was a little girl\nThe cat sat on the mat.\n' >"$tmp/texts.txt"

# the JSON on stdout; the same texts through the scorer
run lens -m "$tmp/s.kvg" -f "$tmp/texts.txt" --top 4
expect_ok "lens -f"
cp "$tmp/stdout" "$tmp/lens.jsonl"
run score -m "$tmp/s.kvg" --json --per-token "$tmp/texts.txt"
expect_ok score
cp "$tmp/stdout" "$tmp/score.jsonl"
if python3 "$check" "$tmp/lens.jsonl" "$tmp/score.jsonl" 5 8 4 >"$tmp/check" 2>&1; then pass; else
    fail "lens JSON: $(cat "$tmp/check")"; fi

# TEXT argument = the first line; --json FILE holds the same objects; --html written
run lens -m "$tmp/s.kvg" "Once upon a time, there was a little girl" --top 4 --json "$tmp/one.jsonl" --html "$tmp/one.html"
expect_ok "lens TEXT --json --html"
[ ! -s "$tmp/stdout" ] && pass || fail "output on stdout with --json FILE"
if head -n 1 "$tmp/lens.jsonl" | cmp -s - "$tmp/one.jsonl"; then pass; else fail "--json FILE differs from stdout's first object"; fi
grep -q '<script type="application/json" id="lens-data">' "$tmp/one.html" && pass || fail "no data block in the page"
ls "$tmp" | grep -q 'tmp-' && fail "a temporary was left: $(ls "$tmp")" || pass

# --top 1, --no-heads, --no-nearest
run lens -m "$tmp/s.kvg" "The cat" --top 1 --no-heads --no-nearest --json -
expect_ok "lens --no-heads --no-nearest"
python3 -c 'import json,sys
o = json.loads(open(sys.argv[1]).readline())
L = o["positions"][0]["layers"][0]
sys.exit(0 if len(L["top"]) == 1 and "heads" not in L and "nearest" not in L and o["n_heads"] == 0 else 1)' "$tmp/stdout" \
    && pass || fail "--top 1 --no-heads --no-nearest: $(head -c 300 "$tmp/stdout")"

# bad input: one line, non-zero exit, no files
long=$(for i in $(seq 300); do printf 'Once upon a time '; done)
run lens -m "$tmp/s.kvg" "" --html "$tmp/bad.html"
expect_fail "empty text" "empty text"
run lens -m "$tmp/s.kvg" "$long" --html "$tmp/bad.html"
expect_fail "beyond the context" "tokens with BOS, but the model's context is 512"
printf 'fine\n\nmore\n' >"$tmp/gap.txt"
run lens -m "$tmp/s.kvg" -f "$tmp/gap.txt" --json "$tmp/bad.jsonl"
expect_fail "empty line" "gap.txt: line 2: empty text"
[ ! -s "$tmp/stdout" ] && pass || fail "output before the bad line was found"
run convert "$KVG_SHARED_DIR/data/kenlm/toy0.arpa" -o "$tmp/ngram.kvg" --quiet
expect_ok "convert arpa"
run lens -m "$tmp/ngram.kvg" "a b"
expect_fail "n-gram model" "ngram.kvg: not a transformer"
run convert "$models/stories260K.bin" -o "$tmp/notok.kvg" --quiet
run lens -m "$tmp/notok.kvg" "a b"
expect_fail "no tokenizer" "no tokenizer"
run lens -m "$tmp/missing.kvg" "a b"
expect_fail "missing model" "missing.kvg: cannot open"
run lens -m "$tmp/s.kvg" -f "$tmp/missing.txt"
expect_fail "missing text file" "missing.txt: cannot open"
run lens -m "$tmp/s.kvg" -f /dev/null
expect_fail "empty file" "no text"
run lens -m "$tmp/s.kvg" "a" --html "$tmp/no/such/dir/x.html"
expect_fail "unwritable html" "x.html"
run lens -m "$tmp/s.kvg" --top 0 "a"
expect_fail "--top 0" "--top"
run lens -m "$tmp/s.kvg"
expect_fail "no text" "missing TEXT"
run lens -m "$tmp/s.kvg" "a" -f "$tmp/texts.txt"
expect_fail "TEXT and -f" "not both"
ls "$tmp" | grep -Eq '^bad\.|tmp-' && fail "a file was left by a failed run: $(ls "$tmp")" || pass
finish
