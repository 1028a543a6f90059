#!/usr/bin/env bash
# test_estimate_memory.sh — `kvgram ngram build -S SIZE` stays within its
# budget: on kjv.train.txt, order 5 (whose n-grams take ~130 MB in memory),
# the peak RSS at -S 1M (ARPA output) and -S 4M (ARPA and .kvg output) must
# be at most
#   SIZE + 8 MiB + 150 bytes per vocabulary word
# (the constant documented in `kvgram ngram build --help`: the program, the
# stream buffers and the vocabulary). The bound bites: the .kvg builder that
# holds the whole model (--tables-in-memory) goes past it at -S 4M, and its
# file is byte for byte the one built within the budget. Not a timing test.
# Skipped under sanitizers (KVG_SANITIZED=1), which change memory use.
#
# Environment (set by CTest): KVG_BIN, KVG_SHARED_DIR, KVG_PEAK_RSS, KVG_SANITIZED.
set -u
: "${KVG_BIN:?KVG_BIN must name the kvgram binary}"
: "${KVG_PEAK_RSS:?KVG_PEAK_RSS must name the peak_rss helper}"
: "${KVG_SHARED_DIR:?KVG_SHARED_DIR must name the shared folder}"
if [ "${KVG_SANITIZED:-0}" = 1 ]; then
    echo "skipped: sanitizers change memory use"
    exit 0
fi
KJV=$KVG_SHARED_DIR/data/kjv
# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" estimate-memory

# peak_kib ARGS...: the peak RSS (KiB) of `kvgram ngram build ARGS`, or "failed ..."
peak_kib() {
    local kib
    if kib=$(timeout 300 "$KVG_PEAK_RSS" "$KVG_BIN" ngram build --quiet "$@" 2>"$tmp/err"); then
        echo "$kib"
    else
        echo "failed: $(cat "$tmp/err")"
    fi
}

vocab=$(awk '{ for (i = 1; i <= NF; i++) if (!($i in seen)) { seen[$i] = 1; n++ } } END { print n + 3 }' "$KJV/kjv.train.txt")
limit_kib() { echo $(( ($1 << 10) + (8 << 10) + vocab * 150 / 1024 )); }
for mib in 1 4; do
    kvg=()
    [ "$mib" = 4 ] && kvg=(-o "$tmp/kjv5.kvg")
    got=$(peak_kib --order 5 -S ${mib}M -T "$tmp" "$KJV/kjv.train.txt" --arpa "$tmp/kjv5.arpa" "${kvg[@]}")
    limit=$(limit_kib $mib)
    case $got in
    failed*) fail "-S ${mib}M: $got" ;;
    *) if [ "$got" -le "$limit" ]; then pass; else fail "-S ${mib}M ${kvg[*]}: peak RSS $got KiB > $limit KiB (budget + 8 MiB + 150 B x $vocab words)"; fi ;;
    esac
done
got=$(peak_kib --order 5 -S 4M -T "$tmp" "$KJV/kjv.train.txt" --tables-in-memory -o "$tmp/kjv5-mem.kvg")
case $got in
failed*) fail "--tables-in-memory: $got" ;;
*) if [ "$got" -gt "$(limit_kib 4)" ]; then pass; else fail "--tables-in-memory at -S 4M: peak RSS $got KiB is within the bound: the test shows nothing"; fi ;;
esac
if cmp -s "$tmp/kjv5-mem.kvg" "$tmp/kjv5.kvg"; then pass; else fail "kjv5: the .kvg built within -S 4M differs from the in-memory builder's"; fi
if [ "$(grep -c . "$tmp/kjv5.arpa")" -gt 1000000 ]; then pass; else fail "the model is too small to show anything"; fi
finish
