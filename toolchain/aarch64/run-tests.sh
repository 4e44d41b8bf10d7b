#!/bin/sh
# Cross-compiles QKernels and toolchain/aarch64/qk_selftest.c for aarch64 and runs the self-test
# under qemu-user: on cortex-a76 (dotprod, like a Snapdragon 888's cores) every NEON member must
# match the reference and its scalar twin; on cortex-a53 (no dotprod) the base-NEON members run and
# dispatch must pick them, or the scalar members where a family needs the dot product. Needs gcc-aarch64-linux-gnu and qemu-user-static (apt-get). Run from anywhere.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
# a fresh folder per run: concurrent runs (worktrees, CI) must not overwrite each other's binary
out=$(mktemp -d "${TMPDIR:-/tmp}/lowbit-aarch64.XXXXXX")
trap 'rm -rf "$out"' EXIT
src="$root/Sources/QKernels"
aarch64-linux-gnu-gcc -O2 -fopenmp -ffp-contract=off -Wall -Wno-unknown-pragmas -I"$src/include" \
    -o "$out/qk_selftest" "$root/toolchain/aarch64/qk_selftest.c" "$src"/*.c "$src"/ukernels/*.c -lm
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu OMP_NUM_THREADS=2
echo "== cortex-a76 (dotprod)"
qemu-aarch64-static -cpu cortex-a76 "$out/qk_selftest" --expect-isa neondot
echo "== cortex-a53 (no dotprod: neon members, scalar where a family needs the dot product)"
qemu-aarch64-static -cpu cortex-a53 "$out/qk_selftest" --expect-isa neon
