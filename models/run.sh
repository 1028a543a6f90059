#!/usr/bin/env bash
# The main job on the bundled models, from a fresh Debian 12 machine (as root):
# installs what is missing, builds kvgram, converts the bundled ARPA model to
# .kvg (exact and 8-bit), shows and verifies it, and scores held-out text.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps
cmake -S . -B build-main -DCMAKE_BUILD_TYPE=Release -DKVG_TESTS=OFF -DKVG_BENCH=OFF >/dev/null
cmake --build build-main -j "$(nproc)" --target kvgram
kvgram=build-main/kvgram
out=build-main/models
mkdir -p "$out"

echo "== convert models/tinystories.o3.arpa -> $out/tinystories.o3.kvg"
$kvgram convert models/tinystories.o3.arpa -o "$out/tinystories.o3.kvg"
$kvgram convert models/tinystories.o3.arpa -o "$out/tinystories.o3.q8.kvg" --quantize 8
echo "== kvgram info"
$kvgram info "$out/tinystories.o3.kvg"
echo "== kvgram verify"
$kvgram verify "$out/tinystories.o3.kvg" "$out/tinystories.o3.q8.kvg"
echo "== kvgram score (the last 5 lines of the corpus, per token)"
tail -n 5 models/tinystories.txt | $kvgram score -m "$out/tinystories.o3.kvg" --per-token
echo "== kvgram score (the whole corpus, exact vs 8-bit)"
$kvgram score -m "$out/tinystories.o3.kvg" models/tinystories.txt | tail -n 1
$kvgram score -m "$out/tinystories.o3.q8.kvg" models/tinystories.txt | tail -n 1
