#!/usr/bin/env bash
# Builds a self-contained LowBit release folder for x86-64 or aarch64 Linux:
#   qconvert, qinfer, qbench   release builds with --static-swift-stdlib (no Swift runtime needed), RUNPATH $ORIGIN
#   libomp.so.5, libjpeg.so.62, libpng16.so.16, libxxhash.so.0   the non-base shared libraries they load, beside them
#   models/                    the bundled default model and its sample images (found beside the binaries)
#   README.md                  what is inside and how to run it
# The target machine needs only glibc (the version the README names), libstdc++, libgcc and zlib (Debian's
# base system).
#
#   toolchain/bundle.sh [OUT_DIR]                   this machine's architecture; default dist/lowbit-$(uname -m)
#   toolchain/bundle.sh --target aarch64 [OUT_DIR]  cross-built by toolchain/aarch64/build.sh (Debian unstable's
#                                                   swiftlang and arm64 sysroot); default dist/lowbit-aarch64
# Checked by toolchain/test-bundle.sh (x86-64, with the Swift toolchain and LLVM hidden) and
# toolchain/aarch64/test-bundle.sh (aarch64, under qemu in a root holding only Debian's base libraries).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
arch="$(uname -m)"
if [ "${1:-}" = --target ]; then
  arch="${2:?--target takes aarch64}"
  shift 2
fi
out="${1:-$root/dist/lowbit-$arch}"
cd "$root"

start=$(date +%s)
if [ "$arch" = "$(uname -m)" ]; then
  # SwiftPM links executables with RUNPATH $ORIGIN on Linux; the check below makes sure of it.
  flags=(-c release --static-swift-stdlib)
  swift build "${flags[@]}" --product qconvert
  swift build "${flags[@]}" --product qinfer
  swift build "${flags[@]}" --product qbench
  bin="$(swift build "${flags[@]}" --show-bin-path)"
  strip=strip
  sysroot=""
  # ldd resolves the real files (libomp.so.5 is a symlink into /usr/lib/llvm-14/lib).
  list_libraries() { ldd "$1"; }
elif [ "$arch" = aarch64 ]; then
  toolchain/aarch64/build.sh   # --static-swift-stdlib
  bin="$root/.build-aarch64/release"
  strip=aarch64-linux-gnu-strip
  sysroot="${LOWBIT_AARCH64_SDK:-$root/.build-aarch64/sdk}/sysroot"
  # The sysroot's dynamic loader in its --list mode (ldd's) under qemu; the paths it prints lie in the sysroot.
  list_libraries() { qemu-aarch64-static -L "$sysroot" "$sysroot/lib/ld-linux-aarch64.so.1" --list "$1"; }
else
  echo "bundle.sh: cannot build for $arch here (this machine: $(uname -m); --target takes aarch64)" >&2
  exit 1
fi
echo "bundle: release build took $(( $(date +%s) - start )) s"

rm -rf "$out"
mkdir -p "$out/models/fashion-mnist"
for tool in qconvert qinfer qbench; do
  install -m 755 "$bin/$tool" "$out/$tool"
  "$strip" "$out/$tool"
done

# Shared libraries outside Debian's base system: everything the Swift toolchain or LLVM provides, the
# image codecs and libxxhash (priority optional in Debian); zlib is in every Debian and stays outside.
bundled=()
while read -r name path; do
  case "$name" in
    libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|*ld-linux*|libgcc_s.so*|libstdc++.so*|libz.so*|linux-vdso*) continue ;;
  esac
  [ -f "$sysroot$path" ] || { echo "bundle: cannot resolve $name" >&2; exit 1; }
  cp -L "$sysroot$path" "$out/$name"
  bundled+=("$name")
done < <(for tool in qconvert qinfer qbench; do list_libraries "$out/$tool"; done | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u)

for tool in qconvert qinfer qbench; do
  readelf -d "$out/$tool" | grep -q 'RUNPATH.*\$ORIGIN' || { echo "bundle: $tool lacks RUNPATH \$ORIGIN" >&2; exit 1; }
done

model="models/fashion-mnist"
cp "$model/fmnist-cnn-w4.lbm" "$out/$model/"
cp -r "$model/samples" "$out/$model/"
[ -f "$model/labels.txt" ] && cp "$model/labels.txt" "$out/$model/"

# The newest glibc symbol version the binaries and the bundled libraries ask for.
glibc="$(for f in "$out"/q* "$out"/*.so*; do readelf -V --wide "$f"; done | grep -o 'GLIBC_[0-9][0-9.]*' | cut -c7- | sort -uV | tail -1)"
cat > "$out/README.md" <<README
# LowBit $(git describe --always --dirty 2>/dev/null || echo "") for $arch Linux

Self-contained: the Swift runtime is linked statically; ${bundled[*]:-no other libraries} lie beside the
binaries, which find them through RUNPATH \$ORIGIN. Needs glibc $glibc or newer, libstdc++ and zlib.

    ./qinfer                                  # bundled Fashion-MNIST model, first sample image
    ./qinfer photo.jpg --model resnet18-w4.lbm --top 5
    ./qbench --threads 1,2,4 --runs 50        # bundled model
    ./qconvert model.pth --bits 4 -o model-w4.lbm

The default model is found in models/ beside the binaries (or \$LOWBIT_MODELS). \`--help\` on each tool
lists its options. Source, documentation and the ARM build notes: toolchain/README.md of the repository.
README
du -sh "$out"
echo "bundle: $out (${bundled[*]:-})"
