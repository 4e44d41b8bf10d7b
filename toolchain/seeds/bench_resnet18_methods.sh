#!/usr/bin/env bash
# Issue #16 at ImageNet size: DGMS, S3 and DeepShift on a full torchvision ResNet-18 (224x224, 1000 classes),
# default conversion (integer kernels, u8 activations) against `--activations f32` (the method's float
# inference), one thread. Generates the checkpoints with gen_bench_resnet18.py where missing (needs torch:
# PYTHON_TORCH), converts each both ways with no other flags, checks both models against the method's
# PyTorch logits on the generator's reference images (qinfer; max |logit diff| / max |logit|, top-1), then
# runs `qbench --threads 1` on each pair ROUNDS times (the pair's order alternating per round, so that a
# load change on a shared machine hits both paths) and prints one markdown table per round.
#
# usage: toolchain/seeds/bench_resnet18_methods.sh [METHOD ...]       (default: dgms s3 deepshift)
# env:   OUT (default .build-bench/resnet18-methods), BUILD (default .build/release), RUNS (default 50),
#        WARMUP (default 5), ROUNDS (default 2), PYTHON (default python3), PYTHON_TORCH (default
#        /work/venv/bin/python)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
out="${OUT:-$root/.build-bench/resnet18-methods}"
build="${BUILD:-$root/.build/release}"
runs="${RUNS:-50}" warmup="${WARMUP:-5}" rounds="${ROUNDS:-2}"
python="${PYTHON:-python3}"
export OMP_NUM_THREADS=1
methods=("$@")
[ ${#methods[@]} -gt 0 ] || methods=(dgms s3 deepshift)
for tool in qconvert qinfer qbench; do
    [ -x "$build/$tool" ] || { echo "bench_resnet18_methods.sh: build $tool first (swift build -c release)" >&2; exit 1; }
done

for method in "${methods[@]}"; do
    folder="$out/$method"
    if [ ! -f "$folder/resnet18.json" ]; then
        "${PYTHON_TORCH:-/work/venv/bin/python}" toolchain/seeds/gen_bench_resnet18.py --out "$out" "$method" >&2
    fi
    checkpoint="$folder/$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["checkpoint"])' "$folder/resnet18.json")"
    "$build/qconvert" "$checkpoint" -o "$folder/default.lbm" > "$folder/default.txt"
    "$build/qconvert" "$checkpoint" --activations f32 -o "$folder/f32.lbm" > "$folder/f32.txt"
done

echo "### Check against PyTorch (reference images of gen_bench_resnet18.py)"
echo
echo "| method | path | max \|logit diff\| / max \|logit\| | top-1 agrees |"
echo "|---|---|---|---|"
for method in "${methods[@]}"; do
    folder="$out/$method"
    read -r -a images < <("$python" -c 'import json, os, sys
r = json.load(open(sys.argv[1]))
print(" ".join(os.path.normpath(os.path.join(os.path.dirname(sys.argv[1]), i["path"])) for i in r["images"]))' "$folder/resnet18.json")
    for variant in default f32; do
        "$build/qinfer" "${images[@]}" --model "$folder/$variant.lbm" --json > "$folder/$variant.jsonl"
        "$python" - "$folder/resnet18.json" "$folder/$variant.jsonl" "$method" "$variant" <<'EOF'
import json, sys
reference = json.load(open(sys.argv[1]))["images"]
outputs = [o for o in map(json.loads, filter(str.strip, open(sys.argv[2]))) if "logits" in o]
assert len(outputs) == len(reference), f"{sys.argv[2]}: {len(outputs)} results for {len(reference)} images"
errors, agree = [], 0
for image, result in zip(reference, outputs):
    a, b = image["logits"], result["logits"]
    errors.append(max(abs(x - y) for x, y in zip(a, b)) / max(abs(x) for x in a))
    agree += a.index(max(a)) == b.index(max(b))
print(f"| {sys.argv[3]} | {sys.argv[4]} | {', '.join(f'{e:.2g}' for e in errors)} | {agree} of {len(reference)} |")
EOF
    done
done

bench() {   # bench MODEL -> "median min" in ms
    "$build/qbench" --model "$1" --threads 1 --runs "$runs" --warmup "$warmup" --json - |
        "$python" -c 'import json, sys; t = json.load(sys.stdin)["points"][0]["latencyMs"]; print(t["median"], t["min"])'
}

echo
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), family $(grep -m1 'cpu family' /proc/cpuinfo | sed 's/.*: //'), model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | sed 's/.*: //'); qbench --threads 1 --runs $runs --warmup $warmup, OMP_NUM_THREADS=1"
for round in $(seq 1 "$rounds"); do
    order=(default f32)
    [ $((round % 2)) -eq 1 ] || order=(f32 default)
    echo
    echo "### Round $round (per method: ${order[*]}); load before: $(uptime | sed 's/.*load average: //')"
    echo
    echo "| method | default median / min ms | f32 median / min ms | f32 / default (median) | f32 / default (min) |"
    echo "|---|---|---|---|---|"
    for method in "${methods[@]}"; do
        declare -A time=()
        for variant in "${order[@]}"; do time[$variant]="$(bench "$out/$method/$variant.lbm")"; done
        read -r dmed dmin <<< "${time[default]}"
        read -r fmed fmin <<< "${time[f32]}"
        "$python" -c 'import sys; dmed, dmin, fmed, fmin = map(float, sys.argv[2:])
print(f"| {sys.argv[1]} | {dmed:.2f} / {dmin:.2f} | {fmed:.2f} / {fmin:.2f} | {fmed / dmed:.2f}x | {fmin / dmin:.2f}x |")' \
            "$method" "$dmed" "$dmin" "$fmed" "$fmin"
        unset time
    done
    echo
    echo "load after: $(uptime | sed 's/.*load average: //')"
done
