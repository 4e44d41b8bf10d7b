#!/usr/bin/env bash
# The test suite under sanitizers, in build folders of its own (.build-asan, .build-tsan):
#   toolchain/sanitize.sh            AddressSanitizer on everything (Swift -sanitize=address, C
#                                    -fsanitize=address) + UndefinedBehaviorSanitizer on the C kernels
#                                    (-fsanitize=undefined). Swift on Linux has no -sanitize=undefined; the
#                                    debug build keeps Swift's own overflow, bounds and precondition traps.
#   toolchain/sanitize.sh --thread   ThreadSanitizer on the multi-session tests (see below)
#   extra arguments after the mode go to `swift test` (e.g. --filter HostileTests)
# Any sanitizer report fails the run (halt_on_error / exitcode), so "clean" means exit status 0.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=address
if [ "${1:-}" = "--thread" ]; then mode=thread; shift; fi

# Leak detection is off for the suite: XCTest, Foundation and the Swift runtime keep one-time caches that
# LeakSanitizer reports at exit. The fuzz targets (toolchain/fuzz.sh) run with leak detection on.
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:report_error_type=1"
case "$mode" in
address)
  export ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=0"
  exec swift test --scratch-path .build-asan --sanitize address -Xcc -fsanitize=undefined -Xcc -fno-sanitize=function "$@"
  ;;
thread)
  # The kernels' OpenMP runtime (libomp) is not instrumented, so TSan cannot see its barriers: the
  # default filter runs the tests where the threads are LowBit's own (one Model, many Sessions on many
  # Swift threads, each Session single-threaded) and the kernel tests, whose parallel regions join before
  # returning. toolchain/tsan.supp lists what is suppressed and why.
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/toolchain/tsan.supp"
  if [ $# -eq 0 ]; then set -- --filter 'ConcurrentSessionTests'; fi
  exec swift test --scratch-path .build-tsan --sanitize thread "$@"
  ;;
esac
