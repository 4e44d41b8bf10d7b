#!/usr/bin/env python3
"""Compares `qinfer --json` outputs of one case run on two machines or ISAs (toolchain/aarch64/compare.sh).

    compare_logits.py CASE MODE REFERENCE.jsonl OTHER.jsonl

MODE exact: every logit equal. MODE rel=X: per image, max |a - x| / max |x| at most X. MODE steps: no bound
on the logits (the model quantizes activations computed by float kernels, so a rounding difference between
two ISAs can move an activation across a quantization step; x86's own ISAs differ so too). MODE info: reports
only, never fails. Top-1 must agree in every mode but info. Prints one line; exits 1 on failure.
A file's label is its name's second-to-last dot field (NAME.LABEL.jsonl). Standard library only.
"""
import json
import sys


def images(path):
    """The per-image records (objects with logits) of a qinfer --json output, in order."""
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return [r for r in records if "logits" in r]


def top1(logits):
    return max(range(len(logits)), key=lambda i: (logits[i], -i))


def compare(reference, other):
    """(max relative difference, exactly equal, top-1 equal on every image)."""
    if [r["image"] for r in reference] != [r["image"] for r in other]:
        raise SystemExit("the runs classified different images")
    worst, exact, same_top1 = 0.0, True, True
    for want, got in zip(reference, other):
        x, a = want["logits"], got["logits"]
        if len(x) != len(a):
            raise SystemExit(f"{want['image']}: {len(a)} logits vs {len(x)}")
        scale = max(abs(v) for v in x) or 1.0
        worst = max(worst, max(abs(p - q) for p, q in zip(a, x)) / scale)
        exact = exact and a == x
        same_top1 = same_top1 and top1(a) == top1(x)
    return worst, exact, same_top1


def label(path):
    return path.rsplit(".", 2)[-2]


def main(argv):
    if len(argv) != 5:
        raise SystemExit(__doc__)
    case, mode, reference_path, other_path = argv[1:]
    reference, other = images(reference_path), images(other_path)
    if not reference:
        raise SystemExit(f"{reference_path}: no per-image results")
    worst, exact, same_top1 = compare(reference, other)
    if mode == "exact":
        ok, required = exact and same_top1, "identical"
    elif mode.startswith("rel="):
        tolerance = float(mode[4:])
        ok, required = worst <= tolerance and same_top1, f"<= {tolerance:g}, top-1 equal"
    elif mode == "steps":
        ok, required = same_top1, "top-1 equal (activation steps may move)"
    elif mode == "info":
        ok, required = True, "information"
    else:
        raise SystemExit(f"unknown mode {mode}")
    verdict = "info" if mode == "info" else "ok" if ok else "FAIL"
    found = "identical" if exact else f"max rel diff {worst:.2e}"
    print(f"{verdict:4}  {case:24} {label(other_path):>10} vs {label(reference_path):10} {len(reference):3} images  "
          f"{found:24} top-1 {'equal' if same_top1 else 'DIFFERS':7}  (required: {required})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
