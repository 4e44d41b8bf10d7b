"""Value-grid fixtures (issue #15): CIFAR ResNet-20s whose conv/linear weights are already on a low-bit
grid but whose checkpoints carry no method keys, so only the values say so. LowBit's plain path must keep
such layers exactly (Sources/QConvert/Passes/ValueGrid.swift) instead of re-quantizing them to --bits.

    /work/venv/bin/python toolchain/seeds/gen_valuegrid.py            # writes the four fixtures
    /work/venv/bin/python toolchain/seeds/gen_valuegrid.py --verify   # torch.load, strict load, logits bit-equal

Writes Tests/Fixtures/seeds/valuegrid/<name>.{pth,json}:
  deepshift_weights     DeepShift's own `weights.pth` (pytorch/cifar10.py: torch.save(round_shift_weights(
                        model, clone=True).state_dict(), ".../weights.pth")) of a Q-mode ResNet-20 with
                        DeepShift's default 5-bit shifts: every conv and the linear hold 0 or +-2^p,
                        p in [-15, 0] (round_power_of_2 of the weights clampabs keeps in range); biases
                        round_to_fixed(16, 16). A bare state_dict of the DataParallel model (`module.` keys),
                        legacy format (torch <= 1.5, like gen_deepshift.py), no .shift/.sign keys.
  deepshift_w3_weights  the same at --weight-bits 3 (p in [-3, 0]: at most 9 values per layer).
  resnet20_w3           a ResNet-20 whose 18 block convs hold 3-bit per-channel uniform values,
                        w = s[o] * q, q = clamp(round(w / s[o]), -4, 3), s[o] = max|w_o| / 3.5 (PyTorch's
                        symmetric per-channel fake quantization over the 8 codes), as a quantization-aware
                        training run exports them; conv1 and linear float. Bare state_dict, zip.
  resnet20_ternary      block convs ternary per channel (TWN): t = sign(w) * (|w| > 0.7 mean|w_o|),
                        a[o] = mean |w| over t != 0, w = a[o] * t; conv1 and linear float. `module.` keys, zip.
Reference logits (`logits`): the plain float32 forward of the stored weights (nn.Conv2d / nn.Linear,
BatchNorm eval), which is what a checkpoint without method keys means. The DeepShift fixtures also hold
`logits_deepshift`: DeepShift's own Q-mode forward of the same weights (round_to_fixed(16, 16) on every
shift layer's input and bias; `qconvert --recipe deepshift --fixed-point 16,16`).
Planted edge cases (resnet20_w3): layer1.0.conv1 channel 0 all zero; layer2.0.conv1 channel 1 uses only
even codes (its own step is 2 s); layer3.0.conv1 channel 2 uses only q in {-4, -3, 3} with a step whose
fl(fl(3 s) / 3) != s; negative zeros wherever round(w / s) is -0.0.
"""
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import akamaster_resnet
import calibration
import common
import gen_deepshift
import legacy_keys

METHOD = "valuegrid"
WIDTHS = (8, 16, 32)           # real ResNet-20: 16, 32, 64
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
IMAGES = 5
PLANTED_STEP = 0.09001        # float32: fl(fl(3 s) / 3) != s, and 4 * that quotient != 4 s


def plain_resnet20() -> nn.Module:
    """The akamaster CIFAR ResNet-20 with ordinary float layers, the architecture every fixture's stored
    weights are loaded into for the reference logits."""
    conv = lambda cin, cout, stride: nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    return akamaster_resnet.CifarResNetA(20, WIDTHS, conv, conv, lambda cin, cout: nn.Linear(cin, cout))


def block_convs(model: nn.Module) -> list:
    return [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d) and name != "conv1"]


def he_normal(model: nn.Module, gen: torch.Generator) -> None:
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5
            if m.bias is not None:
                m.bias.data = (torch.rand(m.bias.shape, generator=gen) * 2 - 1) / fan_in ** 0.5
    calibration.randomize_batchnorm(model, gen)


def uniform_3bit(w: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """q = clamp(round(w / s), -4, 3) per output channel; returns q * s in float32."""
    s = step.view(-1, *([1] * (w.dim() - 1)))
    return torch.clamp(torch.round(w / s), -4, 3) * s


def make_uniform_3bit(model: nn.Module) -> dict:
    """The 3-bit per-channel fixture's block convs, with the planted channels; returns per-layer facts."""
    facts = {}
    with torch.no_grad():
        for name, m in block_convs(model):
            w = m.weight.data
            step = w.abs().flatten(1).amax(1) / 3.5
            if name == "layer1.0.conv1":
                w[0] = 0
                step[0] = 1
            q = torch.clamp(torch.round(w / step.view(-1, 1, 1, 1)), -4, 3)
            if name == "layer2.0.conv1":
                q[1] = torch.clamp(2 * torch.round(q[1] / 2), -4, 2)          # even codes only
            if name == "layer3.0.conv1":
                q[2] = torch.where(q[2] < 0, torch.where(q[2] < -2, q[2], torch.full_like(q[2], -3)),
                                   torch.full_like(q[2], 3))                      # -4, -3, 3 only
                step[2] = PLANTED_STEP
            m.weight.data = q * step.view(-1, 1, 1, 1)
            facts[name] = {"levels": sorted({int(v) for v in q.flatten().tolist()}),
                           "negative_zeros": int(((m.weight.data == 0) & torch.signbit(m.weight.data)).sum())}
    return facts


def make_ternary(model: nn.Module) -> dict:
    """TWN ternary weights per output channel; returns per-layer counts."""
    facts = {}
    with torch.no_grad():
        for name, m in block_convs(model):
            w = m.weight.data.flatten(1)
            delta = 0.7 * w.abs().mean(1, keepdim=True)
            t = torch.sign(w) * (w.abs() > delta)
            alpha = (w.abs() * t.abs()).sum(1, keepdim=True) / t.abs().sum(1, keepdim=True)
            m.weight.data = (alpha * t).view_as(m.weight)
            facts[name] = {"zeros": int((t == 0).sum()), "weights": t.numel()}
    return facts


def deepshift_weights(weight_bits: int, seed: int):
    """A DeepShift Q-mode ResNet-20 (gen_deepshift.py's model, its planted edge weights, BatchNorm
    calibrated through its own forward) and its round_shift_weights state_dict with `module.` keys."""
    common.seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model = gen_deepshift.build("Q", weight_bits, (16, 16), gen)
    gen_deepshift.plant_specials(model, "Q")
    calibration.calibrate_batchnorm(model, calibration.calibration_batch(64, 32, 3, MEAN, STD), 200 * 391)
    rounded = OrderedDict()
    for key, value in model.state_dict().items():
        layer, _, field = key.rpartition(".")
        module = model.get_submodule(layer) if layer else model
        if isinstance(module, gen_deepshift.ShiftLayer) and field == "weight":
            value = module.weight_q().detach()                       # round_power_of_2 of the clamped weight
        elif isinstance(module, gen_deepshift.ShiftLayer) and field == "bias":
            value = gen_deepshift.round_to_fixed(value, 16, 16)       # round_shift_weights rounds biases too
        rounded["module." + key] = value.clone()
    model.load_state_dict({k[len("module."):]: v for k, v in rounded.items()})
    return model, rounded


def level_counts(state: dict, prefix: str = "") -> dict:
    return {k[len(prefix):-len(".weight")]: len(torch.unique(v))
            for k, v in state.items() if k.endswith(".weight") and v.dim() in (2, 4)}


@torch.no_grad()
def images_for(model: nn.Module, extra=None) -> list:
    images = calibration.pick_inputs(model, 32, 3, MEAN, STD, IMAGES)
    for image in images:
        if extra is not None:
            image["logits_deepshift"] = common.f32_list(extra(common.load_input(image["path"], MEAN, STD)))
    return images


def record(name: str, checkpoint: str, fmt: str, options: dict, images: list, notes: str) -> None:
    common.write_fixture_json(METHOD, name, {
        "arch": "resnet20", "checkpoint": checkpoint, "format": fmt,
        "input": {"height": 32, "width": 32, "channels": 3, "mean": list(MEAN), "std": list(STD)},
        "options": {"widths": list(WIDTHS), "real_widths": [16, 32, 64], **options},
        "images": images, "notes": notes})


def generate_deepshift(name: str, weight_bits: int, seed: int) -> None:
    shift_model, state = deepshift_weights(weight_bits, seed)
    path = common.checkpoint_path(METHOD, name, "pth")
    common.save_checkpoint(state, path, legacy=True, location="cuda:0")
    legacy_keys.canonicalize(path)
    model = plain_resnet20()
    model.load_state_dict(common.strip_prefix(state, "module."), strict=True)
    model.eval()
    shift_model.eval()
    counts = level_counts(state, "module.")
    record(name, f"{name}.pth", "legacy", {
        "key_prefix": "module.", "shift_type": "Q", "weight_bits": weight_bits,
        "shift_range": list(shift_model.conv1.shift_range), "distinct_values": counts,
        "activation_bits_of_logits_deepshift": [16, 16]},
        images_for(model, shift_model),
        f"DeepShift's weights.pth as pytorch/cifar10.py saves it (round_shift_weights(model).state_dict() of the "
        f"DataParallel model): Q mode, --weight-bits {weight_bits}, every conv and the linear 0 or +-2^p; distinct "
        f"values per layer {min(counts.values())}-{max(counts.values())}. Randomly initialised (He normal), "
        f"gen_deepshift.py's planted weights, BatchNorm statistics measured through DeepShift's forward. "
        f"logits: plain float forward; logits_deepshift: DeepShift's forward with round_to_fixed(16, 16). "
        f"Legacy format with canonical storage keys (legacy_keys.py), storages tagged cuda:0.")
    print(f"{name}: {path.stat().st_size} bytes, distinct values per layer {sorted(set(counts.values()))}")


def generate_float_edges(name: str, make, key_prefix: str, seed: int, notes: str) -> None:
    common.seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model = plain_resnet20()
    he_normal(model, gen)
    facts = make(model)
    model.linear.weight.data *= 4          # a random head is flat: widen the logit spread
    calibration.calibrate_batchnorm(model, calibration.calibration_batch(64, 32, 3, MEAN, STD), 200 * 391)
    path = common.checkpoint_path(METHOD, name, "pth")
    state = OrderedDict((key_prefix + k, v.clone()) for k, v in model.state_dict().items())
    common.save_checkpoint(state, path, legacy=False)
    record(name, f"{name}.pth", "zip", {"key_prefix": key_prefix, "float_layers": ["conv1", "linear"],
                                        "grid_layers": facts}, images_for(model), notes)
    print(f"{name}: {path.stat().st_size} bytes")


FIXTURES = {
    "deepshift_weights": lambda: generate_deepshift("deepshift_weights", 5, 2021),
    "deepshift_w3_weights": lambda: generate_deepshift("deepshift_w3_weights", 3, 2022),
    "resnet20_w3": lambda: generate_float_edges(
        "resnet20_w3", make_uniform_3bit, "", 2023,
        "Block convs: 3-bit per-channel uniform values w = s[o] * q, q in -4..3, s[o] = max|w_o| / 3.5 "
        "(float32 product), as exported by quantization-aware training; conv1 and linear float (He normal, "
        "linear x4). Planted: layer1.0.conv1 channel 0 all zero, layer2.0.conv1 channel 1 even codes only, "
        "layer3.0.conv1 channel 2 codes -4, -3, 3 only with s = float32(0.09001). Bare state_dict, zip, cpu."),
    "resnet20_ternary": lambda: generate_float_edges(
        "resnet20_ternary", make_ternary, "module.", 2024,
        "Block convs: TWN ternary per channel, w = a[o] * t, t in {-1, 0, +1}; conv1 and linear float. "
        "state_dict of a DataParallel model (module. keys), zip, cpu."),
}


@torch.no_grad()
def verify() -> int:
    errors = []
    for name in FIXTURES:
        rec = common.read_fixture_json(METHOD, name)
        state = torch.load(str(common.FIXTURES / METHOD / rec["checkpoint"]), map_location="cpu", weights_only=True)
        model = plain_resnet20()
        model.load_state_dict(common.strip_prefix(state, rec["options"]["key_prefix"]) if rec["options"]["key_prefix"]
                              else state, strict=True)
        model.eval()
        for image in rec["images"]:
            logits = model(common.load_input(image["path"], MEAN, STD))
            if common.f32_list(logits) != image["logits"]:
                errors.append(f"{name}: logits of {image['path']} differ")
            if common.top2_margin(logits) < calibration.MIN_MARGIN:
                errors.append(f"{name}: top-2 margin of {image['path']} below {calibration.MIN_MARGIN}")
        for key, v in state.items():
            if key.endswith(".weight") and v.dim() in (2, 4) and name.startswith("deepshift"):
                nz = v[v != 0].double()
                if not torch.equal(torch.log2(nz.abs()), torch.round(torch.log2(nz.abs()))):
                    errors.append(f"{name}: {key} holds a value that is not 0 or +-2^p")
    for e in errors:
        print("ERROR", e)
    print(f"{len(FIXTURES)} fixtures, {len(errors)} errors")
    return 1 if errors else 0


def main() -> int:
    torch.set_num_threads(1)
    if "--verify" in sys.argv:
        return verify()
    for make in FIXTURES.values():
        make()
    return 0


if __name__ == "__main__":
    sys.exit(main())
