#!/usr/bin/env bash
# The whole aarch64 check, in the order a person runs it (docs/DEPLOY.md, "Cross build on x86-64"): the SDK and
# the cross build, x86 vs aarch64 under qemu (compare.sh), the aarch64 release bundle in a root without Swift
# (test-bundle.sh), and the Swift test suite under qemu (test.sh). Not part of .ci/run: from nothing it takes
# longer than .ci/run's budget on 2 cores (docs/DEPLOY.md has the times).
#
#   toolchain/aarch64/check.sh [--quick]     --quick: compare.sh --quick, and no test suite
# Needs root, mmdebstrap, qemu-user-static, binutils-aarch64-linux-gnu, Swift and ../shared/data.
set -euo pipefail
cd "$(dirname "$0")"
steps=("./build.sh" "./compare.sh" "./test-bundle.sh" "./test.sh")
[ "${1:-}" = --quick ] && steps=("./build.sh" "./compare.sh --quick" "./test-bundle.sh")
for step in "${steps[@]}"; do
  start=$SECONDS
  echo "=== aarch64: $step"
  $step
  echo "=== aarch64: $step passed in $((SECONDS - start)) s"
done
