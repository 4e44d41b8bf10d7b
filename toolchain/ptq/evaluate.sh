#!/usr/bin/env bash
# Post-training quantization accuracy table (issue #18): converts the real CIFAR-10 ResNets of
# ../shared/data at each width and scheme, calibrated on the 1,000 split images (NNNN < 0100 of each
# class, split.py), and evaluates top-1 on the other 9,000 with qinfer. Prints two markdown tables: top-1
# (float, then each width with its change from float), and each model's top-1 agreement with the float
# model and mean relative logit error against it (compare.py); the conversion times go to stderr.
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

# a model's qinfer --json output on the evaluation split
run() { "$build/qinfer" "$work/evaluation.csv" --model "$1" --json > "$2"; }

echo "load before: $(uptime | sed 's/.*load average/load average/')" >&2
header() {
    printf '| network | scheme | %s |' "$1"; for b in $widths; do printf ' %s-bit |' "$b"; done; echo
    printf '|---|---|---|'; for b in $widths; do printf -- '---|'; done; echo
}
accuracy="$work/accuracy.md"; fidelity="$work/fidelity.md"
header float > "$accuracy"; header metric > "$fidelity"
for net in $nets; do
    checkpoint="$(ls "$data"/cifar10-resnets/"$net"-*.th)"
    "$build/qconvert" "$checkpoint" --bits 32 -o "$work/$net-f32.lbm" > /dev/null
    run "$work/$net-f32.lbm" "$work/$net-f32.jsonl"
    float="$(tail -n 1 "$work/$net-f32.jsonl" | sed -n 's/.*"top1":\([0-9.]*\).*/\1/p')"
    for scheme in $schemes; do
        row="| $net | $scheme | $(printf '%.2f' "$float") |"
        close="| $net | $scheme | agreement, error |"
        times=""
        for b in $widths; do
            if [ "$scheme" != uniform ] && [ "$b" = 8 ]; then row="$row — |"; close="$close — |"; continue; fi
            model="$work/$net-$scheme-w$b.lbm"
            seconds="$("$build/qconvert" "$checkpoint" --bits "$b" --scheme "$scheme" \
                --calibrate "$work/calibration.csv" --calibration-count "$count" ${extra[@]+"${extra[@]}"} \
                -o "$model" --time | sed -n 's/^conversion time: \([0-9.]*\) s/\1/p')"
            run "$model" "$work/out.jsonl"
            read -r acc agree error < <("${PYTHON:-python3}" "$root/toolchain/ptq/compare.py" "$work/$net-f32.jsonl" "$work/out.jsonl")
            row="$row $(printf '%.2f (%+.2f)' "$acc" "$(echo "$acc - $float" | bc -l)") |"
            close="$close $agree %, $error |"
            times="$times w$b ${seconds}s"
        done
        echo "$row" >> "$accuracy"
        echo "$close" >> "$fidelity"
        echo "  $net $scheme conversion:$times" >&2
    done
done
echo "top-1 on the $(($(wc -l < "$work/evaluation.csv") - 1)) evaluation images (change from float):"
cat "$accuracy"
echo
echo "top-1 agreement with the float model, mean relative logit error ||y - y_float|| / ||y_float||:"
cat "$fidelity"
echo "load after: $(uptime | sed 's/.*load average/load average/')" >&2
