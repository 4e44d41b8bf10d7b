#!/usr/bin/env bash
# Cross-builds LowBit for aarch64-linux-gnu with Debian unstable's swiftlang as the compiler and an arm64 sysroot
# from Debian's packages (both assembled by toolchain/aarch64/sdk.sh, which this runs first). The compiler runs in
# a chroot (build-root) where the repository is mounted at /src.
#
#   toolchain/aarch64/build.sh [SWIFT BUILD OPTIONS...]
#       qconvert, qinfer and qbench (release, Swift runtime linked statically) into .build-aarch64/release/;
#       run them under qemu with toolchain/aarch64/run.sh
#   toolchain/aarch64/build.sh --tests [SWIFT BUILD OPTIONS...]
#       the test suite (release with testable imports, Swift runtime shared) into .build-aarch64/tests/release/;
#       run it under qemu with toolchain/aarch64/test.sh
# Needs root, mmdebstrap and a Swift toolchain on this machine (it resolves the package's dependencies).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
sdk="$("$root/toolchain/aarch64/sdk.sh")"
cd "$root"
start=$(date +%s)
tests=false
[ "${1:-}" = --tests ] && { tests=true; shift; }
scratch=.build-aarch64
$tests && scratch=.build-aarch64/tests

# The dependencies are fetched by this machine's SwiftPM (its network and mirror settings) into the scratch
# path, where the chroot's SwiftPM finds them checked out and resolves nothing itself.
swift package resolve --scratch-path "$scratch" >/dev/null

# Paths as the chroot sees them.
case "$sdk" in
  "$root"/*) sysroot="/src/${sdk#"$root"/}/sysroot" ;;
  *) echo "build.sh: the SDK must lie inside the repository (got $sdk)" >&2; exit 1 ;;
esac
# LLVM's omp.h (Package.swift's -idirafter names the x86 host's LLVM 14 headers, absent here).
omp="$(cd "$sdk/sysroot" && ls -d usr/lib/llvm-*/lib/clang/*/include/omp.h | sort -V | tail -1)"
[ -n "$omp" ] || { echo "build.sh: no omp.h in the sysroot" >&2; exit 1; }

build=(swift build -c release --scratch-path "/src/$scratch" --disable-automatic-resolution
  --triple aarch64-unknown-linux-gnu --sdk "$sysroot" -Xswiftc -sdk -Xswiftc "$sysroot"
  -Xswiftc -use-ld=lld -Xcc -idirafter -Xcc "$sysroot/$(dirname "$omp")")
if $tests; then
  # XCTest exists only as a shared library: the tests link the shared Swift runtime.
  build+=(--build-tests -Xswiftc -enable-testing -Xswiftc -resource-dir -Xswiftc "$sysroot/usr/lib/swift")
else
  build+=(--static-swift-stdlib -Xswiftc -resource-dir -Xswiftc "$sysroot/usr/lib/swift_static")
fi
pkgconfig="$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig"
mkdir -p "$sdk/build-root/src"
# A private mount namespace: the mounts vanish with the command.
unshare -m bash -c '
  set -e
  mount --make-rprivate /
  mount --bind "$1" "$2/src"
  mount -t proc proc "$2/proc"
  mount --rbind /dev "$2/dev"
  shift 2
  exec "$@"' mount "$root" "$sdk/build-root" \
  chroot "$sdk/build-root" env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    PKG_CONFIG_SYSROOT_DIR="$sysroot" PKG_CONFIG_PATH="$pkgconfig" PKG_CONFIG_LIBDIR="$pkgconfig" \
    sh -c 'cd /src && exec "$@"' build "${build[@]}" "$@"
echo "build.sh: aarch64 build ($($tests && echo tests || echo tools)) took $(( $(date +%s) - start )) s" >&2
