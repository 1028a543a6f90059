#!/usr/bin/env bash
# test_score_cli.sh — `kvgram score` the way a user runs it:
#   - the output does not depend on the thread count (--threads, OMP_NUM_THREADS),
#     on stdin vs a file, or on splitting the input over several FILEs;
#   - --json --per-token is valid JSON whose numbers agree with each other
#     (checked in python: ids/n, sum of log-probs, ln vs log10, the summary's
#     perplexities), --no-bos only drops the leading <s> id, and the kenlm
#     format's per-line totals are the tsv ones;
#   - edge input: no lines, empty and blank lines, CRLF and other KenLM
#     whitespace, invalid UTF-8, a 5 MB line;
#   - errors: a missing input file, bad models, usage errors.
#
# Environment (set by CTest): KVG_BIN, the kvgram binary; KVG_SHARED_DIR, the
# read-only shared data folder; KVG_MAKE_SAMPLE (optional), the helper that
# writes a valid .kvg that is not an n-gram model (tests/format/make_sample_kvg.c).
set -u

: "${KVG_BIN:?KVG_BIN must name the kvgram binary}"
: "${KVG_SHARED_DIR:?KVG_SHARED_DIR must name the shared folder}"

KENLM=$KVG_SHARED_DIR/data/kenlm
KJV=$KVG_SHARED_DIR/data/kjv
TEXT=$KJV/kjv.test.txt

# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" score-cli

# run OUT ARGS...: `kvgram ARGS` with stdout to OUT (stdin inherited); sets
# $status and $err.
run() {
    local out=$1
    shift
    timeout 120 "$KVG_BIN" "$@" >"$out" 2>"$tmp/err"
    status=$?
    err=$(cat "$tmp/err")
}

# score OUT ARGS...: `kvgram score ARGS` must exit 0 with nothing on stderr.
score() {
    local out=$1
    shift
    run "$out" score "$@"
    if [ "$status" -eq 0 ] && [ -z "$err" ]; then
        pass
    else
        fail "\`kvgram score $*\` exit status $status, stderr: $(head -c 600 "$tmp/err")"
    fi
}

# expect_same WHAT EXPECTED ACTUAL: byte-for-byte equal, else the first lines of diff.
expect_same() {
    if cmp -s -- "$2" "$3"; then
        pass
    else
        fail "$1: $3 differs from $2 (diff expected actual, first 10 lines, cut at 300 bytes):"
        diff -- "$2" "$3" | head -10 | cut -c1-300 >&2
    fi
}

# expect_refused WHAT WANT_STATUS PHRASE ARGS...: `kvgram ARGS` exits with
# WANT_STATUS, prints exactly one line on stderr containing PHRASE, and nothing
# on stdout.
expect_refused() {
    local what=$1 want=$2 phrase=$3
    shift 3
    run "$tmp/refused.out" "$@" </dev/null
    expect_refusal "$what: \`kvgram $*\`" "$want" "$tmp/refused.out"
    expect_err_says "$what" "$phrase"
}

# check_json FILE BOS [REF]: the python property checks below; BOS is 1 when
# <s> was prepended; REF, if given, is the --per-token output of the same input
# with <s> (for --no-bos; for -n, the --no-eos one) or the --per-token output
# FILE was made without.
cat >"$tmp/check_json.py" <<'EOF'
import json, math, sys

path, bos = sys.argv[1], sys.argv[2] == "1"
ref_path = sys.argv[3] if len(sys.argv) > 3 else None
problems = []

def bad(where, msg):
    problems.append(f"{path}: {where}: {msg}")

def no_constants(name):  # NaN, Infinity and -Infinity are not JSON
    raise ValueError(f"non-JSON constant {name}")

def load(p):
    with open(p, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")  # strict: the output must be valid UTF-8
    except UnicodeDecodeError as e:
        sys.exit(f"{p}: not valid UTF-8: {e}: {data[max(0, e.start - 60):e.end + 20]!r}")
    objs = []
    for k, l in enumerate(text.splitlines(), 1):
        try:
            objs.append(json.loads(l, parse_constant=no_constants))
        except ValueError as e:
            sys.exit(f"{p}: output line {k} is not JSON ({e}): {l[:300]}")
    return objs

def close(a, b, rel):
    return abs(a - b) <= rel * max(abs(a), abs(b)) or a == b

objs = load(path)
if not objs or objs[-1].get("summary") is not True:
    bad("end", "the last object is not {\"summary\": true, ...}")
    objs.append({"summary": True})
lines, summary = objs[:-1], objs[-1]
per_token = bool(lines) and "ids" in lines[0]
total = 0.0
n_all = oov_all = 0
oov_log10 = 0.0
for k, o in enumerate(lines, 1):
    where = f"line {k}"
    if o.get("summary") or o.get("line") != k:
        bad(where, f"expected \"line\": {k}, not a summary: {str(o)[:200]}")
        continue
    n, oov, t10 = o["n"], o["oov"], o["total_log10"]
    total += t10
    n_all += n
    oov_all += oov
    if not close(o["total_ln"], t10 * math.log(10), 1e-6):
        bad(where, f"total_ln {o['total_ln']} != total_log10 {t10} * ln(10)")
    if not per_token:
        continue
    ids, toks, lp10, lp, matched = o["ids"], o["tokens"], o["log10prob"], o["logprob"], o["matched"]
    if len(ids) != n + (1 if bos else 0):
        bad(where, f"len(ids) = {len(ids)}, n = {n}, <s> {'prepended' if bos else 'not prepended'}")
    if bos and toks[:1] != ["<s>"]:
        bad(where, f"tokens do not start with <s>: {toks[:3]}")
    if len(toks) != len(ids) or len(lp10) != n or len(lp) != n or len(matched) != n:
        bad(where, f"n = {n}, but {len(toks)} tokens, {len(ids)} ids, {len(lp10)} log10prob, "
                   f"{len(lp)} logprob, {len(matched)} matched")
        continue
    if not abs(math.fsum(lp10) - t10) <= 1e-4:
        bad(where, f"sum(log10prob) = {math.fsum(lp10)}, total_log10 = {t10}")
    for i, (a, b) in enumerate(zip(lp, lp10)):
        if not close(a, b * math.log(10), 1e-9):
            bad(where, f"token {i}: logprob {a} != log10prob {b} * ln(10)")
            break
    predicted = ids[1:] if bos else ids
    if sum(1 for i in predicted if i == 0) != oov:
        bad(where, f"oov = {oov}, but ids {predicted[:20]} hold {sum(1 for i in predicted if i == 0)} zeros")
    oov_log10 += math.fsum(p for i, p in zip(predicted, lp10) if i == 0)
    if any(m < 1 for m in matched):
        bad(where, f"a matched length below 1: {matched[:20]}")

s = summary
if s.get("lines") != len(lines) or s.get("n") != n_all or s.get("oov") != oov_all:
    bad("summary", f"lines/n/oov {s.get('lines')}/{s.get('n')}/{s.get('oov')}, "
                   f"the lines add up to {len(lines)}/{n_all}/{oov_all}")
t10 = s.get("total_log10", float("nan"))
if not close(t10, total, 1e-12):
    bad("summary", f"total_log10 {t10}, the lines add up to {total}")
if n_all > 0:
    want = 10 ** (-t10 / n_all)
    if not close(s.get("perplexity", float("nan")), want, 1e-9):
        bad("summary", f"perplexity {s.get('perplexity')}, 10^(-total_log10/n) = {want}")
    if per_token and n_all > oov_all:
        want = 10 ** (-(t10 - oov_log10) / (n_all - oov_all))
        if not close(s.get("perplexity_excl_oov", float("nan")), want, 1e-6):
            bad("summary", f"perplexity_excl_oov {s.get('perplexity_excl_oov')}, expected {want}")
if n_all == 0 and s.get("perplexity") is not None:
    bad("summary", f"no tokens, but perplexity is {s.get('perplexity')} (expected null)")
if n_all == oov_all and s.get("perplexity_excl_oov") is not None:
    bad("summary", f"no in-vocabulary tokens, but perplexity_excl_oov is {s.get('perplexity_excl_oov')}")

if ref_path:
    ref = load(ref_path)
    if len(ref) != len(objs):
        bad("compare", f"{len(objs)} objects, but {ref_path} has {len(ref)}")
    for k, (o, r) in enumerate(zip(objs, ref), 1):
        if "ids" in r and "ids" in o and not bos:  # --no-bos: the same words, no leading <s>
            if o["ids"] != r["ids"][1:] or o["tokens"] != r["tokens"][1:] or o["n"] != r["n"]:
                bad(f"line {k}", f"--no-bos ids {o['ids'][:10]} are not {r['ids'][1:11]}")
        elif "ids" in r and "ids" not in o:  # plain --json: the per-token object's fields
            if any(o[key] != r[key] for key in o):
                bad(f"line {k}", f"{str(o)[:200]} differs from the --per-token object {str(r)[:200]}")

for p in problems[:10]:
    print(p)
if len(problems) > 10:
    print(f"... and {len(problems) - 10} more")
sys.exit(1 if problems else 0)
EOF
check_json() {
    if python3 "$tmp/check_json.py" "$@" >"$tmp/check.out" 2>&1; then
        pass
    else
        fail "JSON properties of $1:"
        head -12 "$tmp/check.out" >&2
    fi
}

# ---- models -------------------------------------------------------------------

for arpa in "$KENLM/test.arpa" "$KJV/kjv5.arpa.gz"; do
    name=$(basename "$arpa")
    if timeout 120 "$KVG_BIN" convert "$arpa" -o "$tmp/${name%%.*}.kvg" --quiet 2>"$tmp/err"; then
        pass
    else
        fail "kvgram convert $arpa: $(cat "$tmp/err")"
    fi
done
T=$tmp/test.kvg
K=$tmp/kjv5.kvg

# ---- threads, stdin, several files ------------------------------------------------

formats=("" "--per-token" "--json" "--json --per-token" "--format kenlm" "--format kenlm --per-token" "--format summary")
for f in "${formats[@]}"; do
    name="threads${f// /_}"
    # shellcheck disable=SC2086  # $f is a list of options
    score "$tmp/$name.1" -m "$K" $f --threads 1 "$TEXT"
    for t in 2 7; do
        # shellcheck disable=SC2086
        score "$tmp/$name.$t" -m "$K" $f --threads "$t" "$TEXT"
        expect_same "--threads $t vs 1 ($f)" "$tmp/$name.1" "$tmp/$name.$t"
    done
    # shellcheck disable=SC2086
    OMP_NUM_THREADS=2 score "$tmp/$name.omp" -m "$K" $f "$TEXT"
    expect_same "OMP_NUM_THREADS=2 vs --threads 1 ($f)" "$tmp/$name.1" "$tmp/$name.omp"
    # shellcheck disable=SC2086
    score "$tmp/$name.stdin" -m "$K" $f <"$TEXT"
    expect_same "stdin vs FILE ($f)" "$tmp/$name.1" "$tmp/$name.stdin"
done
score "$tmp/dash.out" -m "$K" - <"$TEXT"
expect_same "FILE - (stdin) vs FILE" "$tmp/threads.1" "$tmp/dash.out"

# Several FILEs: the same as one file holding them all (lines numbered on).
head -n 1000 "$TEXT" >"$tmp/part1.txt"
sed -n '1001,1001p' "$TEXT" >"$tmp/part2.txt"
: >"$tmp/part3.txt"
tail -n +1002 "$TEXT" >"$tmp/part4.txt"
cat "$tmp"/part{1,2,3,4}.txt >"$tmp/parts.txt"
expect_same "the split of kjv.test.txt" "$TEXT" "$tmp/parts.txt"
for f in "--per-token" "--json --per-token" "--format kenlm"; do
    # shellcheck disable=SC2086
    score "$tmp/parts.out" -m "$K" $f "$tmp"/part{1,2,3,4}.txt
    # shellcheck disable=SC2086
    score "$tmp/whole.out" -m "$K" $f "$TEXT"
    expect_same "four FILEs vs their concatenation ($f)" "$tmp/whole.out" "$tmp/parts.out"
done

# ---- JSON properties ------------------------------------------------------------

S=$KENLM/expected/sentences.txt
for input in "$TEXT" "$S"; do
    model=$K
    [ "$input" = "$S" ] && model=$T
    b=$tmp/$(basename "$input")
    score "$b.bos.json" -m "$model" --json --per-token "$input"
    check_json "$b.bos.json" 1
    score "$b.nobos.json" -m "$model" --json --per-token --no-bos "$input"
    check_json "$b.nobos.json" 0 "$b.bos.json"
    score "$b.noeos.json" -m "$model" --json --per-token --no-eos "$input"
    check_json "$b.noeos.json" 1
    score "$b.n.json" -m "$model" --json --per-token -n "$input"
    check_json "$b.n.json" 0 "$b.noeos.json"
    score "$b.plain.json" -m "$model" --json "$input"
    check_json "$b.plain.json" 1 "$b.bos.json"
    # The kenlm format's per-line totals and OOVs are the tsv columns.
    score "$b.kenlm" -m "$model" --format kenlm --per-token --no-summary "$input"
    score "$b.tsv" -m "$model" --per-token --no-summary "$input"
    sed 's/.*Total: \([^ ]*\) OOV: \([0-9]*\)$/\1 \2/' "$b.kenlm" >"$b.kenlm.totals"
    awk -F '\t' '!/^#/ { print $2, $4 }' "$b.tsv" >"$b.tsv.totals"
    if [ -s "$b.tsv.totals" ]; then pass; else fail "no lines in $b.tsv"; fi
    expect_same "kenlm vs tsv per-line totals and OOVs ($(basename "$input"))" "$b.tsv.totals" "$b.kenlm.totals"
done
# The summaries agree across formats.
score "$tmp/sum.kenlm" -m "$K" --format kenlm "$TEXT"
score "$tmp/sum.tsv" -m "$K" "$TEXT"
kenlm_ppl=$(awk -F '\t' '$1 == "Perplexity including OOVs:" { print $2 }' "$tmp/sum.kenlm")
tsv_ppl=$(awk -F '\t' '$1 == "# summary" { for (i = 2; i <= NF; i++) if ($i ~ /^perplexity /) print substr($i, 12) }' "$tmp/sum.tsv")
if [ -n "$kenlm_ppl" ] && [ "$kenlm_ppl" = "$tsv_ppl" ]; then
    pass
else
    fail "summary perplexity: kenlm format \"$kenlm_ppl\", tsv \"$tsv_ppl\""
fi

# ---- edge input ---------------------------------------------------------------------

# No lines at all: a summary with 0 lines and 0 tokens; the perplexity is
# undefined: null in JSON, NaN in the kenlm format (what KenLM's double-conversion
# prints for 0/0), never a crash.
: >"$tmp/empty.txt"
score "$tmp/empty.json" -m "$T" --json --per-token "$tmp/empty.txt"
check_json "$tmp/empty.json" 1
if [ "$(wc -l <"$tmp/empty.json")" -eq 1 ] && grep -q '"lines":0,"n":0' "$tmp/empty.json"; then
    pass
else
    fail "empty input, --json: expected one summary object with 0 lines and 0 tokens, got: $(head -c 300 "$tmp/empty.json")"
fi
score "$tmp/empty.stdin.json" -m "$T" --json </dev/null
expect_same "empty stdin vs empty file (--json)" "$tmp/empty.json" "$tmp/empty.stdin.json"
score "$tmp/empty.tsv" -m "$T" "$tmp/empty.txt"
if [ "$(grep -vc '^#' "$tmp/empty.tsv")" -eq 0 ] && grep -q '^# summary.*lines 0.*tokens 0' "$tmp/empty.tsv"; then
    pass
else
    fail "empty input, tsv: expected only '#' lines with a 0-line, 0-token summary, got: $(cat "$tmp/empty.tsv")"
fi
score "$tmp/empty.kenlm" -m "$T" --format kenlm "$tmp/empty.txt"
printf 'Perplexity including OOVs:\tNaN\nPerplexity excluding OOVs:\tNaN\nOOVs:\t0\nTokens:\t0\n' >"$tmp/empty.kenlm.want"
expect_same "empty input, --format kenlm" "$tmp/empty.kenlm.want" "$tmp/empty.kenlm"
# Lines whose only tokens are OOV, with -n: no in-vocabulary token, so the
# perplexity excluding OOVs is undefined (null), not NaN.
printf 'zzz_not_a_word\n' >"$tmp/oovonly.txt"
score "$tmp/oovonly.json" -m "$T" --json --per-token -n "$tmp/oovonly.txt"
check_json "$tmp/oovonly.json" 0

# Empty lines: only </s> is scored. A line of blanks is an empty line.
printf '\n\n' >"$tmp/emptylines.txt"
score "$tmp/emptylines.kenlm" -m "$T" --format kenlm --no-summary "$tmp/emptylines.txt"
printf '</s>=3 1 -1.4444662\tTotal: -1.4444662 OOV: 0\n%.0s' 1 2 >"$tmp/emptylines.want"
expect_same "empty lines (test.arpa: p(</s> | <s>))" "$tmp/emptylines.want" "$tmp/emptylines.kenlm"
printf ' \t  \t\n\t\n' >"$tmp/blanklines.txt"
score "$tmp/blanklines.kenlm" -m "$T" --format kenlm --no-summary "$tmp/blanklines.txt"
expect_same "lines of spaces and tabs" "$tmp/emptylines.want" "$tmp/blanklines.kenlm"
score "$tmp/emptylines.json" -m "$T" --json --per-token "$tmp/blanklines.txt"
check_json "$tmp/emptylines.json" 1

# CRLF: the \r is whitespace (KenLM's query splits on all of " \t\n\v\f\r"), so
# the output is KenLM's own for the LF file.
sed 's/$/\r/' "$KJV/kjv.test.head200.txt" >"$tmp/crlf.txt"
score "$tmp/crlf.kenlm" -m "$K" --format kenlm "$tmp/crlf.txt"
expect_same "CRLF input vs KenLM on the LF input" "$KJV/kjv5.test.head200.query.txt" "$tmp/crlf.kenlm"
printf 'looking on a\nlooking\ron\ra\r\r\nlooking\fon\va\n looking on a \r\nlooking on a' >"$tmp/spaces.txt"
printf 'looking on a\n%.0s' 1 2 3 4 5 >"$tmp/spaces.want.txt"
score "$tmp/spaces.out" -m "$T" --json --per-token "$tmp/spaces.txt"
score "$tmp/spaces.want" -m "$T" --json --per-token "$tmp/spaces.want.txt"
expect_same "\\r \\f \\v as separators, a last line without newline" "$tmp/spaces.want" "$tmp/spaces.out"

# Invalid UTF-8 in words: the words are OOV, the JSON stays valid UTF-8.
printf 'looking \xff\xfe on \xc3 a\nthe caf\xe9 \xed\xa0\x80 little\n' >"$tmp/badutf8.txt"
score "$tmp/badutf8.json" -m "$T" --json --per-token "$tmp/badutf8.txt"
check_json "$tmp/badutf8.json" 1
if python3 -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
oov = [[t for t, i in zip(o["tokens"], o["ids"]) if i == 0] for o in lines[:-1]]
sys.exit(0 if [len(x) for x in oov] == [2, 2] else "OOV tokens per line: %r, expected 2 and 2" % oov)
' "$tmp/badutf8.json" 2>"$tmp/check.out"; then
    pass
else
    fail "invalid UTF-8 words: $(cat "$tmp/check.out")"
fi
score "$tmp/badutf8.tsv" -m "$T" --per-token "$tmp/badutf8.txt"

# One 5 MB line of KJV words (about a million tokens).
awk '{ for (i = 1; i <= NF; i++) { printf "%s ", $i; n += length($i) + 1; if (n > 5242880) exit } }
     END { print "" }' "$KJV/kjv.train.txt" "$KJV/kjv.train.txt" >"$tmp/big.txt"
words=$(wc -w <"$tmp/big.txt")
if [ "$(wc -c <"$tmp/big.txt")" -gt 5242880 ] && [ "$(wc -l <"$tmp/big.txt")" -eq 1 ]; then pass; else fail "could not make a 5 MB line"; fi
score "$tmp/big.tsv" -m "$K" "$tmp/big.txt"
got_n=$(awk -F '\t' '!/^#/ { print $5 }' "$tmp/big.tsv")
if [ "$got_n" = $((words + 1)) ]; then pass; else fail "5 MB line: n = $got_n, expected $((words + 1)) ($words words + </s>)"; fi
score "$tmp/big.json" -m "$K" --json --per-token "$tmp/big.txt"
# The line total is accumulated in float32 like KenLM's `Total:`; over a million
# tokens that drifts by ~1e-5 relative, so allow 1e-3 here.
if python3 -c '
import json, math, sys
o = [json.loads(l) for l in open(sys.argv[1])]
line, s = o[0], o[1]
got = math.fsum(line["log10prob"])
ok = len(line["log10prob"]) == line["n"] == s["n"] and abs(got - line["total_log10"]) <= 1e-3 * abs(got)
sys.exit(0 if ok else "n %d, %d log10prob, sum %r vs total_log10 %r" % (line["n"], len(line["log10prob"]), got, line["total_log10"]))
' "$tmp/big.json" 2>"$tmp/check.out"; then
    pass
else
    fail "5 MB line, --json --per-token: $(tail -c 400 "$tmp/check.out")"
fi
rm -f "$tmp/big.json"

# ---- errors -----------------------------------------------------------------------------

# A missing input file: exit 1 and one line naming it. Input files are opened
# as they are reached, so stdout may already hold the tsv header or the lines of
# the files before it; that is not checked.
for files in "$tmp/no-such-input.txt" "$S $tmp/no-such-input.txt"; do
    # shellcheck disable=SC2086  # $files is a list
    run "$tmp/out" score -m "$T" $files </dev/null
    if [ "$status" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && [[ $err == "kvgram: $tmp/no-such-input.txt: "* ]]; then
        pass
    else
        fail "missing input file ($files): exit status $status (expected 1), stderr (expected one line \"kvgram: $tmp/no-such-input.txt: ...\"): $err"
    fi
done
expect_refused "missing model" 1 "$tmp/no-such-model.kvg" score -m "$tmp/no-such-model.kvg" "$S"
if [ "$(id -u)" -ne 0 ]; then
    cp "$T" "$tmp/unreadable.kvg" && chmod 000 "$tmp/unreadable.kvg"
    expect_refused "unreadable model" 1 "$tmp/unreadable.kvg" score -m "$tmp/unreadable.kvg" "$S"
else
    echo "note: running as root, so a mode-000 model is readable; that case is skipped" >&2
fi
mkdir "$tmp/model-dir.kvg"
expect_refused "model that is a directory" 1 "$tmp/model-dir.kvg" score -m "$tmp/model-dir.kvg" "$S"
cp "$S" "$tmp/text-as-model.kvg"
expect_refused "model that is a text file" 1 "$tmp/text-as-model.kvg" score -m "$tmp/text-as-model.kvg" "$S"
if [ -n "${KVG_MAKE_SAMPLE:-}" ] && "$KVG_MAKE_SAMPLE" "$tmp/sample.kvg" full 2>"$tmp/err"; then
    expect_refused "a .kvg that is not an n-gram model" 1 "$tmp/sample.kvg" score -m "$tmp/sample.kvg" "$S"
else
    echo "note: KVG_MAKE_SAMPLE not set or failed; the non-n-gram .kvg case is skipped" >&2
fi
expect_refused "no model" 2 "-m" score "$S"
expect_refused "--threads 0" 2 "--threads" score -m "$T" --threads 0 "$S"
expect_refused "--threads -1" 2 "--threads" score -m "$T" --threads -1 "$S"
expect_refused "--threads x" 2 "--threads" score -m "$T" --threads x "$S"
expect_refused "--format bogus" 2 "bogus" score -m "$T" --format bogus "$S"

# A full disk on standard output: exit 1 and one line naming <stdout>, for the
# per-line output and for the summary alone.
if [ -w /dev/full ]; then
    for f in "" "--format summary"; do
        # shellcheck disable=SC2086
        timeout 60 "$KVG_BIN" score -m "$T" $f "$S" >/dev/full 2>"$tmp/err"
        st=$?
        if [ "$st" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q '^kvgram: <stdout>: write error' "$tmp/err"; then
            pass
        else
            fail "score ${f:-(tsv)} to a full disk: exit $st, stderr: $(cat "$tmp/err")"
        fi
    done
fi

finish
