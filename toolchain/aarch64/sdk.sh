#!/usr/bin/env bash
# Assembles what the aarch64 cross build needs from Debian unstable's packages, under $LOWBIT_AARCH64_SDK
# (default .build-aarch64/sdk in the repository, ignored by git):
#   build-root/   an amd64 Debian unstable root with swiftlang (the Swift compiler the build runs, in a chroot:
#                 Debian's swiftlang needs unstable's glibc, newer than this machine's), libc6-dev and pkgconf
#   sysroot/      arm64 files extracted from Debian's packages (no maintainer scripts run): glibc, libgcc and
#                 libstdc++ development files, swiftlang's aarch64 runtime, modules and static libraries (the
#                 same version as build-root's compiler), libomp, libjpeg, libpng, zlib. The build's --sdk, and
#                 the -L root qemu-aarch64 runs the binaries with.
#   base-root/    arm64 Debian base libraries only (glibc, libstdc++, libgcc, zlib): where the release bundle is
#                 checked with no Swift toolchain or LLVM present (toolchain/aarch64/test-bundle.sh).
# Idempotent and resumable: each part is made in PART.partial and renamed when complete, so a finished part is
# never fetched again and an interrupted one starts over. The Debian mirror is the first one in this machine's
# apt sources (or $LOWBIT_DEBIAN_MIRROR). Needs root and mmdebstrap (apt-get install mmdebstrap).
#
#   toolchain/aarch64/sdk.sh        prints the SDK folder (progress goes to standard error)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
sdk="${LOWBIT_AARCH64_SDK:-$root/.build-aarch64/sdk}"
suite=unstable

command -v mmdebstrap >/dev/null || { echo "sdk.sh: mmdebstrap missing: apt-get install mmdebstrap" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "sdk.sh: needs root (mmdebstrap and chroot)" >&2; exit 1; }

# The first Debian archive in the machine's apt sources (deb822 .sources or one-line .list; security
# archives skipped): the build uses the same mirror as apt does, and no host name is written down here.
debian_mirror() {
  [ -n "${LOWBIT_DEBIAN_MIRROR:-}" ] && { echo "$LOWBIT_DEBIAN_MIRROR"; return; }
  local files=() f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && files+=("$f")
  done
  [ ${#files[@]} -gt 0 ] || return 0
  awk '
    /^[[:space:]]*#/ { next }
    $1 == "URIs:" { for (i = 2; i <= NF; i++) print $i; next }
    $1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/ && $i !~ /=/) { print $i; break } }
  ' "${files[@]}" | grep -E '/debian/?$' | grep -v -- '-security' | head -1
}

# Runs mmdebstrap into PART.partial, then renames it to PART; does nothing when PART exists.
make_part() {
  local part="$1"; shift
  if [ -d "$sdk/$part" ]; then echo "sdk: $part present" >&2; return; fi
  local start; start=$(date +%s)
  rm -rf "$sdk/$part.partial"
  echo "sdk: making $part from $mirror ($suite)" >&2
  # The mirror may serve a frozen snapshot whose Release file has passed its Valid-Until date; signatures
  # are still checked.
  mmdebstrap --mode=root --aptopt='Acquire::Check-Valid-Until "false"' "$@" \
    "$suite" "$sdk/$part.partial" "$mirror" > "$sdk/$part.log" 2>&1 \
    || { tail -20 "$sdk/$part.log" >&2; echo "sdk.sh: making $part failed (log: $sdk/$part.log)" >&2; exit 1; }
  mv "$sdk/$part.partial" "$sdk/$part"
  echo "sdk: $part made in $(( $(date +%s) - start )) s ($(du -sh "$sdk/$part" | cut -f1))" >&2
}

# Extracted roots have no merged-/usr links of their own: the loader path /lib/ld-linux-aarch64.so.1 needs /lib.
merge_usr() {
  local d
  for d in lib bin sbin; do [ -e "$1/$d" ] || [ -L "$1/$d" ] || ln -s "usr/$d" "$1/$d"; done
}

mirror="$(debian_mirror)"
[ -n "$mirror" ] || { echo "sdk.sh: no Debian mirror in /etc/apt/sources.list*; set LOWBIT_DEBIAN_MIRROR" >&2; exit 1; }
mkdir -p "$sdk"

make_part build-root --variant=apt --include=swiftlang,libc6-dev,pkgconf,git
version="$(chroot "$sdk/build-root" dpkg-query -W -f='${Version}' swiftlang)"

# The aarch64 modules must come from the same swiftlang version as the compiler that reads them.
make_part sysroot --variant=extract --architectures=arm64 \
  --include="swiftlang=$version,libc6-dev,g++,libomp-dev,libjpeg-dev,libpng-dev,zlib1g-dev,libxxhash-dev"
merge_usr "$sdk/sysroot"
# The Swift driver looks for the static runtime (swiftrt.o, static-stdlib-args.lnk) under usr/lib/swift_static.
[ -e "$sdk/sysroot/usr/lib/swift_static" ] || ln -s ../libexec/swift/lib/swift_static "$sdk/sysroot/usr/lib/swift_static"

make_part base-root --variant=extract --architectures=arm64 --include=libc6,libstdc++6,libgcc-s1,zlib1g
merge_usr "$sdk/base-root"

echo "$version" > "$sdk/swiftlang-version"
echo "sdk: swiftlang $version (amd64 compiler, arm64 runtime)" >&2
echo "$sdk"
