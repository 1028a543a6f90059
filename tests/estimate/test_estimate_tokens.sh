#!/usr/bin/env bash
# test_estimate_tokens.sh — `kvgram ngram build --tokenizer`: n-grams over a
# model's token ids. The oracle is Hugging Face `tokenizers`' own ids for the
# texts of tests/tokenizer/tinystories-bpe.expected.jsonl: counting those ids
# as words (one line of decimal ids per text) must give exactly the n-grams
# of orders 2 and 3 that the token-level build gives from the raw texts, and
# every unigram it has. The token-level model also lists every token of the
# tokenizer (1,025) after <unk> <s> </s>, stores the tokenizer (the .kvg opens
# as one), and reads the tokenizer from that .kvg as well as from the folder.
#
# Environment (set by CTest): KVG_BIN, KVG_SOURCE_DIR.
set -u
: "${KVG_BIN:?KVG_BIN must name the kvgram binary}"
: "${KVG_SOURCE_DIR:?KVG_SOURCE_DIR must name the source tree}"
# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" estimate-tokens

GOLDEN=$KVG_SOURCE_DIR/tests/tokenizer/tinystories-bpe.expected.jsonl
TOK=$KVG_SOURCE_DIR/models/tinystories-bpe

# the texts (one line each; those with line breaks left out) and their ids
python3 - "$GOLDEN" "$tmp/texts.txt" "$tmp/ids.txt" <<'PY'
import json, sys
with open(sys.argv[2], "w", encoding="utf-8", newline="") as t, open(sys.argv[3], "w") as i:
    for line in open(sys.argv[1], encoding="utf-8"):
        case = json.loads(line)
        text = case["text"]
        if any(c in text for c in "\n\r\0") or not case["ids"]:
            continue
        t.write(text + "\n")
        i.write(" ".join(str(x) for x in case["ids"]) + "\n")
PY

build() { # build WHAT ARGS...
    local what=$1
    shift
    if "$KVG_BIN" ngram build --quiet --order 3 --discount_fallback "$@" 2>"$tmp/err"; then pass; else fail "$what: $(cat "$tmp/err")"; fi
}
build "token-level build" --tokenizer "$TOK" "$tmp/texts.txt" --arpa "$tmp/tok.arpa" -o "$tmp/tok.kvg"
build "words = HF ids" "$tmp/ids.txt" --arpa "$tmp/ids.arpa"
# past a tiny budget the stages stream from disk: the same model (unseen tokens included)
build "token-level build, -S 1M" -S 1M -T "$tmp" --tokenizer "$TOK" "$tmp/texts.txt" --arpa "$tmp/tok-s.arpa"
if cmp -s "$tmp/tok.arpa" "$tmp/tok-s.arpa"; then pass; else fail "the token-level model differs at -S 1M"; fi

# grams ARPA ORDER: the n-grams of one order, sorted
grams() { awk -F'\t' -v want="\\\\$2-grams:" '$0 == want { on = 1; next } /^\\/ { on = 0 } on && NF >= 2 { print $2 }' "$1" | LC_ALL=C sort; }
if [ "$(grams "$tmp/ids.arpa" 3 | wc -l)" -gt 100 ]; then pass; else fail "too few trigrams in $tmp/ids.arpa to compare"; fi
for n in 2 3; do
    if cmp -s <(grams "$tmp/ids.arpa" $n) <(grams "$tmp/tok.arpa" $n); then
        pass
    else
        fail "$n-grams of the token-level model differ from those of HF's ids:"
        diff <(grams "$tmp/ids.arpa" $n) <(grams "$tmp/tok.arpa" $n) | head -5 >&2
    fi
done
missing=$(LC_ALL=C comm -23 <(grams "$tmp/ids.arpa" 1) <(grams "$tmp/tok.arpa" 1) | head -3)
if [ -z "$missing" ]; then pass; else fail "unigrams of HF's ids missing from the token-level model: $missing"; fi
if grep -q '^ngram 1=1028$' "$tmp/tok.arpa"; then pass; else fail "expected 1025 tokens + <unk> <s> </s>: $(grep '^ngram 1' "$tmp/tok.arpa")"; fi

# the .kvg carries the tokenizer: building from it gives the same model
build "tokenizer from the .kvg" --tokenizer "$tmp/tok.kvg" "$tmp/texts.txt" --arpa "$tmp/tok2.arpa"
if cmp -s "$tmp/tok.arpa" "$tmp/tok2.arpa"; then pass; else fail "--tokenizer MODEL.kvg gives a different model than the folder"; fi
if "$KVG_BIN" info "$tmp/tok.kvg" | grep -q 'ngram.token_id_offset *u64 *3'; then pass; else fail "no ngram.token_id_offset 3 in the .kvg"; fi

# a .kvg without a tokenizer is refused with one line
"$KVG_BIN" ngram build --quiet --order 2 --discount_fallback "$tmp/ids.txt" -o "$tmp/plain.kvg" 2>/dev/null
if ! "$KVG_BIN" ngram build --quiet --order 2 --tokenizer "$tmp/plain.kvg" "$tmp/texts.txt" -o "$tmp/x.kvg" 2>"$tmp/err" &&
    [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "plain.kvg.*tokenizer" "$tmp/err" && [ ! -e "$tmp/x.kvg" ]; then
    pass
else
    fail "--tokenizer with a .kvg that has none: $(cat "$tmp/err")"
fi
finish
