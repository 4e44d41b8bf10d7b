#!/usr/bin/env python3
"""Compares a quantized model's `qinfer --json` output with the float model's on the same images.

usage: compare.py FLOAT.jsonl MODEL.jsonl
prints: top-1 (%, against the labels qinfer reports), top-1 agreement with float (%), and the mean
relative logit error ||y - y_float|| / ||y_float|| (plain Python: no numpy needed).
"""
import json
import math
import sys


def read(path):
    images, summary = {}, None
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            if "logits" in row:
                images[row["image"]] = row["logits"]
            elif "top1" in row:
                summary = row
    return images, summary


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: compare.py FLOAT.jsonl MODEL.jsonl")
    reference, _ = read(sys.argv[1])
    model, summary = read(sys.argv[2])
    agree, error = 0, 0.0
    for image, y in model.items():
        r = reference[image]
        agree += max(range(len(y)), key=y.__getitem__) == max(range(len(r)), key=r.__getitem__)
        error += math.dist(y, r) / math.hypot(*r)
    print(f"{summary['top1']:.2f} {100 * agree / len(model):.2f} {error / len(model):.4f}")


if __name__ == "__main__":
    main()
