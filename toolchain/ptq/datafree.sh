#!/usr/bin/env bash
# Uncalibrated conversions (issue #20): dynamic ranges against data-free ranges (BatchNorm statistics, at
# each --range-sigmas) with and without data-free bias correction, and the calibrated conversion, for the
# real CIFAR-10 ResNets of ../shared/data. Prints one line per conversion: network, bits, variant, top-1
# on IMAGES (a labels.csv), top-1 agreement with the float model and mean relative logit error
# (compare.py). Choose the width on the split's calibration images (split.py), report on the test set.
#
# usage: toolchain/ptq/datafree.sh [-n "resnet20"] [-b "8 4"] [-k "2 3 4 5 6"] [-c CALIBRATION.csv] IMAGES
# env:   DATA (default ../shared/data from the repository root), BUILD (default .build/release), PYTHON
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
data="${DATA:-$root/../shared/data}"
build="${BUILD:-$root/.build/release}"
nets="resnet20"; widths="8 4"; sigmas="2 3 4 5 6"; calibration=""
while getopts "n:b:k:c:" flag; do
    case "$flag" in
        n) nets="$OPTARG" ;; b) widths="$OPTARG" ;; k) sigmas="$OPTARG" ;; c) calibration="$OPTARG" ;;
        *) echo "usage: datafree.sh [-n NETS] [-b BITS] [-k SIGMAS] [-c CALIBRATION.csv] IMAGES" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || { echo "datafree.sh: give one IMAGES labels.csv" >&2; exit 2; }
images="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# a conversion's top-1, agreement and error on IMAGES
measure() {
    local label="$1"; shift
    "$build/qconvert" "$checkpoint" -o "$work/m.lbm" "$@" > /dev/null
    "$build/qinfer" "$images" --model "$work/m.lbm" --json > "$work/m.jsonl"
    echo "$net w$b $label: $("${PYTHON:-python3}" "$root/toolchain/ptq/compare.py" "$work/float.jsonl" "$work/m.jsonl")"
}
for net in $nets; do
    checkpoint="$(ls "$data"/cifar10-resnets/"$net"-*.th)"
    "$build/qconvert" "$checkpoint" --bits 32 -o "$work/float.lbm" > /dev/null
    "$build/qinfer" "$images" --model "$work/float.lbm" --json > "$work/float.jsonl"
    echo "$net float: $(tail -n 1 "$work/float.jsonl" | sed -n 's/.*"top1":\([0-9.]*\).*/\1/p')"
    for b in $widths; do
        measure "dynamic" --bits "$b" --activation-ranges dynamic --no-data-free-bias-correction
        measure "dynamic+bc" --bits "$b" --activation-ranges dynamic
        for k in $sigmas; do
            measure "data-free k=$k" --bits "$b" --activation-ranges data-free --range-sigmas "$k" --no-data-free-bias-correction
            measure "data-free k=$k +bc" --bits "$b" --activation-ranges data-free --range-sigmas "$k"
        done
        if [ -n "$calibration" ]; then
            measure "calibrated" --bits "$b" --calibrate "$calibration" --calibration-count 1000
            measure "calibrated round" --bits "$b" --calibrate "$calibration" --calibration-count 1000 --ptq round
        fi
    done
done
