#!/usr/bin/env bash
# test_compare_html.sh — the `kvgram compare --html` page in headless
# Chromium: it loads without console messages (errors, CSP violations),
# shows one token cell per compared position, and a text made of markup
# stays text. Skips (77) when Chromium is not installed; CI installs it.
set -u
: "${KVG_BIN:?}" "${KVG_SOURCE_DIR:?}"
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" compare-html
. "$(dirname "${BASH_SOURCE[0]}")/../cli/chromium.sh"

cells() { grep -o '<span class="t' "$tmp/dom" | wc -l; }

# The KJV GPT-2 fixture (byte-level BPE: any text, markup included) and a
# token-level bigram model counted from a few lines.
"$KVG_BIN" convert "$KVG_SOURCE_DIR/models/kjv-gpt2" -o "$tmp/tf.kvg" > /dev/null || { fail convert; finish; exit 1; }
printf '%s\n' "in the beginning god created the heaven and the earth ." "and god said , let there be light ." \
    > "$tmp/train.txt"
"$KVG_BIN" ngram build --quiet --order 2 --smoothing mle --tokenizer "$tmp/tf.kvg" "$tmp/train.txt" -o "$tmp/n.kvg" ||
    { fail "ngram build"; finish; exit 1; }
{
    echo "and god said , let there be light ."
    echo 'he said "</script><img src=x onerror=document.body.setAttribute(`data-pwned`,1)> & <!-- hi"'
} > "$tmp/test.txt"
"$KVG_BIN" compare -m "$tmp/tf.kvg" -n "$tmp/n.kvg" --rules "$tmp/n.kvg" --json "$tmp/out.jsonl" \
    --html "$tmp/out.html" "$tmp/test.txt" > /dev/null 2> "$tmp/err" || { fail "compare: $(cat "$tmp/err")"; finish; exit 1; }
want=$(($(wc -l < "$tmp/out.jsonl") - 1)) # one JSON line per position, then the summary

dump "$tmp/out.html"
got=$(cells)
[ "$got" -eq "$want" ] && pass || fail "the page shows $got token cells, expected $want"
if console > /dev/null; then fail "console messages: $(console | head -3)"; else pass; fi
grep -q '<body[^>]*data-pwned' "$tmp/dom" && fail "markup from the text ran" || pass
# (the markup is cut into tokens, each its own cell: look for its pieces)
grep -q '&lt;' "$tmp/dom" && ! grep -q '<img' "$tmp/dom" && pass || fail "the markup text is not shown as text"
finish
