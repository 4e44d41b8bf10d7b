#!/usr/bin/env python3
"""Writes the S3 fixtures (S3: Sign-Sparse-Shift Reparametrization for Effective Training of Low-bit
Shift Networks, Li et al., NeurIPS 2021): Tests/Fixtures/seeds/s3/{resnet18.pth.tar, resnet18.json,
resnet18_released.pth, resnet18_released.json}.

    /work/venv/bin/python toolchain/seeds/gen_s3.py            # writes the fixtures
    /work/venv/bin/python toolchain/seeds/gen_s3.py --verify   # reloads them and checks the JSON

An S3 conv (S3Conv2dShift3bit) holds `weight` (also registered as `weight_sign`: one tensor, two keys),
`weight_val`, `weight_shift`, `weight_shift2`; its weight at inference is, float32, elementwise:
    b01(x) = (sign(x) - (x == 0) + 1) * 0.5      1 if x > 0 else 0          (-0.0 -> 0)
    bpm(x) = sign(x) + (x == 0)                  +1 if x >= 0 else -1       (-0.0 -> +1)
    p = b01(weight_shift) * (b01(weight_shift2) + 1)                        in {0, 1, 2}
    W = bpm(weight_sign) * b01(weight_val) * 2^p                            in {0, +-1, +-2, +-4}
no scale (BatchNorm absorbs it); activations stay float. Every 3x3 conv of the blocks and every
downsample.0 (1x1) is S3; the stem conv1 (7x7/2) and fc are full precision.

Fixtures (random but trained-like; BatchNorm statistics calibrated on synthetic images through the S3
weights; exact 0.0 and -0.0 placed in the four tensors so the sign rules above are exercised):
  resnet18           torchvision ResNet-18 layout at base width 4 (4/8/16/32; the real one is
                     64/128/256/512), fc 32 -> 10 classes (real 512 -> 1000), 64x64 input, global
                     average pool; {epoch, arch, state_dict (module.), best_acc1 (a 0-dim tensor, as the
                     ImageNet example saves it), optimizer (SGD momentum)}, zip format, tagged cuda:0.
  resnet18_released  the same network with W materialised in `weight` and no sign/val/shift tensors:
                     a bare state_dict with the module. prefix, zip format; identical logits.
  resnet10_lightning the torchvision layout with one block per stage (ResNet-10, a depth S3 does not
                     ship), base width 4, inside a PyTorch Lightning checkpoint (keys `model.`, SGD state).
"""
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

METHOD = "s3"
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
SIZE = 64
BASE = 4                # torchvision's is 64
CLASSES = 10
INPUT_SEEDS = [1, 2, 3, 4, 5]


def binarize01(x: torch.Tensor) -> torch.Tensor:
    return (x.sign() - (x == 0).float() + 1) * 0.5


def binarize_pm(x: torch.Tensor) -> torch.Tensor:
    return x.sign() + (x == 0).float()


class S3Conv2d(nn.Conv2d):
    """S3Conv2dShift3bit: `weight_sign` is the very Parameter `weight` (registered under both names)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.weight_sign = self.weight
        shape = self.weight.shape
        self.weight_val = nn.Parameter(torch.zeros(shape))
        self.weight_shift = nn.Parameter(torch.zeros(shape))
        self.weight_shift2 = nn.Parameter(torch.zeros(shape))

    def shift_weight(self) -> torch.Tensor:
        shift_bits = binarize01(self.weight_shift) * (binarize01(self.weight_shift2) + 1)
        base = torch.ones_like(self.weight_val) * 2
        return binarize_pm(self.weight_sign) * binarize01(self.weight_val) * torch.pow(base, shift_bits)

    def forward(self, x):
        return F.conv2d(x, self.shift_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups)


class BasicBlock(nn.Module):
    def __init__(self, conv, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = conv(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv(cout, cout, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(conv(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        residual = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + residual)


class ResNet(nn.Module):
    """torchvision's ResNet module names with BasicBlocks, `blocks` per stage (ResNet-18: 2, 2, 2, 2);
    `conv` builds the block convs and downsample.0."""

    def __init__(self, conv, base: int, classes: int, blocks=(2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, base, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        cin = base
        for i, (stride, n) in enumerate(zip([1, 2, 2, 2], blocks)):
            cout = base * 2 ** i
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(conv, cin, cout, stride),
                                                        *[BasicBlock(conv, cout, cout, 1) for _ in range(n - 1)]))
            cin = cout
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@torch.no_grad()
def make_trained_like(model: nn.Module, gen: torch.Generator) -> dict:
    """Trained-like S3 parameters (about 30% of weight_val <= 0, so about 30% zeros; shifts spread over
    p = 0, 1, 2) plus exact zeros: two 0.0 and two -0.0 in each of the four tensors of every S3 conv.
    Returns how many exact zeros of each kind were placed."""
    placed = {"positive_zero": 0, "negative_zero": 0}
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(0.6 + 0.8 * torch.rand(m.weight.shape, generator=gen))
            m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
        if not isinstance(m, S3Conv2d):
            continue
        std = (2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)) ** 0.5
        shape = m.weight.shape
        m.weight.copy_(std * torch.randn(shape, generator=gen))
        m.weight_val.copy_(std * (0.5 + torch.randn(shape, generator=gen)))
        m.weight_shift.copy_(std * (-0.2 + torch.randn(shape, generator=gen)))
        m.weight_shift2.copy_(std * (-0.2 + torch.randn(shape, generator=gen)))
        for t in (m.weight, m.weight_val, m.weight_shift, m.weight_shift2):
            flat = t.view(-1)
            where = torch.randperm(flat.numel(), generator=gen)[:4]
            flat[where[:2]] = 0.0
            flat[where[2:]] = -0.0
            placed["positive_zero"] += 2
            placed["negative_zero"] += 2
    model.fc.weight.copy_(0.5 * torch.randn(model.fc.weight.shape, generator=gen))
    model.fc.bias.copy_(0.1 * torch.randn(model.fc.bias.shape, generator=gen))
    return placed


def build(seed: int, blocks=(2, 2, 2, 2)):
    common.seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ResNet(S3Conv2d, BASE, CLASSES, blocks)
    placed = make_trained_like(model, gen)
    batches = common.calibration_batches(SIZE, SIZE, 3, IMAGENET_MEAN, IMAGENET_STD, count=4, batch=16)
    common.calibrate_batchnorm(model, lambda m, x: m(x), batches)
    center_head(model, batches)
    return model, placed


@torch.no_grad()
def center_head(model: nn.Module, batches: list) -> None:
    """fc.bias = -fc.weight @ (mean pooled feature over `batches`) + noise: without it every image's
    ReLU features look alike and a random head gives every image the same class; a trained head does not."""
    feats = []
    hook = model.avgpool.register_forward_hook(lambda mod, inp, out: feats.append(torch.flatten(out, 1)))
    for x in batches:
        model(x)
    hook.remove()
    mean = torch.cat(feats).mean(dim=0)
    model.fc.bias.copy_(-(model.fc.weight @ mean) + 0.1 * model.fc.bias)


@torch.no_grad()
def released_copy(model: nn.Module) -> nn.Module:
    """The same network with plain convs whose `weight` holds W."""
    plain = ResNet(nn.Conv2d, BASE, CLASSES)
    state = {}
    for name, m in model.named_modules():
        if isinstance(m, S3Conv2d):
            state[name + ".weight"] = m.shift_weight()
    for key, value in model.state_dict().items():
        if not key.endswith(("weight_sign", "weight_val", "weight_shift", "weight_shift2")):
            state.setdefault(key, value)
    plain.load_state_dict(state, strict=True)
    plain.eval()
    return plain


def logits_for(model, inputs):
    with torch.no_grad():
        return [model(common.load_input(rel, IMAGENET_MEAN, IMAGENET_STD))[0] for rel in inputs]


def layer_records(model, prefix: str = "module.") -> list:
    """Per S3 conv: how many weights take each value of {-4, -2, -1, 0, 1, 2, 4}."""
    records = []
    for name, m in model.named_modules():
        if isinstance(m, S3Conv2d):
            w = m.shift_weight().detach()
            records.append({"name": prefix + name, "shape": list(w.shape),
                            "value_counts": {str(v): int((w == v).sum()) for v in (-4, -2, -1, 0, 1, 2, 4)}})
    return records


def fixture_record(ckpt: Path, options: dict, inputs, logits, margins, notes: str, arch: str = "resnet18") -> dict:
    return {
        "arch": arch,
        "checkpoint": ckpt.name,
        "format": "zip",
        "input": {"height": SIZE, "width": SIZE, "channels": 3, "mean": IMAGENET_MEAN, "std": IMAGENET_STD},
        "options": options,
        "images": [{"path": rel, "logits": common.f32_list(l), "top2_margin": round(m, 6)}
                   for rel, l, m in zip(inputs, logits, margins)],
        "notes": notes,
    }


def verify() -> None:
    """Reloads both written checkpoints into fresh networks and checks the JSON's logits exactly."""
    for name, conv in (("resnet18", S3Conv2d), ("resnet18_released", nn.Conv2d)):
        record = common.read_fixture_json(METHOD, name)
        loaded = common.load_checkpoint(METHOD, name)
        state = loaded["state_dict"] if name == "resnet18" else loaded
        model = ResNet(conv, record["options"]["base_width"], record["options"]["classes"])
        model.load_state_dict(common.strip_prefix(state, "module."), strict=True)
        model.eval()
        logits = logits_for(model, [im["path"] for im in record["images"]])
        assert all(common.f32_list(l) == im["logits"] for l, im in zip(logits, record["images"])), name
        if conv is S3Conv2d:
            assert layer_records(model) == record["options"]["layers"]
        print(f"{name}: checkpoint reloads to the recorded logits")
    record = common.read_fixture_json(METHOD, "resnet10_lightning")
    model = ResNet(S3Conv2d, record["options"]["base_width"], record["options"]["classes"], RESNET10_BLOCKS)
    model.load_state_dict(common.strip_prefix(common.load_checkpoint(METHOD, "resnet10_lightning")["state_dict"],
                                              "model."), strict=True)
    model.eval()
    logits = logits_for(model, [im["path"] for im in record["images"]])
    assert all(common.f32_list(l) == im["logits"] for l, im in zip(logits, record["images"])), "resnet10_lightning"
    assert layer_records(model, "model.") == record["options"]["layers"]
    print("resnet10_lightning: checkpoint reloads to the recorded logits")


RESNET10_BLOCKS = (1, 1, 1, 1)


def write_resnet10_lightning(inputs) -> None:
    """ResNet-10 (one BasicBlock per stage) with S3 convs, in a PyTorch Lightning checkpoint."""
    for seed in range(100):
        model, _ = build(seed, RESNET10_BLOCKS)
        logits = logits_for(model, inputs)
        margins = [common.top2_margin(l) for l in logits]
        if min(margins) >= 1e-2:
            break
    gen = torch.Generator().manual_seed(1000 + seed)
    ckpt = common.checkpoint_path(METHOD, "resnet10_lightning", "ckpt")
    common.save_checkpoint(common.lightning_checkpoint("model", model, {"arch": "resnet10", "lr": 0.1}, gen), ckpt,
                           legacy=False, location="cuda:0")
    layers = layer_records(model, "model.")
    options = {"model_seed": seed, "base_width": BASE, "real_base_width": 64, "classes": CLASSES,
               "blocks": list(RESNET10_BLOCKS), "s3_convs": [r["name"] for r in layers],
               "full_precision": ["model.conv1", "model.fc"], "layers": layers}
    common.write_fixture_json(METHOD, "resnet10_lightning", fixture_record(ckpt, options, inputs, logits, margins, (
        "torchvision ResNet layout with one BasicBlock per stage (ResNet-10) at base width 4 (4/8/16/32), fc "
        "32->10, 64x64 input, S3 convs as in the resnet18 fixture (weight and weight_sign one storage). Saved "
        "as PyTorch Lightning's ModelCheckpoint does for a LightningModule holding the network as self.model: "
        "{epoch, global_step, pytorch-lightning_version, state_dict (model.), loops, callbacks, "
        "optimizer_states (SGD momentum), lr_schedulers, hparams_name, hyper_parameters}, zip, tagged cuda:0."),
        arch="resnet10"))
    print(f"resnet10_lightning: seed {seed}, {ckpt.stat().st_size} bytes, min margin {min(margins):.4f}")


def main():
    torch.set_num_threads(1)
    if "--verify" in sys.argv:
        verify()
        return
    inputs = [common.write_input(SIZE, SIZE, 3, s) for s in INPUT_SEEDS]
    for seed in range(100):
        model, placed = build(seed)
        logits = logits_for(model, inputs)
        margins = [common.top2_margin(l) for l in logits]
        if min(margins) >= 1e-2:
            break
        print(f"model seed {seed}: top-2 margin {min(margins):.4f} < 1e-2, next seed")
    released = released_copy(model)
    released_logits = logits_for(released, inputs)
    assert all(torch.equal(a, b) for a, b in zip(logits, released_logits)), "released logits differ"

    wrapped = nn.DataParallel(model)          # on CPU it only adds the module. prefix, like the GPU run
    gen = torch.Generator().manual_seed(1000 + seed)
    group = {"lr": 0.0001, "momentum": 0.9, "dampening": 0, "weight_decay": 0.0001, "nesterov": False}
    optimizer = common.optimizer_state(list(wrapped.parameters()), {"momentum_buffer": "normal"}, group, gen)
    obj = {"epoch": 200, "arch": "resnet18", "state_dict": wrapped.state_dict(),
           "best_acc1": torch.tensor(69.83), "optimizer": optimizer}
    ckpt = common.checkpoint_path(METHOD, "resnet18", "pth.tar")
    common.save_checkpoint(obj, ckpt, legacy=False, location="cuda:0")
    layers = layer_records(model)
    s3_convs = [r["name"] for r in layers]
    options = {"model_seed": seed, "base_width": BASE, "real_base_width": 64, "classes": CLASSES,
               "s3_convs": s3_convs, "full_precision": ["module.conv1", "module.fc"],
               "exact_zeros_per_s3_tensor": {"0.0": 2, "-0.0": 2},
               "layers": layers}
    common.write_fixture_json(METHOD, "resnet18", fixture_record(ckpt, options, inputs, logits, margins, (
        "torchvision ResNet-18 layout at base width 4 (4/8/16/32; real 64/128/256/512), fc 32->10 (real "
        "512->1000), 64x64 input, adaptive average pool to 1x1 (the S3 code's AvgPool2d(7) at 224). "
        "Training checkpoint: {epoch, arch, state_dict (module.), best_acc1 (0-dim float32 tensor), "
        "optimizer (SGD momentum)}, zip format, storages tagged cuda:0. weight and weight_sign are one "
        "storage under two keys.")))

    rel_ckpt = common.checkpoint_path(METHOD, "resnet18_released", "pth")
    common.save_checkpoint(nn.DataParallel(released).state_dict(), rel_ckpt, legacy=False)
    rel_options = {"model_seed": seed, "base_width": BASE, "real_base_width": 64, "classes": CLASSES,
                   "shift_convs": s3_convs, "full_precision": ["module.conv1", "module.fc"]}
    common.write_fixture_json(METHOD, "resnet18_released", fixture_record(
        rel_ckpt, rel_options, inputs, released_logits, margins, (
            "The resnet18 fixture's network with W = bpm(sign) * b01(val) * 2^p materialised in weight "
            "(values {0, +-1, +-2, +-4}, -0.0 where a zero came from a negative sign) and no "
            "weight_sign/val/shift/shift2 tensors: a bare state_dict with the module. prefix, zip format. "
            "Its logits equal the resnet18 fixture's exactly.")))
    print(f"seed {seed}, {ckpt.stat().st_size} + {rel_ckpt.stat().st_size} bytes, min margin "
          f"{min(margins):.4f}, top-1 {[int(l.argmax()) for l in logits]}")
    write_resnet10_lightning(inputs)


if __name__ == "__main__":
    main()
