#!/usr/bin/env bash
# test_estimate_stream.sh — `kvgram ngram build` past its memory budget: with
# -S 1M every stage spills (counting, adjusting, normalizing, interpolating
# run as merges over sorted runs in temporary files) and the model must stay
# the same:
#   - against lmplz's outputs (arpa_diff, every n-gram within 1e-4):
#     kjv.small order 3, order 5 with --discount_fallback, order 4 with
#     --prune 0 1 1, and kjv.train order 5 (kjv5.arpa.gz) at -S 4M;
#   - byte for byte the ARPA of the in-memory route (-S 1G), also for
#     maximum likelihood, order 1 and pruned unigrams;
#   - the streamed .kvg (order 3) scores held-out text exactly as the .kvg
#     converted from the streamed ARPA;
#   - the .kvg tables built within -S 1M (every order sorted into trie order
#     and encoded from spilled temporaries) are byte for byte the file of the
#     builder that holds the whole model (--tables-in-memory, -S 1G), exact
#     and --quantize 8, for KN, pruned, renumbered, maximum-likelihood and
#     token-level models;
#   - the runs really go to disk: a missing -T folder is then an error (and is
#     not at -S 1G), and a full disk (RLIMIT_FSIZE) on the temporary files is a
#     one-line error that leaves no output; the -T folder is empty afterwards.
#
# Environment (set by CTest): KVG_BIN, KVG_SHARED_DIR, KVG_SOURCE_DIR, KVG_ARPA_DIFF.
set -u
: "${KVG_BIN:?KVG_BIN must name the kvgram binary}"
: "${KVG_SHARED_DIR:?KVG_SHARED_DIR must name the shared folder}"
: "${KVG_ARPA_DIFF:?KVG_ARPA_DIFF must name the arpa_diff helper}"
KJV=$KVG_SHARED_DIR/data/kjv

# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" estimate-stream
mkdir "$tmp/spill" "$tmp/out"
listing() { (cd "$1" && find . -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' '); }

build() { # build WHAT ARGS...: exits 0 with nothing on stderr
    local what=$1
    shift
    if timeout 300 "$KVG_BIN" ngram build --quiet "$@" >"$tmp/stdout" 2>"$tmp/err" && [ ! -s "$tmp/err" ]; then
        pass
    else
        fail "$what: \`kvgram ngram build $*\` failed: $(head -c 600 "$tmp/err")"
    fi
}
against() { # against WHAT EXPECTED.arpa.gz GOT.arpa
    if "$KVG_ARPA_DIFF" "$2" "$3" >"$tmp/cmp" 2>&1; then
        pass
    else
        fail "$1: differs from lmplz's $2:"
        head -20 "$tmp/cmp" >&2
    fi
}
same() { if cmp -s "$2" "$3"; then pass; else fail "$1: $3 differs from $2"; fi; }

# both WHAT ARGS...: the streamed (-S 1M) and in-memory (-S 1G) ARPA, which must be equal; leaves $tmp/s.arpa
both() {
    local what=$1
    shift
    build "$what, -S 1M" -S 1M -T "$tmp/spill" "$@" --arpa "$tmp/s.arpa"
    build "$what, -S 1G" -S 1G "$@" --arpa "$tmp/m.arpa"
    same "$what: streamed vs in memory" "$tmp/m.arpa" "$tmp/s.arpa"
}

both "order 3" --order 3 "$KJV/kjv.small.txt"
against "order 3, -S 1M" "$KJV/kjv.small.o3.arpa.gz" "$tmp/s.arpa"
both "order 5, fallback" --order 5 --discount_fallback "$KJV/kjv.small.txt"
against "order 5, fallback, -S 1M" "$KJV/kjv.small.o5.arpa.gz" "$tmp/s.arpa"
both "order 4, prune 0 1 1" --order 4 --prune 0 1 1 "$KJV/kjv.small.txt"
against "order 4, prune 0 1 1, -S 1M" "$KJV/kjv.small.o4.prune011.arpa.gz" "$tmp/s.arpa"
both "order 3, mle" --order 3 --smoothing mle "$KJV/kjv.small.txt"
both "order 1" --order 1 "$KJV/kjv.small.txt"
both "order 3, prune 1 (unigrams renumbered)" --order 3 --prune 1 "$KJV/kjv.small.txt"

# kvg_both WHAT ARGS...: the .kvg built within -S 1M and the one of the in-memory builder are equal
kvg_both() {
    local what=$1
    shift
    build "$what, .kvg at -S 1M" -S 1M -T "$tmp/spill" "$@" -o "$tmp/s.kvg"
    build "$what, .kvg in memory" -S 1G --tables-in-memory "$@" -o "$tmp/m.kvg"
    same "$what: .kvg tables streamed vs in memory" "$tmp/m.kvg" "$tmp/s.kvg"
}
kvg_both "order 3" --order 3 "$KJV/kjv.small.txt"
kvg_both "order 5, fallback, q8" --order 5 --discount_fallback --quantize 8 "$KJV/kjv.small.txt"
kvg_both "order 4, prune 0 1 1" --order 4 --prune 0 1 1 "$KJV/kjv.small.txt"
kvg_both "order 4, prune 0 1 1, q8" --order 4 --prune 0 1 1 --quantize 8 "$KJV/kjv.small.txt"
kvg_both "order 3, prune 1 (unigrams renumbered)" --order 3 --prune 1 "$KJV/kjv.small.txt"
kvg_both "order 3, mle" --order 3 --smoothing mle "$KJV/kjv.small.txt"
kvg_both "order 1" --order 1 "$KJV/kjv.small.txt"
kvg_both "order 3, tokens" --order 3 --tokenizer "$KVG_SOURCE_DIR/models/tinystories-bpe" "$KJV/kjv.small.txt"

# kjv5 at 4 MiB (its n-grams take ~130 MB in memory)
build "kjv5, -S 4M" --order 5 -S 4M -T "$tmp/spill" "$KJV/kjv.train.txt" --arpa "$tmp/kjv5.arpa"
against "kjv5, -S 4M" "$KJV/kjv5.arpa.gz" "$tmp/kjv5.arpa"

# the .kvg fed from the streams scores like the .kvg converted from the streamed ARPA
build "order 3 .kvg, -S 1M" --order 3 -S 1M -T "$tmp/spill" "$KJV/kjv.small.txt" --arpa "$tmp/o3.arpa" -o "$tmp/o3.kvg"
timeout 120 "$KVG_BIN" convert "$tmp/o3.arpa" -o "$tmp/o3-conv.kvg" --quiet 2>"$tmp/err" || fail "convert: $(cat "$tmp/err")"
for m in o3 o3-conv; do
    timeout 120 "$KVG_BIN" score -m "$tmp/$m.kvg" --json "$KJV/kjv.test.head200.txt" >"$tmp/$m.json" 2>"$tmp/err" ||
        fail "score -m $m.kvg: $(cat "$tmp/err")"
done
if [ -s "$tmp/o3.json" ]; then pass; else fail "no scores from the streamed .kvg"; fi
same "scores of the streamed .kvg vs the .kvg converted from its ARPA" "$tmp/o3-conv.json" "$tmp/o3.json"
if [ -z "$(listing "$tmp/spill")" ]; then pass; else fail "temporary files left in -T: $(listing "$tmp/spill")"; fi

# the runs go to -T: a missing folder fails at -S 1M (one line naming it), not at -S 1G
build "missing -T at -S 1G" --order 3 -S 1G -T "$tmp/nowhere" "$KJV/kjv.small.txt" --arpa "$tmp/out/x.arpa"
rm -f "$tmp/out/x.arpa"
if ! timeout 120 "$KVG_BIN" ngram build --quiet --order 3 -S 1M -T "$tmp/nowhere" "$KJV/kjv.small.txt" \
    --arpa "$tmp/out/x.arpa" 2>"$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "nowhere.*temporary" "$tmp/err"; then
    pass
else
    fail "missing -T folder at -S 1M: $(cat "$tmp/err")"
fi
if [ -z "$(listing "$tmp/out")" ]; then pass; else fail "missing -T: $tmp/out holds $(listing "$tmp/out")"; fi

# a full disk for the temporary files: at most 256 KiB per file (the runs of kjv.train
# grow past it; the shell ignores SIGXFSZ, so writes fail with EFBIG)
(
    trap '' XFSZ
    ulimit -f 256
    exec timeout 120 "$KVG_BIN" ngram build --quiet --order 5 -S 1M -T "$tmp/spill" "$KJV/kjv.train.txt" \
        --arpa "$tmp/out/x.arpa"
) >"$tmp/stdout" 2>"$tmp/err"
status=$?
if [ "$status" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -Eqi "temporary.*(large|space)" "$tmp/err"; then
    pass
else
    fail "full disk under -T: status $status, stderr: $(cat "$tmp/err")"
fi
if [ -z "$(listing "$tmp/out")" ]; then pass; else fail "full disk under -T: $tmp/out holds $(listing "$tmp/out")"; fi
if [ -z "$(listing "$tmp/spill")" ]; then pass; else fail "full disk: temporary files left: $(listing "$tmp/spill")"; fi
finish
