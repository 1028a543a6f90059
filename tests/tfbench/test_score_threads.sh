#!/usr/bin/env bash
# test_score_threads.sh — scoring does not depend on the thread count: the
# fixture models (models/kjv-gpt2, kjv-llama, kjv-neox, converted f32) score
# held-out KJV text line by line, and a synthetic one (f16 weights) scores it
# as one document in sliding windows, with every number of the output
# (per-token log-probs included) the same bits on 1 and on 2 threads, on the
# default kernel path and on the scalar one. The thread counts are set both
# ways a user can: OMP_NUM_THREADS and --threads.
set -u
: "${KVG_BIN:?}" "${KVG_SOURCE_DIR:?}" "${KVG_SHARED_DIR:?}"
# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" score-threads

text=$KVG_SHARED_DIR/data/kjv/kjv.test.head200.txt
head -6 "$text" >"$tmp/lines.txt"
head -16 "$text" >"$tmp/doc.txt"
models=""
for m in kjv-gpt2 kjv-llama kjv-neox; do
    if "$KVG_BIN" convert "$KVG_SOURCE_DIR/models/$m" -o "$tmp/$m.kvg" --type f32 --quiet 2>"$tmp/err"; then
        models="$models $m"
    else
        fail "convert $m: $(cat "$tmp/err")"
    fi
done
"$KVG_BIN" synth --like tiny-llama --type f16 -o "$tmp/synth-llama.kvg" --quiet && models="$models synth-llama"

# The kernel paths to try: the default, and scalar when the default is another.
paths="default"
if "$KVG_BIN" bench -m "$tmp/synth-llama.kvg" --seq 8 --repeat 1 --json 2>/dev/null | grep -qv '"kernels":"scalar"'; then
    paths="default scalar"
fi

# score_with THREADS_HOW OUT ARGS...: THREADS_HOW is "env1" (OMP_NUM_THREADS=1) or "flag2" (--threads 2).
score_with() {
    local how=$1 out=$2
    shift 2
    if [ "$how" = env1 ]; then
        OMP_NUM_THREADS=1 timeout 120 "$KVG_BIN" score "$@" >"$out" 2>"$tmp/err"
    else
        OMP_NUM_THREADS=1 timeout 120 "$KVG_BIN" score --threads 2 "$@" >"$out" 2>"$tmp/err"
    fi
}

# CASE = MODEL:MODE[:KERNELS]. Every fixture line by line; the synthetic model
# as one document in sliding windows, in batches of 1100 tokens (so the
# per-row ops run on the team: 1100 x d 64 is above the 65536-element mark);
# kjv-llama again on the scalar path when the default path is another.
cases="kjv-gpt2:lines kjv-llama:lines kjv-neox:lines synth-llama:document"
[ "$paths" = "default scalar" ] && cases="$cases kjv-llama:lines:scalar"
for run_case in $cases; do
    IFS=: read -r m mode path <<<"$run_case"
    path=${path:-default}
    [ -s "$tmp/$m.kvg" ] || continue # its conversion failed (reported above)
    if [ "$path" = default ]; then unset KVG_KERNELS; else export KVG_KERNELS=$path; fi
    if [ $mode = lines ]; then args=(--json --per-token "$tmp/lines.txt"); else
        args=(--json --per-token --document --window 128 --stride 96 --batch-tokens 1100 "$tmp/doc.txt"); fi
    score_with env1 "$tmp/one.jsonl" -m "$tmp/$m.kvg" "${args[@]}" || { fail "$run_case 1 thread: $(cat "$tmp/err")"; continue; }
    score_with flag2 "$tmp/two.jsonl" -m "$tmp/$m.kvg" "${args[@]}" || { fail "$run_case 2 threads: $(cat "$tmp/err")"; continue; }
    if [ "$(wc -l <"$tmp/one.jsonl")" -gt 1 ] && grep -q '"logprob":\[-' "$tmp/one.jsonl"; then pass; else
        fail "$run_case: no per-token output: $(head -c 300 "$tmp/one.jsonl")"; fi
    if cmp -s "$tmp/one.jsonl" "$tmp/two.jsonl"; then pass; else
        fail "$run_case: 1 and 2 threads differ: $(diff "$tmp/one.jsonl" "$tmp/two.jsonl" | head -c 400)"
    fi
done
unset KVG_KERNELS

# 2 threads are really granted (the benchmark reports what OpenMP gave).
if OMP_NUM_THREADS=1 "$KVG_BIN" bench -m "$tmp/synth-llama.kvg" --seq 16 --repeat 1 --threads 2 --json | grep -q '"threads":2,'; then
    pass; else fail "bench --threads 2 did not report 2 threads"; fi
finish
