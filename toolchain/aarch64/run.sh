#!/usr/bin/env bash
# Runs one of the aarch64 tools built by toolchain/aarch64/build.sh under qemu-aarch64 (user mode), with the
# arm64 sysroot as its library root. Exit status and output are the program's.
#
#   toolchain/aarch64/run.sh PROGRAM [ARGS...]        PROGRAM: qconvert, qinfer or qbench
#   QEMU_CPU=cortex-a53 toolchain/aarch64/run.sh qinfer ...   the CPU qemu emulates (default cortex-a76)
# Paths the program opens that exist in the sysroot are read from there (qemu's -L rule); others from here.
# Timings under qemu are emulation times, not performance figures.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
sdk="${LOWBIT_AARCH64_SDK:-$root/.build-aarch64/sdk}"
[ $# -ge 1 ] || { echo "usage: toolchain/aarch64/run.sh PROGRAM [ARGS...]" >&2; exit 2; }
program="$root/.build-aarch64/release/$1"; shift
[ -x "$program" ] || { echo "run.sh: $program missing: run toolchain/aarch64/build.sh" >&2; exit 2; }
[ -d "$sdk/sysroot" ] || { echo "run.sh: $sdk/sysroot missing: run toolchain/aarch64/build.sh" >&2; exit 2; }
command -v qemu-aarch64-static >/dev/null || { echo "run.sh: qemu-aarch64-static missing: apt-get install qemu-user-static" >&2; exit 2; }
exec qemu-aarch64-static -cpu "${QEMU_CPU:-cortex-a76}" -L "$sdk/sysroot" "$program" "$@"
