#!/usr/bin/env bash
# Checks that a release bundle (toolchain/bundle.sh) runs with no Swift toolchain present: in a private mount
# namespace, empty tmpfs folders hide /opt/swift, /usr/lib/llvm-* and the repository itself, the
# environment is emptied, and the bundle's qinfer (default model; a JPEG and a PNG), qbench and qconvert (then qinfer on its output) run.
#
#   toolchain/test-bundle.sh [BUNDLE_DIR]     default: build one with toolchain/bundle.sh into a temporary folder
# Needs root (unshare -m, mount); .ci/run runs it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/lowbit-bundle-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT
if [ $# -ge 1 ]; then
  cp -r "$1" "$work/lowbit"
else
  "$root/toolchain/bundle.sh" "$work/lowbit"
fi
# Inputs from the repository, copied out before it is hidden: a gray JPEG and an RGB PNG.
cp "$root/Tests/QRuntimeTests/Images/gray.jpg" "$root/Tests/QRuntimeTests/Images/rgb.png" \
   "$root/models/fashion-mnist/fmnist-cnn.pt" "$work/"

hidden=(/opt/swift /usr/lib/llvm-* "$root")
# The commands run as one string held in memory (the script file lies in the repository, which gets hidden).
check='
set -euo pipefail
cd "$WORK"
command -v swift >/dev/null && { echo "swift is still visible" >&2; exit 1; }
for d in $HIDDEN; do [ -z "$(ls -A "$d")" ] || { echo "$d is not hidden" >&2; exit 1; }; done
if ldd lowbit/qinfer | grep -q "not found"; then ldd lowbit/qinfer >&2; exit 1; fi
for lib in libomp.so.5 libxxhash.so.0; do
  ldd lowbit/qinfer | grep -q "$WORK/lowbit/$lib" || { echo "$lib not loaded from the bundle" >&2; exit 1; }
done
echo "--- qinfer (default model and sample)"
lowbit/qinfer | tee out.txt
grep -q "Ankle boot" out.txt
echo "--- qinfer gray.jpg rgb.png (the 1-channel model refuses RGB: a clean error)"
lowbit/qinfer gray.jpg --top 2
if lowbit/qinfer rgb.png 2>err.txt; then echo "RGB accepted by a gray model" >&2; exit 1; fi
grep -q "model expects 1 channel, image has 3" err.txt && cat err.txt
echo "--- qbench"
lowbit/qbench --threads 1,2 --runs 20 --warmup 5
echo "--- qconvert (the bundled model'"'"'s checkpoint, 4-bit) and qinfer on the result"
lowbit/qconvert fmnist-cnn.pt --bits 4 -o converted.lbm | tail -1
lowbit/qinfer --model converted.lbm --top 1
'
env -i PATH=/usr/local/bin:/usr/bin:/bin WORK="$work" HIDDEN="${hidden[*]}" \
  unshare -m bash -c "mount --make-rprivate / && for d in $(printf '%q ' "${hidden[@]}"); do mount -t tmpfs lowbit-hidden \"\$d\"; done && $check"
echo "test-bundle: the bundle runs without the Swift toolchain (hidden: ${hidden[*]})"
