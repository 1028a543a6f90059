#!/usr/bin/env bash
# test_synth.sh — `kvgram synth`: benchmark models of real shapes with random
# weights. Checked against sources independent of the code:
#   - parameter counts of the three real shapes (--dry-run) equal the published
#     ones: GPT-2 124,439,808; SmolLM-135M 134,515,008; TinyLlama-1.1B
#     1,100,048,384 (the Hugging Face checkpoints' totals);
#   - the weights of a written file (read straight from the bytes at the
#     offsets `kvgram info` gives) have mean 0, std 0.02 and the kurtosis of a
#     normal (3), norm weights are 1 and biases 0;
#   - a seed gives the same bytes on 1 and 2 threads, another seed other bytes;
#   - every dtype writes the dtypes asked for and passes `kvgram verify`; a
#     written model scores text with a perplexity near the vocabulary size
#     (random weights of std 0.02 give almost uniform predictions);
#   - the synthetic tokenizer round-trips text (tokenize, then --decode);
#   - bad requests: one line on stderr, exit 2 (usage) or 1, no file left.
set -u
: "${KVG_BIN:?}" "${KVG_SOURCE_DIR:?}"
# shellcheck source=../cli/testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../cli/testlib.sh" synth

run() {
    timeout 120 "$KVG_BIN" "$@" >"$tmp/stdout" 2>"$tmp/err"
    status=$?
    err=$(cat "$tmp/err")
}
expect_ok() { if [ "$status" -eq 0 ]; then pass; else fail "$1: exit $status: $err"; fi; }

# ---- published parameter counts ------------------------------------------------
for pair in gpt2-124m:124439808 smollm-135m:134515008 tinyllama-1.1b:1100048384; do
    shape=${pair%%:*} want=${pair#*:}
    run synth --like "$shape" --dry-run
    expect_ok "dry-run $shape"
    got=$(sed -n 's/.* tensors, \([0-9]*\) parameters.*/\1/p' "$tmp/stdout")
    if [ "$got" = "$want" ]; then pass; else fail "$shape: $got parameters, published $want"; fi
done
# q4_0 blocks: 18 bytes per 32 weights, q8_0 34 (the output matrix of a q4_0
# model, as convert does); f32 vectors 4 bytes per element.
run synth --like tiny-llama --type q4_0 --dry-run
if awk -F'\t' '!/^#/ { split($3, s, /[][, ]+/); n = s[3] ? s[2] * s[3] : s[2];
        want = ($2 == "q4_0") ? n / 32 * 18 : ($2 == "q8_0") ? n / 32 * 34 : n * 4;
        if ($2 != ($1 == "output.weight" ? "q8_0" : $1 ~ /weight$/ && s[3] && $1 != "pos_embd.weight" ? "q4_0" : "f32")) bad = 1;
        if ($4 != want) bad = 1 } END { exit bad }' "$tmp/stdout"; then pass
else fail "dry-run q4_0 bytes: $(head -5 "$tmp/stdout")"; fi

# ---- written files -----------------------------------------------------------
for shape in tiny-gpt2 tiny-llama; do
    for type in f32 f16 bf16 q8_0 q4_0; do
        out=$tmp/$shape-$type.kvg
        run synth --like "$shape" --type "$type" -o "$out" --quiet
        expect_ok "synth $shape $type"
        run verify "$out"
        expect_ok "verify $shape $type"
        run info "$out"
        # matrices in the type asked for (but the output matrix of q4_0 models
        # at q8_0: tok_embd when tied, as gpt2 is), vectors f32
        out_matrix=output.weight
        [ $shape = tiny-gpt2 ] && out_matrix=tok_embd.weight
        if awk -v t="$type" -v out="$out_matrix" '$1 ~ /^(blk\.[0-9]+\.(attn_[qkvo]|attn_out|ffn_(gate|up|down))|tok_embd|output)\.weight$/ {
                    if ($2 != (t == "q4_0" && $1 == out ? "q8_0" : t)) bad = 1; n++ }
                $1 ~ /(norm\.weight|\.bias)$/ || $1 == "pos_embd.weight" { if ($2 != "f32") bad = 1 }
                END { exit bad || n == 0 }' "$tmp/stdout"; then pass; else fail "$shape $type dtypes: $(grep weight "$tmp/stdout" | head -5)"; fi
    done
done
run synth --like tiny-gpt2 --type q4_0 --embd-type f16 -o "$tmp/mixed.kvg" --quiet
expect_ok "--embd-type"
run info "$tmp/mixed.kvg"
if grep -q '^  tok_embd.weight *f16' "$tmp/stdout" && grep -q '^  blk.0.attn_q.weight *q4_0' "$tmp/stdout"; then pass; else fail "--embd-type f16: $(grep -E 'tok_embd|attn_q' "$tmp/stdout" | head -3)"; fi

# Statistics of the values, read from the file's bytes.
"$KVG_BIN" info "$tmp/tiny-llama-f32.kvg" >"$tmp/info.txt"
if python3 - "$tmp/tiny-llama-f32.kvg" "$tmp/info.txt" >"$tmp/py.out" 2>&1 <<'PY'
import struct, sys
path, info = sys.argv[1:3]
data = open(path, "rb").read()
rows = {}
for line in open(info):
    f = line.split()
    if len(f) >= 6 and f[1] == "f32" and f[-1].isdigit():
        rows[f[0]] = (int(f[-2]), int(f[-1]))  # bytes, offset
def values(name):
    n, off = rows[name]
    return struct.unpack("<%df" % (n // 4), data[off:off + n])
bad = []
for name in ["tok_embd.weight", "output.weight", "blk.0.ffn_gate.weight", "blk.1.attn_q.weight"]:
    v = values(name)
    n = len(v)
    mean = sum(v) / n
    var = sum((x - mean) ** 2 for x in v) / n
    kurt = sum((x - mean) ** 4 for x in v) / n / var ** 2
    # standard errors: mean 0.02/sqrt(n), std 0.02/sqrt(2n), kurtosis sqrt(24/n); bounds are >= 6 of them
    if abs(mean) > 6 * 0.02 / n ** 0.5 or abs(var ** 0.5 - 0.02) > 6 * 0.02 / (2 * n) ** 0.5 or abs(kurt - 3) > 6 * (24 / n) ** 0.5:
        bad.append(f"{name}: n {n} mean {mean} std {var ** 0.5} kurtosis {kurt}")
for name in ["blk.0.attn_norm.weight", "output_norm.weight"]:
    if set(values(name)) != {1.0}:
        bad.append(f"{name} is not all ones")
sys.exit("\n".join(bad) if bad else 0)
PY
then pass; else fail "weight statistics: $(cat "$tmp/py.out")"; fi
"$KVG_BIN" info "$tmp/tiny-gpt2-f32.kvg" >"$tmp/info.txt"
if python3 - "$tmp/tiny-gpt2-f32.kvg" "$tmp/info.txt" >"$tmp/py.out" 2>&1 <<'PY'
import struct, sys
path, info = sys.argv[1:3]
data = open(path, "rb").read()
bad = []
for line in open(info):
    f = line.split()
    if len(f) >= 6 and f[0].endswith(".bias"):
        n, off = int(f[-2]), int(f[-1])
        if set(struct.unpack("<%df" % (n // 4), data[off:off + n])) != {0.0}:
            bad.append(f[0])
sys.exit("biases not zero: " + " ".join(bad) if bad else 0)
PY
then pass; else fail "$(cat "$tmp/py.out")"; fi

# Seeds and threads.
OMP_NUM_THREADS=1 "$KVG_BIN" synth --like tiny-llama --type q8_0 --seed 7 -o "$tmp/a.kvg" --quiet
OMP_NUM_THREADS=2 "$KVG_BIN" synth --like tiny-llama --type q8_0 --seed 7 -o "$tmp/b.kvg" --quiet
"$KVG_BIN" synth --like tiny-llama --type q8_0 --seed 8 -o "$tmp/c.kvg" --quiet
if cmp -s "$tmp/a.kvg" "$tmp/b.kvg"; then pass; else fail "seed 7 on 1 and 2 threads: files differ"; fi
if ! cmp -s "$tmp/a.kvg" "$tmp/c.kvg"; then pass; else fail "seeds 7 and 8 gave the same file"; fi

# Scoring: near-uniform predictions (perplexity within 10% of the 512-token vocabulary).
printf 'In the beginning God created the heaven and the earth.\nAnd the earth was without form, and void.\n' >"$tmp/text.txt"
for m in tiny-gpt2-f32 tiny-llama-bf16 tiny-gpt2-f16; do
    run score -m "$tmp/$m.kvg" --json "$tmp/text.txt"
    expect_ok "score $m"
    if python3 -c 'import json, sys; s = json.loads(open(sys.argv[1]).read().splitlines()[-1]); sys.exit(not (460 < s["perplexity"] < 565))' "$tmp/stdout"; then
        pass; else fail "score $m: perplexity not near 512: $(tail -1 "$tmp/stdout")"; fi
done

# The synthetic tokenizer: 512 ids, text round-trips.
printf 'Hello, world!\n  tabs\tand  spaces  \nCAF\xc3\x89 \xe2\x82\xac 123\n' >"$tmp/rt.txt"
run tokenize -m "$tmp/tiny-gpt2-f32.kvg" "$tmp/rt.txt"
expect_ok tokenize
cp "$tmp/stdout" "$tmp/ids.txt"
if awk '{ for (i = 1; i <= NF; i++) if ($i >= 512) bad = 1 } END { exit bad }' "$tmp/ids.txt"; then pass; else fail "ids beyond the vocabulary: $(head -2 "$tmp/ids.txt")"; fi
run tokenize -m "$tmp/tiny-gpt2-f32.kvg" --decode "$tmp/ids.txt"
if cmp -s "$tmp/stdout" "$tmp/rt.txt"; then pass; else fail "tokenize round trip: $(od -c "$tmp/stdout" | head -5)"; fi

# ---- bad requests ----------------------------------------------------------------
expect_refused() {
    local what=$1 want=$2 phrase=$3
    shift 3
    run "$@"
    expect_refusal "$what" "$want" "$tmp/stdout"
    expect_err_says "$what" "$phrase"
}
expect_refused "unknown shape" 2 "gpt5" synth --like gpt5 -o "$tmp/x.kvg"
expect_refused "no --like" 2 "--like" synth -o "$tmp/x.kvg"
expect_refused "no -o" 2 "-o" synth --like tiny-gpt2
expect_refused "bad --type" 2 "--type" synth --like tiny-gpt2 --type q5_1 -o "$tmp/x.kvg"
expect_refused "bad --seed" 2 "--seed" synth --like tiny-gpt2 --seed -3 -o "$tmp/x.kvg"
expect_refused "unknown option" 2 "--bogus" synth --like tiny-gpt2 --bogus -o "$tmp/x.kvg"
expect_refused "unwritable output" 1 "$tmp/no-dir/x.kvg" synth --like tiny-gpt2 -o "$tmp/no-dir/x.kvg"
if [ ! -e "$tmp/x.kvg" ]; then pass; else fail "a refused synth left $tmp/x.kvg"; fi

finish
