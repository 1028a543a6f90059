#!/usr/bin/env bash
# test_kenlm_query.sh — `kvgram convert` + `kvgram score --format kenlm` against
# KenLM's own `query` output (the oracle: $KVG_SHARED_DIR/data/kenlm/expected/,
# $KVG_SHARED_DIR/data/kjv/, see their README.md and BASELINE.md):
#   - test.arpa / test_nounk.arpa on expected/sentences.txt, with and without -n,
#     byte for byte;
#   - kjv5.arpa.gz on kjv.test.head200.txt byte for byte, and the perplexities on
#     the full kjv.test.txt equal BASELINE.md's "5-gram exact" row exactly;
#   - SRILM-style variants of test.arpa (spaces for tabs, preamble before \data\,
#     CRLF, gzip) score identically to the original;
#   - --format summary prints exactly the four summary lines of those outputs
#     (KenLM's `query -v summary`);
#   - the 8-bit quantized kjv5: perplexity within 1% of the exact one, file
#     smaller than KenLM's own 8-bit trie (`trie -q 8 -b 8`: 8,793,398 bytes, BASELINE.md).
#
# Environment (set by CTest): KVG_BIN, the kvgram binary; KVG_SHARED_DIR, the
# read-only shared data folder.
set -u

: "${KVG_BIN:?KVG_BIN must name the kvgram binary}"
: "${KVG_SHARED_DIR:?KVG_SHARED_DIR must name the shared folder}"

KENLM=$KVG_SHARED_DIR/data/kenlm
KJV=$KVG_SHARED_DIR/data/kjv

# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" kenlm-query

# convert WHAT INPUT OUTPUT [OPTIONS...]: converts quietly; counts one check.
convert() {
    local what=$1 in=$2 out=$3
    shift 3
    if timeout 120 "$KVG_BIN" convert "$in" -o "$out" --quiet "$@" 2>"$tmp/convert.err"; then
        pass
    else
        fail "$what: \`kvgram convert $in -o $out $*\` exit status $?: $(head -3 "$tmp/convert.err")"
    fi
}

# score OUT MODEL [OPTIONS...] FILE: `kvgram score` into OUT; a non-zero exit
# status or any stderr is a failure.
score() {
    local out=$1
    shift
    timeout 120 "$KVG_BIN" score "$@" >"$out" 2>"$tmp/score.err"
    local status=$?
    if [ "$status" -eq 0 ] && [ ! -s "$tmp/score.err" ]; then
        pass
    else
        fail "\`kvgram score $*\` exit status $status, stderr: $(head -3 "$tmp/score.err")"
    fi
}

# expect_same WHAT EXPECTED ACTUAL: byte-for-byte equal, else the first lines of diff.
expect_same() {
    if cmp -s -- "$2" "$3"; then
        pass
    else
        fail "$1: output differs from $2 (diff expected actual, first 20 lines):"
        diff -- "$2" "$3" | head -20 >&2
    fi
}

# summary_value FILE LABEL: the value after "LABEL:<tab>" in KenLM's summary lines.
summary_value() { awk -F '\t' -v label="$2:" '$1 == label { print $2 }' "$1"; }

# ---- the test models against KenLM's query output ----------------------------

S=$KENLM/expected/sentences.txt
for name in test test_nounk; do
    convert "$name.arpa" "$KENLM/$name.arpa" "$tmp/$name.kvg"
    score "$tmp/$name.out" -m "$tmp/$name.kvg" --format kenlm "$S"
    expect_same "$name.kvg, query" "$KENLM/expected/$name.query.txt" "$tmp/$name.out"
    score "$tmp/$name.n.out" -m "$tmp/$name.kvg" --format kenlm -n "$S"
    expect_same "$name.kvg, query -n" "$KENLM/expected/$name.query-n.txt" "$tmp/$name.n.out"
    # --format summary: KenLM's four summary lines, the tail of its output
    tail -n 4 "$KENLM/expected/$name.query.txt" >"$tmp/$name.summary.want"
    score "$tmp/$name.summary.out" -m "$tmp/$name.kvg" --format summary "$S"
    expect_same "$name.kvg, --format summary" "$tmp/$name.summary.want" "$tmp/$name.summary.out"
    tail -n 4 "$KENLM/expected/$name.query-n.txt" >"$tmp/$name.summary-n.want"
    score "$tmp/$name.summary-n.out" -m "$tmp/$name.kvg" --format summary -n "$S"
    expect_same "$name.kvg, --format summary -n" "$tmp/$name.summary-n.want" "$tmp/$name.summary-n.out"
done

# ---- the KJV 5-gram -----------------------------------------------------------

convert kjv5.arpa.gz "$KJV/kjv5.arpa.gz" "$tmp/kjv5.kvg"
score "$tmp/kjv5.head200.out" -m "$tmp/kjv5.kvg" --format kenlm "$KJV/kjv.test.head200.txt"
expect_same "kjv5.kvg on kjv.test.head200.txt" "$KJV/kjv5.test.head200.query.txt" "$tmp/kjv5.head200.out"
tail -n 4 "$KJV/kjv5.test.head200.query.txt" >"$tmp/kjv5.head200.summary.want"
score "$tmp/kjv5.head200.summary.out" -m "$tmp/kjv5.kvg" --format summary --threads 1 "$KJV/kjv.test.head200.txt"
expect_same "kjv5.kvg on kjv.test.head200.txt, --format summary" "$tmp/kjv5.head200.summary.want" \
    "$tmp/kjv5.head200.summary.out"

# BASELINE.md: "| 5-gram exact | 38.578010768732156 | 36.79093296949517 |".
baseline_row() {
    awk -F '|' -v model="$1" '{ m = $2; gsub(/^ +| +$/, "", m) } m == model {
        a = $3; b = $4; gsub(/ /, "", a); gsub(/ /, "", b); print a, b; exit }' "$KENLM/BASELINE.md"
}
read -r want_ppl want_ppl_excl <<<"$(baseline_row "5-gram exact")"
if [ -n "${want_ppl_excl:-}" ]; then pass; else fail "no \"5-gram exact\" row in $KENLM/BASELINE.md"; fi

score "$tmp/kjv5.full.out" -m "$tmp/kjv5.kvg" --format kenlm "$KJV/kjv.test.txt"
score "$tmp/kjv5.full.summary" -m "$tmp/kjv5.kvg" --format summary "$KJV/kjv.test.txt"
expect_same "kjv5.kvg on kjv.test.txt, --format summary = the summary of --format kenlm" \
    <(tail -n 4 "$tmp/kjv5.full.out") "$tmp/kjv5.full.summary"
for check in "Perplexity including OOVs|${want_ppl:-}" "Perplexity excluding OOVs|${want_ppl_excl:-}" \
    "OOVs|434" "Tokens|95053"; do
    label=${check%%|*}
    want=${check#*|}
    got=$(summary_value "$tmp/kjv5.full.out" "$label")
    if [ "$got" = "$want" ]; then
        pass
    else
        fail "kjv5.kvg on kjv.test.txt: \"$label\" is \"$got\", expected \"$want\" (BASELINE.md)"
    fi
done

# ---- SRILM-tolerance: reformatted copies of test.arpa score identically ----------

# Tabs become single spaces.
sed 's/\t/ /g' "$KENLM/test.arpa" >"$tmp/spaces.arpa"
# Tabs become runs of spaces, every space is doubled, and lines end in blanks.
sed 's/\t/   /g; s/ /  /g; s/$/ \t /' "$KENLM/test.arpa" >"$tmp/runs.arpa"
# Free text before \data\ (SRILM and KenLM skip it), including a line that looks
# like a count.
{
    printf '# written by a test\nThis model was estimated by hand.\nngram 1=5 is not a count here\n\n'
    cat "$KENLM/test.arpa"
} >"$tmp/preamble.arpa"
# DOS line ends.
sed 's/$/\r/' "$KENLM/test.arpa" >"$tmp/crlf.arpa"
# gzip-compressed.
gzip -c "$KENLM/test.arpa" >"$tmp/gzip.arpa.gz"

score "$tmp/test.json" -m "$tmp/test.kvg" --json --per-token "$S"
for variant in spaces.arpa runs.arpa preamble.arpa crlf.arpa gzip.arpa.gz; do
    convert "$variant" "$tmp/$variant" "$tmp/$variant.kvg"
    score "$tmp/$variant.out" -m "$tmp/$variant.kvg" --format kenlm "$S"
    expect_same "$variant (test.arpa reformatted), query" "$KENLM/expected/test.query.txt" "$tmp/$variant.out"
    score "$tmp/$variant.n.out" -m "$tmp/$variant.kvg" --format kenlm -n "$S"
    expect_same "$variant (test.arpa reformatted), query -n" "$KENLM/expected/test.query-n.txt" "$tmp/$variant.n.out"
    score "$tmp/$variant.json" -m "$tmp/$variant.kvg" --json --per-token "$S"
    expect_same "$variant (test.arpa reformatted), --json --per-token" "$tmp/test.json" "$tmp/$variant.json"
done

# ---- 8-bit quantization ---------------------------------------------------------

convert "kjv5.arpa.gz --quantize 8" "$KJV/kjv5.arpa.gz" "$tmp/kjv5.q8.kvg" --quantize 8
score "$tmp/kjv5.q8.out" -m "$tmp/kjv5.q8.kvg" --format kenlm "$KJV/kjv.test.txt"
exact=$(summary_value "$tmp/kjv5.full.out" "Perplexity including OOVs")
quant=$(summary_value "$tmp/kjv5.q8.out" "Perplexity including OOVs")
# BASELINE.md: KenLM's own q8b8 trie is 0.12% off; allow 1%.
if awk -v e="$exact" -v q="$quant" 'BEGIN { d = (q - e) / e; if (d < 0) d = -d; exit !(e > 0 && d < 0.01) }'; then
    pass
else
    fail "kjv5.q8.kvg perplexity $quant is not within 1% of the exact $exact"
fi
exact_bytes=$(stat -c %s "$tmp/kjv5.kvg" 2>/dev/null || echo 0)
quant_bytes=$(stat -c %s "$tmp/kjv5.q8.kvg" 2>/dev/null || echo 0)
kenlm_q8_bytes=$(grep -E '^\| trie `-q 8 -b 8` \|' "$KVG_SHARED_DIR/data/kenlm/BASELINE.md" | awk -F'|' '{gsub(/[ ,]/, "", $3); print $3}')
if [ -n "$kenlm_q8_bytes" ] && [ "$quant_bytes" -gt 0 ] && [ "$quant_bytes" -lt "$kenlm_q8_bytes" ]; then
    pass
else
    fail "kjv5.q8.kvg is $quant_bytes bytes, expected under KenLM's trie -q 8 -b 8 (${kenlm_q8_bytes:-?} bytes)"
fi
# Quantization keeps the vocabulary: ids, OOVs and token counts are the exact model's.
for label in OOVs Tokens; do
    want=$(summary_value "$tmp/kjv5.full.out" "$label")
    got=$(summary_value "$tmp/kjv5.q8.out" "$label")
    if [ -n "$want" ] && [ "$got" = "$want" ]; then pass; else fail "kjv5.q8.kvg: \"$label\" is \"$got\", expected \"$want\""; fi
done

finish
