"""Training Quantized Nets (Li et al., NeurIPS 2017) fixtures: BinaryConnect and stochastic rounding.
The paper has no official code, so the layouts are chosen here (see toolchain/seeds/README.md):

  resnet56_bc: CIFAR ResNet-56 with option-A shortcuts, akamaster/pytorch_resnet_cifar10 keys with the
    DataParallel 'module.' prefix. Every conv of layer1..layer3 is a BinaryConnect conv: the checkpoint
    holds the latent float weights (clipped to [-1, 1] as BinaryConnect does), inference uses sign(w)
    with no scale (BatchNorm absorbs it). conv1 and linear stay full precision. Float activations.
  vgg9_sr: a VGG-9 (8 convs + 1 linear) in the kuangliu/pytorch-cifar layout (features.N Sequential of
    Conv2d(bias)/BatchNorm2d/ReLU/MaxPool2d, then classifier Linear). Every conv and the classifier hold
    weights already on a stochastic-rounding grid: w = float32(q) * float32(Delta_l), q in [-7, 7]
    integer, one Delta_l per layer (not a power of two); biases and BN are float. Inference is the
    plain float network on those weights; a converter recovers Delta_l and the codes q.

    toolchain/.venv/bin/python toolchain/seeds/gen_binaryconnect.py

Both are saved as a plain {'state_dict', 'epoch', 'best_prec1'} dict in the zip format.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import akamaster_resnet
import calibration
import common

METHOD = "binaryconnect"
IMAGES = 5

RESNET_WIDTHS = (8, 16, 32)             # real ResNet-56: 16/32/64; WRN-56-2: 32/64/128
RESNET_MEAN, RESNET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)   # akamaster's normalisation

VGG_CFG = [8, "M", 16, "M", 32, 32, "M", 64, 64, "M", 64, 64, "M"]
VGG_REAL_CFG = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
VGG_MEAN, VGG_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
SR_MAX_CODE = 7


class BinaryConnectConv2d(nn.Conv2d):
    """3x3 conv, no bias; `weight` holds the latent float weights, the forward uses sign(weight)."""

    def __init__(self, cin, cout, stride):
        super().__init__(cin, cout, 3, stride, 1, bias=False)

    def forward(self, x):
        return F.conv2d(x, torch.sign(self.weight), None, self.stride, self.padding)


def build_resnet56(gen: torch.Generator) -> nn.Module:
    model = empty_model("resnet56_bc")
    for m in model.modules():
        if isinstance(m, BinaryConnectConv2d):
            m.weight.data = (torch.randn(m.weight.shape, generator=gen) * 0.35).clamp(-1, 1)
            m.weight.data.view(-1)[:2] = torch.tensor([1.0, -1.0])   # clipped latent weights
            assert not (m.weight == 0).any(), "sign(0) would be ambiguous without official code"
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(m.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in)
            if m.bias is not None:
                m.bias.data = torch.randn(m.bias.shape, generator=gen) * 0.05
    calibration.randomize_batchnorm(model, gen)
    return model


class VGG(nn.Module):
    def __init__(self, cfg, classes=10):
        super().__init__()
        layers, cin = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                cin = v
        layers.append(nn.AvgPool2d(1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, classes)

    def forward(self, x):
        return self.classifier(self.features(x).view(x.size(0), -1))


def stochastic_round_to_grid(w: torch.Tensor, delta: float, gen: torch.Generator):
    """(codes, weights): q = floor(w/Delta) + Bernoulli(frac), clipped to +-SR_MAX_CODE;
    weights = float32(q) * float32(Delta), as a training step that rounds stochastically leaves them."""
    scaled = w / delta
    low = torch.floor(scaled)
    q = (low + (torch.rand(w.shape, generator=gen) < (scaled - low)).float()).clamp(-SR_MAX_CODE, SR_MAX_CODE)
    return q, q * torch.tensor(delta, dtype=torch.float32)


def build_vgg9(gen: torch.Generator):
    model = empty_model("vgg9_sr")
    deltas = {}
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            sigma = math.sqrt(2.0 / fan_in)
            w = torch.randn(m.weight.shape, generator=gen) * sigma
            # A step of about sigma/2, deliberately not a power of two; float32 as a training run stores it.
            delta = float(torch.tensor(round(sigma * (0.45 + 0.1 * float(torch.rand(1, generator=gen))), 5),
                                       dtype=torch.float32))
            q, m.weight.data = stochastic_round_to_grid(w, delta, gen)
            assert (q.abs() == 1).any() and torch.equal(m.weight.data, q * torch.tensor(delta))
            deltas[name] = {"delta": delta, "code_min": int(q.min()), "code_max": int(q.max()),
                            "zero_codes": int((q == 0).sum()), "weights": q.numel()}
            m.bias.data = torch.randn(m.bias.shape, generator=gen) * 0.05
    calibration.randomize_batchnorm(model, gen)
    return model, deltas


def save(name: str, ext: str, state_dict, epoch: int, best_prec1: float):
    path = common.checkpoint_path(METHOD, name, ext)
    common.save_checkpoint({"state_dict": state_dict, "epoch": epoch, "best_prec1": best_prec1}, path,
                           legacy=False)
    return path


def generate_resnet56():
    common.seed_everything(2017)
    gen = torch.Generator().manual_seed(2017)
    model = build_resnet56(gen)
    calibration.calibrate_batchnorm(model, calibration.calibration_batch(64, 32, 3, RESNET_MEAN, RESNET_STD),
                                    200 * 391)
    path = save("resnet56_bc", "th", nn.DataParallel(model).state_dict(), 200, 91.2)
    images = calibration.pick_inputs(model, 32, 3, RESNET_MEAN, RESNET_STD, IMAGES)
    binary = [n for n, m in model.named_modules() if isinstance(m, BinaryConnectConv2d)]
    common.write_fixture_json(METHOD, "resnet56_bc", {
        "arch": "resnet56",
        "checkpoint": f"resnet56_bc.th",
        "format": "zip",
        "input": {"height": 32, "width": 32, "channels": 3, "mean": list(RESNET_MEAN), "std": list(RESNET_STD)},
        "options": {
            "scheme": "binaryconnect",
            "weights": "sign(w), no scale, for every conv of layer1..layer3 (latent float weights saved)",
            "binary_layers": len(binary),
            "full_precision": ["conv1", "linear"],
            "activations": "float",
            "key_prefix": "module.",
            "shortcut": "option A",
            "widths": list(RESNET_WIDTHS),
            "real_widths": {"resnet56": [16, 32, 64], "wrn56_2": [32, 64, 128]},
        },
        "images": images,
        "notes": (
            "No official code: layout chosen as akamaster/pytorch_resnet_cifar10 ResNet-56 (option-A "
            "shortcuts, keys conv1, bn1, layerL.B.{conv1,bn1,conv2,bn2}, linear, saved from a DataParallel "
            "model). Randomly initialised, not trained: latent binary-conv weights N(0, 0.35^2) clipped to "
            "[-1, 1] (the first two entries of each are exactly +1 and -1), none exactly 0, so the "
            "sign(0) convention is not exercised; conv1/linear He-normal; BN affine randomised and running "
            "stats measured on 64 synthetic images through the binary forward; best_prec1 a placeholder. "
            f"Widths reduced to {list(RESNET_WIDTHS)}; a WRN-56-2 has the same keys at 32/64/128. "
            f"Logits: PyTorch {torch.__version__} float32, 1 thread."),
    })
    print(f"resnet56_bc: {path.stat().st_size} bytes, inputs {[i['path'] for i in images]}")


def generate_vgg9():
    common.seed_everything(2018)
    gen = torch.Generator().manual_seed(2018)
    model, deltas = build_vgg9(gen)
    calibration.calibrate_batchnorm(model, calibration.calibration_batch(64, 32, 3, VGG_MEAN, VGG_STD),
                                    200 * 391)
    path = save("vgg9_sr", "pth", model.state_dict(), 200, 84.5)
    images = calibration.pick_inputs(model, 32, 3, VGG_MEAN, VGG_STD, IMAGES)
    common.write_fixture_json(METHOD, "vgg9_sr", {
        "arch": "vgg9",
        "checkpoint": f"vgg9_sr.pth",
        "format": "zip",
        "input": {"height": 32, "width": 32, "channels": 3, "mean": list(VGG_MEAN), "std": list(VGG_STD)},
        "options": {
            "scheme": "stochastic-rounding",
            "weights": "already on the grid: w = float32(q) * float32(delta), q integer in "
                       f"[-{SR_MAX_CODE}, {SR_MAX_CODE}]; every conv and the classifier",
            "grid": deltas,
            "activations": "float",
            "key_prefix": "",
            "cfg": VGG_CFG,
            "real_cfg": VGG_REAL_CFG,
        },
        "images": images,
        "notes": (
            "No official code: layout chosen as kuangliu/pytorch-cifar VGG (features.N = Conv2d 3x3 "
            "padding 1 with bias, BatchNorm2d, ReLU; MaxPool2d(2) at 'M'; AvgPool2d(1) at the end; "
            "classifier Linear), VGG-9 = 8 convs + 1 linear, saved without prefix. Randomly initialised: "
            "He-normal weights stochastically rounded to a per-layer grid (options.grid: delta as float32, "
            "code range, zero codes), every layer has codes +-1 so the smallest nonzero |w| is delta; "
            "reconstructing float32(q) * float32(delta) gives the stored float32 exactly. Conv biases, "
            "BN and activations float; BN running stats measured on 64 synthetic images; best_prec1 a "
            f"placeholder. Widths reduced 8x ({VGG_CFG} vs {VGG_REAL_CFG}). Logits: PyTorch "
            f"{torch.__version__} float32, 1 thread."),
    })
    print(f"vgg9_sr: {path.stat().st_size} bytes, inputs {[i['path'] for i in images]}")


def empty_model(name: str) -> nn.Module:
    """The fixture's architecture with this file's forward, for verify_fixtures.py to load weights into."""
    if name == "resnet56_bc":
        stem = lambda cin, cout, stride: nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        return akamaster_resnet.CifarResNetA(56, RESNET_WIDTHS, stem, BinaryConnectConv2d, nn.Linear)
    assert name == "vgg9_sr"
    return VGG(VGG_CFG)


def main():
    torch.set_num_threads(1)
    generate_resnet56()
    generate_vgg9()


if __name__ == "__main__":
    main()
