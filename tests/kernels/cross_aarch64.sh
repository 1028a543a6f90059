#!/usr/bin/env bash
# The NEON path, tested on x86-64: builds the kernels (engine/kernels, scalar
# + *_neon.c), format/kvg_dtype.c and every tests/kernels/test_*.c for
# AArch64 with Debian's cross compiler (static, with OpenMP), and runs each
# test under qemu-aarch64 (user-mode emulation). Needs the packages
# gcc-aarch64-linux-gnu and qemu-user (.ci/install-deps).
#   usage: tests/kernels/cross_aarch64.sh [BUILD_DIR]     (default build-aarch64)
# A kernel test here may use only those sources, libm and OpenMP (no jansson,
# pcre2, ... cross libraries). Exit status 0 only if every test passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
cc=${KVG_AARCH64_CC:-aarch64-linux-gnu-gcc}
qemu=${KVG_QEMU_AARCH64:-qemu-aarch64}
out=${1:-build-aarch64}
for tool in "$cc" "$qemu"; do
  command -v "$tool" >/dev/null || { echo "cross_aarch64.sh: $tool not found (apt-get install gcc-aarch64-linux-gnu qemu-user)" >&2; exit 1; }
done
mkdir -p "$out/obj"
flags=(-std=c11 -O2 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -fopenmp
       -Iformat -Iengine -Iengine/kernels -Itests)

objs=()
for src in engine/kernels/*.c format/kvg_dtype.c; do
  case "$src" in *_avx2.c) continue ;; esac
  obj="$out/obj/$(basename "${src%.c}").o"
  "$cc" "${flags[@]}" -DKVG_HAVE_NEON=1 -c "$src" -o "$obj"
  objs+=("$obj")
done
rm -f "$out/libkvg_kernels.a"
aarch64-linux-gnu-ar rcs "$out/libkvg_kernels.a" "${objs[@]}" 2>/dev/null || ar rcs "$out/libkvg_kernels.a" "${objs[@]}"

failed=0
for test_src in tests/kernels/test_*.c; do
  name=$(basename "${test_src%.c}")
  "$cc" "${flags[@]}" "$test_src" "$out/libkvg_kernels.a" -static -lm -o "$out/$name"
  echo "== $name (aarch64, qemu)"
  if ! OMP_WAIT_POLICY=passive "$qemu" "$out/$name"; then
    echo "FAILED: $name under qemu-aarch64" >&2
    failed=1
  fi
done
exit $failed
