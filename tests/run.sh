#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root):
#   1. installs the Debian packages (.ci/install-deps),
#   2. builds Release and runs every test (CTest),
#   3. builds with AddressSanitizer + UndefinedBehaviorSanitizer and runs every test again,
#   4. cross-builds the kernels and their tests for AArch64 and runs them under qemu-aarch64 (the NEON path),
#   5. builds the libFuzzer target with clang and runs a bounded fuzzing smoke test.
# Build folders: build/, build-asan/, build-aarch64/, build-fuzz/. Exit status 0 only if everything passed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps

jobs=$(nproc)
echo "== Release build and tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs")

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKVG_SANITIZE=ON -DKVG_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$jobs")

echo "== AArch64 kernels (NEON): cross-built, run under qemu-aarch64"
bash tests/kernels/cross_aarch64.sh build-aarch64

echo "== libFuzzer smoke (clang)"
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DKVG_FUZZ=ON -DKVG_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-fuzz -j "$jobs"
(cd build-fuzz && ctest --output-on-failure -R fuzz)
