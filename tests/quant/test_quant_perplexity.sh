#!/usr/bin/env bash
# test_quant_perplexity.sh — what quantization costs in accuracy (issue 5, item 6): held-out
# perplexity of the three trained KJV fixtures (models/kjv-gpt2, kjv-llama, kjv-neox) on
# ../shared/data/kjv/kjv.test.head200.txt (the text models/run.sh scores) with the matrices in
# f32, f16, q8_0 and q4_0 (q4_0 with its default q8_0 output matrix). FAILS when q8_0's
# perplexity is more than 1% above f32's, or when f32's is not far below the uniform
# model's 2048 (so a broken scorer cannot pass). Prints the table and the file sizes.
# Under the sanitizers (KVG_SANITIZED=1, slow) only f32 and q8_0 are scored, on 50 lines.
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" quant-perplexity
set -u
text=$KVG_SHARED_DIR/data/kjv/kjv.test.head200.txt
if [ ! -f "$text" ]; then
    echo "SKIP: no $text"
    exit 77
fi
types="f32 f16 q8_0 q4_0"
if [ "${KVG_SANITIZED:-0}" = 1 ]; then
    types="f32 q8_0"
    head -n 50 "$text" >"$tmp/text"
    text=$tmp/text
fi

# ppl FILE.kvg: the summary line's perplexity.
ppl() {
    "$KVG_BIN" score -m "$1" "$text" 2>"$tmp/err" | awk -F'\t' '/^# summary/ { for (i = 1; i <= NF; i++)
        if ($i ~ /^perplexity /) { sub(/^perplexity /, "", $i); print $i } }'
}

printf '%-10s' "model"
for t in $types; do printf '  %10s %9s' "$t ppl" "bytes"; done
echo
for m in kjv-gpt2 kjv-llama kjv-neox; do
    printf '%-10s' "$m"
    declare -A p=()
    for t in $types; do
        f=$tmp/$m-$t.kvg
        if ! "$KVG_BIN" convert "$KVG_SOURCE_DIR/models/$m" -o "$f" --type "$t" --quiet 2>"$tmp/err"; then
            fail "$m $t: convert: $(head -1 "$tmp/err")"
            continue 2
        fi
        p[$t]=$(ppl "$f")
        [ -n "${p[$t]}" ] || { fail "$m $t: score: $(head -1 "$tmp/err")"; continue 2; }
        printf '  %10.4f %9d' "${p[$t]}" "$(stat -c %s "$f")"
    done
    echo
    awk -v a="${p[f32]}" 'BEGIN { exit !(a > 1 && a < 200) }' && pass ||
        fail "$m: f32 perplexity ${p[f32]} is not far below the uniform 2048"
    awk -v a="${p[f32]}" -v b="${p[q8_0]}" 'BEGIN { exit !(b <= 1.01 * a) }' && pass ||
        fail "$m: q8_0 perplexity ${p[q8_0]} is more than 1% above f32's ${p[f32]}"
    unset p
done
finish
