#!/usr/bin/env python3
"""Fixtures for the architecture families at depths, widths and wrappers the other fixtures do not use
(Tests/Fixtures/seeds/families/): float networks saved the way ordinary PyTorch training code saves them,
and the PyTorch float32 logits the converter must reproduce with no --arch.

    /work/venv/bin/python toolchain/seeds/gen_families.py            # writes every fixture
    /work/venv/bin/python toolchain/seeds/gen_families.py --verify   # reloads them, checks the JSON exactly

| fixture | network (real widths in the JSON notes) | checkpoint |
|---|---|---|
| resnet10 | torchvision layout, BasicBlock [1,1,1,1], base 8 | bare state_dict (torchvision's released files) |
| resnet10_lightning | the same network | PyTorch Lightning .ckpt, `model.` keys, SGD state |
| resnet26_bottleneck | torchvision layout, Bottleneck [1,2,4,1] (resnet101's deep-third-stage pattern), base 6 | ImageNet example: {epoch, arch, state_dict (module.), best_acc1, optimizer} |
| resnext14 | torchvision ResNeXt layout, Bottleneck [1,1,1,1], groups 4, width_per_group 16, base 8 | {"model": state_dict} |
| resnet18_cifar | kuangliu CIFAR ResNet-18: 3x3 stem, [2,2,2,2], shortcut.0/.1, linear, base 6 | {net (module.), acc, epoch} |
| resnet26_cifar | akamaster option-A CIFAR ResNet-26 (n = 4), widths 8/16/32 | {epoch, state_dict (module.), best_prec1} |
| vgg11_cifar | kuangliu VGG, cfg [4,4,M,8,8,M,16,16,M,32,32,M,32,32,M] with BN (VGG13 cfg at 1/16 width) | bare state_dict |
| vgg14_nobn | VGG without BatchNorm (conv+bias, ReLU, pool), VGG16 cfg at 1/16 width | {state_dict, epoch} |
| mobilenetv2_01 | torchvision MobileNetV2, width_mult 0.1 | bare state_dict |
| mnasnet_01 | torchvision MNASNet, alpha 0.1 | {"model": state_dict, "epoch"} |

`layouts.json` holds the key names and shapes of real-size networks too big to commit (torchvision's
resnet101, resnet152, resnext50_32x4d, wide_resnet50_2, akamaster's resnet1202), built on the meta device
from the same classes: the converter's recognition is checked on them (no weights).

Random weights (torchvision's init), BatchNorm affine randomised and running statistics measured on 64
synthetic images (calibration.py), the last BatchNorm of every residual branch scaled by 0.3 (trained
networks keep residual branches small), classifier x20 with its bias centred on the mean feature so that
the logits depend on the image. 1 thread, deterministic.
"""
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import akamaster_resnet  # noqa: E402
import calibration  # noqa: E402
import common  # noqa: E402
import gen_archs  # noqa: E402
import resnet_layouts as rl  # noqa: E402
import torchvision_mobile as tvm  # noqa: E402

METHOD = "families"
IMAGES = 5
CLASSES = 10
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
KUANGLIU = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))


class VGG(nn.Module):
    """A CIFAR VGG: `features.N` of Conv2d 3x3 pad 1 (bias), [BatchNorm2d], ReLU per number of `cfg`,
    MaxPool2d(2) per "M"; with BatchNorm kuangliu/pytorch-cifar's layout (AvgPool2d(1) at the end), without
    it torchvision's features layout; then one `classifier` Linear on the flattened map."""

    def __init__(self, cfg, batch_norm: bool, classes=CLASSES):
        super().__init__()
        layers, cin = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(cin, v, 3, padding=1))
            layers += [nn.BatchNorm2d(v), nn.ReLU(inplace=True)] if batch_norm else [nn.ReLU(inplace=True)]
            cin = v
        if batch_norm:
            layers.append(nn.AvgPool2d(1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(cin, classes)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def akamaster_resnet26() -> nn.Module:
    stem = lambda cin, cout, stride: nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    block = lambda cin, cout, stride: nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    return akamaster_resnet.CifarResNetA(26, (8, 16, 32), stem, block, nn.Linear, CLASSES)


def akamaster_features(model):
    def features(x):
        out = F.relu(model.bn1(model.conv1(x)))
        out = model.layer3(model.layer2(model.layer1(out)))
        return F.avg_pool2d(out, out.size()[3]).flatten(1)
    return features


# name: (network, arch LowBit must report, input size, (mean, std), how it is saved, key prefix, notes)
FIXTURES = {
    "resnet10": dict(
        net=lambda: rl.ResNet(rl.BasicBlock, [1, 1, 1, 1], base=8, classes=CLASSES), arch="resnet10", size=64,
        norm=IMAGENET, save="bare", ext="pth", prefix="", seed=41,
        notes="torchvision ResNet layout (conv1 7x7/2, maxpool, layer1..4 of BasicBlocks, downsample.0/.1, fc) "
              "with one block per stage (ResNet-10) at base width 8 (8/16/32/64; real 64/128/256/512); a bare "
              "state_dict like torchvision's released files."),
    "resnet26_bottleneck": dict(
        net=lambda: rl.ResNet(rl.Bottleneck, [1, 2, 4, 1], base=6, classes=CLASSES), arch="resnet26", size=64,
        norm=IMAGENET, save="imagenet_example", ext="pth.tar", prefix="module.", seed=42,
        notes="torchvision ResNet layout with Bottleneck blocks [1,2,4,1], a deeper third stage like "
              "resnet101's [3,4,23,3], base width 6 (planes 6/12/24/48, outputs 24..192; real 64..2048); saved "
              "as pytorch/examples imagenet/main.py does: {epoch, arch, state_dict (module.), best_acc1 (0-d "
              "tensor), optimizer (SGD before its first step: no buffers)}."),
    "resnext14": dict(
        net=lambda: rl.ResNet(rl.Bottleneck, [1, 1, 1, 1], base=8, classes=CLASSES, groups=4, width_per_group=16),
        arch="resnext14_4x16d", size=64, norm=IMAGENET, save="model_key", ext="pth", prefix="", seed=43,
        notes="torchvision ResNeXt layout: Bottleneck [1,1,1,1], groups 4, width_per_group 16 (grouped 3x3 "
              "convs of 2 channels per group), base width 8 (real resnext50_32x4d: [3,4,6,3], groups 32, "
              "width 4, base 64); saved as {\"model\": state_dict}."),
    "resnet18_cifar": dict(
        net=lambda: rl.ResNet(rl.BasicBlock, [2, 2, 2, 2], base=6, classes=CLASSES, stem="cifar",
                              shortcut_name="shortcut", head_name="linear"),
        arch="resnet18-cifar", size=32, norm=KUANGLIU, save="kuangliu", ext="pth", prefix="module.", seed=44,
        notes="kuangliu/pytorch-cifar ResNet18: conv1 3x3/1, no maxpool, layer1..4 [2,2,2,2] BasicBlocks, "
              "shortcut.0/.1 (1x1 conv + BN) where the shape changes, avg_pool2d(4), linear; base width 6 "
              "(real 64); saved as its main.py does: {net (DataParallel, module.), acc, epoch}."),
    "resnet26_cifar": dict(
        net=akamaster_resnet26, arch="resnet26", size=32, norm=IMAGENET, save="akamaster", ext="th",
        prefix="module.", seed=45,
        notes="akamaster/pytorch_resnet_cifar10 ResNet with n = 4 blocks per stage (depth 26), option-A "
              "shortcuts (x[:, :, ::2, ::2] zero-padded, no weights), widths 8/16/32 (real 16/32/64); saved as "
              "its trainer.py does: {epoch, state_dict (module.), best_prec1}."),
    "vgg11_cifar": dict(
        net=lambda: VGG([4, 4, "M", 8, 8, "M", 16, 16, "M", 32, 32, "M", 32, 32, "M"], True), arch="vgg11",
        size=32, norm=KUANGLIU, save="bare", ext="pth", prefix="", seed=46,
        notes="kuangliu/pytorch-cifar VGG with the VGG13 cfg at 1/16 width ([4,4,M,8,8,M,16,16,M,32,32,M,32,32,M]; "
              "real [64,64,M,128,128,M,256,256,M,512,512,M,512,512,M]): features.N = Conv2d(bias), BatchNorm2d, "
              "ReLU, MaxPool2d(2), AvgPool2d(1); classifier Linear(32, 10). LowBit names VGGs by their weight "
              "layers in the checkpoint: 10 convs + 1 Linear = vgg11. A bare state_dict."),
    "vgg14_nobn": dict(
        net=lambda: VGG([4, 4, "M", 8, 8, "M", 16, 16, 16, "M", 32, 32, 32, "M", 32, 32, 32, "M"], False),
        arch="vgg14", size=32, norm=KUANGLIU, save="state_dict", ext="pth", prefix="", seed=47,
        notes="a VGG without BatchNorm (torchvision's features layout: Conv2d(bias), ReLU, MaxPool2d(2)) with the "
              "VGG16 cfg at 1/16 width ([4,4,M,8,8,M,16,16,16,M,32,32,32,M,32,32,32,M]) and one classifier Linear(32, 10): 13 convs + 1 Linear = vgg14; saved as "
              "{state_dict, epoch}."),
    "mobilenetv2_01": dict(
        net=lambda: tvm.MobileNetV2(0.1, CLASSES), arch="mobilenet_v2", size=64, norm=IMAGENET, save="bare",
        ext="pth", prefix="", seed=48,
        notes="torchvision MobileNetV2 at width_mult 0.1 (channels 8/8/8/8/8/16/16/32, last 1280 as "
              "torchvision keeps it; the plain fixture uses 0.25), a bare state_dict."),
    "mnasnet_01": dict(
        net=lambda: tvm.MNASNet(0.1, CLASSES), arch="mnasnet", size=64, norm=IMAGENET, save="model_key",
        ext="pth", prefix="", seed=49,
        notes="torchvision MNASNet at alpha 0.1 (depths 8/8/8/8/8/16/24/32, final 1280; the DGMS fixture uses "
              "0.25), saved as {\"model\": state_dict, \"epoch\"}."),
}

FIXTURES["resnet10_lightning"] = dict(
    FIXTURES["resnet10"], save="lightning", ext="ckpt", prefix="model.",
    notes="the resnet10 network inside a PyTorch Lightning checkpoint: {epoch, global_step, "
          "pytorch-lightning_version, state_dict (keys model.: the LightningModule holds it as self.model), "
          "loops, callbacks, optimizer_states (SGD with momentum buffers), lr_schedulers, hparams_name, "
          "hyper_parameters}; the same weights and logits as resnet10.")

# Real-size layouts (keys and shapes only) for recognition tests: name -> (network, arch LowBit must report)
LAYOUTS = {
    "resnet101": (lambda: rl.ResNet(rl.Bottleneck, [3, 4, 23, 3]), "resnet101"),
    "resnet152": (lambda: rl.ResNet(rl.Bottleneck, [3, 8, 36, 3]), "resnet152"),
    "resnext50_32x4d": (lambda: rl.ResNet(rl.Bottleneck, [3, 4, 6, 3], groups=32, width_per_group=4), "resnext50_32x4d"),
    "wide_resnet50_2": (lambda: rl.ResNet(rl.Bottleneck, [3, 4, 6, 3], width_per_group=128), "wide_resnet50_2"),
    "resnet1202": (lambda: akamaster_resnet.CifarResNetA(
        1202, (16, 32, 64), lambda i, o, s: nn.Conv2d(i, o, 3, s, 1, bias=False),
        lambda i, o, s: nn.Conv2d(i, o, 3, s, 1, bias=False), nn.Linear), "resnet1202"),
}


def features_and_head(model: nn.Module):
    """(features function, head Linear) of any fixture network."""
    if isinstance(model, rl.ResNet):
        return model.features, model.head()
    if isinstance(model, akamaster_resnet.CifarResNetA):
        return akamaster_features(model), model.linear
    if isinstance(model, VGG):
        return lambda x: model.features(x).flatten(1), model.classifier
    if isinstance(model, tvm.MobileNetV2):
        return gen_archs.mobilenet_features(model), model.classifier[1]
    return gen_archs.mnasnet_features(model), model.classifier[1]


@torch.no_grad()
def damp_residual_branches(model: nn.Module, factor: float = 0.3) -> None:
    """Scales the BatchNorm gamma that ends every residual branch by `factor` (trained networks keep
    residual branches small against the identity path)."""
    for m in model.modules():
        if isinstance(m, rl.Block):
            rl.last_norm(m).weight.mul_(factor)
        elif isinstance(m, akamaster_resnet.BasicBlock):
            m.bn2.weight.mul_(factor)
        elif isinstance(m, tvm.InvertedResidual) and m.use_res_connect:
            m.conv[-1].weight.mul_(factor)
        elif isinstance(m, tvm.MnasInvertedResidual) and m.apply_residual:
            m.layers[7].weight.mul_(factor)


@torch.no_grad()
def init_biases(model: nn.Module, gen: torch.Generator) -> None:
    """Small random conv biases (the VGGs have them; torchvision's init zeroes them)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            m.bias.copy_(0.05 * torch.randn(m.bias.shape, generator=gen))


def build(spec: dict) -> nn.Module:
    gen = torch.Generator().manual_seed(spec["seed"])
    common.seed_everything(spec["seed"])
    model = spec["net"]()
    gen_archs.torchvision_init(model, gen)
    init_biases(model, gen)
    calibration.randomize_batchnorm(model, gen)
    damp_residual_branches(model)
    mean, std = spec["norm"]
    batch = calibration.calibration_batch(64, spec["size"], 3, mean, std)
    calibration.calibrate_batchnorm(model, batch, 90 * 5005)
    features, head = features_and_head(model)
    head.weight.data *= 20.0
    gen_archs.centre_head(model, features, head, head.weight, batch, gen)
    return model


def checkpoint_object(spec: dict, model: nn.Module):
    """The object torch.save writes, as the training code named in the fixture's notes saves it."""
    kind = spec["save"]
    gen = torch.Generator().manual_seed(1000 + spec["seed"])
    if kind == "bare":
        return model.state_dict()
    if kind == "lightning":
        return common.lightning_checkpoint("model", model, {"arch": "resnet10", "lr": 0.1, "num_classes": CLASSES}, gen)
    if kind == "model_key":
        return {"model": model.state_dict(), "epoch": 120} if isinstance(model, tvm.MNASNet) else {"model": model.state_dict()}
    if kind == "state_dict":
        return {"state_dict": model.state_dict(), "epoch": 300}
    wrapped = nn.DataParallel(model)          # on CPU it only adds the module. prefix, like the GPU run
    if kind == "kuangliu":
        return {"net": wrapped.state_dict(), "acc": 94.37, "epoch": 199}
    if kind == "akamaster":
        return {"epoch": 200, "state_dict": wrapped.state_dict(), "best_prec1": 92.03}
    assert kind == "imagenet_example"
    optimizer = torch.optim.SGD(wrapped.parameters(), 0.1, momentum=0.9, weight_decay=1e-4)
    return {"epoch": 90, "arch": "resnet26", "state_dict": wrapped.state_dict(), "best_acc1": torch.tensor(71.25),
            "optimizer": optimizer.state_dict()}


def state_dict_of(loaded, spec: dict) -> dict:
    """The network's state_dict inside a loaded checkpoint, prefix stripped."""
    kind = spec["save"]
    state = loaded if kind == "bare" else loaded[{"lightning": "state_dict", "model_key": "model", "kuangliu": "net"}
                                                 .get(kind, "state_dict")]
    return common.strip_prefix(state, spec["prefix"])


def write(name: str) -> None:
    spec = FIXTURES[name]
    model = build(spec)
    size, (mean, std) = spec["size"], spec["norm"]
    images = calibration.pick_inputs(model, size, 3, mean, std, IMAGES)
    path = common.checkpoint_path(METHOD, name, spec["ext"])
    common.save_checkpoint(checkpoint_object(spec, model), path, legacy=False)
    common.write_fixture_json(METHOD, name, {
        "arch": spec["arch"], "checkpoint": path.name, "format": "zip",
        "input": {"height": size, "width": size, "channels": 3, "mean": list(mean), "std": list(std)},
        "options": {"key_prefix": spec["prefix"], "wrapper": spec["save"], "seed": spec["seed"]},
        "images": images,
        "notes": spec["notes"] + " Random weights (torchvision init), BN affine randomised, running stats from 64 "
                 "synthetic images, residual branches' last BN x0.3, classifier x20 with its bias centred. "
                 f"Logits: PyTorch {torch.__version__} float32, 1 thread.",
    })
    margins = [round(common.top2_margin(torch.tensor(i["logits"])), 4) for i in images]
    print(f"{name}: {path.stat().st_size} bytes, margins {margins}")


def layouts() -> dict:
    """Key names and shapes of the real-size LAYOUTS (meta device: no memory, no weights)."""
    out = {}
    for name, (net, arch) in LAYOUTS.items():
        with torch.device("meta"):
            model = net()
        out[name] = {"arch": arch, "tensors": [[k, list(v.shape)] for k, v in model.state_dict().items()]}
    return out


def layouts_path() -> Path:
    return common.FIXTURES / METHOD / "layouts.json"


def write_layouts() -> None:
    import json
    path = layouts_path()
    path.write_text(json.dumps({"generator": "toolchain/seeds/gen_families.py", "layouts": layouts()},
                               separators=(",", ":")) + "\n")
    print(f"layouts.json: {path.stat().st_size} bytes, {list(LAYOUTS)}")


@torch.no_grad()
def verify(name: str) -> None:
    """torch.load the written checkpoint, load it strictly into a fresh network, recompute every logit."""
    spec = FIXTURES[name]
    record = common.read_fixture_json(METHOD, name)
    model = spec["net"]()
    model.load_state_dict(state_dict_of(common.load_checkpoint(METHOD, name), spec), strict=True)
    model.eval()
    for image in record["images"]:
        logits = model(common.load_input(image["path"], record["input"]["mean"], record["input"]["std"]))
        assert common.f32_list(logits) == image["logits"], f"{name}: logits of {image['path']} differ"
        assert common.top2_margin(logits) >= 1e-2
    print(f"{name}: checkpoint reloads to the recorded logits")


def main():
    torch.set_num_threads(1)
    if "--verify" in sys.argv:
        for name in FIXTURES:
            verify(name)
        import json
        assert json.loads(layouts_path().read_text())["layouts"] == layouts(), "layouts.json differs"
        print("layouts.json: matches the networks")
        return
    for name in FIXTURES:
        write(name)
    write_layouts()


if __name__ == "__main__":
    main()
