#!/usr/bin/env bash
# test_estimate_kenlm.sh — `kvgram ngram build` against KenLM's lmplz on the
# same corpora (../shared/data/kjv): the ARPA it writes holds the same n-grams
# as lmplz's, with every log10 probability and backoff within 1e-4:
#   kjv.small.txt order 3; order 5 with --discount_fallback; order 4 with
#   --prune 0 1 1; kjv.train.txt order 5 (kjv5.arpa.gz).
# Then properties of the same runs:
#   - a small -S that forces sorted runs to spill to disk gives the same bytes;
#   - gzip input and standard input give the same bytes as the plain file;
#   - the .kvg written directly scores held-out text exactly as the .kvg that
#     `kvgram convert` makes from our ARPA, and within 1e-3 per line of the
#     .kvg converted from lmplz's ARPA.
#
# Environment (set by CTest): KVG_BIN, KVG_SHARED_DIR, KVG_ARPA_DIFF.
set -u

: "${KVG_BIN:?KVG_BIN must name the kvgram binary}"
: "${KVG_SHARED_DIR:?KVG_SHARED_DIR must name the shared folder}"
: "${KVG_ARPA_DIFF:?KVG_ARPA_DIFF must name the arpa_diff helper}"

KJV=$KVG_SHARED_DIR/data/kjv

# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" estimate-kenlm

# build WHAT ARGS...: `kvgram ngram build ARGS` exits 0 with nothing on stderr.
build() {
    local what=$1
    shift
    if timeout 300 "$KVG_BIN" ngram build --quiet "$@" >"$tmp/out" 2>"$tmp/err" && [ ! -s "$tmp/err" ]; then
        pass
    else
        fail "$what: \`kvgram ngram build $*\` failed: $(head -c 600 "$tmp/err")"
    fi
}

# against WHAT EXPECTED.arpa.gz GOT.arpa: the comparison passes.
against() {
    if "$KVG_ARPA_DIFF" "$2" "$3" >"$tmp/cmp" 2>&1; then
        pass
    else
        fail "$1: differs from lmplz's $2:"
        head -20 "$tmp/cmp" >&2
    fi
}

same() {
    if cmp -s "$2" "$3"; then pass; else fail "$1: $3 differs from $2"; fi
}

build "order 3" --order 3 "$KJV/kjv.small.txt" --arpa "$tmp/o3.arpa"
against "order 3" "$KJV/kjv.small.o3.arpa.gz" "$tmp/o3.arpa"

build "order 5, fallback" --order 5 --discount_fallback "$KJV/kjv.small.txt" --arpa "$tmp/o5.arpa"
against "order 5, fallback" "$KJV/kjv.small.o5.arpa.gz" "$tmp/o5.arpa"

build "order 4, prune 0 1 1" --order 4 --prune 0 1 1 "$KJV/kjv.small.txt" --arpa "$tmp/p.arpa"
against "order 4, prune 0 1 1" "$KJV/kjv.small.o4.prune011.arpa.gz" "$tmp/p.arpa"

build "kjv5" --order 5 "$KJV/kjv.train.txt" --arpa "$tmp/kjv5.arpa" -o "$tmp/kjv5.kvg"
against "kjv5" "$KJV/kjv5.arpa.gz" "$tmp/kjv5.arpa"

# ---- the same model by other routes ----------------------------------------------------

mkdir "$tmp/spill"
build "spilling" --order 5 --discount_fallback -S 1M -T "$tmp/spill" "$KJV/kjv.small.txt" --arpa "$tmp/o5-spill.arpa"
same "-S 1M (sorted runs spilled and merged)" "$tmp/o5.arpa" "$tmp/o5-spill.arpa"
if [ -z "$(ls -A "$tmp/spill")" ]; then pass; else fail "spilled runs left in $tmp/spill: $(ls -A "$tmp/spill")"; fi

gzip -c "$KJV/kjv.small.txt" >"$tmp/small.txt.gz"
build "gzip input" --order 3 "$tmp/small.txt.gz" --arpa "$tmp/o3-gz.arpa"
same "gzip input" "$tmp/o3.arpa" "$tmp/o3-gz.arpa"
build "stdin" --order 3 --arpa "$tmp/o3-stdin.arpa" <"$KJV/kjv.small.txt"
same "standard input" "$tmp/o3.arpa" "$tmp/o3-stdin.arpa"
head -1500 "$KJV/kjv.small.txt" >"$tmp/a.txt"
tail -n +1501 "$KJV/kjv.small.txt" >"$tmp/b.txt"
build "two files" --order 3 "$tmp/a.txt" "$tmp/b.txt" --arpa "$tmp/o3-two.arpa"
same "the corpus split over two files" "$tmp/o3.arpa" "$tmp/o3-two.arpa"

# ---- the .kvg output -------------------------------------------------------------------

score() { # score MODEL OUT
    if timeout 120 "$KVG_BIN" score -m "$1" --json "$KJV/kjv.test.head200.txt" >"$2" 2>"$tmp/err"; then
        pass
    else
        fail "kvgram score -m $1: $(head -c 300 "$tmp/err")"
    fi
}
timeout 120 "$KVG_BIN" convert "$tmp/kjv5.arpa" -o "$tmp/kjv5-ours.kvg" --quiet 2>"$tmp/err" || fail "convert our ARPA: $(cat "$tmp/err")"
timeout 120 "$KVG_BIN" convert "$KJV/kjv5.arpa.gz" -o "$tmp/kjv5-lmplz.kvg" --quiet 2>"$tmp/err" || fail "convert lmplz's ARPA: $(cat "$tmp/err")"
score "$tmp/kjv5.kvg" "$tmp/direct.json"
score "$tmp/kjv5-ours.kvg" "$tmp/ours.json"
score "$tmp/kjv5-lmplz.kvg" "$tmp/lmplz.json"
same "scores of the .kvg built directly vs converted from our ARPA" "$tmp/ours.json" "$tmp/direct.json"
if python3 - "$tmp/lmplz.json" "$tmp/direct.json" <<'PY'; then pass; else fail "scores of the direct .kvg vs lmplz's model differ by more than 1e-3 on a line"; fi
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 201, (len(a), len(b))
for x, y in zip(a, b):
    assert x.get("n") == y.get("n") and x.get("oov") == y.get("oov"), (x, y)
    assert abs(x["total_log10"] - y["total_log10"]) < 1e-3, (x, y)
PY

finish
