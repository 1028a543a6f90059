#!/usr/bin/env bash
# test_estimate_errors.sh — `kvgram ngram build` on bad input and bad output
# paths. A refused build exits non-zero, prints one line on stderr that names
# the file (or option) and the problem, and leaves the output folder as it
# was (no model, no temporary). Covered: an empty corpus, a corpus too small
# for the discounts (the message suggests --discount_fallback, and the
# fallback then works), orders 0, 17 and "abc", <s> in the text (refused;
# --skip_symbols drops it), invalid UTF-8 (bytes are words like any other), a
# missing corpus, an output folder that does not exist or is not writable, a
# full disk (RLIMIT_FSIZE), and an interrupted run (SIGINT, SIGTERM), which
# leaves neither outputs nor spilled runs behind.
#
# Environment (set by CTest): KVG_BIN, KVG_SHARED_DIR.
set -u
: "${KVG_BIN:?KVG_BIN must name the kvgram binary}"
: "${KVG_SHARED_DIR:?KVG_SHARED_DIR must name the shared folder}"
KJV=$KVG_SHARED_DIR/data/kjv

# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" estimate-errors
cleanup() {
    [ -n "${bg:-}" ] && kill "$bg" 2>/dev/null
    chmod -R u+w "$tmp" 2>/dev/null
    rm -rf -- "$tmp"
}

out=$tmp/out
mkdir "$out" "$tmp/in" "$tmp/spill"
listing() { (cd "$1" && find . -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' '); }

# run ARGS...: `kvgram ngram build --quiet ARGS` (stdin empty unless redirected by the caller).
run() {
    timeout 120 "$KVG_BIN" ngram build --quiet "$@" >"$tmp/stdout" 2>"$tmp/err"
    status=$?
    err=$(cat "$tmp/err")
}

# refused WHAT WANT_STATUS ARGS... -- REGEX...: exit status WANT_STATUS, one stderr line
# matching every REGEX (case-insensitive), nothing on stdout, $out left empty.
refused() {
    local what=$1 want=$2
    shift 2
    local args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    run "${args[@]}" </dev/null
    if [ "$status" -eq "$want" ]; then pass; else fail "$what: exit status $status, expected $want (stderr: $err)"; fi
    if [ "$(wc -l <"$tmp/err")" -eq 1 ]; then pass; else fail "$what: expected one line on stderr: $err"; fi
    local re
    for re in "$@"; do
        if grep -Eqi -- "$re" "$tmp/err"; then pass; else fail "$what: stderr does not match /$re/: $err"; fi
    done
    if [ ! -s "$tmp/stdout" ]; then pass; else fail "$what: unexpected stdout"; fi
    if [ -z "$(listing "$out")" ]; then pass; else fail "$what: $out holds $(listing "$out")"; fi
}

: >"$tmp/in/empty.txt"
refused "empty corpus" 1 --order 3 "$tmp/in/empty.txt" -o "$out/m.kvg" -- "empty.txt" "empty"
refused "empty stdin" 1 --order 3 -o "$out/m.kvg" -- "stdin" "empty"

printf 'a b c\n' >"$tmp/in/tiny.txt"
refused "too small for discounts" 1 --order 3 "$tmp/in/tiny.txt" -o "$out/m.kvg" -- "tiny.txt" "discount" "--discount_fallback"
run --order 3 --discount_fallback "$tmp/in/tiny.txt" -o "$out/m.kvg" --arpa "$out/m.arpa"
if [ "$status" -eq 0 ] && [ -s "$out/m.kvg" ] && grep -q '^ngram 3=3$' "$out/m.arpa"; then pass; else fail "tiny corpus with --discount_fallback: status $status: $err"; fi
rm -f "$out"/*

refused "order 0" 2 --order 0 "$KJV/kjv.small.txt" -o "$out/m.kvg" -- "order 0" "range"
refused "order 17" 2 --order 17 "$KJV/kjv.small.txt" -o "$out/m.kvg" -- "order 17" "range"
refused "order abc" 2 --order abc "$KJV/kjv.small.txt" -o "$out/m.kvg" -- "--order" "number"
refused "no order" 2 "$KJV/kjv.small.txt" -o "$out/m.kvg" -- "--order"
refused "no output" 2 --order 3 "$KJV/kjv.small.txt" -- "-o"
refused "decreasing prune" 2 --order 3 --prune 0 2 1 "$KJV/kjv.small.txt" -o "$out/m.kvg" -- "decrease"
refused "missing corpus" 1 --order 3 "$tmp/in/nope.txt" -o "$out/m.kvg" -- "nope.txt" "no such file"

printf 'in the beginning\nthe <s> end\n' >"$tmp/in/bos.txt"
refused "<s> in the text" 1 --order 2 --discount_fallback "$tmp/in/bos.txt" -o "$out/m.kvg" -- "bos.txt:2" "<s>" "--skip_symbols"
run --order 2 --discount_fallback --skip_symbols "$tmp/in/bos.txt" --arpa "$out/m.arpa"
if [ "$status" -eq 0 ] && grep -q $'\tthe end$' "$out/m.arpa"; then pass; else fail "--skip_symbols: status $status: $err"; fi
rm -f "$out"/*

# invalid UTF-8: the bytes are a word like any other
{ cat "$KJV/kjv.small.txt"; printf 'the \xff\xfe beginning \xc3\n\xed\xa0\x80 god\n'; } >"$tmp/in/bytes.txt"
run --order 3 "$tmp/in/bytes.txt" --arpa "$out/m.arpa" -o "$out/m.kvg"
if [ "$status" -eq 0 ] && grep -q $'\t\xff\xfe\t' "$out/m.arpa" && grep -q $'\tthe \xff\xfe beginning$' "$out/m.arpa"; then
    pass
else
    fail "invalid UTF-8: status $status: $err"
fi
rm -f "$out"/*

# ---- bad output paths ----
refused "output folder missing" 1 --order 3 "$KJV/kjv.small.txt" -o "$out/no/m.kvg" -- "no/m.kvg" "no such file"
refused "ARPA folder missing" 1 --order 3 "$KJV/kjv.small.txt" --arpa "$out/no/m.arpa" -- "no/m.arpa" "no such file"
if [ "$(id -u)" -ne 0 ]; then
    mkdir "$tmp/ro" && chmod a-w "$tmp/ro"
    run --order 3 "$KJV/kjv.small.txt" -o "$tmp/ro/m.kvg"
    if [ "$status" -eq 1 ] && [ -z "$(ls -A "$tmp/ro")" ]; then pass; else fail "read-only output folder: status $status: $err"; fi
fi
# a full disk: at most 64 KiB per file (the shell ignores SIGXFSZ, so writes fail with EFBIG)
(
    trap '' XFSZ
    ulimit -f 64
    exec timeout 120 "$KVG_BIN" ngram build --quiet --order 3 "$KJV/kjv.small.txt" -o "$out/m.kvg" --arpa "$out/m.arpa"
) >"$tmp/stdout" 2>"$tmp/err"
status=$?
if [ "$status" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -Eqi "large|space|write" "$tmp/err"; then
    pass
else
    fail "full disk: status $status, stderr: $(cat "$tmp/err")"
fi
if [ -z "$(listing "$out")" ]; then pass; else fail "full disk: $out holds $(listing "$out")"; fi

# ---- interrupted runs leave nothing ----
# a corpus big enough to take a while: kjv.train five times, spilling often
for _ in 1 2 3 4 5; do cat "$KJV/kjv.train.txt"; done >"$tmp/in/big.txt"
interrupt() { # interrupt SIGNAL DELAY
    "$KVG_BIN" ngram build --quiet --order 5 -S 4M -T "$tmp/spill" "$tmp/in/big.txt" -o "$out/m.kvg" --arpa "$out/m.arpa" 2>"$tmp/err" &
    bg=$!
    sleep "$2"
    kill -"$1" "$bg" 2>/dev/null
    wait "$bg"
    local st=$?
    bg=
    if [ "$st" -ne 0 ]; then pass; else fail "SIG$1 after $2 s: the build finished before the signal"; fi
    if [ -z "$(listing "$out")" ]; then pass; else fail "SIG$1 after $2 s: $out holds $(listing "$out")"; fi
    if [ -z "$(listing "$tmp/spill")" ]; then pass; else fail "SIG$1 after $2 s: spilled runs left: $(listing "$tmp/spill")"; fi
}
interrupt INT 0.5
interrupt TERM 1.5

# interrupted while the .kvg tables are written within the budget (the
# streamed builder's sorted levels are in -T; its output's temporary has
# grown past 512 KiB, which the writer reaches only once the tables go out)
"$KVG_BIN" ngram build --quiet --order 5 -S 4M -T "$tmp/spill" "$KJV/kjv.train.txt" -o "$out/m.kvg" 2>"$tmp/err" &
bg=$!
seen=
for _ in $(seq 1200); do
    if [ -n "$(find "$out" -name '.m.kvg.*.tmp' -size +512k 2>/dev/null)" ]; then
        seen=1
        break
    fi
    kill -0 "$bg" 2>/dev/null || break
    sleep 0.05
done
kill -TERM "$bg" 2>/dev/null
wait "$bg"
st=$?
bg=
if [ -n "$seen" ] && [ "$st" -ne 0 ]; then pass; else fail "SIGTERM while writing the tables: not reached (status $st)"; fi
if [ -z "$(listing "$out")" ]; then pass; else fail "SIGTERM while writing the tables: $out holds $(listing "$out")"; fi
if [ -z "$(listing "$tmp/spill")" ]; then pass; else fail "SIGTERM while writing the tables: left in -T: $(listing "$tmp/spill")"; fi
finish
