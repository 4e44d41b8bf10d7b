#!/usr/bin/env bash
# Runs the Swift test suite built for aarch64 (toolchain/aarch64/build.sh --tests, run first when missing) under
# qemu-aarch64, in a chroot of the arm64 sysroot where the repository is mounted at /src (the path it was built
# at: the tests find their fixtures from it) and ../shared at /shared.
#
#   toolchain/aarch64/test.sh [FILTER]       FILTER: XCTest's (Target.Class or Target.Class/test, comma-separated);
#                                            default: every test that can run under qemu (below)
#   QEMU_CPU=cortex-a53 toolchain/aarch64/test.sh ...      default cortex-a76
# Left out by default, because qemu-user cannot start an aarch64 child process without binfmt_misc, which this
# machine lacks, or because they run x86 tools: every test that runs the built tools or a script (CLITests,
# QCheckpointTests.InspectCLITests, QKernelsTests.AArch64Tests, DispatchTests/testRegeneratingChangesNothing,
# ResourceLimitTests/testEnvironmentVariableLimitsTheExecutables).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
sdk="${LOWBIT_AARCH64_SDK:-$root/.build-aarch64/sdk}"
bundle=.build-aarch64/tests/release/LowBitPackageTests.xctest
[ -x "$root/$bundle" ] || "$root/toolchain/aarch64/build.sh" --tests
case "$sdk" in
  "$root"/*) ;;
  *) echo "test.sh: the SDK must lie inside the repository (got $sdk)" >&2; exit 1 ;;
esac
sysroot="$sdk/sysroot"
shared="$(cd "$root/.." && pwd)/shared"
cp /usr/bin/qemu-aarch64-static "$sysroot/qemu-aarch64-static"
mkdir -p "$sysroot/src" "$sysroot/shared" "$sysroot/proc" "$sysroot/dev" "$sysroot/sys" "$sysroot/tmp"

# The xctest executable inside the chroot, with its arguments.
xctest() {
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin unshare -m sh -c '
    mount --make-rprivate / && mount --bind "$1" "$0/src" && mount -t proc proc "$0/proc" &&
    mount --rbind /dev "$0/dev" && mount --rbind /sys "$0/sys" && mount -t tmpfs tmp "$0/tmp" && { [ ! -d "$2" ] || mount --bind "$2" "$0/shared"; } &&
    cpu="$3" && shift 3 && exec chroot "$0" /qemu-aarch64-static -cpu "$cpu" \
      -E LD_LIBRARY_PATH=/usr/lib/swift/linux -E HOME=/tmp -E TMPDIR=/tmp "/src/$@"' \
    "$sysroot" "$root" "$shared" "${QEMU_CPU:-cortex-a76}" "$bundle" "$@"
}

if [ $# -ge 1 ]; then
  filter="$1"
else
  skipped='^(CLITests\.|QCheckpointTests\.InspectCLITests/|QKernelsTests\.AArch64Tests/|QKernelsTests\.DispatchTests/testRegeneratingChangesNothing$|QRuntimeTests\.ResourceLimitTests/testEnvironmentVariableLimitsTheExecutables$)'
  all="$(xctest --list-tests | grep -E '^[A-Za-z_]+\.[A-Za-z_]+/test' || true)"
  [ -n "$all" ] || { echo "test.sh: the test bundle lists no tests" >&2; exit 1; }
  filter="$(grep -Ev "$skipped" <<<"$all" | paste -sd, -)"
  echo "test.sh: $(grep -cEv "$skipped" <<<"$all") of $(wc -l <<<"$all") tests (the others start processes)" >&2
fi
start=$(date +%s)
status=0
xctest "$filter" || status=$?
echo "test.sh: under qemu ${QEMU_CPU:-cortex-a76} in $(( $(date +%s) - start )) s (emulated: not a performance figure)" >&2
exit $status
