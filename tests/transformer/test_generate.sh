#!/usr/bin/env bash
# test_generate.sh — `kvgram generate` on stories260K converted with its
# tokenizer: greedy decoding of "Once upon a time" begins with the
# continuation documented upstream ("..., there was a little girl named
# Lily"), also from the q8 (v2) export; sampling is reproducible with a seed;
# bad requests fail with one line.
set -u
: "${KVG_BIN:?}" "${KVG_SHARED_DIR:?}" "${KVG_SOURCE_DIR:?}"
# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" generate

models=$KVG_SHARED_DIR/models
lily="Once upon a time, there was a little girl named Lily"
run() {
    timeout 120 "$KVG_BIN" "$@" >"$tmp/stdout" 2>"$tmp/err" </dev/null
    status=$?
    out=$(cat "$tmp/stdout")
    err=$(cat "$tmp/err")
}
expect_ok() { if [ "$status" -eq 0 ]; then pass; else fail "$1: exit $status: $err"; fi; }
expect_fail() { # WHAT REGEX
    if [ "$status" -ne 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -Eq -- "$2" "$tmp/err"; then pass; else
        fail "$1: exit $status, stderr \"$err\" (expected one line matching /$2/)"; fi
}

run convert "$models/stories260K.bin" --tokenizer "$models/tok512.bin" -o "$tmp/s.kvg" --quiet
expect_ok convert
run generate -m "$tmp/s.kvg" "Once upon a time" -n 40
expect_ok greedy
case "$out" in "$lily"*) pass ;; *) fail "greedy: \"$out\" does not begin \"$lily\"" ;; esac

python3 "$KVG_SOURCE_DIR/tests/transformer/make_llama2c_variants.py" "$models/stories260K.bin" "$tmp" || fail "variants"
run convert "$tmp/v2.bin" --tokenizer "$models/tok512.bin" -o "$tmp/v2.kvg" --quiet
expect_ok "convert v2"
run generate -m "$tmp/v2.kvg" "Once upon a time" -n 12
case "$out" in "$lily"*) pass ;; *) fail "greedy from the q8 export: \"$out\"" ;; esac

run generate -m "$tmp/s.kvg" "Once upon a time" -n 30 --temperature 0.9 --top-p 0.8 --seed 11 --threads 1
a=$out
run generate -m "$tmp/s.kvg" "Once upon a time" -n 30 --temperature 0.9 --top-p 0.8 --seed 11 --threads 2
if [ -n "$a" ] && [ "$a" = "$out" ]; then pass; else fail "same seed, different text: \"$a\" vs \"$out\""; fi
texts=$a
for seed in 1 2 3; do
    run generate -m "$tmp/s.kvg" "Once upon a time" -n 30 --temperature 1.5 --top-p 1 --seed $seed
    texts="$texts|$out"
done
if [ "$(echo "$texts" | tr '|' '\n' | sort -u | wc -l)" -ge 3 ]; then pass; else fail "seeds give the same text: $texts"; fi

run generate -m "$tmp/s.kvg" "Once upon a time" -n 0
if [ "$out" = "Once upon a time" ]; then pass; else fail "-n 0: \"$out\""; fi
run generate -m "$tmp/s.kvg" -n 5
expect_ok "empty prompt (from BOS)"

# Bad requests.
run convert "$models/stories260K.bin" -o "$tmp/notok.kvg" --quiet
run generate -m "$tmp/notok.kvg" "Once"
expect_fail "no tokenizer" "no tokenizer"
run convert "$models/aidreams260K.bin" --tokenizer "$models/aidreams260K_tok512.bin" -o "$tmp/a.kvg" --quiet
expect_ok "convert aidreams"
run generate -m "$tmp/a.kvg" "$(printf 'word %.0s' $(seq 200))"
expect_fail "prompt beyond the context" "context is 128"
run generate -m "$tmp/missing.kvg" "x"
expect_fail "missing model" "missing.kvg"
run generate -m "$tmp/s.kvg" --top-p 0 "x"
if [ "$status" -eq 2 ]; then pass; else fail "--top-p 0: exit $status"; fi
finish
