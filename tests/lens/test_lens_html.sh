#!/usr/bin/env bash
# test_lens_html.sh — the `kvgram lens --html` page in headless Chromium:
# it loads without console messages (errors, CSP violations), its script
# draws one cell per layer and position of every text (counted in the DOM
# Chromium dumps after the script ran), and a text made of markup stays text
# (nothing in it runs). The detector is checked too: the same page with a
# JavaScript error injected must show the console error and no cells.
# Skips (77) when Chromium is not installed; CI installs it (.ci/install-deps).
set -u
: "${KVG_BIN:?}" "${KVG_SHARED_DIR:?}" "${KVG_SOURCE_DIR:?}"
# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" lens-html
. "$(dirname "${BASH_SOURCE[0]}")/../cli/chromium.sh"

cells() { grep -o '<td class="cell' "$tmp/dom" | wc -l; }

"$KVG_BIN" convert "$KVG_SHARED_DIR/models/stories260K.bin" --tokenizer "$KVG_SHARED_DIR/models/tok512.bin" \
    -o "$tmp/s.kvg" --quiet || { fail convert; finish; exit 1; }
{
    echo 'Once upon a time, there was a little girl'
    echo 'She said "</script><img src=x onerror=document.body.setAttribute(`data-pwned`,1)> & <!-- hi"'
} >"$tmp/texts.txt"
OMP_WAIT_POLICY=passive "$KVG_BIN" lens -m "$tmp/s.kvg" -f "$tmp/texts.txt" --top 3 --json "$tmp/lens.jsonl" \
    --html "$tmp/lens.html" 2>"$tmp/err" || { fail "lens: $(cat "$tmp/err")"; finish; exit 1; }
want=$(python3 -c 'import json,sys
print(sum(o["n_layers"] * len(o["positions"]) for o in map(json.loads, open(sys.argv[1]))))' "$tmp/lens.jsonl")

dump "$tmp/lens.html"
got=$(cells)
[ "$got" -eq "$want" ] && pass || fail "the page shows $got cells, expected $want (layers x positions)"
grep -q "data-cells=\"$want\"" "$tmp/dom" && pass || fail "the script did not finish (no data-cells=\"$want\")"
if console >/dev/null; then fail "console messages: $(console | head -3)"; else pass; fi
grep -q '<body[^>]*data-pwned' "$tmp/dom" && fail "markup from the text ran" || pass
grep -q '&lt;/script&gt;&lt;img src=x' "$tmp/dom" && pass || fail "the markup text is not shown as text"

# the detector: a script error must be seen
sed 's/'"'"'use strict'"'"';/'"'"'use strict'"'"'; noSuchFunction();/' "$tmp/lens.html" >"$tmp/broken.html"
grep -q noSuchFunction "$tmp/broken.html" || fail "could not inject the error"
dump "$tmp/broken.html"
console | grep -q noSuchFunction && pass || fail "an injected script error was not detected: $(head -5 "$tmp/log")"
[ "$(cells)" -eq 0 ] && pass || fail "cells drawn despite the error"
finish
