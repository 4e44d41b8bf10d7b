#!/usr/bin/env python3
"""LowBit against onnxruntime on the same networks, in one run on one machine.

For each network: makes (or takes) a PyTorch checkpoint, converts it with LowBit (qconvert, 8 and 4
bits, activations calibrated on a few images), exports the same network to ONNX fp32 and to
onnxruntime's static int8 QDQ format (per-channel weights, calibrated on the same images), then
times LowBit (qbench) and onnxruntime at each thread count and prints medians and ratios.

  python3 Benchmarks/peers/run_peers.py                       # resnet20, resnet18, resnet50; 1 and 2 threads
  python3 Benchmarks/peers/run_peers.py --models resnet18 --threads 1 --runs 100

Networks: resnet20 is the trained CIFAR-10 checkpoint from ../shared/data/cifar10-resnets (32x32);
resnet18/resnet50 are torchvision-layout ResNets (defined below, same state-dict keys as
torchvision.models.resnet18/50) with seeded random weights at 224x224: the speed of a network does
not depend on its weights. The script creates its own venv (Benchmarks/peers/.venv: torch 2.13 CPU,
onnx, onnxruntime from PyPI) on first use and re-runs itself inside it. Work files go to
Benchmarks/peers/work/ (git-ignored).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
VENV = HERE / ".venv"
WORK = HERE / "work"
PACKAGES = ["torch==2.13.0", "onnx", "onnxruntime", "onnxscript", "numpy"]


def ensure_venv():
    """Re-executes this script with the venv's python (creating the venv first if needed)."""
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        print(f"creating {VENV} ({' '.join(PACKAGES)})", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(python), "-m", "pip", "install", "-q", *PACKAGES])
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


# --- torchvision-layout ResNets (keys match torchvision.models.resnet18 / resnet50) -------------

def make_torchvision_resnet(depth):
    import torch.nn as nn

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, cin, planes, stride, downsample):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + idt)

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin, planes, stride, downsample):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            return self.relu(self.bn3(self.conv3(out)) + idt)

    block, counts = {18: (BasicBlock, [2, 2, 2, 2]), 50: (Bottleneck, [3, 4, 6, 3])}[depth]

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, (planes, n) in enumerate(zip([64, 128, 256, 512], counts)):
                blocks = []
                for b in range(n):
                    stride = 2 if b == 0 and i > 0 else 1
                    down = None
                    if stride != 1 or cin != planes * block.expansion:
                        down = nn.Sequential(nn.Conv2d(cin, planes * block.expansion, 1, stride, bias=False),
                                             nn.BatchNorm2d(planes * block.expansion))
                    blocks.append(block(cin, planes, stride, down))
                    cin = planes * block.expansion
                setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, 1000)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return ResNet()


def random_resnet(depth, seed):
    """A torchvision-layout ResNet with seeded random weights and non-trivial BatchNorm statistics."""
    import torch
    torch.manual_seed(seed)
    model = make_torchvision_resnet(depth)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.0)
                m.bias.uniform_(-0.1, 0.1)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model.eval()


# --- networks, images, conversion -------------------------------------------------------------

def network(name):
    """(torch model, checkpoint path, input size, qconvert extra flags)."""
    import torch
    WORK.mkdir(parents=True, exist_ok=True)
    if name == "resnet20":
        sys.path.insert(0, str(ROOT / "toolchain"))
        from cifar_resnet import load_checkpoint
        ckpt = ROOT.parent / "shared/data/cifar10-resnets/resnet20-12fca82f.th"
        model, _ = load_checkpoint(str(ckpt))
        return model.eval(), ckpt, 32, []
    depth = {"resnet18": 18, "resnet50": 50}[name]
    ckpt = WORK / f"{name}-random.pth"
    model = random_resnet(depth, seed=depth)
    if not ckpt.exists():
        torch.save(model.state_dict(), ckpt)
    return model, ckpt, 224, ["--input-size", "224", "--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225"]


def calibration_images(size, count=16):
    """`count` seeded random-noise PPM images of size x size and the same tensors for onnxruntime."""
    import numpy as np
    folder = WORK / f"calib{size}"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(size)
    tensors = []
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    for i in range(count):
        img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        (folder / f"{i:03d}.ppm").write_bytes(f"P6\n{size} {size}\n255\n".encode() + img.tobytes())
        x = ((img.astype(np.float32) / 255 - mean) / std).transpose(2, 0, 1)[None]
        tensors.append(np.ascontiguousarray(x))
    return folder, tensors


def bin_path(tool):
    return ROOT / ".build" / "release" / tool


def convert_lowbit(name, ckpt, flags, calib, bits):
    out = WORK / f"{name}-w{bits}.lbm"
    cmd = [str(bin_path("qconvert")), str(ckpt), "--bits", str(bits), "--calibrate", str(calib),
           "--calibration-count", "16", "-o", str(out), *flags]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return out


def export_onnx(model, name, size, tensors):
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    fp32 = WORK / f"{name}-fp32.onnx"
    if not fp32.exists():
        dummy = torch.from_numpy(tensors[0])
        try:
            torch.onnx.export(model, (dummy,), str(fp32), input_names=["input"], output_names=["logits"],
                              opset_version=17, dynamo=False)
        except TypeError:
            torch.onnx.export(model, (dummy,), str(fp32), input_names=["input"], output_names=["logits"],
                              opset_version=17)
    int8 = WORK / f"{name}-int8-qdq.onnx"
    if not int8.exists():
        prep = WORK / f"{name}-fp32-prep.onnx"
        quant_pre_process(str(fp32), str(prep))

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.items = iter([{"input": t} for t in tensors])

            def get_next(self):
                return next(self.items, None)

        quantize_static(str(prep), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return fp32, int8


def time_onnxruntime(path, tensor, threads, warmup, runs):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: tensor}
    for _ in range(warmup):
        sess.run(None, feed)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def time_lowbit(model, threads, warmup, runs):
    out = subprocess.run([str(bin_path("qbench")), "--model", str(model), "--threads", str(threads),
                          "--warmup", str(warmup), "--runs", str(runs), "--json", "-"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["points"][0]["latencyMs"]["median"]


def main():
    ensure_venv()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="resnet20,resnet18,resnet50")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--bits", default="8,4")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()
    import onnxruntime
    import torch
    torch.set_num_threads(2)
    subprocess.run(["swift", "build", "-c", "release", "--package-path", str(ROOT)], check=True,
                   stdout=subprocess.DEVNULL)
    print(f"onnxruntime {onnxruntime.__version__}, torch {torch.__version__}; median ms over {args.runs} runs "
          f"after {args.warmup} warm-up runs", flush=True)
    rows = []
    for name in args.models.split(","):
        model, ckpt, size, flags = network(name)
        calib, tensors = calibration_images(size)
        fp32, int8 = export_onnx(model, name, size, tensors)
        lbms = {int(b): convert_lowbit(name, ckpt, flags, calib, int(b)) for b in args.bits.split(",")}
        for threads in [int(t) for t in args.threads.split(",")]:
            row = {"model": name, "threads": threads,
                   "ort_fp32_ms": time_onnxruntime(fp32, tensors[0], threads, args.warmup, args.runs),
                   "ort_int8_ms": time_onnxruntime(int8, tensors[0], threads, args.warmup, args.runs)}
            for bits, lbm in lbms.items():
                row[f"lowbit_w{bits}_ms"] = time_lowbit(lbm, threads, args.warmup, args.runs)
            rows.append(row)
            parts = [f"{name:9s} {threads} thr: ort fp32 {row['ort_fp32_ms']:7.2f}  ort int8 {row['ort_int8_ms']:7.2f}"]
            for bits in lbms:
                ms = row[f"lowbit_w{bits}_ms"]
                parts.append(f"lowbit w{bits} {ms:7.2f} (x{row['ort_fp32_ms'] / ms:.2f} vs fp32, "
                             f"x{row['ort_int8_ms'] / ms:.2f} vs int8)")
            print("  ".join(parts), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
