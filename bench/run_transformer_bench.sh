#!/usr/bin/env bash
# run_transformer_bench.sh — the end-to-end scoring table of issue 5: tokens/s
# of GPT-2-124M- and SmolLM-135M-shaped models (random weights, `kvgram
# synth`) at f32 / f16 / q8_0 / q4_0 on 1 and 2 threads, 512-token sequences
# with logits at every position, next to llama.cpp's llama-perplexity figures
# (../shared/data/llamacpp/BASELINE.md) and the target, 1.25x those.
#
# usage: bench/run_transformer_bench.sh [BUILD_DIR]      (default: build)
# environment (all optional):
#   SHAPES="gpt2-124m smollm-135m"  TYPES="f32 f16 q8_0 q4_0"  THREADS="1 2"
#   SEQ=512  BATCH=1  REPEAT=5  (timed passes per cell, after one warm-up)
#   WORKDIR=DIR   keep the synthetic models there (default: a temporary folder,
#                 removed at the end); models already there are reused
#   OUT=FILE      also write every `kvgram bench --json` line to FILE
#
# Prints a markdown table. "tok/s" is the best pass by wall clock, "median" the
# median pass, "tok/CPU-s" tokens per CPU-second of the process (user + sys):
# on a machine shared with other work the CPU-time figure is the steadier one
# (on 1 thread it is what the wall figure would be on a quiet core). "vs
# llama.cpp" divides tok/s by llama-perplexity's tokens/s; the target is 1.25.
# Speedup: the 2-thread best over the 1-thread best of the same model.
set -eu

build=${1:-build}
kvgram=$build/kvgram
[ -x "$kvgram" ] || { echo "run_transformer_bench: no $kvgram (build first: cmake --build $build)" >&2; exit 2; }
SHAPES=${SHAPES:-gpt2-124m smollm-135m}
TYPES=${TYPES:-f32 f16 q8_0 q4_0}
THREADS=${THREADS:-1 2}
SEQ=${SEQ:-512}
BATCH=${BATCH:-1}
REPEAT=${REPEAT:-5}
if [ -n "${WORKDIR:-}" ]; then
    mkdir -p "$WORKDIR"
    work=$WORKDIR
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/kvg-tfbench-XXXXXX")
    trap 'rm -rf -- "$work"' EXIT
fi
out=${OUT:-$work/results.jsonl}
: >"$out"

# llama-perplexity -c 512 -b 512 tokens/s on this machine type (BASELINE.md), 1 and 2 threads.
llamacpp() {
    case "$1/$2/$3" in
    gpt2-124m/f32/1) echo 217 ;; gpt2-124m/f32/2) echo 420 ;;
    gpt2-124m/f16/1) echo 267 ;; gpt2-124m/f16/2) echo 512 ;;
    gpt2-124m/q8_0/1) echo 267 ;; gpt2-124m/q8_0/2) echo 497 ;;
    gpt2-124m/q4_0/1) echo 269 ;; gpt2-124m/q4_0/2) echo 507 ;;
    smollm-135m/f32/1) echo 207 ;; smollm-135m/f32/2) echo 403 ;;
    smollm-135m/f16/1) echo 260 ;; smollm-135m/f16/2) echo 461 ;;
    smollm-135m/q8_0/1) echo 217 ;; smollm-135m/q8_0/2) echo 420 ;;
    smollm-135m/q4_0/1) echo 249 ;; smollm-135m/q4_0/2) echo 430 ;;
    *) echo "" ;;
    esac
}

field() { sed -n "s/.*\"$1\":\\([^,}]*\\).*/\\1/p" <<<"$2" | tr -d '"'; }

echo "kvgram $("$kvgram" --version | cut -d' ' -f2), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), seq $SEQ, batch $BATCH, $REPEAT timed passes per cell"
echo
echo "| shape | type | threads | tok/s | median | tok/CPU-s | llama.cpp | vs llama.cpp | speedup | kernels | peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for shape in $SHAPES; do
    for type in $TYPES; do
        model=$work/$shape-$type.kvg
        if [ ! -s "$model" ]; then
            "$kvgram" synth --like "$shape" --type "$type" -o "$model" --quiet
        fi
        one=""
        for t in $THREADS; do
            json=$(OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$kvgram" bench -m "$model" --seq "$SEQ" --batch "$BATCH" \
                --threads "$t" --repeat "$REPEAT" --json) || { echo "| $shape | $type | $t | failed | | | | | | | |"; continue; }
            echo "$json" >>"$out"
            tps=$(field tokens_per_s "$json")
            med=$(field tokens_per_s_median "$json")
            cpu=$(field tokens_per_cpu_s "$json")
            rss=$(field peak_rss_kib "$json")
            kern=$(field kernels "$json")
            ref=$(llamacpp "$shape" "$type" "$t")
            ratio=$([ -n "$ref" ] && awk -v a="$tps" -v b="$ref" 'BEGIN { printf "%.2fx", a / b }' || echo "")
            [ "$t" = 1 ] && one=$tps
            speedup=$([ "$t" != 1 ] && [ -n "$one" ] && awk -v a="$tps" -v b="$one" 'BEGIN { printf "%.2fx", a / b }' || echo "")
            printf '| %s | %s | %s | %.1f | %.1f | %.1f | %s | %s | %s | %s | %.0f |\n' "$shape" "$type" "$t" "$tps" "$med" \
                "$cpu" "${ref:-}" "$ratio" "$speedup" "$kern" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
        done
    done
done
echo
echo "target: vs llama.cpp >= 1.25x; 2-thread speedup >= 1.8x. JSON lines: $out"
