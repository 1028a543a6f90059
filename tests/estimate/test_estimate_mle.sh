#!/usr/bin/env bash
# test_estimate_mle.sh — `--smoothing mle` on a corpus small enough to count
# by hand: p(w | c) = count(c w) / count(c ·), unigrams count(w) / tokens
# (</s> included, <s> excluded), <s> log10 0, <unk> -100, backoffs 0.
#
#   corpus "a b" / "a":   tokens a a b </s> </s> (5)
#   1-grams  a 2/5  b 1/5  </s> 2/5
#   2-grams  <s> a 2/2   a b 1/2   a </s> 1/2   b </s> 1/1
#
# Environment (set by CTest): KVG_BIN.
set -u
: "${KVG_BIN:?KVG_BIN must name the kvgram binary}"
# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" estimate-mle

printf 'a b\na\n' >"$tmp/corpus.txt"
if "$KVG_BIN" ngram build --quiet --order 2 --smoothing mle "$tmp/corpus.txt" --arpa "$tmp/m.arpa" -o "$tmp/m.kvg" 2>"$tmp/err"; then
    pass
else
    fail "mle build failed: $(cat "$tmp/err")"
fi

cat >"$tmp/expected" <<'TXT'
1 <unk> -100 0
1 <s> 1 0
1 </s> 0.4 0
1 a 0.4 0
1 b 0.2 0
2 <s> a 1 -
2 a b 0.5 -
2 a </s> 0.5 -
2 b </s> 1 -
TXT
# every line of the ARPA as "ORDER WORDS PROB BACKOFF" with PROB as 10^log10p
awk -F'\t' '
    /^\\[0-9]-grams:/ { order = substr($0, 2, 1); next }
    order && NF >= 2 {
        p = ($1 == -100) ? -100 : 10 ^ $1
        printf "%s %s %.6g %s\n", order, $2, p, (NF > 2 ? $3 : "-")
    }' "$tmp/m.arpa" | sort >"$tmp/got"
sort "$tmp/expected" >"$tmp/want"
if cmp -s "$tmp/want" "$tmp/got"; then pass; else fail "mle model differs from the hand counts:"; diff "$tmp/want" "$tmp/got" >&2; fi

# The .kvg scores "a b" as log10(2/2) + log10(1/2) + log10(1/1) = -0.30103.
printf 'a b\n' | "$KVG_BIN" score -m "$tmp/m.kvg" --json --no-summary >"$tmp/score" 2>"$tmp/err"
if python3 -c '
import json, sys
o = json.loads(open(sys.argv[1]).readline())
assert o["n"] == 3 and abs(o["total_log10"] - (-0.30103)) < 1e-5, o
' "$tmp/score"; then pass; else fail "scoring \"a b\" with the mle .kvg: $(cat "$tmp/score" "$tmp/err")"; fi
finish
