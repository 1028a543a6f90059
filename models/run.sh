#!/usr/bin/env bash
# The main job on the bundled models, from a fresh Debian 12 machine (as root):
# installs what is missing, builds kvgram, then
#   1. n-gram: converts the bundled ARPA model to .kvg (exact and 8-bit), shows,
#      verifies and scores with it;
#   2. transformers: converts the three trained KJV fixtures (GPT-2, Llama with
#      GQA, GPT-NeoX; Hugging Face layout) and scores held-out KJV verses;
#   3. estimation: builds token-level 5-gram models (Kneser-Ney and counted)
#      over the fixture corpus with the kjv-llama tokenizer (n-grams over the
#      transformer's token ids);
#   4. llama2.c: converts Karpathy's stories260K and generates from it;
#   5. the thesis experiment: `kvgram compare` (kjv-llama vs its token-level
#      n-gram tables on held-out verses) and `kvgram lens` (what each layer's
#      representation of each token decodes to), with two HTML reports.
# Steps 2-5 read the shared corpus and checkpoints in ../shared when present.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps
cmake -S . -B build-main -DCMAKE_BUILD_TYPE=Release -DKVG_TESTS=OFF -DKVG_BENCH=OFF >/dev/null
cmake --build build-main -j "$(nproc)" --target kvgram
kvgram=build-main/kvgram
out=build-main/models
shared=../shared
mkdir -p "$out"

echo "== 1. n-gram: convert models/tinystories.o3.arpa -> $out/tinystories.o3.kvg (exact and 8-bit)"
$kvgram convert models/tinystories.o3.arpa -o "$out/tinystories.o3.kvg"
$kvgram convert models/tinystories.o3.arpa -o "$out/tinystories.o3.q8.kvg" --quantize 8
$kvgram info "$out/tinystories.o3.kvg"
$kvgram verify "$out/tinystories.o3.kvg" "$out/tinystories.o3.q8.kvg"
echo "-- score the last 5 lines of the corpus, per token"
tail -n 5 models/tinystories.txt | $kvgram score -m "$out/tinystories.o3.kvg" --per-token
echo "-- score the whole corpus, exact vs 8-bit"
$kvgram score -m "$out/tinystories.o3.kvg" models/tinystories.txt | tail -n 1
$kvgram score -m "$out/tinystories.o3.q8.kvg" models/tinystories.txt | tail -n 1

heldout="$shared/data/kjv/kjv.test.head200.txt"
if [[ -f "$heldout" ]]; then
  test_text="$heldout"
else
  echo "(no $heldout: scoring three verses instead)"
  test_text="$out/verses.txt"
  printf '%s\n' "in the beginning god created the heaven and the earth ." \
    "and god said , let there be light : and there was light ." \
    "the lord is my shepherd ; i shall not want ." > "$test_text"
fi
echo "== 2. transformers: convert the KJV fixtures and score $test_text"
for m in gpt2 llama neox; do
  $kvgram convert "models/kjv-$m" -o "$out/kjv-$m.kvg"
  $kvgram verify "$out/kjv-$m.kvg"
  echo "-- kjv-$m (uniform model: perplexity 2048)"
  $kvgram score -m "$out/kjv-$m.kvg" "$test_text" | tail -n 1
done
echo "-- kjv-llama, per token, first verse"
head -n 1 "$test_text" | $kvgram score -m "$out/kjv-llama.kvg" --per-token

train="$shared/data/kjv/kjv.train.txt"
if [[ -f "$train" ]]; then
  order=5; fallback=()
else
  # Without the shared corpus: the bundled story text, tokenized the same way
  # (a mismatched domain, but the pipeline is the same).
  train=models/tinystories.txt; order=3; fallback=(--discount_fallback)
fi
echo "== 3. estimation: token-level $order-gram models over $train with the kjv-llama tokenizer"
$kvgram ngram build --order "$order" "${fallback[@]}" --tokenizer models/kjv-llama "$train" \
  -o "$out/kjv-llama.tok$order.kvg"
$kvgram ngram build --order "$order" --smoothing mle --tokenizer models/kjv-llama "$train" \
  -o "$out/kjv-llama.tok$order.mle.kvg"
$kvgram info "$out/kjv-llama.tok$order.kvg" | grep -E "ngram\.(order|counts|token_id_offset)|tokenizer\.n_tokens"

if [[ -f "$shared/models/stories260K.bin" ]]; then
  echo "== 4. llama2.c: convert stories260K and continue \"Once upon a time\" (greedy)"
  $kvgram convert "$shared/models/stories260K.bin" --tokenizer "$shared/models/tok512.bin" -o "$out/stories260K.kvg"
  $kvgram generate -m "$out/stories260K.kvg" -n 40 "Once upon a time"
fi

echo "== 5. thesis experiment: kjv-llama vs its token-level $order-gram tables on $test_text"
$kvgram compare -m "$out/kjv-llama.kvg" -n "$out/kjv-llama.tok$order.kvg" --rules "$out/kjv-llama.tok$order.mle.kvg" \
  --json "$out/compare.jsonl" --html "$out/compare.html" "$test_text"
first_verse=$(head -n 1 "$test_text")
$kvgram lens -m "$out/kjv-llama.kvg" --json "$out/lens.jsonl" --html "$out/lens.html" "$first_verse"
echo "-- reports: $out/compare.html (per-token comparison), $out/lens.html (logit lens of: $first_verse)"
echo "   per-token data: $out/compare.jsonl, $out/lens.jsonl"
