#!/usr/bin/env python3
"""Post-training quantization of torchvision ResNet-18 with seeded random weights (issue #18): no ImageNet
labels exist here, so each quantized model is measured by its output error against the float model on
the same images: mean ||y_q - y_f|| / ||y_f|| over the evaluation images and top-1 agreement with float.

The network: `random_resnet18(seed=18)` (the network Benchmarks/peers/run_peers.py's former
random_resnet(18, seed=18) built) with its BatchNorm statistics re-measured on the calibration images (random statistics alone give nearly the same class for every
input). Images: the CIFAR-10 test split of split.py (../shared/data/cifar10-test), resized by qconvert's
ImageNet preprocessing (shorter side 256, centre crop 224). Everything is written to a temp folder.

usage: resnet18.py [--bits 8,4,3,2] [--schemes uniform,codebook] [--ptq gptq,round]
                   [--calibration-count 256] [--evaluation-count 500]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def read_ppm(path):
    data = Path(path).read_bytes()
    fields, at = [], 0
    while len(fields) < 4:  # magic, width, height, maxval; comments skipped
        while data[at:at + 1].isspace():
            at += 1
        if data[at:at + 1] == b"#":
            at = data.index(b"\n", at)
            continue
        end = at
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[at:end])
        at = end
    assert fields[0] == b"P6" and fields[3] == b"255", path
    width, height = int(fields[1]), int(fields[2])
    raster = data[at + 1:at + 1 + width * height * 3]  # one whitespace byte after maxval: the raster may start with a space byte
    return np.frombuffer(raster, dtype=np.uint8).reshape(height, width, 3)


def preprocess(path):
    """Approximately qconvert's preprocessing (bilinear to 256, centre crop 224, normalise): for the
    BatchNorm statistics only."""
    x = torch.from_numpy(read_ppm(path).astype(np.float32) / 255).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False)[:, :, 16:240, 16:240]
    return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


def random_resnet18(seed):
    """torchvision's ResNet-18 layout (toolchain/seeds/resnet_layouts.py) with PyTorch's default initialisation
    drawn after torch.manual_seed(seed) in the order conv1, then per block its downsample conv (where it has
    one), conv1, conv2, then fc; then each BatchNorm's weight, bias, running mean and variance uniform in
    [0.5, 1], [-0.1, 0.1], [-0.1, 0.1], [0.5, 1.5]. (The draws of the random_resnet this page's tables were
    first measured with, which built its modules in that order.)"""
    sys.path.insert(0, str(ROOT / "toolchain" / "seeds"))
    from resnet_layouts import BasicBlock, ResNet
    model = ResNet(BasicBlock, [2, 2, 2, 2])
    torch.manual_seed(seed)
    with torch.no_grad():
        model.conv1.reset_parameters()
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
            for block in stage:
                if hasattr(block, "downsample"):
                    block.downsample[0].reset_parameters()
                block.conv1.reset_parameters()
                block.conv2.reset_parameters()
        model.fc.reset_parameters()
        # the same stream on (run_peers.py's random_weights seeds afresh, so it would draw other values)
        ranges = {"weight": (0.5, 1.0), "bias": (-0.1, 0.1), "running_mean": (-0.1, 0.1), "running_var": (0.5, 1.5)}
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                for name, (low, high) in ranges.items():
                    getattr(m, name).uniform_(low, high)
    return model.eval()


def logits(build, model, csv):
    out = subprocess.run([str(build / "qinfer"), str(csv), "--model", str(model), "--json"],
                         check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    return np.array([r["logits"] for r in rows if "logits" in r], dtype=np.float64)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bits", default="8,4,3,2")
    ap.add_argument("--schemes", default="uniform,codebook")
    ap.add_argument("--ptq", default="gptq,round")
    ap.add_argument("--calibration-count", type=int, default=256)
    ap.add_argument("--evaluation-count", type=int, default=500)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--build", type=Path, default=ROOT / ".build" / "release")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lowbit-resnet18-"))
    subprocess.run([sys.executable, str(ROOT / "toolchain" / "ptq" / "split.py"), str(args.data / "cifar10-test"),
                    str(work)], check=True, stdout=subprocess.DEVNULL)
    rows = (work / "calibration.csv").read_text().splitlines()[1:]
    calibration = [rows[i * len(rows) // args.calibration_count] for i in range(args.calibration_count)]
    (work / "calibration-used.csv").write_text("path,label\n" + "\n".join(calibration) + "\n")
    rows = (work / "evaluation.csv").read_text().splitlines()[1:]
    evaluation = [rows[i * len(rows) // args.evaluation_count] for i in range(args.evaluation_count)]
    (work / "evaluation-used.csv").write_text("path,label\n" + "\n".join(evaluation) + "\n")

    model = random_resnet18(seed=18)
    batch = torch.cat([preprocess(line.split(",")[0]) for line in calibration])
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batch
    with torch.no_grad():
        model.train()(batch)
    model.eval()
    checkpoint = work / "resnet18-random.pth"
    torch.save(model.state_dict(), checkpoint)

    def convert(out, *flags):
        start = time.time()
        subprocess.run([str(args.build / "qconvert"), str(checkpoint), "-o", str(out), *flags], check=True,
                       stdout=subprocess.DEVNULL)
        return time.time() - start

    convert(work / "f32.lbm", "--bits", "32")
    reference = logits(args.build, work / "f32.lbm", work / "evaluation-used.csv")
    float_top1 = reference.argmax(1)
    print(f"torchvision ResNet-18, random weights (seed 18), calibrated on {args.calibration_count} images, "
          f"output error against float on {args.evaluation_count}: mean relative L2 error (top-1 agreement)")
    widths = args.bits.split(",")
    print("| ptq | scheme | " + " | ".join(f"{b}-bit" for b in widths) + " |")
    print("|---|---|" + "---|" * len(widths))
    for ptq in args.ptq.split(","):
        for scheme in args.schemes.split(","):
            cells, times = [], []
            for bits in widths:
                if (scheme != "uniform" and bits == "8") or (ptq == "gptq" and bits == "8"):
                    cells.append("—")
                    continue
                out = work / f"{ptq}-{scheme}-{bits}.lbm"
                seconds = convert(out, "--bits", bits, "--scheme", scheme, "--ptq", ptq, "--calibrate",
                                  str(work / "calibration-used.csv"), "--calibration-count", str(args.calibration_count))
                y = logits(args.build, out, work / "evaluation-used.csv")
                error = np.mean(np.linalg.norm(y - reference, axis=1) / np.linalg.norm(reference, axis=1))
                agree = np.mean(y.argmax(1) == float_top1) * 100
                cells.append(f"{error:.3f} ({agree:.1f}%)")
                times.append(f"w{bits} {seconds:.0f}s")
            print(f"| {ptq} | {scheme} | " + " | ".join(cells) + " |", flush=True)
            print(f"  conversion: {', '.join(times)}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
