#!/usr/bin/env bash
# Checks that an aarch64 release bundle (toolchain/bundle.sh --target aarch64) runs with no Swift toolchain: the
# bundle is copied into a fresh arm64 root that holds only Debian's base libraries (glibc, libstdc++, libgcc, zlib:
# sdk.sh's base-root) and run there with chroot + qemu-aarch64-static (the only x86 file in that root), so nothing
# of this machine, the sysroot or the repository is visible. Checked: the loader resolves every library (libomp
# from the bundle), qinfer classifies (default model and sample on cortex-a76 and cortex-a53, a JPEG, a PNG refused
# with a clean error), qbench runs on 1 and 2 threads, qconvert converts the bundled checkpoint and qinfer runs
# its output. Timings under qemu are emulation times.
#
#   toolchain/aarch64/test-bundle.sh [BUNDLE_DIR]   default: build one (toolchain/bundle.sh --target aarch64)
# Needs root (chroot, unshare -m, mount) and qemu-user-static.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
sdk="${LOWBIT_AARCH64_SDK:-$root/.build-aarch64/sdk}"
work="$(mktemp -d /tmp/lowbit-aarch64-bundle-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT
if [ $# -ge 1 ]; then
  bundle="$1"
else
  bundle="$work/bundle"
  "$root/toolchain/bundle.sh" --target aarch64 "$bundle"
fi
[ -d "$sdk/base-root" ] || "$root/toolchain/aarch64/sdk.sh" >/dev/null

target="$work/root"
cp -a "$sdk/base-root" "$target"
cp -r "$bundle" "$target/lowbit"
cp /usr/bin/qemu-aarch64-static "$target/qemu-aarch64-static"
mkdir -p "$target/work" "$target/proc" "$target/dev" "$target/sys"
cp "$root/Tests/QRuntimeTests/Images/gray.jpg" "$root/Tests/QRuntimeTests/Images/rgb.png" \
   "$root/models/fashion-mnist/fmnist-cnn.pt" "$target/work/"
for gone in usr/libexec/swift usr/lib/swift usr/lib/llvm-*; do
  [ ! -e "$target/$gone" ] || { echo "test-bundle: $gone is in the base root" >&2; exit 1; }
done

# One command inside the root: CPU, then the program and its arguments (paths as the root sees them).
inside() {
  local cpu="$1"; shift
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin unshare -m sh -c 'mount --make-rprivate / && mount -t proc proc "$0/proc" &&
    mount --rbind /dev "$0/dev" && mount --rbind /sys "$0/sys" && exec chroot "$0" /qemu-aarch64-static -cpu "$@"' "$target" "$cpu" "$@"
}
run() { inside cortex-a76 "$@"; }

echo "--- the loader resolves every library, libomp from the bundle"
run /lib/ld-linux-aarch64.so.1 --list /lowbit/qinfer | tee "$work/ldd.txt"
if grep -q "not found" "$work/ldd.txt"; then echo "test-bundle: a library is missing" >&2; exit 1; fi
grep -q "/lowbit/libomp.so.5" "$work/ldd.txt" || { echo "test-bundle: libomp.so.5 not loaded from the bundle" >&2; exit 1; }
for cpu in cortex-a76 cortex-a53; do
  echo "--- qinfer (default model and sample), $cpu"
  inside "$cpu" /lowbit/qinfer | tee "$work/out.txt"
  grep -q "Ankle boot" "$work/out.txt"
done
echo "--- qinfer gray.jpg rgb.png (the 1-channel model refuses RGB: a clean error)"
run /lowbit/qinfer /work/gray.jpg --top 2
if run /lowbit/qinfer /work/rgb.png 2>"$work/err.txt"; then echo "test-bundle: RGB accepted by a gray model" >&2; exit 1; fi
grep -q "model expects 1 channel, image has 3" "$work/err.txt" && cat "$work/err.txt"
echo "--- qbench (emulated: the times are not performance figures)"
run /lowbit/qbench --threads 1,2 --runs 5 --warmup 1
echo "--- qconvert (the bundled model's checkpoint, 4-bit) and qinfer on the result"
run /lowbit/qconvert /work/fmnist-cnn.pt --bits 4 -o /work/converted.lbm | tail -1
run /lowbit/qinfer --model /work/converted.lbm --top 1
echo "test-bundle: the aarch64 bundle runs under qemu in a root with only Debian's base libraries"
