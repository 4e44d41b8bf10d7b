#!/usr/bin/env python3
"""Prints one markdown row of evaluate_realweights.sh's table from qinfer's --json output (standard library
only). For the method's checkpoint record (gen_realweights.py's <method>/resnet20.json + .top1.txt):

  PyTorch      the method's own float32 inference in PyTorch, top-1 on all 10,000 test images
  f32          qinfer on the `--activations f32` model, all 10,000; its per-image agreement with PyTorch's
               class and the largest |logit - PyTorch logit| / max |PyTorch logit| over the record's
               reference images
  u8           qinfer on the default-style `--activations u8` model (dynamic activation scales), all 10,000,
               and its per-image agreement with the f32 model's class
  u8 cal.      the u8 model calibrated on the 1,000 held-apart images (NNNN < 0100 per class), top-1 on the
               other 9,000, beside the f32 model's top-1 on the same 9,000

usage: realweights_table.py RECORD.json F32.jsonl U8.jsonl U8CAL.jsonl LABELS.csv
       realweights_table.py --header
"""
import json
import os
import sys

HEADER = ("| method | PyTorch top-1 (10,000) | `--activations f32` top-1 (10,000) | f32 = PyTorch class | "
          "f32 logits vs PyTorch (max rel.) | `--activations u8` top-1 (10,000), change | u8 = f32 class | "
          "f32 top-1 (9,000) | u8 calibrated top-1 (9,000), change |\n|---|---|---|---|---|---|---|---|---|")


def key(path: str) -> str:
    """class/NNNN.ppm: the part of an image path both tools share."""
    return "/".join(path.replace("\\", "/").split("/")[-2:])


def predictions(jsonl: str) -> dict:
    """image key -> (argmax of the logits, logits) for every per-image line of qinfer --json."""
    out = {}
    with open(jsonl) as f:
        for line in f:
            record = json.loads(line)
            if "logits" in record:
                logits = record["logits"]
                out[key(record["image"])] = (max(range(len(logits)), key=logits.__getitem__), logits)
    return out


def top1(preds: dict, labels: dict, keys) -> float:
    keys = list(keys)
    return 100.0 * sum(preds[k][0] == labels[k] for k in keys) / len(keys)


def main():
    if sys.argv[1:] == ["--header"]:
        print(HEADER)
        return
    if len(sys.argv) != 6:
        sys.exit(__doc__.split("\n\n")[-1])
    record_path, f32_path, u8_path, cal_path, labels_path = sys.argv[1:]
    record = json.load(open(record_path))
    with open(labels_path) as f:
        rows = [line.strip().rsplit(",", 1) for line in f if line.strip() and not line.startswith("path,")]
    labels = {key(p): int(l) for p, l in rows}
    order = [key(p) for p, _ in rows]
    pytorch_classes = [int(v) for v in open(os.path.splitext(record_path)[0] + ".top1.txt").read().split()]
    assert len(pytorch_classes) == len(order), "the PyTorch classes and labels.csv differ in length"
    f32, u8, cal = predictions(f32_path), predictions(u8_path), predictions(cal_path)
    for name, preds in (("f32", f32), ("u8", u8)):
        missing = set(order) - set(preds)
        assert not missing, f"{name}: {len(missing)} images without a result"
    agree = 100.0 * sum(f32[k][0] == c for k, c in zip(order, pytorch_classes)) / len(order)
    u8_agree = 100.0 * sum(f32[k][0] == u8[k][0] for k in order) / len(order)
    worst = 0.0
    for image in record["images"]:
        ref, got = image["logits"], f32[key(image["path"])][1]
        scale = max(abs(v) for v in ref)
        worst = max(worst, max(abs(a - b) for a, b in zip(got, ref)) / scale)
    all_f32, all_u8 = top1(f32, labels, order), top1(u8, labels, order)
    held = [k for k in order if k in cal]
    f32_held, cal_held = top1(f32, labels, held), top1(cal, labels, held)
    print(f"| {record['method']} | {record['top1_pytorch']:.2f} | {all_f32:.2f} | {agree:.2f} % | {worst:.1e} | "
          f"{all_u8:.2f} ({all_u8 - all_f32:+.2f}) | {u8_agree:.2f} % | {f32_held:.2f} | {cal_held:.2f} ({cal_held - f32_held:+.2f}) |")


if __name__ == "__main__":
    main()
