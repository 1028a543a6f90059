#!/usr/bin/env bash
# test_bench_transformer.sh — `kvgram bench -m TRANSFORMER`. Timings cannot be
# pinned, so this checks what holds on any machine:
#   - --json is one line, one object with every documented key; the options
#     come back (seq, batch, threads, repeat), tokens_per_pass = seq x batch,
#     the rates agree with the seconds (tokens_per_s = tokens_per_pass /
#     seconds_per_pass_min), best >= median, file_bytes = stat's size, dtype
#     and kernel path as set;
#   - mean_logprob of a random-weight model (std 0.02) is within 0.1 of
#     -ln(vocab): its predictions are almost uniform;
#   - the table has its rows;
#   - bad requests: one line on stderr, exit 2 (usage) or 1, nothing on stdout.
set -u
: "${KVG_BIN:?}" "${KVG_SOURCE_DIR:?}"
# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" bench-transformer

run() {
    timeout 120 "$KVG_BIN" "$@" >"$tmp/stdout" 2>"$tmp/err" </dev/null
    status=$?
    err=$(cat "$tmp/err")
}
expect_ok() { if [ "$status" -eq 0 ] && [ -z "$err" ]; then pass; else fail "$1: exit $status: $err"; fi; }

"$KVG_BIN" synth --like tiny-llama --type f16 -o "$tmp/llama.kvg" --quiet || fail "synth tiny-llama"
"$KVG_BIN" synth --like tiny-gpt2 --type q8_0 --output-type f32 -o "$tmp/gpt2.kvg" --quiet || fail "synth tiny-gpt2"

cat >"$tmp/check.py" <<'PY'
import json, math, sys
path, model, seq, batch, threads, repeat, dtype, kernels = sys.argv[1:9]
text = open(path).read()
bad = []
if text.count("\n") != 1:
    bad.append(f"{text.count(chr(10))} lines, expected 1")
o = json.loads(text, parse_constant=lambda c: bad.append(f"non-JSON {c}"))
keys = ["model", "kind", "arch", "n_layers", "d_model", "n_heads", "n_kv_heads", "ffn_dim", "vocab_size", "dtype",
        "embd_dtype", "kernels", "seq", "batch", "threads", "repeat", "tokens_per_pass", "tokens_per_s",
        "tokens_per_s_median", "tokens_per_cpu_s", "tokens_per_cpu_s_median", "seconds_per_pass_min",
        "seconds_per_pass_median", "cpu_seconds_per_pass_min", "cpu_seconds_per_pass_median", "mean_logprob",
        "file_bytes", "scratch_bytes", "peak_rss_kib", "matmul"]
for k in keys:
    if k not in o:
        bad.append(f"key {k} missing")
if bad:
    sys.exit("\n".join(bad))
def eq(k, want):
    if o[k] != want:
        bad.append(f"{k} = {o[k]!r}, expected {want!r}")
eq("model", model); eq("kind", "transformer"); eq("seq", int(seq)); eq("batch", int(batch))
eq("threads", int(threads)); eq("repeat", int(repeat)); eq("dtype", dtype); eq("tokens_per_pass", int(seq) * int(batch))
eq("file_bytes", int(sys.argv[9]))
if kernels != "any":
    eq("kernels", kernels)
elif o["kernels"] not in ("scalar", "avx2", "neon"):
    bad.append(f"kernels = {o['kernels']}")
# The matrix products run on the kernel path, or within the AVX2 one on 512-bit registers (avx512) and
# AVX512_VNNI for q8_0 / q4_0 (avx512+vnni: kvg_matmul_impl_name, or avx512-vnni for one quantized dtype).
if o["matmul"] != o["kernels"] and not (o["kernels"] == "avx2" and o["matmul"] in ("avx512", "avx512+vnni", "avx512-vnni")):
    bad.append(f"matmul = {o['matmul']!r} with kernels {o['kernels']!r}")
for k in ["tokens_per_s", "tokens_per_s_median", "tokens_per_cpu_s", "seconds_per_pass_min", "seconds_per_pass_median",
          "scratch_bytes", "peak_rss_kib"]:
    if not (isinstance(o[k], (int, float)) and math.isfinite(o[k]) and o[k] > 0):
        bad.append(f"{k} = {o[k]!r}, expected positive")
if abs(o["tokens_per_s"] - o["tokens_per_pass"] / o["seconds_per_pass_min"]) > 1e-9 * o["tokens_per_s"]:
    bad.append("tokens_per_s != tokens_per_pass / seconds_per_pass_min")
if not o["seconds_per_pass_min"] <= o["seconds_per_pass_median"]:
    bad.append("min > median")
if not o["tokens_per_s"] >= o["tokens_per_s_median"]:
    bad.append("best rate < median rate")
if abs(o["mean_logprob"] + math.log(o["vocab_size"])) > 0.1:
    bad.append(f"mean_logprob {o['mean_logprob']} is not near -ln({o['vocab_size']}) = {-math.log(o['vocab_size'])}")
sys.exit("\n".join(bad) if bad else 0)
PY
check() {
    if python3 "$tmp/check.py" "$tmp/stdout" "$@" >"$tmp/py.out" 2>&1; then pass; else
        fail "bench --json ($*): $(cat "$tmp/py.out") -- $(head -c 600 "$tmp/stdout")"; fi
}

run bench -m "$tmp/llama.kvg" --seq 40 --batch 3 --threads 2 --repeat 2 --json
expect_ok "bench llama --json"
check "$tmp/llama.kvg" 40 3 2 2 f16 any "$(stat -c %s "$tmp/llama.kvg")"
run bench -m "$tmp/gpt2.kvg" --threads 1 --repeat 1 --json
expect_ok "bench gpt2 --json (default seq: the 128-token context)"
check "$tmp/gpt2.kvg" 128 1 1 1 q8_0 any "$(stat -c %s "$tmp/gpt2.kvg")"
if grep -q '"embd_dtype":"f32"' "$tmp/stdout"; then pass; else fail "embd_dtype: $(cat "$tmp/stdout")"; fi
KVG_KERNELS=scalar OMP_NUM_THREADS=1 run bench -m "$tmp/llama.kvg" --seq 16 --repeat 1 --json
expect_ok "bench KVG_KERNELS=scalar OMP_NUM_THREADS=1"
check "$tmp/llama.kvg" 16 1 1 1 f16 scalar "$(stat -c %s "$tmp/llama.kvg")"

run bench -m "$tmp/llama.kvg" --seq 32 --batch 2 --repeat 2 --threads 2
expect_ok "bench table"
for row in "tokens/s (wall)" "tokens/CPU-s" "seconds per pass" "2 sequences x 32 tokens = 64 tokens" "2 threads" \
    "llama: 2 layers, d 64, 4 heads, 2 kv, ffn 160, vocab 512" "weights      f16"; do
    if grep -qF -- "$row" "$tmp/stdout"; then pass; else fail "table: no \"$row\" in: $(cat "$tmp/stdout")"; fi
done

expect_refused() {
    local what=$1 want=$2 phrase=$3
    shift 3
    run "$@"
    expect_refusal "$what" "$want" "$tmp/stdout"
    expect_err_says "$what" "$phrase"
}
expect_refused "--seq 1" 2 "--seq 1" bench -m "$tmp/llama.kvg" --seq 1
expect_refused "--seq beyond the context" 2 "2 to 128" bench -m "$tmp/llama.kvg" --seq 129
expect_refused "--seq 0" 2 "--seq" bench -m "$tmp/llama.kvg" --seq 0
expect_refused "--batch x" 2 "--batch" bench -m "$tmp/llama.kvg" --batch x
expect_refused "--text with a transformer" 2 "--text is for n-gram models" bench -m "$tmp/llama.kvg" --text "$tmp/stdout"
printf 'KVG' >"$tmp/trunc.kvg"
expect_refused "not a .kvg" 1 "$tmp/trunc.kvg" bench -m "$tmp/trunc.kvg"
"$KVG_BIN" convert "$KVG_SOURCE_DIR/models/tinystories.o3.arpa" -o "$tmp/ngram.kvg" --quiet || fail "convert n-gram"
expect_refused "--seq with an n-gram model" 2 "--seq is for transformers" bench -m "$tmp/ngram.kvg" --text "$KVG_SOURCE_DIR/models/tinystories.txt" --seq 8

finish
