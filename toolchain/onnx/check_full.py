"""Full-size check of `qconvert model.onnx --bits 32` against onnxruntime (docs/ONNX.md, "Fixtures").

The committed fixtures are reduced-width variants (Tests/Fixtures/seeds/onnx); the real torchvision
mobilenet_v3_small (2.5 M parameters) and efficientnet_b0 (5.3 M) at 224x224 are too large to commit, so
this script exports them with seeded trained-like weights (export.py's recipe, 1000 classes), runs
onnxruntime (1 thread, graph optimizations off) and LowBit's qconvert + qinfer on the same files and
synthetic 224x224 images, and prints max |LowBit - onnxruntime| / max |onnxruntime| and top-1 agreement.
Exits 1 when a `--bits 32` output is off by more than 1e-4 x max|output| or a top-1 differs. The same
figures for `--bits 8` (u8 activations calibrated on 8 other synthetic images; the hardswish / sigmoid /
SiLU / squeeze-excite ops stay f32) are printed, not checked: random weights on synthetic images say
little about 8-bit accuracy.

    swift build -c release --product qconvert && swift build -c release --product qinfer
    /work/venv/bin/python toolchain/onnx/check_full.py [--out /tmp/lowbit-onnx-full] [--bin .build/release]
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

import export  # toolchain/onnx/export.py (its sys.path and torchvision set-up too)
from export import MEAN, STD, calibration, common, run_onnxruntime_array

SIZE = 224
IMAGES = 2
TOLERANCE = 1e-4

MODELS = {
    "mobilenet_v3_small": dict(build=lambda: export.build_mobilenetv3(width=1.0, classes=1000, size=SIZE),
                               export=dict(dynamo=False, opset_version=17)),
    "efficientnet_b0": dict(build=lambda: export.build_efficientnet(width=1.0, depth=1.0, classes=1000, size=SIZE),
                            export=dict(dynamo=True, opset_version=18)),
}


def write_ppm(path: Path, img: np.ndarray) -> None:
    path.write_bytes(b"P6\n" + f"{img.shape[1]} {img.shape[0]}\n255\n".encode() + img.tobytes())


def check(name: str, out: Path, binaries: Path) -> bool:
    spec = MODELS[name]
    torch.set_num_threads(1)
    model = spec["build"]()
    onnx_path = out / f"{name}.onnx"
    images = [common.synthetic_image(SIZE, SIZE, 3, seed) for seed in range(IMAGES)]
    x = calibration.normalize(images[0], MEAN, STD)
    torch.onnx.export(model, (x,), str(onnx_path), external_data=False, **spec["export"])
    calibration_dir = out / "calibration"
    calibration_dir.mkdir(exist_ok=True)
    for seed in range(100, 108):
        write_ppm(calibration_dir / f"{seed}.ppm", common.synthetic_image(SIZE, SIZE, 3, seed))
    ok = True
    for bits in (32, 8):
        lbm = out / f"{name}-{bits}.lbm"
        extra = ["--calibrate", str(calibration_dir)] if bits == 8 else []
        subprocess.run([str(binaries / "qconvert"), str(onnx_path), "--bits", str(bits), *extra, "-o", str(lbm)],
                       check=True, stdout=subprocess.DEVNULL)
        for seed, img in enumerate(images):
            ppm = out / f"{name}-{seed}.ppm"
            write_ppm(ppm, img)
            want = np.array(run_onnxruntime_array(onnx_path, calibration.normalize(img, MEAN, STD).numpy()))
            result = subprocess.run([str(binaries / "qinfer"), str(ppm), "--model", str(lbm), "--json", "--threads", "1"],
                                    check=True, capture_output=True, text=True)
            got = np.array(json.loads(result.stdout.splitlines()[0])["logits"])
            error = float(np.max(np.abs(got - want)) / np.max(np.abs(want)))
            same = int(np.argmax(got)) == int(np.argmax(want))
            if bits == 32:
                ok = ok and error <= TOLERANCE and same
            print(f"{name} --bits {bits} image {seed}: {onnx_path.stat().st_size / 1e6:.1f} MB, max|diff| / max|onnxruntime| = "
                  f"{error:.2e}, top-1 {'equal' if same else 'differs'} ({int(np.argmax(got))} vs {int(np.argmax(want))}), "
                  f"top-2 margin {common.top2_margin(torch.tensor(want)):.3f}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("/tmp/lowbit-onnx-full"), help="where the exports go")
    parser.add_argument("--bin", type=Path, default=common.ROOT / ".build" / "release", help="qconvert and qinfer")
    parser.add_argument("names", nargs="*", default=list(MODELS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = [check(name, args.out, args.bin.resolve()) for name in args.names]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
