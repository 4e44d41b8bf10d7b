"""DeepShift (Elhoushi et al.) fixtures: CIFAR-10 ResNet-20 (akamaster layout, the repo's
cifar10_models/resnet.py) with every conv and the linear converted to shift layers, in PS mode (`shift` +
`sign` parameters) and in Q mode (plain `weight`), saved as pytorch/cifar10.py saves its checkpoints:
the legacy format of torch <= 1.5 holding {epoch, arch, state_dict (module.), best_acc1, optimizer
(state_dict), lr_scheduler (the pickled MultiStepLR object itself)}.

    toolchain/.venv/bin/python toolchain/seeds/gen_deepshift.py

Writes Tests/Fixtures/seeds/deepshift/resnet20_ps.{pth.tar,json} and resnet20_q.{pth.tar,json}.

Inference math (pytorch/deepshift/modules.py, modules_q.py, utils.py, ste.py; float32, PyTorch semantics):
  round_to_fixed(x, I, F) = clamp(floor(x / 2^-F) * 2^-F, -2^(I-1), 2^(I-1) - 1)
  every shift conv / linear: y = conv(round_to_fixed(x), W, round_to_fixed(bias)); BN, ReLU, the option-A
    shortcut, the residual add and the average pool stay float (no rounding there)
  PS: s = round(clamp(shift, -(2^(b-1) - 2), 0)); W = 2^s * sign(round(sign))   (|sign| <= 0.5 -> W = 0)
  Q:  w' = clampabs(w, 2^-(2^(b-1) - 1), 1): |w| > 1 -> +-1, 0 < |w| < 2^min -> +-2^min, 0 stays 0;
      W = 2^round(ln|w'| / float32(ln 2)) * sign(w')
  round = torch.round (half to even).
"""
import copy
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import akamaster_resnet
import calibration
import common
import legacy_keys

METHOD = "deepshift"
WIDTHS = (8, 16, 32)          # real ResNet-20: 16, 32, 64
REAL_WIDTHS = (16, 32, 64)
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)   # pytorch/cifar10.py
EPOCHS, ITERS_PER_EPOCH = 200, 391                              # cifar10.py defaults, batch 128
IMAGES = 5


def round_to_fixed(x: torch.Tensor, integer_bits: int, fraction_bits: int) -> torch.Tensor:
    delta = math.pow(2.0, -fraction_bits)
    bound = math.pow(2.0, integer_bits - 1)
    return torch.clamp(torch.floor(x / delta) * delta, -bound, bound - 1)


def ps_weight(shift, sign, shift_range):
    """PS mode (modules.py): W = 2^round(clamp(shift, range)) * sign(round(sign))."""
    return 2 ** torch.round(shift.clamp(*shift_range)) * torch.sign(torch.round(sign))


def q_weight(weight, shift_range):
    """Q mode (modules_q.py): clampabs to [2^lo, 2^hi] (0 stays 0), then round_power_of_2:
    W = 2^round(ln|w| / np.log(2)) * sign(w), the division in float32 as torch does it."""
    lo, hi = 2.0 ** shift_range[0], 2.0 ** shift_range[1]
    a = weight.abs()
    w = torch.where(a > hi, hi * torch.sign(weight),
                    torch.where((a > 0) & (a < lo), lo * torch.sign(weight), weight))
    return 2.0 ** torch.round(torch.log(w.abs()) / np.log(2)) * torch.sign(w)


class ShiftLayer(nn.Module):
    """What the four DeepShift layers share: the parameters of their mode, registered in DeepShift's
    order (PS: shift, sign, bias; Q: weight, bias), the quantized weight, the fixed-point rounding."""

    def __init__(self, weight_shape, bias_features, mode, weight_bits, act_bits):
        super().__init__()
        self.mode, self.act_bits = mode, act_bits     # act_bits: (integer bits, fraction bits)
        if mode == "PS":
            self.shift = nn.Parameter(torch.empty(weight_shape))
            self.sign = nn.Parameter(torch.empty(weight_shape))
            self.shift_range = (-(2 ** (weight_bits - 1) - 2), 0)   # one code of b is the sign
        else:
            self.weight = nn.Parameter(torch.empty(weight_shape))
            self.shift_range = (-(2 ** (weight_bits - 1) - 1), 0)
        self.bias = nn.Parameter(torch.empty(bias_features)) if bias_features else None

    def weight_q(self):
        if self.mode == "PS":
            return ps_weight(self.shift, self.sign, self.shift_range)
        return q_weight(self.weight, self.shift_range)

    def fixed(self, t):
        return None if t is None else round_to_fixed(t, *self.act_bits)


class Conv2dShift(ShiftLayer):
    """3x3 conv, padding 1, no bias (the ResNet's convs)."""

    def __init__(self, cin, cout, stride, mode, weight_bits, act_bits):
        super().__init__((cout, cin, 3, 3), 0, mode, weight_bits, act_bits)
        self.stride = stride

    def forward(self, x):
        return F.conv2d(self.fixed(x), self.weight_q(), self.fixed(self.bias), self.stride, 1)


class LinearShift(ShiftLayer):
    def __init__(self, cin, cout, mode, weight_bits, act_bits):
        super().__init__((cout, cin), cout, mode, weight_bits, act_bits)

    def forward(self, x):
        return F.linear(self.fixed(x), self.weight_q(), self.fixed(self.bias))


def build(mode: str, weight_bits: int, act_bits, gen: torch.Generator) -> nn.Module:
    conv = lambda cin, cout, stride: Conv2dShift(cin, cout, stride, mode, weight_bits, act_bits)
    linear = lambda cin, cout: LinearShift(cin, cout, mode, weight_bits, act_bits)
    model = akamaster_resnet.CifarResNetA(20, WIDTHS, conv, conv, linear)
    for m in model.modules():
        if isinstance(m, ShiftLayer):
            shape = (m.shift if mode == "PS" else m.weight).shape
            fan_in = int(np.prod(shape[1:]))
            w = torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_in)   # the FP weights converted
            if mode == "PS":
                # convert_weights: shift = log2|w|, sign = sign(w); then training drift.
                m.shift.data = torch.log2(w.abs()) + torch.randn(shape, generator=gen) * 0.3
                m.sign.data = torch.sign(w) * (torch.rand(shape, generator=gen) * 1.3 + 0.3)
            else:
                m.weight.data = w
            if m.bias is not None:
                bound = 1 / math.sqrt(fan_in)
                m.bias.data = (torch.rand(m.bias.shape, generator=gen) * 2 - 1) * bound
    calibration.randomize_batchnorm(model, gen)
    return model


# Values planted in the first latent entries of every converted layer, so that clamping, half-to-even
# rounding and zero signs are exercised wherever the converter applies them.
PS_SHIFTS = [-2.5, -3.5, -0.5, 0.5, 0.7, -13.5, -14.5, -16.2, 1.3, -6.49]
PS_SIGNS = [0.5, -0.5, 1.5, -1.5, 2.5, 0.0, -0.0, 0.49, -0.51, -1.0]
Q_WEIGHTS = [0.0, -0.0, 1.7, -3.0, 1e-9, -1e-9, 0.25, -0.125, 1.0, -1.0]


def plant_specials(model: nn.Module, mode: str) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, ShiftLayer):
                if mode == "PS":
                    m.shift.view(-1)[:len(PS_SHIFTS)] = torch.tensor(PS_SHIFTS)
                    m.sign.view(-1)[:len(PS_SIGNS)] = torch.tensor(PS_SIGNS)
                else:
                    m.weight.view(-1)[:len(Q_WEIGHTS)] = torch.tensor(Q_WEIGHTS)


def check_weights(model: nn.Module, mode: str) -> dict:
    """Asserts every quantized weight is 0 or +-2^s with s in range, and (Q mode) that log2 rounding is
    not within float error of a tie (float64 log2 gives the same s), so any faithful log gives the same
    codes. Returns counts for the notes."""
    zeros = total = 0
    for m in model.modules():
        if isinstance(m, ShiftLayer):
            w = m.weight_q().detach().double()
            nz = w[w != 0]
            s = torch.log2(nz.abs())
            assert torch.equal(s, torch.round(s)) and s.min() >= m.shift_range[0] and s.max() <= 0
            if mode == "Q":
                lo, hi = 2.0 ** m.shift_range[0], 1.0
                a = m.weight.detach().double().abs().clamp(lo, hi)
                exact = torch.round(torch.log2(a[m.weight.detach() != 0]))
                assert torch.equal(exact, s), "a weight sits on a log2 rounding boundary"
            zeros += int((w == 0).sum())
            total += w.numel()
    return {"zero_weights": zeros, "weights": total}


def activation_clamps(model: nn.Module, x: torch.Tensor) -> int:
    """Number of shift-layer input values that round_to_fixed clamps (outside the integer range)."""
    count, hooks = [0], []
    for m in model.modules():
        if isinstance(m, ShiftLayer):
            def hook(module, args):
                integer_bits, fraction_bits = module.act_bits
                rounded = torch.floor(args[0] / 2.0 ** -fraction_bits) * 2.0 ** -fraction_bits
                count[0] += int(((rounded < -2.0 ** (integer_bits - 1)) |
                                 (rounded > 2.0 ** (integer_bits - 1) - 1)).sum())
            hooks.append(m.register_forward_pre_hook(hook))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return count[0]


@torch.no_grad()
def float64_logits(model: nn.Module, path: str) -> list:
    """The logits of the same math in float64 (model.double() on the float32 input tensor): products and
    sums exact or within ~1e-16, so no summation order decides a round_to_fixed step the way float32
    rounding can at 4.6 (toolchain/seeds/reference_spread.py)."""
    x = common.load_input(path, MEAN, STD).double()
    return [float(v) for v in copy.deepcopy(model).double()(x).flatten().tolist()]


def generate(name: str, mode: str, weight_bits: int, act_bits, seed: int) -> None:
    common.seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build(mode, weight_bits, act_bits, gen)
    wrapped = nn.DataParallel(model)                       # cifar10.py trains the DataParallel wrapper
    optimizer = torch.optim.SGD(wrapped.parameters(), 0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[80, 120, 160, 180],
                                                     last_epoch=-1)
    for p in wrapped.parameters():                         # one SGD step: momentum buffers as training leaves them
        p.grad = torch.randn(p.shape, generator=gen) * 1e-3
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    for _ in range(EPOCHS):
        scheduler.step()
    plant_specials(model, mode)
    calibration.calibrate_batchnorm(model, calibration.calibration_batch(64, 32, 3, MEAN, STD),
                                    EPOCHS * ITERS_PER_EPOCH)
    weight_counts = check_weights(model, mode)

    path = common.checkpoint_path(METHOD, name, "pth.tar")
    common.save_checkpoint({
        "epoch": EPOCHS,
        "arch": "resnet20",
        "state_dict": wrapped.state_dict(),
        "best_acc1": np.array({"PS": 88.84, "Q": 89.85}[mode], dtype=np.float32),   # top1.avg.cpu().numpy()
        "optimizer": optimizer.state_dict(),
        "lr_scheduler": scheduler,
    }, path, legacy=True)
    legacy_keys.canonicalize(path)

    images = calibration.pick_inputs(model, 32, 3, MEAN, STD, IMAGES)
    for image in images:
        image["logits_f64"] = float64_logits(model, image["path"])
    clamps = [activation_clamps(model, common.load_input(img["path"], MEAN, STD)) for img in images]
    planted = ({"shift": PS_SHIFTS, "sign": PS_SIGNS} if mode == "PS" else {"weight": Q_WEIGHTS})
    common.write_fixture_json(METHOD, name, {
        "arch": "resnet20",
        "checkpoint": f"{name}.pth.tar",
        "format": "legacy",
        "input": {"height": 32, "width": 32, "channels": 3, "mean": list(MEAN), "std": list(STD)},
        "options": {
            "shift_type": mode,
            "weight_bits": weight_bits,
            "shift_range": list(model.conv1.shift_range),
            "activation_integer_bits": act_bits[0],
            "activation_fraction_bits": act_bits[1],
            "rounding": "deterministic",
            "shift_layers": "all: every Conv2d (conv1, all block convs) and the linear (shift_depth >= 19, "
                            "convert_all_linear)",
            "fixed_point_at": "input of every shift conv/linear, and its bias",
            "key_prefix": "module.",
            "widths": list(WIDTHS),
            "real_widths": list(REAL_WIDTHS),
        },
        "images": images,
        "notes": (
            f"Randomly initialised, not trained: FP weights He-normal, then (PS) shift = log2|w| + N(0, 0.3^2) "
            f"drift and sign = sign(w) * U(0.3, 1.6), or (Q) weight = w; BN affine randomised and running "
            f"stats measured on 64 synthetic images through this forward; one SGD step (random gradients) "
            f"filled the momentum buffers; the MultiStepLR was stepped {EPOCHS} times. Widths reduced to "
            f"{list(WIDTHS)} (real ResNet-20: {list(REAL_WIDTHS)}), keys and layout unchanged. The first "
            f"entries of every shift layer's {'/'.join(planted)} are planted edge values {planted}: "
            f"out-of-range values as the saved parameters can hold them (the forward clamps shift.data, "
            f"the optimizer step after the last forward can push it out again), half-way values for "
            f"round-half-to-even, zero/half signs. {weight_counts['zero_weights']} of "
            f"{weight_counts['weights']} quantized weights are 0. round_to_fixed clamps "
            f"{clamps} shift-layer input values per image. Checkpoint: legacy format with storage keys "
            f"renamed deterministically (legacy_keys.py); best_acc1 is a 0-d numpy float32 array "
            f"(pickled via numpy._core.multiarray._reconstruct; a placeholder value); 'lr_scheduler' is a "
            f"real torch.optim.lr_scheduler.MultiStepLR whose pickled optimizer holds the model's "
            f"Parameters (the same storages as state_dict) and the momentum buffers. Uncertain: the "
            f"activation bits are DeepShift's --activation-integer-bits/--activation-fraction-bits "
            f"options as remembered from its public code (default 16/16); the fixed-point rounding of "
            f"the input and bias of every shift layer (and nowhere else) follows modules.py/modules_q.py "
            f"of the public code. Logits: PyTorch {torch.__version__} float32, 1 thread; logits_f64: the same "
            f"model in float64 (model.double(), same float32 input tensor)."),
    })
    print(f"{name}: {path.stat().st_size} bytes, clamps {clamps}, {weight_counts}")


FIXTURES = {
    "resnet20_ps": dict(mode="PS", weight_bits=5, act_bits=(16, 16), seed=2019),
    "resnet20_q": dict(mode="Q", weight_bits=5, act_bits=(4, 6), seed=2020),
}


def empty_model(name: str) -> nn.Module:
    """The fixture's architecture with this file's forward, for verify_fixtures.py to load weights into."""
    spec = FIXTURES[name]
    return build(spec["mode"], spec["weight_bits"], spec["act_bits"], torch.Generator().manual_seed(0))


def main():
    torch.set_num_threads(1)
    for name, spec in FIXTURES.items():
        generate(name, **spec)


if __name__ == "__main__":
    main()
