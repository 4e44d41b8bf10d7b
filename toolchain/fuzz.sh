#!/usr/bin/env bash
# libFuzzer targets for LowBit's readers of untrusted input (sources in Fuzz/, corpora in Fuzz/corpus/).
#
#   toolchain/fuzz.sh build                 build every target into .build-fuzz/ (swiftc -sanitize=fuzzer,address)
#   toolchain/fuzz.sh run TARGET [SECONDS]  fuzz one target (default 600 s); TARGET=all runs each in turn
#   toolchain/fuzz.sh list                  the target names
#
# Targets: checkpoint (unpickler: zip + legacy torch.save, plain pickles), safetensors, lbm (.lbm header,
# tensors, graph), netpbm (PPM/PGM), cli (qconvert/qinfer argument parsing and validation), onnx (the ONNX
# reader and the ONNX graph source).
# Each run starts from the committed seed corpus Fuzz/corpus/TARGET plus the test fixtures, writes new
# inputs to .build-fuzz/corpus/TARGET (not committed), and stops at the first crash, hang (-timeout),
# leak or sanitizer report. A crasher is copied to Fuzz/crashers/TARGET/ and the script exits non-zero:
# fix the bug and commit the file: Tests/QCheckpointTests/FuzzRegressionTests.swift (checkpoint,
# safetensors), Tests/QFormatTests/FuzzRegressionTests.swift (lbm) and Tests/QONNXTests/ONNXFuzzRegressionTests.swift
# (onnx) replay every file in Fuzz/corpus and
# Fuzz/crashers in the normal suite; a netpbm or cli crasher gets a test case of its own in ImageTests or
# CLITests. The last line per target reports total execs and execs/s.
# Environment: FUZZ_JOBS (parallel libFuzzer jobs, default 1), FUZZ_RSS_MB (default 2048).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=$root/.build-fuzz
swiftc=${SWIFTC:-swiftc}
targets=(checkpoint safetensors lbm netpbm cli onnx)
flags=(-O -sanitize=fuzzer,address -parse-as-library -g -enable-testing)
# The module maps of the system libraries the readers call (zlib for QCheckpoint, libxxhash for QFormat).
syslibs=(-I "$root/Sources/CZlib" -I "$root/Sources/CXXHash")

# One Swift library module compiled with coverage instrumentation: module NAME from every Swift file
# under Sources/NAME (subfolders too, as SwiftPM takes them: QGraph/Ops).
build_module() {
  local name=$1; shift
  local sources=()
  while IFS= read -r f; do sources+=("$f"); done < <(find "$root/Sources/$name" -name '*.swift' | sort)
  "$swiftc" "${flags[@]}" -module-name "$name" -emit-module -emit-module-path "$out/mods/$name.swiftmodule" \
    -I "$out/mods" "${syslibs[@]}" -wmo -c "${sources[@]}" -o "$out/mods/$name.o" "$@"
}

build() {  # the reader targets (all but cli and onnx)
  mkdir -p "$out/mods" "$out/bin"
  build_module QFormat
  build_module QCheckpoint
  build_module QGraph
  local link=("${flags[@]}" -I "$out/mods" "${syslibs[@]}")
  "$swiftc" "${link[@]}" Fuzz/FuzzCheckpoint.swift "$out/mods/QCheckpoint.o" -lz -o "$out/bin/checkpoint"
  "$swiftc" "${link[@]}" Fuzz/FuzzSafetensors.swift "$out/mods/QCheckpoint.o" -lz -o "$out/bin/safetensors"
  "$swiftc" "${link[@]}" Fuzz/FuzzLBM.swift "$out/mods/QGraph.o" "$out/mods/QFormat.o" -lxxhash -o "$out/bin/lbm"
  # The image decoders (PPM/PGM in Swift; JPEG and PNG through QImageCodecs' C over libjpeg/libpng),
  # compiled straight into the target with their Image type; the C part instrumented the same way.
  mkdir -p "$out/qic"
  for c in "$root"/Sources/QImageCodecs/*.c; do
    clang -O1 -g -fsanitize=fuzzer-no-link,address -I "$root/Sources/QImageCodecs/include" -c "$c" \
      -o "$out/qic/$(basename "$c" .c).o"
  done
  printf 'module QImageCodecs {\n    header "%s"\n    export *\n}\n' "$root/Sources/QImageCodecs/include/qic_codecs.h" \
    > "$out/qic/module.modulemap"
  "$swiftc" "${link[@]}" -I "$out/qic" -module-name NetPBMFuzz Fuzz/FuzzNetPBM.swift Sources/QRuntime/NetPBM.swift \
    Sources/QRuntime/Image.swift Sources/QRuntime/ImageCodecs.swift "$out"/qic/*.o -ljpeg -lpng -o "$out/bin/netpbm"
} 2> >(grep -v "ld.gold: warning: Cannot export local symbol" >&2)

# qconvert and qinfer need the whole package (QKernels' C, QRuntime, QConvert, ArgumentParser): SwiftPM builds
# them with ASan and coverage instrumentation (debug, so -enable-testing lets the harness reach the
# command types; SwiftPM names the executables' entry points qconvert_main/qinfer_main, so libFuzzer's
# main links beside them), and the harness links their objects. The onnx target links the same build's
# library objects (QONNX, SwiftProtobuf, QConvert and what they use), without the executables.
build_cli() {
  local spm=$out/spm
  swift build --scratch-path "$spm" --sanitize address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp --product qconvert >/dev/null
  swift build --scratch-path "$spm" --sanitize address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp --product qinfer >/dev/null
  local debug objects=()
  debug=$(swift build --scratch-path "$spm" --show-bin-path)
  for m in QKernels QImageCodecs QCheckpoint QFormat QGraph QRuntime QONNX SwiftProtobuf QConvert; do
    while IFS= read -r o; do objects+=("$o"); done < <(find "$debug/$m.build" -name '*.o')
  done
  local link=("${flags[@]}" -I "$debug/Modules" "${syslibs[@]}" -lz -lxxhash
    -Xcc -fmodule-map-file="$debug/QKernels.build/module.modulemap" -I Sources/QKernels/include
    -Xcc -fmodule-map-file="$debug/QImageCodecs.build/module.modulemap" -I Sources/QImageCodecs/include
    -ljpeg -lpng -L /usr/lib/llvm-14/lib -lomp5 -Xlinker -rpath -Xlinker /usr/lib/llvm-14/lib)
  "$swiftc" "${link[@]}" Fuzz/FuzzONNX.swift "${objects[@]}" -o "$out/bin/onnx"
  for m in ArgumentParser ArgumentParserToolInfo qconvert qinfer; do
    while IFS= read -r o; do objects+=("$o"); done < <(find "$debug/$m.build" -name '*.o')
  done
  "$swiftc" "${link[@]}" Fuzz/FuzzCLI.swift "${objects[@]}" -o "$out/bin/cli"
}

# Seeds beyond Fuzz/corpus/TARGET: the fixtures the tests already use.
seed_dirs() {
  case $1 in
  checkpoint) echo Fuzz/corpus/checkpoint Tests/QCheckpointTests/Fixtures ;;
  safetensors) echo Fuzz/corpus/safetensors ;;
  lbm) echo Fuzz/corpus/lbm ;;
  netpbm) echo Fuzz/corpus/netpbm Tests/QRuntimeTests/Images ;;
  cli) echo Fuzz/corpus/cli ;;
  onnx) echo Fuzz/corpus/onnx ;;
  esac
}

run() {
  local target=$1 seconds=$2
  [ -x "$out/bin/$target" ] || { echo "fuzz.sh: $target is not built (toolchain/fuzz.sh build)" >&2; exit 2; }
  local corpus=$out/corpus/$target artifacts=$out/artifacts/$target
  mkdir -p "$corpus" "$artifacts"
  local dict=() seeds
  [ -f "Fuzz/dict/$target.dict" ] && dict=(-dict="$root/Fuzz/dict/$target.dict")
  read -r -a seeds <<<"$(seed_dirs "$target")"
  local existing=()
  for d in "${seeds[@]}"; do [ -d "$d" ] && existing+=("$root/$d"); done
  # Parallel jobs (FUZZ_JOBS > 1) write fuzz-N.log into the current folder: keep them in .build-fuzz.
  local parallel=()
  [ "${FUZZ_JOBS:-1}" -gt 1 ] && parallel=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
  echo "== fuzz $target for ${seconds}s"
  local log=$out/$target.log status=0
  (cd "$out" && ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:${ASAN_OPTIONS:-}" \
    "$out/bin/$target" "$corpus" "${existing[@]}" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
      -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -malloc_limit_mb="${FUZZ_RSS_MB:-2048}" -max_len=65536 \
      "${parallel[@]}" -print_final_stats=1 \
      -artifact_prefix="$artifacts/" >"$log" 2>&1) || status=$?
  local execs rate
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  rate=$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')
  echo "$target: ${execs:-?} execs, ${rate:-?} execs/s, corpus $(ls "$corpus" | wc -l) files"
  if [ "$status" -ne 0 ] || ls "$artifacts" | grep -q .; then
    mkdir -p "Fuzz/crashers/$target"
    cp "$artifacts"/* "Fuzz/crashers/$target/" 2>/dev/null || true
    grep -E "ERROR|SUMMARY|Fatal error|panic" "$log" | head -5 >&2
    echo "fuzz.sh: $target FAILED (log $log; inputs copied to Fuzz/crashers/$target/)" >&2
    return 1
  fi
}

case ${1:-} in
build) build; build_cli 2> >(grep -v "ld.gold: warning: Cannot export local symbol" >&2) ;;
build-readers) build ;;  # every target but cli (no SwiftPM build)
list) printf '%s\n' "${targets[@]}" ;;
run)
  target=${2:?target name or all}; seconds=${3:-600}
  if [ "$target" = all ]; then
    failed=0
    for t in "${targets[@]}"; do run "$t" "$seconds" || failed=1; done
    exit $failed
  fi
  run "$target" "$seconds"
  ;;
*) sed -n '2,16p' "$0"; exit 2 ;;
esac
