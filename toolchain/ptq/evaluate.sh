#!/usr/bin/env bash
# Post-training quantization accuracy table (issue #18): converts the real CIFAR-10 ResNets of
# ../shared/data at each width and scheme, calibrated on the 1,000 split images (NNNN < 0100 of each
# class, split.py), and evaluates top-1 on the other 9,000 with qinfer. Prints a markdown table: float
# top-1, then the change at each width, and the conversion time of each model.
#
# usage: toolchain/ptq/evaluate.sh [-n "resnet20 resnet56"] [-b "8 4 3 2"] [-s "uniform codebook"]
#                                  [-c COUNT] [-- extra qconvert flags, e.g. --ptq round]
# env:   DATA (default ../shared/data from the repository root), BUILD (default .build/release), PYTHON
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
data="${DATA:-$root/../shared/data}"
build="${BUILD:-$root/.build/release}"
nets="resnet20 resnet56"; widths="8 4 3 2"; schemes="uniform codebook"; count=1000
while [ $# -gt 0 ]; do
    case "$1" in
        -n) nets="$2"; shift 2 ;;
        -b) widths="$2"; shift 2 ;;
        -s) schemes="$2"; shift 2 ;;
        -c) count="$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "evaluate.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
extra=("$@")
[ -d "$data/cifar10-test" ] || { echo "evaluate.sh: no $data/cifar10-test" >&2; exit 1; }
for tool in qconvert qinfer; do
    [ -x "$build/$tool" ] || { echo "evaluate.sh: build $tool first (swift build -c release)" >&2; exit 1; }
done
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"${PYTHON:-python3}" "$root/toolchain/ptq/split.py" "$data/cifar10-test" "$work" >&2

# top-1 of a model on the evaluation split
top1() {
    "$build/qinfer" "$work/evaluation.csv" --model "$1" --json | tail -n 1 |
        sed -n 's/.*"top1":\([0-9.]*\).*/\1/p'
}

echo "load before: $(uptime | sed 's/.*load average/load average/')" >&2
printf '| network | scheme | float |'; for b in $widths; do printf ' %s-bit |' "$b"; done; echo
printf '|---|---|---|'; for b in $widths; do printf -- '---|'; done; echo
for net in $nets; do
    checkpoint="$(ls "$data"/cifar10-resnets/"$net"-*.th)"
    "$build/qconvert" "$checkpoint" --bits 32 -o "$work/$net-f32.lbm" > /dev/null
    float="$(top1 "$work/$net-f32.lbm")"
    for scheme in $schemes; do
        row="| $net | $scheme | $(printf '%.2f' "$float") |"
        times=""
        for b in $widths; do
            if [ "$scheme" != uniform ] && [ "$b" = 8 ]; then row="$row — |"; continue; fi
            model="$work/$net-$scheme-w$b.lbm"
            seconds="$("$build/qconvert" "$checkpoint" --bits "$b" --scheme "$scheme" \
                --calibrate "$work/calibration.csv" --calibration-count "$count" ${extra[@]+"${extra[@]}"} \
                -o "$model" --time | sed -n 's/^conversion time: \([0-9.]*\) s/\1/p')"
            acc="$(top1 "$model")"
            row="$row $(printf '%.2f (%+.2f)' "$acc" "$(echo "$acc - $float" | bc -l)") |"
            times="$times w$b ${seconds}s"
        done
        echo "$row"
        echo "  $net $scheme conversion:$times" >&2
    done
done
echo "load after: $(uptime | sed 's/.*load average/load average/')" >&2
