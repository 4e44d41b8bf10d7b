#!/usr/bin/env python3
"""Real-weight checkpoints of the float-activation seed methods (issue #16, Build 4): the real pretrained
CIFAR-10 ResNet-20 of ../shared/data/cifar10-resnets (akamaster/pytorch_resnet_cifar10, BSD-2-Clause)
converted the way each method starts from a pretrained float model, saved in that method's checkpoint
layout (toolchain/seeds/README.md, ../shared/SEEDS.md), not trained further:

  dgms           every block conv a DGMS conv, K = 16 (4-bit): the mixture initialised from the layer's
                 weights as DGMS's cluster_weights() does (1-D k-means with K centres; pi = share of the
                 weights in each cluster; the centre nearest 0 becomes the zero component; sigma_j = the
                 cluster's standard deviation about its centre, about 0 for the zero cluster, divided by
                 n_j - 1), temperature 0.01 (the default --tau). k-means starts from the weight quantiles
                 (j + 0.5) / K instead of DGMS's random points, so the file is reproducible. conv1 and
                 linear stay full precision. {epoch, state_dict (network.), optimizer, best_top1, ...}, zip.
  s3             every block conv an S3 conv: the latents are set from the pretrained weight w and a
                 per-layer step s (least-squares over a grid) so that S3's forward gives s * the nearest of
                 {0, +-1, +-2, +-4} to w: weight (= weight_sign) = w, weight_val = |w|/s - 0.5,
                 weight_shift = |w|/s - 1.5, weight_shift2 = |w|/s - 3 (S3 has no scale: s is folded into
                 the next BatchNorm, running_mean / s and (running_var + eps) / s^2 - eps). S3's public code
                 has no conversion from a pretrained model; this is the reparametrisation read backwards.
                 conv1 and linear full precision. {epoch, arch, state_dict (module.), best_acc1, optimizer},
                 zip, tagged cuda:0.
  deepshift      DeepShift's convert_to_shift(shift_type='PS', convert_weights=True) on every conv and the
                 linear (shift_depth 20, convert_all_linear): shift, sign = get_shift_and_sign(w), i.e.
                 shift = round(ln|w| / ln 2), sign = sign(w); 5-bit weights (shift clamped to [-14, 0] in
                 the forward), activations and biases round_to_fixed(16, 16) (the defaults). Legacy format
                 {epoch, arch, state_dict (module.), best_acc1, optimizer, lr_scheduler} as cifar10.py saves.
  binaryconnect  every block conv BinaryConnect: latent weights = the pretrained weights clipped to [-1, 1]
                 (BinaryConnect's clip); inference alpha[oc] * sign(w), alpha = the channel's mean |w|
                 (`qconvert --recipe binaryconnect --binary-channel-scale`). {state_dict (module.), epoch,
                 best_prec1}, zip.

Inputs: the weights' own preprocessing (akamaster): pixel/255, mean (0.485, 0.456, 0.406), std (0.229,
0.224, 0.225), 32x32; pass these to qconvert (`--mean`, `--std`). The checkpoints are derived from data
the project must not copy into the repository, so they go to an ignored folder:

    /work/venv/bin/python toolchain/seeds/gen_realweights.py [--data ../shared/data] [--out models/realweights]

Writes <out>/<method>/resnet20.<ext> and <out>/<method>/resnet20.json: the checkpoint name, the qconvert
flags, PyTorch's top-1 on all 10,000 test images of <data>/cifar10-test (the method's float32 inference,
1 thread), the float model's top-1, and the logits of the first REFERENCE_IMAGES test images (repr of the
float32 values, as the fixtures). <out>/<method>/resnet20.top1.txt lists PyTorch's class per image in the
order of labels.csv, for per-image agreement with qinfer (evaluate_realweights.sh). About 75 s of CPU
(10 minutes on 2 shared, loaded cores).
"""
import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import akamaster_resnet  # noqa: E402
import common  # noqa: E402
import gen_binaryconnect  # noqa: E402
import gen_deepshift  # noqa: E402
import gen_dgms  # noqa: E402
import gen_s3  # noqa: E402
import legacy_keys  # noqa: E402

PRETRAINED = "cifar10-resnets/resnet20-12fca82f.th"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)      # akamaster's normalisation
WIDTHS = (16, 32, 64)
DGMS_K = 16
S3_LEVELS = (0.0, 1.0, 2.0, 4.0)
DEEPSHIFT_BITS, DEEPSHIFT_FIXED = 5, (16, 16)
REFERENCE_IMAGES = 20
BATCH = 500


def load_pretrained(data: Path) -> dict:
    """The akamaster state_dict without its `module.` prefix."""
    loaded = torch.load(str(data / PRETRAINED), map_location="cpu", weights_only=False)
    return common.strip_prefix(loaded["state_dict"], "module.")


def load_test_set(data: Path):
    """(paths, labels, NCHW float32 tensor) of every labels.csv row, preprocessed like common.load_input."""
    root = data / "cifar10-test"
    rows = [line.rsplit(",", 1) for line in (root / "labels.csv").read_text().splitlines()[1:] if line]
    images = []
    for rel, _ in rows:
        raw = (root / rel).read_bytes()
        header = re.match(rb"P6\s+32\s+32\s+255\s", raw)    # one whitespace byte ends the header
        assert header, f"{rel}: not a 32x32 8-bit P6 image"
        images.append(np.frombuffer(raw, dtype=np.uint8, count=32 * 32 * 3, offset=header.end()).reshape(32, 32, 3))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    m = torch.tensor(MEAN, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(STD, dtype=torch.float32).view(1, -1, 1, 1)
    return [r for r, _ in rows], torch.tensor([int(l) for _, l in rows]), (x - m) / s


def plain_conv(cin, cout, stride):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


def resnet20(block_conv, stem_conv=plain_conv, classifier=nn.Linear) -> nn.Module:
    return akamaster_resnet.CifarResNetA(20, WIDTHS, stem_conv, block_conv, classifier)


def load_float_parts(model: nn.Module, pretrained: dict) -> None:
    """Copies every pretrained tensor into the same key of `model` (each must land); the model's own
    method tensors are left as they are, num_batches_tracked is 0 (the pretrained file has none)."""
    own = model.state_dict()
    for key, value in pretrained.items():
        assert key in own and own[key].shape == value.shape, key
        own[key].copy_(value)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.num_batches_tracked.zero_()


def fold_scale_into_batchnorm(bn: nn.BatchNorm2d, scale) -> None:
    """BN(scale * y) == BN'(y) for the eval-mode BatchNorm: running_mean / scale and
    (running_var + eps) / scale^2 - eps (exact in real arithmetic; the affine part is unchanged)."""
    var = (bn.running_var.double() + bn.eps) / (torch.as_tensor(scale).double() ** 2) - bn.eps
    assert (var > 0).all(), "folding the step made a variance negative"
    bn.running_mean.copy_((bn.running_mean.double() / scale).float())
    bn.running_var.copy_(var.float())


# --- DGMS -------------------------------------------------------------------------------------------

def kmeans_1d(w: torch.Tensor, k: int, tol: float = 1e-15, iterations: int = 1000):
    """Lloyd's k-means on scalars in float64 (DGMS runs kmeans_pytorch, tol 1e-15, Euclidean), started
    from the quantiles (j + 0.5) / k; stops when the squared centre shift falls under tol. Returns
    (cluster index per weight, centres)."""
    x = w.double().flatten()
    centres = torch.quantile(x, (torch.arange(k, dtype=torch.float64) + 0.5) / k)
    for _ in range(iterations):
        index = (x.unsqueeze(1) - centres.unsqueeze(0)).abs().argmin(dim=1)
        moved = torch.stack([x[index == j].mean() if (index == j).any() else centres[j] for j in range(k)])
        shift = float(((moved - centres) ** 2).sum())
        centres = moved
        if shift < tol:
            break
    index = (x.unsqueeze(1) - centres.unsqueeze(0)).abs().argmin(dim=1)
    return index, centres


@torch.no_grad()
def init_dgms_mixture(conv: gen_dgms.DGMSConv, k: int) -> dict:
    """DGMS's cluster_weights() on this conv's weights; returns a record for the JSON."""
    index, centres = kmeans_1d(conv.weight, k)
    counts = torch.bincount(index, minlength=k)
    assert (counts >= 2).all(), "a k-means cluster has fewer than 2 weights: its sigma is undefined"
    pi = counts.double() / index.numel()
    zero = int(torch.argmin(centres.abs()))
    anchored = centres.clone()
    anchored[zero] = 0.0
    x = conv.weight.double().flatten()
    sigma = torch.stack([(((x[index == j] - anchored[j]) ** 2).sum() / (counts[j] - 1)).sqrt() for j in range(k)])
    keep = [j for j in range(k) if j != zero]
    g = conv.sub_distribution
    g.mu.copy_(centres[keep].float())
    g.pi_k.copy_(pi[keep].float())
    g.sigma.copy_(sigma[keep].float())
    g.pi_zero.copy_(pi[zero:zero + 1].float())
    g.sigma_zero.copy_(sigma[zero:zero + 1].float())
    g.temperature.fill_(gen_dgms.TEMPERATURE)
    return {"zero_centre_removed": float(centres[zero]), "zero_share": float(pi[zero])}


def build_dgms(pretrained: dict):
    net = gen_dgms.CifarResNet(blocks=3, width=WIDTHS[0], k=DGMS_K)
    load_float_parts(net, pretrained)
    layers = {name: init_dgms_mixture(m, DGMS_K) for name, m in net.named_modules()
              if isinstance(m, gen_dgms.DGMSConv)}
    model = gen_dgms.DGMSNet(net)
    records = gen_dgms.layer_records(model, "")
    for r in records:
        r.update(layers[r["name"][len("network."):]])
        r.pop("pi_normalized")
    sparsity = sum(r["index_counts"][0] for r in records) / sum(sum(r["index_counts"]) for r in records)
    bits = int(math.log2(DGMS_K))
    obj = {"epoch": 0, "state_dict": model.state_dict(), "optimizer": fresh_sgd(model, 2e-5, 5e-4),
           "best_top1": 0.0, "best_top5": 0.0, "params": sum(p.numel() for p in model.parameters()) / 1e6,
           "bits": bits, "CR": 1 / ((1 - sparsity) * bits / 32), "according_sparsity": sparsity}
    options = {"K": DGMS_K, "bits": bits, "temperature": gen_dgms.TEMPERATURE, "eps": gen_dgms.EPS,
               "full_precision": ["network.conv1", "network.linear"], "layers": records}
    return model, obj, dict(ext="pth.tar", legacy=False, location="cuda:0"), options, []


# --- S3 ---------------------------------------------------------------------------------------------

def s3_codes(w: torch.Tensor, step: float) -> torch.Tensor:
    """The nearest of {0, 1, 2, 4} to |w| / step (ties to the smaller), with w's sign: S3's forward of
    the latents set by set_s3_latents."""
    a = w.abs() / step
    magnitude = torch.where(a > 3, 4.0, torch.where(a > 1.5, 2.0, torch.where(a > 0.5, 1.0, 0.0)))
    return torch.where(w >= 0, 1.0, -1.0) * magnitude


def best_s3_step(w: torch.Tensor) -> float:
    """The step s minimising ||w - s * codes(w / s)||^2 over 400 candidates up to max|w| / 2."""
    top = float(w.abs().max())
    candidates = [top / 2 * (i + 1) / 400 for i in range(400)]
    errors = [float(((w - s * s3_codes(w, s)) ** 2).sum()) for s in candidates]
    return candidates[int(np.argmin(errors))]


@torch.no_grad()
def set_s3_latents(conv: gen_s3.S3Conv2d, bn: nn.BatchNorm2d) -> dict:
    w = conv.weight.detach().clone()
    step = best_s3_step(w)
    a = w.abs() / step
    conv.weight_val.copy_(a - 0.5)
    conv.weight_shift.copy_(a - 1.5)
    conv.weight_shift2.copy_(a - 3.0)
    assert torch.equal(conv.shift_weight(), s3_codes(w, step)), "S3 forward differs from the codes"
    fold_scale_into_batchnorm(bn, step)
    codes = s3_codes(w, step)
    return {"step": step, "counts": {str(int(v)): int((codes == v).sum()) for v in (-4, -2, -1, 0, 1, 2, 4)}}


def build_s3(pretrained: dict):
    model = resnet20(lambda cin, cout, stride: gen_s3.S3Conv2d(cin, cout, 3, stride, 1, bias=False))
    load_float_parts(model, pretrained)
    layers = []
    for name, block in model.named_modules():
        if isinstance(block, akamaster_resnet.BasicBlock):
            for conv, bn in ((block.conv1, block.bn1), (block.conv2, block.bn2)):
                conv_name = f"{name}.{'conv1' if conv is block.conv1 else 'conv2'}"
                layers.append({"name": conv_name, **set_s3_latents(conv, bn)})
    wrapped = nn.DataParallel(model)
    obj = {"epoch": 0, "arch": "resnet20", "state_dict": wrapped.state_dict(),
           "best_acc1": torch.tensor(0.0), "optimizer": fresh_sgd(wrapped, 0.1, 1e-4)}
    options = {"levels": [-4, -2, -1, 0, 1, 2, 4], "full_precision": ["module.conv1", "module.linear"],
               "layers": layers}
    return model, obj, dict(ext="pth.tar", legacy=False, location="cuda:0"), options, []


# --- DeepShift --------------------------------------------------------------------------------------

@torch.no_grad()
def build_deepshift(pretrained: dict):
    conv = lambda cin, cout, stride: gen_deepshift.Conv2dShift(cin, cout, stride, "PS", DEEPSHIFT_BITS,
                                                               DEEPSHIFT_FIXED)
    linear = lambda cin, cout: gen_deepshift.LinearShift(cin, cout, "PS", DEEPSHIFT_BITS, DEEPSHIFT_FIXED)
    model = resnet20(conv, conv, linear)
    converted = set()
    for name, m in model.named_modules():
        if isinstance(m, gen_deepshift.ShiftLayer):
            w = pretrained[f"{name}.weight"]
            m.shift.copy_(torch.round(torch.log(w.abs()) / np.log(2)))   # get_shift_and_sign, deterministic
            m.sign.copy_(torch.sign(w))
            converted.add(f"{name}.weight")
    load_float_parts(model, {k: v for k, v in pretrained.items() if k not in converted})
    wrapped = nn.DataParallel(model)
    optimizer = torch.optim.SGD(wrapped.parameters(), 0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[80, 120, 160, 180], last_epoch=-1)
    obj = {"epoch": 0, "arch": "resnet20", "state_dict": wrapped.state_dict(),
           "best_acc1": np.array(0.0, dtype=np.float32), "optimizer": optimizer.state_dict(),
           "lr_scheduler": scheduler}
    shifts = [m.shift for m in model.modules() if isinstance(m, gen_deepshift.ShiftLayer)]
    clamped = sum(int(((s < -(2 ** (DEEPSHIFT_BITS - 1) - 2)) | (s > 0)).sum()) for s in shifts)
    options = {"shift_type": "PS", "weight_bits": DEEPSHIFT_BITS, "shift_range": list(model.conv1.shift_range),
               "activation_integer_bits": DEEPSHIFT_FIXED[0], "activation_fraction_bits": DEEPSHIFT_FIXED[1],
               "shift_layers": "every Conv2d and the linear", "shifts_clamped_in_forward": clamped}
    flags = ["--fixed-point", f"{DEEPSHIFT_FIXED[0]},{DEEPSHIFT_FIXED[1]}", "--shift-bits", str(DEEPSHIFT_BITS)]
    return model, obj, dict(ext="pth.tar", legacy=True, location="cuda:0"), options, flags


# --- BinaryConnect ----------------------------------------------------------------------------------

class ScaledBinaryConnectConv2d(gen_binaryconnect.BinaryConnectConv2d):
    """BinaryConnect with a per-output-channel scale: alpha[oc] * sign(w), alpha = mean |w| of the channel."""

    def forward(self, x):
        alpha = self.weight.abs().mean(dim=(1, 2, 3), keepdim=True)
        return F.conv2d(x, alpha * torch.sign(self.weight), None, self.stride, self.padding)


@torch.no_grad()
def build_binaryconnect(pretrained: dict):
    model = resnet20(ScaledBinaryConnectConv2d)
    load_float_parts(model, pretrained)
    clipped = 0
    for m in model.modules():
        if isinstance(m, ScaledBinaryConnectConv2d):
            clipped += int((m.weight.abs() > 1).sum())
            m.weight.clamp_(-1, 1)
    obj = {"state_dict": nn.DataParallel(model).state_dict(), "epoch": 0, "best_prec1": 0.0}
    options = {"scale": "per output channel, mean |w|", "latent_weights_clipped": clipped,
               "full_precision": ["module.conv1", "module.linear"]}
    return model, obj, dict(ext="th", legacy=False, location="cpu"), options, [
        "--recipe", "binaryconnect", "--binary-channel-scale"]


def fresh_sgd(model: nn.Module, lr: float, weight_decay: float) -> dict:
    """The state_dict of an SGD optimizer that has not stepped yet (no momentum buffers)."""
    return torch.optim.SGD(model.parameters(), lr, momentum=0.9, weight_decay=weight_decay).state_dict()


METHODS = {"dgms": build_dgms, "s3": build_s3, "deepshift": build_deepshift,
           "binaryconnect": build_binaryconnect}


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])


def write(method: str, pretrained: dict, test, float_top1: float, out: Path) -> None:
    paths, labels, x = test
    common.seed_everything(0)
    model, obj, save, options, flags = METHODS[method](pretrained)
    folder = out / method
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / f"resnet20.{save['ext']}"
    common.save_checkpoint(obj, checkpoint, legacy=save["legacy"], location=save["location"])
    if save["legacy"]:
        legacy_keys.canonicalize(checkpoint)
    logits = predict(model, x)
    top1 = logits.argmax(dim=1)
    (folder / "resnet20.top1.txt").write_text("".join(f"{int(c)}\n" for c in top1))
    accuracy = 100.0 * float((top1 == labels).double().mean())
    record = {
        "method": method, "arch": "resnet20", "torch": torch.__version__, "checkpoint": checkpoint.name,
        "format": "legacy" if save["legacy"] else "zip", "source": PRETRAINED,
        "input": {"height": 32, "width": 32, "channels": 3, "mean": list(MEAN), "std": list(STD)},
        "qconvert_flags": ["--mean", ",".join(map(str, MEAN)), "--std", ",".join(map(str, STD))] + flags,
        "top1_pytorch": accuracy, "top1_float_model": float_top1, "images_evaluated": len(labels),
        "options": options,
        "images": [{"path": paths[i], "label": int(labels[i]), "logits": common.f32_list(logits[i])}
                   for i in range(REFERENCE_IMAGES)],
    }
    (folder / "resnet20.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"{method}: {checkpoint} ({checkpoint.stat().st_size} bytes), PyTorch top-1 {accuracy:.2f} "
          f"(float model {float_top1:.2f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=common.ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=common.ROOT / "models" / "realweights")
    args, methods = common.parse_methods(parser, METHODS)
    torch.set_num_threads(1)
    if not (args.data / PRETRAINED).is_file():
        sys.exit(f"gen_realweights.py: no {args.data / PRETRAINED}")
    pretrained = load_pretrained(args.data)
    test = load_test_set(args.data)
    reference = resnet20(plain_conv)
    load_float_parts(reference, pretrained)
    float_top1 = 100.0 * float((predict(reference, test[2]).argmax(dim=1) == test[1]).double().mean())
    print(f"float ResNet-20: PyTorch top-1 {float_top1:.2f} on {len(test[1])} images")
    for method in methods:
        write(method, pretrained, test, float_top1, args.out)


if __name__ == "__main__":
    main()
