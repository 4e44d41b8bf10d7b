#!/usr/bin/env bash
# The aarch64 build against the x86 build, end to end: models converted on x86 (this machine's release build) are
# classified by qinfer --json on x86 and under qemu-aarch64 (compare_logits.py compares):
#   cortex-a76 (ISA neondot: the NEON dotprod members) and cortex-a53 (ISA neon, no dotprod: the base-NEON float,
#     depthwise and shift-add members, scalar members for the families that need the dot product) vs x86 with its
#     own ISA (AVX-512 VNNI or AVX2): identical on integer-activation models, within 1e-5 relative
#     (max |a - x| / max |x| per image) on float ones; "steps" where the model quantizes activations computed by
#     float kernels (Any-Precision f32 at 2 and 8 bits: a rounding difference moves an activation across a step,
#     and x86's own scalar and SIMD members differ the same way, shown on an info line); top-1 equal everywhere;
#   cortex-a53 with QK_ISA=scalar (the scalar members only) vs x86 with QK_ISA=scalar: identical logits, every
#     case (the same C, -ffp-contract=off);
#   Any-Precision's 1- and 2-bit convs forced onto the bit-serial kernels (--kernel bit-serial): the same bounds,
#     and on each machine the logits of its table-lookup run.
# Then qconvert on aarch64 must write the x86 .lbm bytes for ResNet-20 at 4 bits (uncalibrated; calibrated on
# cortex-a53 with QK_ISA=scalar against x86's scalar members; how cortex-a76's calibrated file differs is
# reported), and qbench on aarch64 must read a fake big.LITTLE sysfs tree, pin to its cores and report the ISA
# qemu's CPU has (qemu timings are emulation, not performance, figures).
#
#   toolchain/aarch64/compare.sh [--quick]       --quick: the bundled model and ResNet-20 at 4 bits only
# Needs ../shared/data (CIFAR-10 ResNets and test images) and the aarch64 build (toolchain/aarch64/build.sh,
# run first when its binaries are missing). Work files: .build-aarch64/compare/.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
quick=false
[ "${1:-}" = --quick ] && quick=true
data="$root/../shared/data"
seeds="$root/Tests/Fixtures/seeds"
work="$root/.build-aarch64/compare"
[ -d "$data/cifar10-test" ] || { echo "compare.sh: $data/cifar10-test missing" >&2; exit 1; }
[ -x .build-aarch64/release/qinfer ] || toolchain/aarch64/build.sh
swift build -c release --product qconvert >/dev/null
swift build -c release --product qinfer >/dev/null
x86="$(swift build -c release --show-bin-path)"
arm() { "$root/toolchain/aarch64/run.sh" "$@"; }
rm -rf "$work"
mkdir -p "$work"
start=$(date +%s)

# 50 CIFAR-10 test images, 5 per class (every 200th of the class-sorted labels.csv), by absolute path.
awk -F, -v dir="$data/cifar10-test" 'NR > 1 && (NR - 2) % 200 == 0 { print dir "/" $1 "," $2 }' \
  "$data/cifar10-test/labels.csv" > "$work/cifar50.csv"
# A seed fixture's images (paths relative to Tests/Fixtures/seeds) and its normalisation as qconvert options.
fixture_images() { python3 -c 'import json, sys; [print(sys.argv[2] + "/" + i["path"]) for i in json.load(open(sys.argv[1]))["images"]]' "$1" "$seeds"; }
fixture_norm() { python3 -c 'import json, sys; i = json.load(open(sys.argv[1]))["input"]; print("--mean", ",".join(map(str, i["mean"])), "--std", ",".join(map(str, i["std"])))' "$1"; }

echo "== converting on x86"
resnet20="$data/cifar10-resnets/resnet20-12fca82f.th"
r20w4=(--bits 4 --calibrate "$data/cifar10-test/labels.csv")
"$x86/qconvert" "$resnet20" "${r20w4[@]}" -o "$work/resnet20-w4.lbm" | tail -1
if ! $quick; then
  "$x86/qconvert" "$resnet20" --bits 32 -o "$work/resnet20-w32.lbm" | tail -1
  anyprec="$seeds/anyprec/resnet20q"
  # shellcheck disable=SC2046  # the normalisation is four words
  "$x86/qconvert" "$anyprec.pth.tar" $(fixture_norm "$anyprec.json") --activations f32 -o "$work/anyprec.lbm" | tail -1
  # shellcheck disable=SC2046
  "$x86/qconvert" "$anyprec.pth.tar" $(fixture_norm "$anyprec.json") --activations u8 -o "$work/anyprec-u8.lbm" | tail -1
  equalbits="$seeds/equalbits/model0.5"
  # shellcheck disable=SC2046
  "$x86/qconvert" "$equalbits.th" $(fixture_norm "$equalbits.json") -o "$work/equalbits.lbm" | tail -1
  equalbits0="$seeds/equalbits/model0.0"
  # shellcheck disable=SC2046
  "$x86/qconvert" "$equalbits0.th" $(fixture_norm "$equalbits0.json") -o "$work/equalbits0.lbm" | tail -1
fi

# NAME MODE QINFER-ARGS...: x86 (its own ISA, then QK_ISA=scalar) and the emulated CPUs; MODE is cortex-a76's and
# cortex-a53's requirement against x86; both sides' scalar members must agree exactly; the comparison lines go to
# the summary.
failures=0
compare() { python3 toolchain/aarch64/compare_logits.py "$@" | tee -a "$work/summary.txt" || failures=$((failures + 1)); }
check() {
  local name="$1" mode="$2"; shift 2
  "$x86/qinfer" --json "$@" > "$work/$name.x86.jsonl"
  QK_ISA=scalar "$x86/qinfer" --json "$@" > "$work/$name.x86-scalar.jsonl"
  for cpu in cortex-a76 cortex-a53; do
    QEMU_CPU=$cpu arm qinfer --json "$@" > "$work/$name.$cpu.jsonl"
    compare "$name" "$mode" "$work/$name.x86.jsonl" "$work/$name.$cpu.jsonl"
  done
  QK_ISA=scalar QEMU_CPU=cortex-a53 arm qinfer --json "$@" > "$work/$name.a53-scalar.jsonl"
  compare "$name" exact "$work/$name.x86-scalar.jsonl" "$work/$name.a53-scalar.jsonl"
  [ "$mode" = exact ] || compare "$name" info "$work/$name.x86.jsonl" "$work/$name.x86-scalar.jsonl"
}
echo "== qinfer --json: x86 (own ISA, scalar) vs qemu cortex-a76 and cortex-a53"
check default-fmnist-w4-u8 exact models/fashion-mnist/samples
check resnet20-w4-u8-2threads exact "$work/cifar50.csv" --model "$work/resnet20-w4.lbm" --threads 2
if ! $quick; then
  check resnet20-w32 rel=1e-5 "$work/cifar50.csv" --model "$work/resnet20-w32.lbm"
  mapfile -t anyprec_images < <(fixture_images "$anyprec.json")
  # f32 activations: float kernels, DoReFa-quantized activations between the layers
  check anyprec-f32-1bit rel=1e-5 "${anyprec_images[@]}" --model "$work/anyprec.lbm" --bits 1
  check anyprec-f32-2bit steps "${anyprec_images[@]}" --model "$work/anyprec.lbm" --bits 2
  check anyprec-f32-8bit steps "${anyprec_images[@]}" --model "$work/anyprec.lbm" --bits 8
  # u8 activations (Any-Precision's default): the block convs run the integer kernels on exact DoReFa integers at
  # every width (8 bits as half-step int8); the stem conv, the shortcut convs and the fc stay float
  check anyprec-u8-1bit rel=1e-5 "${anyprec_images[@]}" --model "$work/anyprec-u8.lbm" --bits 1
  check anyprec-u8-2bit rel=1e-5 "${anyprec_images[@]}" --model "$work/anyprec-u8.lbm" --bits 2
  check anyprec-u8-8bit steps "${anyprec_images[@]}" --model "$work/anyprec-u8.lbm" --bits 8
  # the 1- and 2-bit convs forced onto the bit-serial kernels (bsgemm: neondot on cortex-a76, scalar on cortex-a53):
  # the same bounds, and each machine's logits identical to its own table-lookup run
  for bits in 1 2; do
    check "anyprec-u8-${bits}bit-bitserial" rel=1e-5 "${anyprec_images[@]}" --model "$work/anyprec-u8.lbm" --bits $bits --kernel bit-serial
    for run in x86 cortex-a76 cortex-a53; do
      compare "anyprec-u8-${bits}bit bit-serial vs lut" exact "$work/anyprec-u8-${bits}bit.$run.jsonl" "$work/anyprec-u8-${bits}bit-bitserial.$run.jsonl"
    done
  done
  mapfile -t equalbits_images < <(fixture_images "$equalbits.json")
  # binary kernels for the 16 block convs (exact integer sums), float stem, shortcuts and linear
  check equalbits-0.5 rel=1e-5 "${equalbits_images[@]}" --model "$work/equalbits.lbm"
  # model0.0 (binary weights, exact zeros where its sign activations binarize); its inputs avoid near-ties before
  # sign() (gen_equalbits.py), which made x86's scalar and SIMD members differ before (docs/DEPLOY.md)
  mapfile -t equalbits0_images < <(fixture_images "$equalbits0.json")
  check equalbits-0.0 rel=1e-5 "${equalbits0_images[@]}" --model "$work/equalbits0.lbm"
fi

echo "== qconvert on aarch64: ResNet-20 at 4 bits"
# Without calibration no float kernel runs: the bytes must equal x86's. With calibration the float network's
# activation ranges come from the ISA's float kernels: cortex-a53 with QK_ISA=scalar must equal x86 with
# QK_ISA=scalar; cortex-a76 (NEON) vs x86's own ISA is reported (lbm_diff.py), as is x86 scalar vs x86 SIMD.
# 32 calibration images keep the emulated conversions short.
same_lbm() {  # NAME X86.lbm AARCH64.lbm
  if cmp -s "$2" "$3"; then
    echo "ok    qconvert $1: identical bytes ($(stat -c %s "$2"))" | tee -a "$work/summary.txt"
  else
    echo "FAIL  qconvert $1: $(python3 toolchain/aarch64/lbm_diff.py "$2" "$3" | head -1)" | tee -a "$work/summary.txt"
    failures=$((failures + 1))
  fi
}
"$x86/qconvert" "$resnet20" --bits 4 -o "$work/r20-w4-nocal.x86.lbm" >/dev/null
arm qconvert "$resnet20" --bits 4 -o "$work/r20-w4-nocal.cortex-a76.lbm" >/dev/null
same_lbm "w4 uncalibrated, cortex-a76 vs x86" "$work/r20-w4-nocal.x86.lbm" "$work/r20-w4-nocal.cortex-a76.lbm"
calibrated=(--bits 4 --calibrate "$data/cifar10-test/labels.csv" --calibration-count 32)
"$x86/qconvert" "$resnet20" "${calibrated[@]}" -o "$work/r20-w4-cal.x86.lbm" >/dev/null
QK_ISA=scalar "$x86/qconvert" "$resnet20" "${calibrated[@]}" -o "$work/r20-w4-cal.x86-scalar.lbm" >/dev/null
QK_ISA=scalar QEMU_CPU=cortex-a53 arm qconvert "$resnet20" "${calibrated[@]}" -o "$work/r20-w4-cal.a53-scalar.lbm" >/dev/null
same_lbm "w4 calibrated, cortex-a53 scalar vs x86 scalar" "$work/r20-w4-cal.x86-scalar.lbm" "$work/r20-w4-cal.a53-scalar.lbm"
if ! $quick; then
  QEMU_CPU=cortex-a76 arm qconvert "$resnet20" "${calibrated[@]}" -o "$work/r20-w4-cal.cortex-a76.lbm" >/dev/null
  for pair in cortex-a76:x86 x86-scalar:x86; do
    echo "info  qconvert w4 calibrated, ${pair%%:*} vs ${pair##*:} (float kernels round differently):" | tee -a "$work/summary.txt"
    python3 toolchain/aarch64/lbm_diff.py "$work/r20-w4-cal.${pair##*:}.lbm" "$work/r20-w4-cal.${pair%%:*}.lbm" \
      | sed 's/^/        /' | tee -a "$work/summary.txt"
  done
fi

echo "== qbench on aarch64 with a fake big.LITTLE sysfs (cpu0 little, cpu1 big); qemu times are not figures"
sysfs="$work/sysfs"
for cpu in 0 1; do
  mkdir -p "$sysfs/devices/system/cpu/cpu$cpu"
  echo 1 > "$sysfs/devices/system/cpu/cpu$cpu/online"
done
echo 446 > "$sysfs/devices/system/cpu/cpu0/cpu_capacity"
echo 1024 > "$sysfs/devices/system/cpu/cpu1/cpu_capacity"
for cpu in cortex-a76:neondot cortex-a53:neon; do
  QEMU_CPU=${cpu%%:*} arm qbench --model "$work/resnet20-w4.lbm" --threads 1 --cores big,little --runs 3 --warmup 1 \
    --sysfs-root "$sysfs" --json "$work/qbench.${cpu%%:*}.json" > "$work/qbench.${cpu%%:*}.txt"
  python3 - "$work/qbench.${cpu%%:*}.json" "${cpu%%:*}" "${cpu##*:}" <<'PY' | tee -a "$work/summary.txt" || failures=$((failures + 1))
import json, sys
r = json.load(open(sys.argv[1]))
cores, pinned = r["cores"], {p["cores"]: p["cpus"] for p in r["points"]}
ok = (cores["source"] == "cpu_capacity" and cores["heterogeneous"] and cores["selections"] == {"big": [1], "little": [0]}
      and pinned == {"big": [1], "little": [0]} and r["machine"]["isa"] == sys.argv[3])
print(f"{'ok' if ok else 'FAIL':4}  qbench {sys.argv[2]}: ISA {r['machine']['isa']} (want {sys.argv[3]}), topology from "
      f"{cores['source']}, big {cores['selections'].get('big')} little {cores['selections'].get('little')}, pinned {pinned}")
sys.exit(0 if ok else 1)
PY
done

echo "== summary ($(( $(date +%s) - start )) s)"
cat "$work/summary.txt"
[ $failures -eq 0 ] || { echo "compare.sh: $failures check(s) failed" >&2; exit 1; }
echo "compare.sh: aarch64 agrees with x86"
