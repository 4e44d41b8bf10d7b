#!/usr/bin/env bash
# The full test command (README "Run the tests", .ci/run): the test suite, the release bundle run
# without a Swift toolchain, the library's DocC catalog and example, the suite again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and every fuzz target for a short run.
#   toolchain/check.sh                      all three passes
#   LOWBIT_CHECK_FAST=1 toolchain/check.sh  `swift test` only (the quick local loop)
#   LOWBIT_FUZZ_SECONDS=N                   seconds per fuzz target (default 30)
# Each pass prints its wall time; the first failing pass stops the run with its status.
set -euo pipefail
cd "$(dirname "$0")/.."

pass() {
  local name=$1; shift
  local start=$SECONDS
  echo "=== $name"
  "$@"
  echo "=== $name: passed in $((SECONDS - start)) s"
}

pass "swift test" swift test
[ -n "${LOWBIT_CHECK_FAST:-}" ] && exit 0
pass "release bundle without a Swift toolchain (toolchain/test-bundle.sh)" toolchain/test-bundle.sh
pass "library docs and example (toolchain/check-library.sh)" toolchain/check-library.sh
pass "ASan+UBSan test suite (toolchain/sanitize.sh)" toolchain/sanitize.sh
pass "fuzz targets: build" toolchain/fuzz.sh build
pass "fuzz targets: ${LOWBIT_FUZZ_SECONDS:-30} s each" toolchain/fuzz.sh run all "${LOWBIT_FUZZ_SECONDS:-30}"
