#!/usr/bin/env bash
# Top-1 on real data for the float-activation seed methods (issue #16, Build 4): converts each checkpoint
# that gen_realweights.py made from the real pretrained CIFAR-10 ResNet-20 with `--activations f32` (the
# method's own float inference) and `--activations u8` (integer kernels, dynamic activation scales; and
# once more calibrated on 1,000 held-apart test images: NNNN < 0100 in each class folder), runs qinfer on
# the CIFAR-10 test set of ../shared/data and prints a markdown table (realweights_table.py: columns).
# Runs gen_realweights.py first for a method whose checkpoint is missing (needs torch: PYTHON_TORCH).
#
# usage: toolchain/seeds/evaluate_realweights.sh [METHOD ...]     (default: dgms s3 deepshift binaryconnect)
# env:   DATA (default ../shared/data from the repository root), BUILD (default .build/release),
#        MODELS (default models/realweights), PYTHON (default python3), PYTHON_TORCH (default
#        /work/venv/bin/python), THREADS (qinfer --threads, default 1)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
data="${DATA:-$root/../shared/data}"
build="${BUILD:-$root/.build/release}"
models="${MODELS:-$root/models/realweights}"
python="${PYTHON:-python3}"
methods=("$@")
[ ${#methods[@]} -gt 0 ] || methods=(dgms s3 deepshift binaryconnect)
[ -f "$data/cifar10-test/labels.csv" ] || { echo "evaluate_realweights.sh: no $data/cifar10-test/labels.csv" >&2; exit 1; }
for tool in qconvert qinfer; do
    [ -x "$build/$tool" ] || { echo "evaluate_realweights.sh: build $tool first (swift build -c release)" >&2; exit 1; }
done
for method in "${methods[@]}"; do
    if [ ! -f "$models/$method/resnet20.json" ]; then
        "${PYTHON_TORCH:-/work/venv/bin/python}" toolchain/seeds/gen_realweights.py --data "$data" --out "$models" "$method" >&2
    fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# labels.csv with absolute paths, and its split: calibration (NNNN < 0100 of each class), evaluation (the rest)
awk -F, -v dir="$(cd "$data/cifar10-test" && pwd)" -v out="$work" '
    NR == 1 { print > (out "/all.csv"); print > (out "/calibration.csv"); print > (out "/evaluation.csv"); next }
    { row = dir "/" $0; print row > (out "/all.csv"); n = $1; sub(/.*\//, "", n); sub(/\..*/, "", n)
      print row > (out "/" (n + 0 < 100 ? "calibration" : "evaluation") ".csv") }' "$data/cifar10-test/labels.csv"
wc -l "$work"/*.csv >&2

echo "load before: $(uptime | sed 's/.*load average/load average/')" >&2
"$python" toolchain/seeds/realweights_table.py --header
for method in "${methods[@]}"; do
    record="$models/$method/resnet20.json"
    checkpoint="$models/$method/$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["checkpoint"])' "$record")"
    read -r -a flags < <("$python" -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1]))["qconvert_flags"]))' "$record")
    for variant in f32 u8 u8cal; do
        case "$variant" in
            f32) extra=(--activations f32); images="$work/all.csv" ;;
            u8) extra=(--activations u8); images="$work/all.csv" ;;
            u8cal) extra=(--activations u8 --calibrate "$work/calibration.csv" --calibration-count 1000); images="$work/evaluation.csv" ;;
        esac
        echo "  $method $variant: qconvert $(basename "$checkpoint") ${flags[*]} ${extra[*]}" >&2
        "$build/qconvert" "$checkpoint" "${flags[@]}" "${extra[@]}" -o "$work/$method-$variant.lbm" > "$work/$method-$variant.txt"
        "$build/qinfer" "$images" --model "$work/$method-$variant.lbm" --threads "${THREADS:-1}" --json > "$work/$method-$variant.jsonl"
        echo "    $(tail -n 1 "$work/$method-$variant.jsonl")" >&2
    done
    "$python" toolchain/seeds/realweights_table.py "$record" "$work/$method-f32.jsonl" "$work/$method-u8.jsonl" \
        "$work/$method-u8cal.jsonl" "$work/all.csv"
done
echo "load after: $(uptime | sed 's/.*load average/load average/')" >&2
