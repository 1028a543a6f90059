#!/usr/bin/env bash
# test_compare_errors.sh — bad input to `kvgram compare`: one clear line
# naming the file, non-zero exit, no output file left behind.
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" compare-errors
. "$KVG_SOURCE_DIR/tests/compare/hand_fixture.sh"
write_hand_fixture || { fail "could not make the fixture"; finish; exit; }

# expect_error WHAT PATTERN ARGS...: compare fails with one stderr line matching PATTERN, writes no --json file.
expect_error() {
    local what=$1 pattern=$2
    shift 2
    rm -f "$tmp/out.jsonl"
    if "$KVG_BIN" compare "$@" --json "$tmp/out.jsonl" > "$tmp/stdout" 2> "$tmp/stderr"; then
        fail "$what: succeeded"
        return
    fi
    local lines
    lines=$(wc -l < "$tmp/stderr")
    if [ "$lines" -ne 1 ] || ! grep -Eq "$pattern" "$tmp/stderr"; then
        fail "$what: stderr is not one line matching /$pattern/: $(cat "$tmp/stderr")"
    elif [ -e "$tmp/out.jsonl" ] || ls -a "$tmp" | grep -q '\.tmp$'; then
        fail "$what: left an output file"
    else
        pass
    fi
}

# A word-level n-gram model (no tokenizer, no token id offset).
"$KVG_BIN" ngram build --quiet --order 2 --smoothing mle "$tmp/train.txt" -o "$tmp/words.kvg"
expect_error "word-level model" "words.kvg: is a word-level n-gram model" -m "$tmp/tf.kvg" -n "$tmp/words.kvg" "$tmp/test.txt"

# A token-level model over another tokenizer: same size, one token differs; then another size.
mkdir -p "$tmp/tok2" "$tmp/tok3"
sed 's/"c":2/"d":2/' "$tmp/tok/tokenizer.json" > "$tmp/tok2/tokenizer.json"
sed 's/"<s>":3}/"<s>":3,"d":4}/' "$tmp/tok/tokenizer.json" > "$tmp/tok3/tokenizer.json"
printf 'abda\n' > "$tmp/train2.txt"
"$KVG_BIN" ngram build --quiet --order 2 --smoothing mle --tokenizer "$tmp/tok2" "$tmp/train2.txt" -o "$tmp/other.kvg"
"$KVG_BIN" ngram build --quiet --order 2 --smoothing mle --tokenizer "$tmp/tok3" "$tmp/train2.txt" -o "$tmp/bigger.kvg"
expect_error "other tokenizer" "other.kvg: vocabulary does not match the transformer's tokenizer: token 2 differs" \
    -m "$tmp/tf.kvg" -n "$tmp/other.kvg" "$tmp/test.txt"
expect_error "other vocabulary size" "bigger.kvg: vocabulary does not match.*5 tokens.*4 tokens|bigger.kvg: vocabulary does not match" \
    -m "$tmp/tf.kvg" -n "$tmp/bigger.kvg" "$tmp/test.txt"
expect_error "rules over another tokenizer" "other.kvg: vocabulary does not match" \
    -m "$tmp/tf.kvg" -n "$tmp/n2.kvg" --rules "$tmp/other.kvg" "$tmp/test.txt"

# --rules must be counted (maximum likelihood), not smoothed.
"$KVG_BIN" ngram build --quiet --order 2 --discount_fallback --tokenizer "$tmp/tf.kvg" "$tmp/train.txt" -o "$tmp/kn.kvg"
expect_error "smoothed rules" "kn.kvg: --rules needs a maximum-likelihood model" \
    -m "$tmp/tf.kvg" -n "$tmp/n2.kvg" --rules "$tmp/kn.kvg" "$tmp/test.txt"

# The models swapped, missing files, an n-gram file that is no .kvg.
expect_error "n-gram as the transformer" "n2.kvg: .*transformer" -m "$tmp/n2.kvg" -n "$tmp/n2.kvg" "$tmp/test.txt"
expect_error "transformer as the n-gram" "tf.kvg: .*n-gram" -m "$tmp/tf.kvg" -n "$tmp/tf.kvg" "$tmp/test.txt"
expect_error "missing transformer" "nothere.kvg" -m "$tmp/nothere.kvg" -n "$tmp/n2.kvg" "$tmp/test.txt"
expect_error "missing n-gram" "nothere.kvg" -m "$tmp/tf.kvg" -n "$tmp/nothere.kvg" "$tmp/test.txt"
expect_error "missing input" "nothere.txt: cannot open" -m "$tmp/tf.kvg" -n "$tmp/n2.kvg" "$tmp/nothere.txt"
expect_error "text as a model" "train.txt" -m "$tmp/tf.kvg" -n "$tmp/train.txt" "$tmp/test.txt"

# Empty input: nothing to compare is an error, not a summary of zero tokens.
: > "$tmp/empty.txt"
expect_error "empty input" "empty.txt: no tokens to compare" -m "$tmp/tf.kvg" -n "$tmp/n2.kvg" "$tmp/empty.txt"
printf '\n\n' > "$tmp/blank.txt"
expect_error "blank lines" "blank.txt: no tokens to compare" -m "$tmp/tf.kvg" -n "$tmp/n2.kvg" "$tmp/blank.txt"

# Usage errors exit 2.
"$KVG_BIN" compare -m "$tmp/tf.kvg" "$tmp/test.txt" > /dev/null 2>&1
[ $? -eq 2 ] && pass || fail "missing -n: exit status is not 2"
"$KVG_BIN" compare -m "$tmp/tf.kvg" -n "$tmp/n2.kvg" --frobnicate > /dev/null 2>&1
[ $? -eq 2 ] && pass || fail "unknown option: exit status is not 2"
finish
