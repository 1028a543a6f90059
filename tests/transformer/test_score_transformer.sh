#!/usr/bin/env bash
# test_score_transformer.sh — `kvgram score` with transformer models (stories260K,
# and a tiny random-weight model with a 64-token context from
# make_llama2c_variants.py, cheap enough for megabytes of text):
# BOS handling and how the output reports it, empty lines, non-UTF-8 lines,
# a 1 MB line and a document many windows long (every token scored once,
# never truncated), output independent of the thread count, valid JSON, and
# bad requests refused with one line.
set -u
: "${KVG_BIN:?}" "${KVG_SHARED_DIR:?}" "${KVG_SOURCE_DIR:?}"
# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" score-transformer

models=$KVG_SHARED_DIR/models
run() {
    timeout 300 "$KVG_BIN" "$@" >"$tmp/stdout" 2>"$tmp/err"
    status=$?
    err=$(cat "$tmp/err")
}
expect_ok() { if [ "$status" -eq 0 ]; then pass; else fail "$1: exit $status: $err"; fi; }
# check WHAT PYTHON-EXPR: evaluates EXPR with `rows` = the JSON objects of stdout (every line must parse).
check() {
    if python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)' "$tmp/stdout" "$2" 2>"$tmp/pyerr"; then pass; else
        fail "$1: $2 is false ($(cat "$tmp/pyerr"); output: $(head -c 300 "$tmp/stdout"))"; fi
}

python3 "$KVG_SOURCE_DIR/tests/transformer/make_llama2c_variants.py" "$models/stories260K.bin" "$tmp" || fail variants
"$KVG_BIN" convert "$models/stories260K.bin" --tokenizer "$models/tok512.bin" -o "$tmp/s.kvg" --quiet || fail convert
"$KVG_BIN" convert "$tmp/tiny.bin" --tokenizer "$models/tok512.bin" -o "$tmp/tiny.kvg" --quiet || fail "convert tiny"

# BOS: prepended (the tokenizer says llama2.c models expect it) and reported.
printf 'Once upon a time.\n\nTom went home.\n' >"$tmp/three.txt"
run score -m "$tmp/s.kvg" "$tmp/three.txt"
expect_ok tsv
if head -1 "$tmp/stdout" | grep -q '^# bos: .*(id 1) prepended'; then pass; else fail "tsv header: $(head -2 "$tmp/stdout")"; fi
run score -m "$tmp/s.kvg" --json --per-token "$tmp/three.txt"
expect_ok json
check "bos ids" 'len(rows) == 4 and all(r["ids"][0] == 1 for r in rows[:3]) and rows[3]["bos"] is True'
check "n = ids - 1" 'all(r["n"] == len(r["ids"]) - 1 == len(r["logprob"]) == len(r["log10prob"]) == len(r["tokens"]) - 1 for r in rows[:3])'
check "empty line" 'rows[1]["n"] == 0 and rows[1]["total_ln"] == 0 and rows[1]["ids"] == [1]'
check "totals" 'abs(sum(rows[0]["logprob"]) - rows[0]["total_ln"]) < 1e-9 and abs(rows[0]["total_ln"] / 2.302585092994046 - rows[0]["total_log10"]) < 1e-9'
check "summary" 'rows[3]["summary"] and rows[3]["n"] == rows[0]["n"] + rows[2]["n"] and abs(rows[3]["perplexity"] - __import__("math").exp(-rows[3]["total_ln"] / rows[3]["n"])) < 1e-9'
check "probabilities" 'all(lp <= 0 for r in rows[:3] for lp in r["logprob"])'
cp "$tmp/stdout" "$tmp/with-bos.jsonl"
run score -m "$tmp/s.kvg" --json --per-token --no-bos "$tmp/three.txt"
check "--no-bos" 'rows[0]["ids"] == json.load(open(sys.argv[1].replace("stdout", "with-bos.jsonl")))["ids"][1:] if False else (rows[0]["n"] == len(rows[0]["ids"]) - 1 and rows[0]["ids"][0] != 1 and rows[1]["n"] == 0 and rows[3]["bos"] is False)'
run score -m "$tmp/s.kvg" --no-bos "$tmp/three.txt"
if head -1 "$tmp/stdout" | grep -q '^# bos: none'; then pass; else fail "--no-bos header: $(head -1 "$tmp/stdout")"; fi

# Not UTF-8: scored (byte fallback), output still valid JSON.
printf 'caf\xe9 \xff\xfe ok\n' >"$tmp/latin1.txt"
run score -m "$tmp/s.kvg" --json --per-token "$tmp/latin1.txt"
expect_ok "invalid UTF-8"
check "invalid UTF-8 scored" 'rows[0]["n"] >= 8'

# Same output on 1 and 2 threads.
for i in 1 2 3 4 5 6 7 8; do cat "$tmp/three.txt"; done >"$tmp/many.txt"
"$KVG_BIN" score -m "$tmp/s.kvg" --json --per-token --threads 1 "$tmp/many.txt" >"$tmp/t1" 2>&1
"$KVG_BIN" score -m "$tmp/s.kvg" --json --per-token --threads 2 --window 40 --batch-tokens 40 "$tmp/many.txt" >"$tmp/t2" 2>&1
if cmp -s "$tmp/t1" "$tmp/t2"; then pass; else fail "--threads 1 and --threads 2 (window and batches of 40) differ"; fi

# A 1 MB line, on the tiny model (context 64): every token scored, none dropped.
python3 -c '
import random, sys
r = random.Random(2)
w = "Once upon a time there was a little girl named Lily she loved to play in the park".split()
s = " ".join(r.choice(w) for _ in range(250000))
sys.stdout.write(s[:1 << 20] + "\n")' >"$tmp/big.txt"
run score -m "$tmp/tiny.kvg" --json --per-token --stride 48 "$tmp/big.txt"
expect_ok "1 MB line"
check "1 MB line: all tokens" 'rows[0]["n"] == len(rows[0]["ids"]) - 1 == len(rows[0]["logprob"]) > 200000 and rows[0]["total_ln"] < 0'

# A document many windows long (about 40 windows of 64): every token scored
# once whatever the window and stride; the left context changes the totals.
head -c 20000 "$tmp/big.txt" | fold -w 80 >"$tmp/doc.txt"
run score -m "$tmp/tiny.kvg" --document --json "$tmp/doc.txt"
expect_ok "document"
cp "$tmp/stdout" "$tmp/doc1.jsonl"
run score -m "$tmp/tiny.kvg" --document --json --window 16 --stride 5 "$tmp/doc.txt"
expect_ok "document, window 16"
check "document: same n, other total" 'rows[0]["n"] > 2000 and rows[0]["file"].endswith("doc.txt") and (lambda o: o["n"] == rows[0]["n"] and o["total_ln"] != rows[0]["total_ln"])(json.loads(open(sys.argv[1].replace("stdout", "doc1.jsonl")).readline()))'

# Bad requests.
run score -m "$tmp/s.kvg" --format kenlm "$tmp/three.txt"
if [ "$status" -eq 2 ] && grep -q "kenlm is for n-gram" "$tmp/err"; then pass; else fail "--format kenlm: $status $err"; fi
run score -m "$tmp/tiny.kvg" --stride 64 "$tmp/three.txt"
if [ "$status" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "stride of 64" "$tmp/err"; then pass; else
    fail "--stride 64 with window 64: $status $err"; fi
run score -m "$tmp/tiny.kvg" --window 65 "$tmp/three.txt"
if [ "$status" -eq 1 ] && grep -q "window of 65" "$tmp/err"; then pass; else fail "--window 65: $status $err"; fi
"$KVG_BIN" convert "$models/stories260K.bin" -o "$tmp/notok.kvg" --quiet
run score -m "$tmp/notok.kvg" "$tmp/three.txt"
if [ "$status" -eq 1 ] && grep -q "no tokenizer" "$tmp/err" && [ ! -s "$tmp/stdout" ]; then pass; else
    fail "no tokenizer: $status $err"; fi
run score -m "$tmp/s.kvg" "$tmp/three.txt" "$tmp/missing.txt"
if [ "$status" -eq 1 ] && grep -q "missing.txt: cannot open" "$tmp/err" && [ ! -s "$tmp/stdout" ]; then pass; else
    fail "missing input: $status $err"; fi
finish
