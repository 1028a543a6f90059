#!/usr/bin/env bash
# test_bench_cli.sh — `kvgram bench` on the bundled 3-gram model. Timings
# cannot be pinned, so this checks what must hold whatever the machine:
#   - --json is one JSON object with every documented key; timings and rates
#     are positive and finite, min <= median <= max;
#   - the counts are right, counted independently: tokens = words + lines of
#     the text (wc), file_bytes = stat's size, ngrams = the sum of the
#     ngram.counts `kvgram info` shows, bytes_per_ngram = file_bytes / ngrams,
#     arpa_ngrams = the ARPA file's \data\ counts;
#   - --arpa's temporary files are removed ($TMPDIR stays empty);
#   - the table (no --json) has its rows;
#   - errors: one line on stderr naming the file or the option, nothing on
#     stdout, exit 1 (2 for usage errors).
#
# Environment (set by CTest): KVG_BIN, the kvgram binary; KVG_SOURCE_DIR, the
# repository (for models/); KVG_MAKE_SAMPLE (optional), the helper that writes
# a .kvg that is not an n-gram model, else tests/make_sample_kvg beside KVG_BIN.
set -u

: "${KVG_BIN:?KVG_BIN must name the kvgram binary}"
: "${KVG_SOURCE_DIR:?KVG_SOURCE_DIR must name the repository}"

ARPA=$KVG_SOURCE_DIR/models/tinystories.o3.arpa
TEXT=$KVG_SOURCE_DIR/models/tinystories.txt
PYTHON=$(command -v /usr/bin/python3 || command -v python3) || {
    echo "test_bench_cli: needs python3" >&2
    exit 2
}

# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" bench-cli

# run OUT ARGS...: `kvgram ARGS` with stdout to OUT; sets $status and $err.
run() {
    local out=$1
    shift
    timeout 60 "$KVG_BIN" "$@" >"$out" 2>"$tmp/err" </dev/null
    status=$?
    err=$(cat "$tmp/err")
}

# expect_refused WHAT WANT_STATUS PHRASE ARGS...: exit WANT_STATUS, one line on
# stderr containing PHRASE, nothing on stdout.
expect_refused() {
    local what=$1 want=$2 phrase=$3
    shift 3
    run "$tmp/refused.out" "$@" </dev/null
    expect_refusal "$what: \`kvgram $*\`" "$want" "$tmp/refused.out"
    expect_err_says "$what" "$phrase"
}

# ---- the model and the independent counts ----------------------------------------

M=$tmp/tiny.kvg
if "$KVG_BIN" convert "$ARPA" -o "$M" --quiet 2>"$tmp/err"; then pass; else fail "kvgram convert $ARPA: $(cat "$tmp/err")"; fi

# The text must end in a newline for wc -l to count its last line.
if [ "$(tail -c 1 "$TEXT" | od -An -c | tr -d ' ')" = '\n' ]; then pass; else fail "$TEXT does not end in a newline"; fi
want_lines=$(wc -l <"$TEXT")
want_tokens=$(($(wc -w <"$TEXT") + want_lines))
want_bytes=$(stat -c %s "$M")
"$KVG_BIN" info --full "$M" >"$tmp/info.txt"
# "  ngram.counts        u64[3]    [152, 1285, 3276]"
want_ngrams=$(awk '$1 == "ngram.counts" { s = $0; sub(/.*\[/, "", s); sub(/\].*/, "", s); n = split(s, c, ", "); for (i = 1; i <= n; i++) t += c[i]; print t }' "$tmp/info.txt")
want_arpa=$(awk '/^ngram [0-9]+=/ { sub(/.*=/, ""); printf "%s%s", sep, $0; sep = "," } /^\\1-grams:/ { exit }' "$ARPA")
if [ -n "$want_ngrams" ] && [ "$want_ngrams" -gt 0 ]; then pass; else fail "no ngram.counts in \`kvgram info $M\`"; fi

# ---- --json ----------------------------------------------------------------------

mkdir "$tmp/tmpdir"
start=$(date +%s)
TMPDIR=$tmp/tmpdir run "$tmp/bench.json" bench -m "$M" --text "$TEXT" --repeat 2 --json --arpa "$ARPA"
if [ "$status" -eq 0 ] && [ -z "$err" ]; then pass; else fail "kvgram bench --json: exit status $status, stderr: $err"; fi
echo "note: kvgram bench --repeat 2 --arpa took $(($(date +%s) - start)) s" >&2
if [ -z "$(ls -A "$tmp/tmpdir")" ]; then pass; else fail "bench --arpa left files in \$TMPDIR: $(ls -A "$tmp/tmpdir")"; fi

cat >"$tmp/check.py" <<'EOF'
import json, math, sys

path, want_tokens, want_lines, want_bytes, want_ngrams, want_arpa = sys.argv[1:7]
problems = []
def bad(msg):
    problems.append(msg)

def no_constants(name):
    raise ValueError(f"non-JSON constant {name}")

text = open(path, encoding="utf-8").read()
if text.count("\n") != 1 or not text.endswith("\n"):
    bad(f"expected exactly one line, got {text.count(chr(10))} newlines")
try:
    o = json.loads(text, parse_constant=no_constants)
except ValueError as e:
    sys.exit(f"{path}: not JSON ({e}): {text[:300]}")

timings = ["load_warm_ms_min", "load_warm_ms_median", "load_cold_ms_min", "load_cold_ms_median",
           "tokens_per_s_1thread_min", "tokens_per_s_1thread_median", "tokens_per_s_1thread_max",
           "tokens_per_s_nthreads_min", "tokens_per_s_nthreads_median", "tokens_per_s_nthreads_max",
           "speedup", "convert_s_min", "convert_s_median", "convert_peak_rss_kib", "bytes_per_ngram"]
counts = ["file_bytes", "ngrams", "tokens", "threads", "lines", "order", "repeat"]
for k in timings + counts + ["model", "kind", "quantization", "text", "arpa", "ngrams_stored", "arpa_ngrams",
                             "cold_cached_fraction"]:
    if k not in o:
        bad(f"key {k!r} missing")
for k in timings + counts:
    v = o.get(k)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
        bad(f"{k} = {v!r}, expected a positive finite number")
for k in counts + ["convert_peak_rss_kib"]:
    if not isinstance(o.get(k), int):
        bad(f"{k} = {o.get(k)!r}, expected an integer")
if problems:
    sys.exit("\n".join(problems))

def eq(what, got, want):
    if got != want:
        bad(f"{what}: got {got!r}, expected {want!r}")

eq("tokens (wc -w + wc -l of the text)", o["tokens"], int(want_tokens))
eq("lines (wc -l of the text)", o["lines"], int(want_lines))
eq("file_bytes (stat -c %s)", o["file_bytes"], int(want_bytes))
eq("ngrams (sum of ngram.counts in kvgram info)", o["ngrams"], int(want_ngrams))
eq("sum(ngrams_stored)", sum(o["ngrams_stored"]), o["ngrams"])
eq("len(ngrams_stored)", len(o["ngrams_stored"]), o["order"])
eq("arpa_ngrams (\\data\\ of the ARPA file)", o["arpa_ngrams"], [int(c) for c in want_arpa.split(",")])
eq("kind", o["kind"], "ngram")
eq("repeat", o["repeat"], 2)
if abs(o["bytes_per_ngram"] - o["file_bytes"] / o["ngrams"]) > 1e-12 * o["bytes_per_ngram"]:
    bad(f"bytes_per_ngram {o['bytes_per_ngram']} != file_bytes / ngrams = {o['file_bytes'] / o['ngrams']}")
want_speedup = o["tokens_per_s_nthreads_median"] / o["tokens_per_s_1thread_median"]
if abs(o["speedup"] - want_speedup) > 1e-9 * want_speedup:
    bad(f"speedup {o['speedup']} != median(N) / median(1) = {want_speedup}")
for prefix in ["load_warm_ms", "load_cold_ms", "tokens_per_s_1thread", "tokens_per_s_nthreads", "convert_s"]:
    lo, mid, hi = o[prefix + "_min"], o[prefix + "_median"], o.get(prefix + "_max", math.inf)
    if not lo <= mid <= hi:
        bad(f"{prefix}: min {lo}, median {mid}, max {hi} are not in order")
c = o["cold_cached_fraction"]
if c is not None and not 0 <= c <= 1:
    bad(f"cold_cached_fraction {c} is not in [0, 1]")
sys.exit("\n".join(problems) if problems else 0)
EOF
if "$PYTHON" "$tmp/check.py" "$tmp/bench.json" "$want_tokens" "$want_lines" "$want_bytes" "$want_ngrams" "$want_arpa" \
    >"$tmp/check.out" 2>&1; then
    pass
else
    fail "JSON properties of \`kvgram bench --json\`:"
    head -12 "$tmp/check.out" >&2
    head -c 2000 "$tmp/bench.json" >&2
fi

# ---- the table --------------------------------------------------------------------

run "$tmp/bench.txt" bench -m "$M" --text "$TEXT" --repeat 1 --threads 2
if [ "$status" -eq 0 ] && [ -z "$err" ]; then pass; else fail "kvgram bench (table): exit status $status, stderr: $err"; fi
for row in "load warm (ms)" "load cold (ms)" "tokens/s, 1 thread" "tokens/s, 2 threads" "$want_bytes bytes" \
    "n-grams      $want_ngrams," "$want_lines lines, $want_tokens tokens"; do
    if grep -qF -- "$row" "$tmp/bench.txt"; then pass; else fail "table: no \"$row\" in: $(cat "$tmp/bench.txt")"; fi
done
if ! grep -q "convert" "$tmp/bench.txt"; then pass; else fail "table without --arpa has a convert row"; fi

# ---- errors -------------------------------------------------------------------------

: >"$tmp/empty.txt"
cp "$TEXT" "$tmp/text-as-model.kvg"
expect_refused "missing --text" 2 "--text" bench -m "$M"
expect_refused "missing -m" 2 "-m MODEL" bench --text "$TEXT"
expect_refused "a text file that does not exist" 1 "$tmp/no-such-text.txt" bench -m "$M" --text "$tmp/no-such-text.txt"
expect_refused "an empty text" 1 "$tmp/empty.txt: empty text" bench -m "$M" --text "$tmp/empty.txt"
expect_refused "a model that does not exist" 1 "$tmp/no-such.kvg" bench -m "$tmp/no-such.kvg" --text "$TEXT"
expect_refused "a model that is a text file" 1 "$tmp/text-as-model.kvg" bench -m "$tmp/text-as-model.kvg" --text "$TEXT"
expect_refused "--arpa that does not exist" 1 "$tmp/no-such.arpa" bench -m "$M" --text "$TEXT" --arpa "$tmp/no-such.arpa"
expect_refused "--arpa that is not ARPA" 1 "$TEXT" bench -m "$M" --text "$TEXT" --arpa "$TEXT"
expect_refused "--threads 0" 2 "--threads" bench -m "$M" --text "$TEXT" --threads 0
expect_refused "--threads x" 2 "--threads" bench -m "$M" --text "$TEXT" --threads x
expect_refused "--repeat 0" 2 "--repeat" bench -m "$M" --text "$TEXT" --repeat 0
expect_refused "unknown option" 2 "--bogus" bench -m "$M" --text "$TEXT" --bogus
make_sample=${KVG_MAKE_SAMPLE:-$(dirname "$KVG_BIN")/tests/make_sample_kvg}
if [ -x "$make_sample" ] && "$make_sample" "$tmp/sample.kvg" full 2>"$tmp/err"; then
    expect_refused "a .kvg that is not an n-gram model" 1 "$tmp/sample.kvg" bench -m "$tmp/sample.kvg" --text "$TEXT"
else
    echo "note: make_sample_kvg not found; the non-n-gram .kvg case is skipped" >&2
fi

finish
