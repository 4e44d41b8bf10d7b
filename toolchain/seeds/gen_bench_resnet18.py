#!/usr/bin/env python3
"""Benchmark inputs for issue #16: a full-size torchvision ResNet-18 (ImageNet shape: 3x224x224 input,
64/128/256/512 channels, 1000 classes) under each float-activation seed method, saved the way that method's
training code saves its checkpoints (../shared/SEEDS.md, toolchain/seeds/README.md). Not fixtures: the files
are 94-181 MB each, so they go to an ignored folder.

  dgms       every conv but conv1 a DGMS mixture conv, K = 16 (4-bit), fc float; {epoch, state_dict
             (network.), optimizer, best_top1, best_top5, params, bits, CR, according_sparsity}, zip, cuda:0
  s3         every block conv and downsample.0 an S3 conv (weight = weight_sign, weight_val, weight_shift,
             weight_shift2), conv1 and fc float; {epoch, arch, state_dict (module.), best_acc1, optimizer},
             zip, cuda:0
  deepshift  every conv and fc a DeepShift PS layer (shift, sign; 5-bit, round_to_fixed(16, 16)); legacy
             format {epoch, arch, state_dict (module.), best_acc1, optimizer, lr_scheduler (pickled)}

    /work/venv/bin/python toolchain/seeds/gen_bench_resnet18.py [--out DIR] [METHOD ...]

Random trained-like weights: torchvision's init (DGMS mixtures fitted as gen_dgms.py, S3 latents as
gen_s3.py, DeepShift shifts as gen_archs.py), BatchNorm affine randomised, the BatchNorm ending every
residual branch x0.3, running statistics measured in train mode on 32 synthetic 224x224 images through the
method's own forward, the classifier bias centred on the mean feature. The optimizers have not stepped (no
momentum buffers, which would double the files; DGMS's holds them, as gen_dgms.py writes it).

Writes <out>/<method>/resnet18.pth.tar and resnet18.json: the checkpoint name, the qconvert flags (none: the
defaults are the method's), and PyTorch's float32 logits (1 thread) of the method's own inference for
<out>/inputs/3c256x256-<seed>.ppm, centre-cropped to 224 after pixel/255 and ImageNet mean/std, which is
what qconvert's default ImageNet preprocessing does to a 256x256 image (resize 256 is then the identity).
Deterministic (two runs: identical sha256 of every file); about 80 s of CPU for all three, 5 minutes on
2 shared, loaded cores.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import calibration  # noqa: E402
import common  # noqa: E402
import gen_archs  # noqa: E402
import gen_deepshift  # noqa: E402
import gen_dgms  # noqa: E402
import gen_s3  # noqa: E402
import legacy_keys  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZE, IMAGE_SIZE, BASE, CLASSES = 224, 256, 64, 1000
CALIBRATION_IMAGES = 32
MIN_MARGIN = 0.05           # reference images whose top-1 an approximate (u8) path should keep
DGMS_K = 16


def torchvision_conv(make):
    """gen_s3.ResNet's conv(cin, cout, kernel, stride=, padding=, bias=) for a method conv taking
    (cin, cout, kernel, stride, groups) with padding kernel // 2 (gen_archs.py)."""
    return lambda cin, cout, kernel, stride=1, padding=0, bias=False: make(cin, cout, kernel, stride, 1)


def network_dgms(gen):
    net = gen_s3.ResNet(torchvision_conv(gen_archs.DGMSConv), BASE, CLASSES)
    gen_archs.torchvision_init(net, gen)
    model = gen_dgms.DGMSNet(net)
    gen_dgms.make_trained_like(model, DGMS_K, gen)
    net.fc.weight.data *= 20.0          # as gen_archs.py: N(0, 0.01^2) gives nearly flat logits
    return model, net


def network_s3(gen):
    net = gen_s3.ResNet(gen_s3.S3Conv2d, BASE, CLASSES)
    gen_s3.make_trained_like(net, gen)
    return net, net


def network_deepshift(gen):
    net = gen_s3.ResNet(torchvision_conv(gen_archs.Conv2dShift), BASE, CLASSES)
    net.conv1 = gen_archs.Conv2dShift(3, BASE, 7, 2, 1)            # same place in the state_dict
    net.fc = gen_archs.shift_linear(8 * BASE, CLASSES)
    gen_archs.init_shift_layers(net, gen)
    calibration.randomize_batchnorm(net, gen)
    return net, net


def features(net: gen_s3.ResNet):
    def pooled(x):
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        return torch.flatten(net.avgpool(net.layer4(net.layer3(net.layer2(net.layer1(x))))), 1)
    return pooled


@torch.no_grad()
def build(method: str, seed: int):
    """(model to run and save, the inner gen_s3.ResNet) with trained-like weights and BatchNorm statistics."""
    common.seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model, net = NETWORKS[method](gen)
    for m in net.modules():
        if isinstance(m, gen_s3.BasicBlock):
            m.bn2.weight.mul_(0.3)       # trained residual branches are small against the identity path
    batch = calibration.calibration_batch(CALIBRATION_IMAGES, SIZE, 3, MEAN, STD)
    calibration.calibrate_batchnorm(model, batch, 90 * 5005)
    head = net.fc
    weight = head.weight_q() if isinstance(head, gen_deepshift.ShiftLayer) else head.weight
    gen_archs.centre_head(model, features(net), head, weight, batch, gen)
    return model, net


def checkpoint_object(method: str, model: nn.Module, gen: torch.Generator):
    """(object torch.save writes, legacy format?) as the method's training code saves it."""
    if method == "dgms":
        records = gen_dgms.layer_records(model, "network.")
        zeros = sum(r["index_counts"][0] for r in records)
        sparsity = zeros / sum(sum(r["index_counts"]) for r in records)
        bits = 4
        return {"epoch": 60, "state_dict": model.state_dict(), "optimizer": gen_dgms.optimizer_for(model, gen),
                "best_top1": 69.2, "best_top5": 88.9, "params": sum(p.numel() for p in model.parameters()) / 1e6,
                "bits": bits, "CR": 1 / ((1 - sparsity) * bits / 32), "according_sparsity": sparsity}, False
    wrapped = nn.DataParallel(model)          # on CPU it only adds the module. prefix, like the GPU run
    if method == "s3":
        optimizer = torch.optim.SGD(wrapped.parameters(), 0.1, momentum=0.9, weight_decay=1e-4)
        return {"epoch": 90, "arch": "resnet18", "state_dict": wrapped.state_dict(),
                "best_acc1": torch.tensor(69.83), "optimizer": optimizer.state_dict()}, False
    optimizer, scheduler = gen_archs.optimizer_and_scheduler(wrapped)
    return {"epoch": 90, "arch": "resnet18", "state_dict": wrapped.state_dict(),
            "best_acc1": np.array(69.27, dtype=np.float32), "optimizer": optimizer.state_dict(),
            "lr_scheduler": scheduler}, True


def write_image(out: Path, seed: int) -> Path:
    """<out>/inputs/3c256x256-<seed>.ppm (binary P6), written once."""
    path = out / "inputs" / f"3c{IMAGE_SIZE}x{IMAGE_SIZE}-{seed}.ppm"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        img = common.synthetic_image(IMAGE_SIZE, IMAGE_SIZE, 3, seed)
        path.write_bytes(f"P6\n{IMAGE_SIZE} {IMAGE_SIZE}\n255\n".encode() + img.tobytes())
    return path


@torch.no_grad()
def reference_images(model: nn.Module, out: Path, count: int) -> list:
    """The first `count` seeds whose logits have a top-2 margin >= MIN_MARGIN: their images and logits."""
    model.eval()
    lo = (IMAGE_SIZE - SIZE) // 2
    images = []
    for seed in range(200):
        img = common.synthetic_image(IMAGE_SIZE, IMAGE_SIZE, 3, seed)
        logits = model(calibration.normalize(img[lo:lo + SIZE, lo:lo + SIZE], MEAN, STD))[0]
        margin = common.top2_margin(logits)
        if margin >= MIN_MARGIN:
            path = write_image(out, seed)
            images.append({"path": f"../inputs/{path.name}", "logits": common.f32_list(logits),
                           "top1": int(logits.argmax()), "top2_margin": round(margin, 6)})
            if len(images) == count:
                return images
    raise RuntimeError(f"only {len(images)} of {count} images reach a top-2 margin of {MIN_MARGIN}")


def write(method: str, out: Path, seed: int, count: int) -> None:
    model, _ = build(method, seed)
    folder = out / method
    folder.mkdir(parents=True, exist_ok=True)
    obj, legacy = checkpoint_object(method, model, torch.Generator().manual_seed(1000 + seed))
    checkpoint = folder / "resnet18.pth.tar"
    common.save_checkpoint(obj, checkpoint, legacy=legacy, location="cuda:0")
    if legacy:
        legacy_keys.canonicalize(checkpoint)
    record = {
        "method": method, "arch": "resnet18", "torch": torch.__version__, "checkpoint": checkpoint.name,
        "format": "legacy" if legacy else "zip", "seed": seed, "qconvert_flags": [],
        "input": {"height": SIZE, "width": SIZE, "channels": 3, "mean": list(MEAN), "std": list(STD),
                  "image": f"{IMAGE_SIZE}x{IMAGE_SIZE}, centre crop {SIZE}"},
        "images": reference_images(model, out, count),
        "notes": __doc__.split("\n\n")[1],
    }
    (folder / "resnet18.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"{method}: {checkpoint} ({checkpoint.stat().st_size} bytes), top-1 "
          f"{[i['top1'] for i in record['images']]}, margins {[i['top2_margin'] for i in record['images']]}")


NETWORKS = {"dgms": network_dgms, "s3": network_s3, "deepshift": network_deepshift}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=common.ROOT / ".build-bench" / "resnet18-methods")
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument("--images", type=int, default=2, help="reference images per method (default 2)")
    args, methods = common.parse_methods(parser, NETWORKS)
    torch.set_num_threads(1)
    for method in methods:
        write(method, args.out, args.seed, args.images)


if __name__ == "__main__":
    main()
