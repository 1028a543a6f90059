#!/usr/bin/env bash
# test_convert_errors.sh — `kvgram convert` on bad ARPA input and bad output
# paths, and what it leaves behind. Every refused conversion must exit 1, print
# exactly one line on stderr naming the file and the problem, and leave the
# output folder as it was: no output file and no temporary (".NAME.*.tmp").
# An interrupted conversion leaves nothing either, and a conversion over an
# existing output replaces it atomically (a failed one leaves it intact).
#
# Environment (set by CTest): KVG_BIN, the kvgram binary; KVG_SHARED_DIR, the
# read-only shared data folder.
set -u

: "${KVG_BIN:?KVG_BIN must name the kvgram binary}"
: "${KVG_SHARED_DIR:?KVG_SHARED_DIR must name the shared folder}"

KJV5=$KVG_SHARED_DIR/data/kjv/kjv5.arpa.gz

# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" convert-errors
# also stop a conversion still running in the background
cleanup() {
    [ -n "${bg:-}" ] && kill "$bg" 2>/dev/null
    rm -rf -- "$tmp"
}

in=$tmp/in
out=$tmp/out
mkdir "$in" "$out"

# listing DIR: its entries, hidden ones included, on one line.
listing() { (cd "$1" && find . -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' '); }

# expect_listing WHAT DIR WANT: DIR holds exactly WANT (a `listing`).
expect_listing() {
    local got
    got=$(listing "$2")
    if [ "$got" = "$3" ]; then pass; else fail "$1: $2 holds \"$got\", expected \"$3\""; fi
}

# run ARGS...: `kvgram ARGS` with a deadline (only against hangs: a convert of
# kjv5 under ASan on a loaded 2-core machine took close to 60 s); sets $status and $err.
run() {
    timeout 300 "$KVG_BIN" "$@" >"$tmp/stdout" 2>"$tmp/err" </dev/null
    status=$?
    err=$(cat "$tmp/err")
}

# expect_refused WHAT NAMED ARGS... -- REGEX...: `kvgram ARGS` exits 1, prints
# nothing on stdout and one stderr line "kvgram: NAMED..." that matches every
# REGEX (extended, case-insensitive); the output folder is left empty.
expect_refused() {
    local what=$1 named=$2
    shift 2
    local args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        args+=("$1")
        shift
    done
    shift
    run "${args[@]}"
    expect_refusal "$what: \`kvgram ${args[*]}\`" 1 "$tmp/stdout" "kvgram: $named:"
    local re
    for re in "$@"; do
        expect_err_matches "$what" "$re"
    done
    expect_listing "$what" "$out" ""
}

# expect_bad_arpa WHAT FILE REGEX...: converting FILE is refused (see above).
expect_bad_arpa() {
    local what=$1 file=$2
    shift 2
    expect_refused "$what" "$file" convert "$file" -o "$out/model.kvg" -- "$@"
}

# ---- a small valid model and its broken copies ---------------------------------------

cat >"$in/good.arpa" <<'EOF'
\data\
ngram 1=4
ngram 2=2
ngram 3=1

\1-grams:
-1.0	<s>	-0.5
-1.0	</s>
-0.5	a	-0.3
-0.7	b	-0.2

\2-grams:
-0.3	<s> a	-0.1
-0.2	a b	-0.1

\3-grams:
-0.1	<s> a b

\end\
EOF

# The control: the good model converts and leaves only its output.
run convert "$in/good.arpa" -o "$out/model.kvg"
if [ "$status" -eq 0 ]; then pass; else fail "good.arpa: exit status $status: $err"; fi
expect_listing "good.arpa" "$out" "model.kvg "
rm -f "$out/model.kvg"

# edit NAME SED-SCRIPT: writes $in/NAME, good.arpa edited by SED-SCRIPT.
edit() { sed "$2" "$in/good.arpa" >"$in/$1"; }
edit count-more.arpa 's/^ngram 2=2$/ngram 2=3/'
edit count-less.arpa 's/^ngram 2=2$/ngram 2=1/'
edit dup-1gram.arpa 's/^ngram 1=4$/ngram 1=5/; s/^-0.5\ta\t-0.3$/&\n&/'
edit dup-3gram.arpa 's/^ngram 3=1$/ngram 3=2/; s/^-0.1\t<s> a b$/&\n&/'
edit unknown-word.arpa 's/^-0.2\ta b\t-0.1$/-0.2\ta zzz\t-0.1/'
edit no-bos.arpa 's/^ngram 1=4$/ngram 1=3/; s/^ngram 2=2$/ngram 2=1/; s/^ngram 3=1$/ngram 3=0/; /<s>/d'
edit no-eos.arpa 's/^ngram 1=4$/ngram 1=3/; /<\/s>/d'
edit nan-prob.arpa 's/^-0.5\ta\t/abc\ta\t/'
edit top-backoff.arpa 's/^-0.1\t<s> a b$/&\t-0.05/'
: >"$in/empty.arpa"
mkdir "$in/dir.arpa"

# order N: a well-formed ARPA model of order N (one n-gram "<s> a ... a" per order).
order() {
    local n=$1 k w="<s>"
    printf '\\data\\\nngram 1=3\n'
    for ((k = 2; k <= n; k++)); do echo "ngram $k=1"; done
    printf '\n\\1-grams:\n-1.0\t<s>\t-0.5\n-1.0\t</s>\n-0.5\ta\t-0.3\n'
    for ((k = 2; k <= n; k++)); do
        w="$w a"
        printf '\n\\%d-grams:\n-0.1\t%s' "$k" "$w"
        if ((k < n)); then printf '\t-0.1\n'; else printf '\n'; fi
    done
    printf '\n\\end\\\n'
}
order 16 >"$in/order16.arpa"
order 17 >"$in/order17.arpa"
# The control: order 16 (the maximum) converts.
run convert "$in/order16.arpa" -o "$out/model.kvg"
if [ "$status" -eq 0 ]; then pass; else fail "order16.arpa: exit status $status: $err"; fi
rm -f "$out/model.kvg"

# ---- bad ARPA input ---------------------------------------------------------------------

expect_bad_arpa "missing file" "$in/no-such.arpa" "no such file"
expect_bad_arpa "directory" "$in/dir.arpa" "directory"
expect_bad_arpa "empty file" "$in/empty.arpa" "empty"
expect_bad_arpa "count mismatch (fewer than declared)" "$in/count-more.arpa" "2-gram" "declare"
expect_bad_arpa "count mismatch (more than declared)" "$in/count-less.arpa" "2-gram" "declare"
expect_bad_arpa "duplicate 1-gram" "$in/dup-1gram.arpa" "1-gram" '"a"' "twice|duplicate"
expect_bad_arpa "duplicate 3-gram" "$in/dup-3gram.arpa" "3-gram" '"<s> a b"' "twice|duplicate"
expect_bad_arpa "n-gram word not among the 1-grams" "$in/unknown-word.arpa" '"zzz"' "1-grams"
expect_bad_arpa "no <s>" "$in/no-bos.arpa" "<s>" "1-grams"
expect_bad_arpa "no </s>" "$in/no-eos.arpa" "</s>" "1-grams"
expect_bad_arpa "order 17" "$in/order17.arpa" "order 17" "maximum|at most|too"
expect_bad_arpa "non-numeric log-prob" "$in/nan-prob.arpa" "abc" "number|numeric"
expect_bad_arpa "backoff on the highest order" "$in/top-backoff.arpa" "backoff" "highest"

# Truncated gzip: refused, and a line it names is where the readable text ends
# (after `zcat | wc -l` complete lines).
head -c 100000 "$KJV5" >"$in/kjv5-head.arpa.gz"
gzip -c "$in/good.arpa" | head -c -8 >"$in/no-trailer.arpa.gz"
for gz in kjv5-head.arpa.gz no-trailer.arpa.gz; do
    expect_bad_arpa "truncated gzip ($gz)" "$in/$gz" "truncated|unexpected end"
    readable=$(gzip -dc <"$in/$gz" 2>/dev/null | wc -l)
    named=$(sed -n 's/.*line \([0-9][0-9]*\).*/\1/p; s/^kvgram: [^:]*:\([0-9][0-9]*\):.*/\1/p' "$tmp/err" | head -1)
    if [ -z "$named" ] || [ "$named" -eq "$readable" ] || [ "$named" -eq $((readable + 1)) ]; then
        pass
    else
        fail "truncated gzip ($gz): names line $named, but the readable text ends after line $readable: $err"
    fi
done

# ---- bad output paths -------------------------------------------------------------------

expect_refused "output in a missing folder" "$out/no-such-dir/model.kvg" \
    convert "$in/good.arpa" -o "$out/no-such-dir/model.kvg" -- "no such file|does not exist"
mkdir "$tmp/outdir.kvg"
run convert "$in/good.arpa" -o "$tmp/outdir.kvg"
if [ "$status" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && [[ $err == "kvgram: $tmp/outdir.kvg:"*directory* ]]; then
    pass
else
    fail "output path that is a directory: exit status $status (expected 1), stderr (expected one line \"kvgram: $tmp/outdir.kvg: ... directory\"): $err"
fi
expect_listing "output path that is a directory" "$tmp/outdir.kvg" ""
if [ -z "$(find "$tmp" -maxdepth 1 -name '.*.tmp')" ]; then pass; else fail "output path that is a directory: temporaries left: $(find "$tmp" -maxdepth 1 -name '.*.tmp')"; fi

# ---- interrupted conversions --------------------------------------------------------------

# interrupt WHAT SIGNAL WHEN: converts kjv5.arpa.gz into $out/kjv5.kvg in the
# background and sends SIGNAL after WHEN seconds, or, with WHEN "writing", as soon
# as the temporary output exists. The conversion must exit non-zero and leave
# $out as it was.
interrupt() {
    local what=$1 sig=$2 when=$3 before i
    before=$(listing "$out")
    "$KVG_BIN" convert "$KJV5" -o "$out/kjv5.kvg" --quiet 2>"$tmp/bg.err" &
    bg=$!
    if [ "$when" = writing ]; then
        for ((i = 0; i < 600; i++)); do
            [ -n "$(find "$out" -maxdepth 1 -name '.*.tmp')" ] && break
            sleep 0.05
        done
        if [ "$i" -eq 600 ]; then fail "$what: no temporary appeared in $out in 30 s"; fi
    else
        sleep "$when"
    fi
    kill -"$sig" "$bg" 2>/dev/null
    wait "$bg"
    local status=$?
    bg=
    if [ "$status" -ne 0 ]; then
        pass
    else
        fail "$what: the conversion was not interrupted (exit status 0); was it already done?"
    fi
    expect_listing "$what" "$out" "$before"
}
interrupt "SIGINT after 0.3 s" INT 0.3
interrupt "SIGINT while writing" INT writing
interrupt "SIGTERM while writing" TERM writing

# ---- replacing an existing output --------------------------------------------------------

run convert "$in/good.arpa" -o "$out/kjv5.kvg"
old_sum=$(md5sum <"$out/kjv5.kvg")
interrupt "SIGINT while writing over an existing output" INT writing
if [ "$(md5sum <"$out/kjv5.kvg")" = "$old_sum" ]; then pass; else fail "an interrupted conversion changed the existing $out/kjv5.kvg"; fi

mv "$out/kjv5.kvg" "$out/model.kvg"
old_sum=$(md5sum <"$out/model.kvg")
for bad in dup-3gram.arpa kjv5-head.arpa.gz; do
    run convert "$in/$bad" -o "$out/model.kvg"
    if [ "$status" -eq 1 ]; then pass; else fail "$bad over an existing output: exit status $status, expected 1"; fi
    if [ "$(md5sum <"$out/model.kvg")" = "$old_sum" ]; then pass; else fail "$bad: the failed conversion changed the existing $out/model.kvg"; fi
    expect_listing "$bad over an existing output" "$out" "model.kvg "
done

# A successful conversion replaces the file by rename: a reader that has the old
# file open still reads the old bytes, and the path now holds the new model.
exec 3<"$out/model.kvg"
old_inode=$(stat -c %i "$out/model.kvg")
run convert "$KVG_SHARED_DIR/data/kenlm/test.arpa" -o "$out/model.kvg"
if [ "$status" -eq 0 ]; then pass; else fail "test.arpa over an existing output: exit status $status: $err"; fi
if [ "$(md5sum <&3)" = "$old_sum" ]; then pass; else fail "the old model, held open, changed while it was replaced (written in place?)"; fi
exec 3<&-
if [ "$(stat -c %i "$out/model.kvg")" != "$old_inode" ]; then pass; else fail "$out/model.kvg kept its inode: rewritten in place, not renamed into place"; fi
run convert "$KVG_SHARED_DIR/data/kenlm/test.arpa" -o "$tmp/fresh.kvg"
if cmp -s "$tmp/fresh.kvg" "$out/model.kvg"; then pass; else fail "$out/model.kvg is not the conversion of test.arpa"; fi
expect_listing "test.arpa over an existing output" "$out" "model.kvg "

finish
