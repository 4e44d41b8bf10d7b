#!/usr/bin/env python3
"""LowBit's ImageNet preprocessing (qinfer) against PyTorch + PIL on real photographs.

Collects real photos that Debian packages and PyPI wheels ship (the machine has no other internet), makes a
torchvision-layout ResNet-18 with seeded random weights (Benchmarks/peers/run_peers.py; BatchNorm statistics
measured on the photos so that the class depends on the photo), converts it with
`qconvert --bits 32` (float: only preprocessing can differ), then for every photo compares
  PyTorch: PIL open -> ImageOps.exif_transpose -> convert("RGB") -> torchvision Resize(256) (PIL bilinear)
           -> CenterCrop(224) -> ToTensor -> Normalize(ImageNet) -> the float ResNet-18
  LowBit:  qinfer --save-inputs (JPEG/PNG decode, EXIF, antialiased resize 256, crop 224, normalise)
and reports the preprocessing error (max and mean |difference| of the normalised inputs, also in 8-bit
steps; LowBit resamples 8-bit images with Pillow's own fixed-point arithmetic, so 0 is expected), the
largest |difference| of the logits, and the top-1 agreement. The PyTorch top-1 classes are written as an ImageNet-style ground-truth
file (Caffe val.txt form) plus a synset list, and qinfer evaluates the photo folder with them, so qinfer's
top-1 *is* the agreement and its top-5 says how often PyTorch's class is among LowBit's five.

  python3 toolchain/imagenet/compare_preprocessing.py --work /tmp/lowbit-photos [--bin .build/release]

Photos, 50 (kept in WORK, never in the repository): Debian plasma-workspace-wallpapers (15 photographs
among its wallpapers) and opencv-doc (12 of its sample photos), scikit-image's bundled data (skimage.data), matplotlib's sample_data and
scikit-learn's sample images (pip download of the wheel, unpacked). Needs: torch, pillow, scikit-image,
matplotlib in the Python running this (e.g. /work/venv), apt-get and pip for the downloads.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# Photographs among plasma-workspace-wallpapers 5.27 (the others are drawings and renders).
PLASMA_PHOTOS = ["Autumn", "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
                 "FallenLeaf", "Grey", "Kite", "MilkyWay", "OneStandsOut", "Path", "Shell", "Volna", "summer_1am"]
# Photographs in skimage.data (gray ones included: they exercise gray -> RGB).
SKIMAGE_PHOTOS = ["astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png",
                  "coffee.png", "coins.png", "grass.png", "gravel.png", "ihc.png", "microaneurysms.png", "moon.png",
                  "motorcycle_left.png", "motorcycle_right.png", "page.png", "text.png", "rocket.jpg",
                  "hubble_deep_field.jpg", "retina.jpg"]
# Photographs among opencv-doc's sample data (Debian), twelve of them to make 50 in all.
OPENCV_PHOTOS = ["aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "basketball1.png", "building.jpg",
                 "butterfly.jpg", "fruits.jpg", "home.jpg", "leuvenA.jpg", "messi5.jpg", "squirrel_cls.jpg"]
MATPLOTLIB_PHOTOS = ["grace_hopper.jpg"]
SKLEARN_PHOTOS = ["china.jpg", "flower.jpg"]
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def collect(work):
    """Copies the photos into WORK/photos (downloading the Debian packages and the sklearn wheel once)."""
    photos = work / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    downloads = work / "downloads"
    downloads.mkdir(exist_ok=True)
    walls = downloads / "plasma"
    if not walls.exists():
        subprocess.run(["apt-get", "download", "plasma-workspace-wallpapers"], cwd=downloads, check=True)
        deb = next(downloads.glob("plasma-workspace-wallpapers_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(walls)], check=True)
    for name in PLASMA_PHOTOS:
        images = sorted(glob.glob(str(walls / "usr/share/wallpapers" / name / "contents/images/*")))
        pick = [f for f in images if os.path.basename(f).startswith("1920x1080")] or images
        shutil.copy(pick[0], photos / f"plasma-{name}{Path(pick[0]).suffix}")
    opencv = downloads / "opencv"
    if not opencv.exists():
        subprocess.run(["apt-get", "download", "opencv-doc"], cwd=downloads, check=True)
        deb = next(downloads.glob("opencv-doc_*.deb"))
        opencv.mkdir()
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", str(opencv), "--wildcards", "./usr/share/doc/opencv-doc/examples/data/*"],
                       stdin=tar.stdout, check=True)
        tar.wait()
    for name in OPENCV_PHOTOS:
        shutil.copy(opencv / "usr/share/doc/opencv-doc/examples/data" / name, photos / f"opencv-{name}")
    import skimage
    import matplotlib
    for name in SKIMAGE_PHOTOS:
        shutil.copy(Path(skimage.__file__).parent / "data" / name, photos / f"skimage-{name}")
    for name in MATPLOTLIB_PHOTOS:
        shutil.copy(Path(matplotlib.get_data_path()) / "sample_data" / name, photos / f"matplotlib-{name}")
    wheels = downloads / "wheels"
    if not list(wheels.glob("scikit_learn-*.whl")):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "scikit-learn", "-d", str(wheels)],
                       check=True)
    with zipfile.ZipFile(next(wheels.glob("scikit_learn-*.whl"))) as z:
        for name in SKLEARN_PHOTOS:
            (photos / f"sklearn-{name}").write_bytes(z.read(f"sklearn/datasets/images/{name}"))
    return sorted(p for p in photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def torch_preprocess(path, mean=MEAN, std=STD):
    """torchvision's ImageNet evaluation transform on a PIL image, written out (no torchvision needed);
    HWC float32, normalised with `mean` and `std` (per channel, after pixel/255)."""
    import numpy as np
    import torch
    from PIL import Image, ImageOps
    img = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    w, h = img.size
    short, long = min(w, h), max(w, h)
    new_long = int(256 * long / short)
    size = (256, new_long) if w <= h else (new_long, 256)
    img = img.resize(size, Image.BILINEAR)  # torchvision Resize(256) on PIL: PIL bilinear (antialiased)
    w, h = img.size
    top, left = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
    img = img.crop((left, top, left + 224, top + 224))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255)  # HWC
    return (x - torch.tensor(mean)) / torch.tensor(std)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/lowbit-photos"))
    ap.add_argument("--bin", type=Path, default=ROOT / ".build" / "release", help="folder with qconvert and qinfer")
    args = ap.parse_args()
    work = args.work.resolve()
    photos = collect(work)
    print(f"{len(photos)} photos in {work / 'photos'}")

    import numpy as np
    import torch
    sys.path.insert(0, str(ROOT / "Benchmarks" / "peers"))
    from run_peers import random_weights, torchvision_models
    model = random_weights(torchvision_models().resnet18(), seed=18)
    # Seeded random weights alone give (nearly) the same class for every photo, which would make top-1
    # agreement trivial; BatchNorm statistics measured on the photos make the outputs depend on the input.
    tensors = {path: torch_preprocess(path) for path in photos}
    batch = torch.stack([x.permute(2, 0, 1) for x in tensors.values()])
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batch
    with torch.no_grad():
        model.train()(batch)
    model.eval()
    ckpt = work / "resnet18-random.pth"
    torch.save(model.state_dict(), ckpt)
    lbm = work / "resnet18-f32.lbm"
    subprocess.run([str(args.bin / "qconvert"), str(ckpt), "--bits", "32", "-o", str(lbm)], check=True,
                   stdout=subprocess.DEVNULL)

    inputs = work / "inputs"
    shutil.rmtree(inputs, ignore_errors=True)
    out = subprocess.run([str(args.bin / "qinfer"), str(work / "photos"), "--model", str(lbm), "--json",
                          "--save-inputs", str(inputs), "--top", "5"], check=True, capture_output=True, text=True)
    ours = {Path(r["image"]).stem: r for r in map(json.loads, out.stdout.splitlines()) if "image" in r}

    worst, sums, count, agree, rows = 0.0, 0.0, 0, 0, []
    truth = []
    for path in photos:
        x = tensors[path]
        with torch.no_grad():
            logits = model(x.permute(2, 0, 1)[None])[0]
        ref_top1 = int(logits.argmax())
        truth.append(f"{path.name} {ref_top1}")
        mine = np.fromfile(inputs / f"{path.stem}.f32", dtype="<f4")
        diff = np.abs(mine - x.numpy().reshape(-1))
        steps = (diff.reshape(-1, 3) * np.array(STD) * 255).max()  # in 8-bit pixel steps
        worst = max(worst, float(diff.max()))
        sums += float(diff.sum())
        count += diff.size
        lb_top1 = ours[path.stem]["top"][0]["index"]
        agree += lb_top1 == ref_top1
        logit_err = float(np.abs(np.array(ours[path.stem]["logits"]) - logits.numpy()).max())
        rows.append((path.name, ref_top1, lb_top1, float(diff.max()), float(diff.mean()), steps, logit_err))

    print(f"{'photo':42s} {'torch':>5s} {'lowbit':>6s} {'max|d|':>8s} {'mean|d|':>8s} {'8-bit':>6s} {'logit':>8s}")
    for r in rows:
        print(f"{r[0][:42]:42s} {r[1]:5d} {r[2]:6d} {r[3]:8.1e} {r[4]:8.1e} {r[5]:6.2f} {r[6]:8.1e}")
    print(f"preprocessing error over {len(photos)} photos (normalised units): max {worst:.3g}, mean {sums / count:.3g}")
    print(f"top-1 agreement: {agree}/{len(photos)} ({len(set(r[1] for r in rows))} distinct PyTorch classes)")

    # qinfer as an ImageNet evaluation: PyTorch's classes as the ground truth, synsets as class names.
    (work / "val.txt").write_text("\n".join(truth) + "\n")
    (work / "synsets.txt").write_text("".join(f"n{i:08d} class {i}\n" for i in range(1000)))
    gt = work / "val_solution.csv"
    gt.write_text("ImageId,PredictionString\n" + "".join(
        f"{Path(line.split()[0]).stem},n{int(line.split()[1]):08d} 0 0 1 1\n" for line in truth))
    for labels, extra in ((work / "val.txt", []), (gt, ["--synsets", str(work / "synsets.txt")])):
        ev = subprocess.run([str(args.bin / "qinfer"), str(work / "photos"), "--model", str(lbm), "--labels",
                             str(labels), *extra], check=True, capture_output=True, text=True)
        print(f"qinfer --labels {labels.name}: {ev.stdout.strip().splitlines()[-1]}")
    return 0 if agree == len(photos) else 1


if __name__ == "__main__":
    sys.exit(main())
