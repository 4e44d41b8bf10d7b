#!/usr/bin/env python3
"""Fixtures for the depthwise ImageNet architectures (torchvision MobileNetV2 and MNASNet layouts), alone
and under the seed methods that use them:

  plain/mobilenetv2      float MobileNetV2 (width 0.25), a bare state_dict like torchvision's released
                         mobilenet_v2-*.pth; zip format
  dgms/mnasnet           DGMS (K = 16, 4-bit) on MNASNet (alpha 0.25): every conv but layers.0 is a DGMS
                         mixture conv (depthwise ones included), the Linear stays float; a bare state_dict
                         with DGMS's `network.` prefix; zip format, storages tagged cuda:0
  deepshift/mobilenetv2  DeepShift PS (5-bit shifts, round_to_fixed 16/16) on MobileNetV2 (width 0.2):
                         every conv (depthwise ones included) and the Linear are shift layers; saved as
                         DeepShift's imagenet.py does: legacy format, {epoch, arch, state_dict (module.),
                         best_acc1, optimizer, lr_scheduler}

    /work/venv/bin/python toolchain/seeds/gen_archs.py            # writes the three fixtures
    /work/venv/bin/python toolchain/seeds/gen_archs.py --verify   # reloads them, recomputes every logit

The method math is imported from gen_dgms.py (GaussianMixture, make_trained_like, layer_records) and
gen_deepshift.py (ShiftLayer: ps_weight, round_to_fixed, planted edge values); the architectures come
from torchvision_mobile.py. Inputs 64x64, ImageNet mean/std, 10 classes, 1 thread, deterministic.
"""
import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import calibration  # noqa: E402
import common  # noqa: E402
import gen_deepshift  # noqa: E402
import gen_dgms  # noqa: E402
import legacy_keys  # noqa: E402
import torchvision_mobile as tvm  # noqa: E402

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SIZE, CLASSES, IMAGES = 64, 10, 5
WIDTH = 0.25                      # MobileNetV2 width_mult and MNASNet alpha (real: 1.0)
SHIFT_WIDTH = 0.2                 # DeepShift's MobileNetV2: shift + sign per weight, kept under 2 MB
DGMS_K = 16
SHIFT_BITS, SHIFT_ACT_BITS = 5, (16, 16)


class DGMSConv(gen_dgms.DGMSConv):
    """A DGMS mixture conv with torchvision's conv arguments (no bias, padding kernel // 2)."""

    def __init__(self, cin, cout, kernel, stride, groups):
        super().__init__(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False, k=DGMS_K)


class Conv2dShift(gen_deepshift.ShiftLayer):
    """DeepShift's Conv2dShift for any kernel, stride and groups (no bias, padding kernel // 2):
    y = conv2d(round_to_fixed(x), W_ps, stride, padding, groups)."""

    def __init__(self, cin, cout, kernel, stride, groups):
        super().__init__((cout, cin // groups, kernel, kernel), 0, "PS", SHIFT_BITS, SHIFT_ACT_BITS)
        self.stride, self.padding, self.groups = stride, kernel // 2, groups

    def forward(self, x):
        return F.conv2d(self.fixed(x), self.weight_q(), None, self.stride, self.padding, 1, self.groups)


def shift_linear(cin, cout):
    return gen_deepshift.LinearShift(cin, cout, "PS", SHIFT_BITS, SHIFT_ACT_BITS)


def trained_like_weight(shape, groups: int, gen: torch.Generator) -> torch.Tensor:
    """Random conv weights [out, in/groups, kh, kw]: kaiming normal (fan_out) as torchvision initialises
    them, except depthwise kernels (groups > 1), which get a positive mean, (1 + 0.6 N(0, 1)) / (kh kw),
    like trained ones. A zero-mean random depthwise kernel on smooth feature maps nearly cancels; its
    BatchNorm then amplifies every rounding (u8 activations, round_to_fixed, float order) many times over
    and the reference would not be reproducible to 1e-3."""
    if groups > 1:
        area = shape[2] * shape[3]
        return (1 + 0.6 * torch.randn(shape, generator=gen)) / area
    fan_out = shape[0] * shape[2] * shape[3]
    return torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_out)


def torchvision_init(model: nn.Module, gen: torch.Generator) -> None:
    """torchvision's init (trained_like_weight for convs, Linear N(0, 0.01^2), zero biases) from `gen`."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.copy_(trained_like_weight(m.weight.shape, m.groups, gen))
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.01)
                m.bias.zero_()


@torch.no_grad()
def centre_head(model: nn.Module, features, head, weight: torch.Tensor, batch: torch.Tensor, gen) -> None:
    """Sets the classifier bias to -W . mean feature over the calibration batch plus a little noise, so
    that the logits depend on the image (a random head otherwise gives every image the same class)."""
    model.eval()
    f = features(batch)
    spread = ((f - f.mean(0)) @ weight.t()).std()
    mean = f.mean(0) @ weight.t()
    head.bias.copy_(-mean + 0.1 * spread * torch.randn(head.bias.shape, generator=gen))


def damp_residual_branches(model: nn.Module, factor: float = 0.3) -> None:
    """Scales the last BatchNorm gamma of every residual MobileNetV2 block by `factor`: trained networks
    keep residual branches small against the identity path; with full-size random branches every block
    compounds the rounding error of the previous ones, and a w8a8 conversion loses top-1 on most inputs."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, tvm.InvertedResidual) and m.use_res_connect:
                m.conv[-1].weight.mul_(factor)


def mobilenet_features(model):
    return lambda x: torch.flatten(F.adaptive_avg_pool2d(model.features(x), (1, 1)), 1)


def mnasnet_features(model):
    return lambda x: model.layers(x).mean([2, 3])


def build_plain(seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    common.seed_everything(seed)
    model = tvm.MobileNetV2(WIDTH, CLASSES)
    torchvision_init(model, gen)
    calibration.randomize_batchnorm(model, gen)
    damp_residual_branches(model)
    batch = calibration.calibration_batch(64, SIZE, 3, MEAN, STD)
    calibration.calibrate_batchnorm(model, batch, 150 * 5005)
    head = model.classifier[1]
    head.weight.data *= 20.0
    centre_head(model, mobilenet_features(model), head, head.weight, batch, gen)
    return model


def build_dgms(seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    common.seed_everything(seed)
    net = tvm.MNASNet(WIDTH, CLASSES, conv=DGMSConv)
    torchvision_init(net, gen)
    model = gen_dgms.DGMSNet(net)
    gen_dgms.make_trained_like(model, DGMS_K, gen)
    batch = calibration.calibration_batch(64, SIZE, 3, MEAN, STD)
    calibration.calibrate_batchnorm(model, batch, 60 * 5005)
    head = net.classifier[1]
    head.weight.data *= 20.0
    centre_head(model, mnasnet_features(net), head, head.weight, batch, gen)
    return model


def init_shift_layers(model: nn.Module, gen: torch.Generator) -> None:
    """DeepShift PS layers as convert_weights leaves them after training: the float weights they came from
    (trained_like_weight; a Linear N(0, 2 / fan_in)) give shift = log2|w| + N(0, 0.3^2) drift and
    sign = sign(w) * U(0.3, 1.6); biases 0."""
    for m in model.modules():
        if isinstance(m, gen_deepshift.ShiftLayer):
            shape = m.shift.shape
            w = trained_like_weight(shape, getattr(m, "groups", 1), gen) if len(shape) == 4 else \
                torch.randn(shape, generator=gen) * math.sqrt(2.0 / shape[1])   # the FP weights converted
            m.shift.data = torch.log2(w.abs()) + torch.randn(shape, generator=gen) * 0.3
            m.sign.data = torch.sign(w) * (torch.rand(shape, generator=gen) * 1.3 + 0.3)
            if m.bias is not None:
                m.bias.data = torch.zeros(m.bias.shape)


def build_deepshift(seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    common.seed_everything(seed)
    model = tvm.MobileNetV2(SHIFT_WIDTH, CLASSES, conv=Conv2dShift, linear=shift_linear)
    init_shift_layers(model, gen)
    calibration.randomize_batchnorm(model, gen)
    damp_residual_branches(model)
    gen_deepshift.plant_specials(model, "PS")
    batch = calibration.calibration_batch(64, SIZE, 3, MEAN, STD)
    calibration.calibrate_batchnorm(model, batch, 90 * 5005)
    head = model.classifier[1]
    centre_head(model, mobilenet_features(model), head, head.weight_q(), batch, gen)
    return model


def optimizer_and_scheduler(wrapped: nn.Module):
    """SGD (lr 0.1, momentum 0.9, weight decay 1e-4) and a MultiStepLR stepped through 90 epochs, as an
    ImageNet run leaves them, without momentum buffers (they would double the file; a checkpoint saved
    before the first optimizer step has none either)."""
    optimizer = torch.optim.SGD(wrapped.parameters(), 0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[30, 60, 80])
    optimizer.step()                  # no gradients: changes nothing, creates no state
    for _ in range(90):
        scheduler.step()
    return optimizer, scheduler


def write(key: str) -> None:
    spec = FIXTURES[key]
    method, name = key.split("/")
    model = spec["build"](spec["seed"])
    inner = model.network if method == "dgms" else model
    images = calibration.pick_inputs(model, SIZE, 3, MEAN, STD, IMAGES, min_margin=spec["min_margin"])
    options, notes = {"width_mult": WIDTH, "real_width_mult": 1.0, "classes": CLASSES}, ""
    if method == "plain":
        ext, fmt = "pth", "zip"
        common.save_checkpoint(model.state_dict(), common.checkpoint_path(method, name, ext), legacy=False)
        options["key_prefix"] = ""
        notes = ("torchvision MobileNetV2 (features.0..18, classifier.1) at width_mult 0.25 (channels 8/8/8/8/16/"
                 "24/40/80, last 1280 as torchvision keeps it for width <= 1), 10 classes; a bare state_dict like "
                 "torchvision's released file; zip, storages tagged cpu. Random weights (torchvision init), BN "
                 "affine randomised, running stats from 64 synthetic images; classifier x20 and its bias centred "
                 "on the mean feature.")
    elif method == "dgms":
        ext, fmt = "pth", "zip"
        common.save_checkpoint(model.state_dict(), common.checkpoint_path(method, name, ext), legacy=False,
                               location="cuda:0")
        layers = gen_dgms.layer_records(inner, "")
        options.update({"K": DGMS_K, "bits": 4, "temperature": gen_dgms.TEMPERATURE, "eps": gen_dgms.EPS,
                        "full_precision": ["layers.0", "classifier.1"], "key_prefix": "network.",
                        "underflow_weights": sum(r["underflow"] for r in layers),
                        "softmax_ties": sum(r["softmax_ties"] for r in layers), "layers": layers})
        assert options["underflow_weights"] > 0
        notes = ("torchvision MNASNet (layers.0..16, classifier.1) at alpha 0.25 (depths 8/8/8/16/24/24/48/80, "
                 "final 1280 as torchvision keeps it), 10 classes; every conv except layers.0 is a DGMS mixture "
                 "conv (depthwise 3x3/5x5 included), the Linear is float. A bare state_dict with keys "
                 "`network.` as a released DGMS file; zip, storages tagged cuda:0. Mixtures fitted like "
                 "gen_dgms.py (quantile centres, planted outliers that underflow to 0).")
    else:
        ext, fmt = "pth.tar", "legacy"
        wrapped = nn.DataParallel(model)
        optimizer, scheduler = optimizer_and_scheduler(wrapped)
        path = common.checkpoint_path(method, name, ext)
        common.save_checkpoint({
            "epoch": 90, "arch": "mobilenet_v2", "state_dict": wrapped.state_dict(),
            "best_acc1": np.array(65.5, dtype=np.float32), "optimizer": optimizer.state_dict(),
            "lr_scheduler": scheduler,
        }, path, legacy=True)
        legacy_keys.canonicalize(path)
        counts = gen_deepshift.check_weights(model, "PS")
        options.update({"shift_type": "PS", "weight_bits": SHIFT_BITS,
                        "shift_range": list(model.classifier[1].shift_range),
                        "activation_integer_bits": SHIFT_ACT_BITS[0],
                        "activation_fraction_bits": SHIFT_ACT_BITS[1], "rounding": "deterministic",
                        "shift_layers": "all: every Conv2d (depthwise included) and the Linear",
                        "fixed_point_at": "input of every shift conv/linear, and its bias",
                        "key_prefix": "module.", **counts})
        options["width_mult"] = SHIFT_WIDTH
        notes = ("torchvision MobileNetV2 at width_mult 0.2 (channels 8/8/8/8/16/16/32/64, last 1280), 10 "
                 "classes, converted by DeepShift PS: every conv "
                 "and the Linear hold shift + sign (W = 2^round(clamp(shift, -14, 0)) * sign(round(sign))), "
                 "round_to_fixed(16, 16) on the input and bias of every shift layer. Planted edge values in "
                 "the first entries of every shift layer as in gen_deepshift.py. Saved like DeepShift's "
                 "imagenet.py: legacy format, keys module., best_acc1 a 0-d numpy float32, a pickled "
                 "MultiStepLR; the SGD state has no momentum buffers (size). Uncertain: the ImageNet "
                 "scheduler DeepShift uses (MultiStepLR assumed).")
    common.write_fixture_json(method, name, {
        "arch": spec["arch"], "checkpoint": f"{name}.{ext}", "format": fmt,
        "input": {"height": SIZE, "width": SIZE, "channels": 3, "mean": list(MEAN), "std": list(STD)},
        "options": options, "images": images,
        "notes": notes + f" Logits: PyTorch {torch.__version__} float32, 1 thread.",
    })
    size = (common.FIXTURES / method / f"{name}.{ext}").stat().st_size
    print(f"{key}: {size} bytes, margins {[round(common.top2_margin(torch.tensor(i['logits'])), 4) for i in images]}")


@torch.no_grad()
def verify(key: str) -> None:
    """torch.load the written checkpoint, load it strictly into a fresh model, recompute every logit."""
    method, name = key.split("/")
    record = common.read_fixture_json(method, name)
    loaded = common.load_checkpoint(method, name)
    prefix = record["options"]["key_prefix"]
    state = common.strip_prefix(loaded["state_dict"] if method == "deepshift" else loaded, prefix)
    model = empty_model(key)
    model.load_state_dict(state, strict=True)
    model.eval()
    for image in record["images"]:
        logits = model(common.load_input(image["path"], MEAN, STD))
        assert common.f32_list(logits) == image["logits"], f"{key}: logits of {image['path']} differ"
        assert common.top2_margin(logits) >= 1e-2
    if method == "dgms":
        assert gen_dgms.layer_records(model, "") == record["options"]["layers"], key
    print(f"{key}: checkpoint reloads to the recorded logits")


FIXTURES = {
    # the plain fixture's inputs also have to keep top-1 through a w8a8 conversion (ArchitectureFixtureTests)
    "plain/mobilenetv2": dict(build=build_plain, seed=31, arch="mobilenet_v2", min_margin=0.15),
    "dgms/mnasnet": dict(build=build_dgms, seed=32, arch="mnasnet", min_margin=calibration.MIN_MARGIN),
    "deepshift/mobilenetv2": dict(build=build_deepshift, seed=33, arch="mobilenet_v2", min_margin=calibration.MIN_MARGIN),
}


def empty_model(key: str) -> nn.Module:
    """The fixture `method/name`'s architecture with this file's forward (keys without the wrapper
    prefix), to load a written checkpoint into."""
    if key == "dgms/mnasnet":
        return tvm.MNASNet(WIDTH, CLASSES, conv=DGMSConv)
    if key == "deepshift/mobilenetv2":
        return tvm.MobileNetV2(SHIFT_WIDTH, CLASSES, conv=Conv2dShift, linear=shift_linear)
    return tvm.MobileNetV2(WIDTH, CLASSES)


def main():
    torch.set_num_threads(1)
    for key in FIXTURES:
        verify(key) if "--verify" in sys.argv else write(key)


if __name__ == "__main__":
    main()
