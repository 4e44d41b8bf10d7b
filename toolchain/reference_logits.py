#!/usr/bin/env python3
"""PyTorch fp32 reference for the CIFAR-10 ResNets in ../shared/data (akamaster/pytorch_resnet_cifar10).

For resnet20 and resnet56:
  * top-1 on all 10,000 images of cifar10-test/ (labels.csv; P6 PPM 32x32; pixel/255 then
    Normalize(mean=[0.485,0.456,0.406], std=[0.229,0.224,0.225])), checked against the table in
    ../shared/data/README.md (81.03 / 83.20);
  * Tests/Fixtures/reference/cifar10-<arch>-logits.json: the fp32 logits of the 100 images at rows
    0, 100, ..., 9900 of labels.csv (relative path, label, logits; each value is the repr of the float32
    as a Python float, so parsing it as a double and narrowing to Float gives the exact float32 back).
For all four checkpoints (resnet20/32/44/56):
  * Tests/Fixtures/reference/cifar10-resnets-tensors.json: values of a few tensors exactly as torch.load
    reads them, as float32 bit patterns (hex uint32) plus the decimal values: conv1.weight (first 16 of
    the flattened tensor, with their sum and the whole tensor's sum), layer3.2.bn2.running_var and
    linear.bias (all), and every key's shape.

    python toolchain/reference_logits.py --data ../shared/data      # from the repository root, ~2-3 min
"""
import argparse, json, os, struct, sys, time
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cifar_resnet import load_checkpoint  # noqa: E402
from netpbm import read_netpbm  # noqa: E402

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
CHECKPOINTS = {"resnet20": "resnet20-12fca82f.th", "resnet32": "resnet32-d509ac18.th",
               "resnet44": "resnet44-014dd654.th", "resnet56": "resnet56-4bfd9763.th"}
EXPECTED_TOP1 = {"resnet20": 81.03, "resnet56": 83.20}   # ../shared/data/README.md
LOGIT_ARCHS = ["resnet20", "resnet56"]
BATCH = 500


def read_ppm(path):
    return read_netpbm(path, b"P6")


def f32_hex(values):
    return [f"{struct.unpack('<I', struct.pack('<f', float(v)))[0]:08x}" for v in values]


def tensor_entry(t):
    t = t.detach().float().contiguous().reshape(-1)
    return {"count": t.numel(), "bits": f32_hex(t.tolist()), "values": [float(v) for v in t.tolist()]}


def checkpoint_tensors(path):
    raw = torch.load(path, map_location="cpu", weights_only=False)
    sd = raw["state_dict"]
    w = sd["module.conv1.weight"]
    assert w.dtype == torch.float32
    first = w.reshape(-1)[:16]
    return {
        "file": os.path.basename(path),
        "best_prec1": float(raw["best_prec1"]),
        "key_prefix": "module.",
        "key_count": len(sd),
        "shapes": {k: list(v.shape) for k, v in sd.items()},
        "conv1.weight": {"shape": list(w.shape), "first16": tensor_entry(first),
                         # sums in float64 of the float32 values (order-independent to ~1e-15)
                         "first16_sum": float(first.double().sum()),
                         "sum": float(w.double().sum()), "abs_sum": float(w.double().abs().sum())},
        "layer3.2.bn2.running_var": tensor_entry(sd["module.layer3.2.bn2.running_var"]),
        "linear.bias": tensor_entry(sd["module.linear.bias"]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="Tests/Fixtures/reference")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    nets = os.path.join(args.data, "cifar10-resnets")

    tensors = {"torch": torch.__version__, "source": "torch.load(map_location='cpu') of ../shared/data/cifar10-resnets",
               "bits": "float32 bit patterns as hex uint32 (IEEE 754 binary32)",
               "checkpoints": {arch: checkpoint_tensors(os.path.join(nets, f)) for arch, f in CHECKPOINTS.items()}}
    with open(os.path.join(args.out, "cifar10-resnets-tensors.json"), "w") as f:
        json.dump(tensors, f, indent=1)
        f.write("\n")

    start = time.time()
    lines = open(os.path.join(args.data, "cifar10-test", "labels.csv")).read().splitlines()
    assert lines[0] == "path,label"
    rows = [(p, int(l)) for p, l in (line.rsplit(",", 1) for line in lines[1:] if line)]
    images = np.stack([read_ppm(os.path.join(args.data, "cifar10-test", p)) for p, _ in rows])
    labels = np.array([l for _, l in rows])
    x = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0 - MEAN) / STD
    print(f"read {len(rows)} images in {time.time() - start:.1f} s")

    ok = True
    for arch in LOGIT_ARCHS:
        start = time.time()
        model, _ = load_checkpoint(os.path.join(nets, CHECKPOINTS[arch]))
        with torch.no_grad():
            logits = torch.cat([model(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])
        correct = int((logits.argmax(1).numpy() == labels).sum())
        top1 = 100.0 * correct / len(rows)
        match = round(top1, 2) == EXPECTED_TOP1[arch]
        ok &= match
        print(f"{arch}: fp32 top-1 {top1:.2f}% ({correct}/{len(rows)}) on cifar10-test, expected "
              f"{EXPECTED_TOP1[arch]:.2f}: {'OK' if match else 'MISMATCH'} ({time.time() - start:.1f} s)")
        picked = list(range(0, len(rows), 100))
        out = {"arch": arch, "checkpoint": CHECKPOINTS[arch], "torch": torch.__version__,
               "top1": round(top1, 2), "correct": correct, "test_images": len(rows),
               "preprocessing": {"scale": "pixel/255", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
               "rows": "labels.csv data rows 0, 100, ..., 9900 (0-based, header excluded)",
               "images": [{"row": i, "path": rows[i][0], "label": rows[i][1],
                           "logits": [float(v) for v in logits[i]]} for i in picked]}
        with open(os.path.join(args.out, f"cifar10-{arch}-logits.json"), "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
