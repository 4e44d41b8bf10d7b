"""Equal Bits (Li et al., AAAI 2022) fixtures: the Bi-Real CIFAR ResNet-18 of the method's public code
(liyunqianggyn/Equal-Bits-BNN, CIFAR10/resnet.py + utils.py), randomly initialised, BatchNorm calibrated,
saved as CIFAR10/trainer.py saves it, with reference logits.

    toolchain/.venv/bin/python toolchain/seeds/gen_equalbits.py

Writes Tests/Fixtures/seeds/equalbits/model0.0.{th,json} (prune rate k = 0: binary) and model0.5.{th,json}
(k = 0.5: ternary), plus the shared inputs. See toolchain/seeds/README.md, "Equal Bits". Also
model0.25.{th,json}: k = 0.25 on a Bi-Real ResNet-10 (one block per stage, a depth the code does not
ship; the trainer names the file by the prune rate only).

Inference math implemented here (float32, PyTorch semantics):
  binary conv (EBConv2d, mode 'halfmask'): per output filter, the a = Cin*kh*kw latent weights sorted
    ascending: the lowest int((1-k)/2*a) -> -1, the next up to int((1+k)/2*a) -> 0, the rest -> +1;
    W = float32(sqrt(2)/sqrt(fan_in)) * B, fan_in = Cin*kh*kw (gain of 'relu'; no --scale-fan). The scale
    is a plain tensor attribute in the original, so it is not in the checkpoint: recompute it.
  activations: sign(x) with sign(0) = 0 before every binary conv (BinActive); no scale.
  block (Bi-Real): out = BN1(PReLU(conv1(sign x))) + shortcut(x); out2 = BN2(PReLU(conv2(sign out))) + out,
    one PReLU (`nonlinear`) shared by both convs; shortcut = 1x1 conv (full precision) + BN where the
    shape changes, identity otherwise.
  stem: PReLU(BN(conv3x3(x))), full precision; head: avg_pool2d(4), linear (full precision).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import calibration
import common

METHOD = "equalbits"
WIDTHS = (8, 16, 32, 64)          # real: 64, 128, 256, 512 (same keys, shapes scale)
REAL_WIDTHS = (64, 128, 256, 512)
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)   # CIFAR10/trainer.py
GAIN = math.sqrt(2.0)             # nn.init.calculate_gain('relu')
SEED = 2022
IMAGES = 5
EPOCHS, ITERS_PER_EPOCH = 350, 390   # trainer.py: 350 epochs, batch 128, drop_last


def halfmask(latent: torch.Tensor, prune_rate: float) -> torch.Tensor:
    """Equal-bits codes in {-1, 0, +1} per output filter (utils.halfmask, ranks by ascending value)."""
    flat = latent.reshape(latent.size(0), -1)
    a = flat.size(1)
    i = int((1 - prune_rate) / 2. * a)
    j = int((1 + prune_rate) / 2. * a)
    ranked = torch.cat([-torch.ones(i), torch.zeros(j - i), torch.ones(a - j)])
    order = flat.argsort(dim=1)
    codes = torch.empty_like(flat)
    codes.scatter_(1, order, ranked.expand(flat.size(0), a).contiguous())
    return codes.view_as(latent)


class EBConv2d(nn.Conv2d):
    """Binary/ternary conv: the saved `weight` holds latent scores; forward uses scale * halfmask codes."""

    def __init__(self, cin, cout, stride, prune_rate):
        super().__init__(cin, cout, 3, stride, 1, bias=False)
        self.prune_rate = prune_rate
        fan_in = cin * 9
        self.scale = GAIN / math.sqrt(fan_in)   # a Python double; float32 once it multiplies the codes

    def quantized_weight(self) -> torch.Tensor:
        return torch.ones_like(self.weight) * self.scale * halfmask(self.weight, self.prune_rate)

    def forward(self, x):
        return F.conv2d(x, self.quantized_weight(), None, self.stride, self.padding)


class BiRealBlock(nn.Module):
    def __init__(self, cin, cout, stride, prune_rate):
        super().__init__()
        self.conv1 = EBConv2d(cin, cout, stride, prune_rate)
        self.bn1 = nn.BatchNorm2d(cout)
        self.nonlinear = nn.PReLU(cout)
        self.conv2 = EBConv2d(cout, cout, 1, prune_rate)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn1(self.nonlinear(self.conv1(torch.sign(x)))) + self.shortcut(x)
        return self.bn2(self.nonlinear(self.conv2(torch.sign(out)))) + out


class BiRealResNet(nn.Module):
    """Bi-Real ResNet with `blocks` per stage (ResNet-18: 2, 2, 2, 2)."""

    def __init__(self, prune_rate, widths=WIDTHS, classes=10, blocks=(2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.prelu = nn.PReLU(widths[0])
        cin = widths[0]
        for stage, (cout, stride, n) in enumerate(zip(widths, (1, 2, 2, 2), blocks), start=1):
            setattr(self, f"layer{stage}", nn.Sequential(BiRealBlock(cin, cout, stride, prune_rate),
                                                         *[BiRealBlock(cout, cout, 1, prune_rate) for _ in range(n - 1)]))
            cin = cout
        self.linear = nn.Linear(widths[3], classes)

    def forward(self, x):
        out = self.prelu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        out = F.avg_pool2d(out, 4)
        return self.linear(out.view(out.size(0), -1))


def has_ties(latent: torch.Tensor) -> bool:
    """True if two latent weights of one filter are equal (their ranks would depend on the sort)."""
    return any(row.unique().numel() != row.numel() for row in latent.reshape(latent.size(0), -1))


def build(prune_rate: float, gen: torch.Generator, blocks) -> BiRealResNet:
    model = BiRealResNet(prune_rate, blocks=blocks)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):   # latent scores and full-precision convs: He-normal
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(m.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in)
            while isinstance(m, EBConv2d) and has_ties(m.weight):   # ranks must be unambiguous
                m.weight.data = torch.randn(m.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in)
        elif isinstance(m, nn.PReLU):
            m.weight.data = torch.rand(m.weight.shape, generator=gen) * 0.45 + 0.05
    # A quarter of the stem's PReLU slopes exactly 0 (ReLU channels): the stem output then holds exact
    # zeros, so layer1.0's sign() sees sign(0) = 0 inputs; two block slopes negative, as training can make.
    model.prelu.weight.data[::4] = 0.0
    model.layer2[0].nonlinear.weight.data[:2] = torch.tensor([-0.08, -0.2])
    calibration.randomize_batchnorm(model, gen)
    return model


SIGN_MARGIN = 1e-6   # smallest nonzero |sign() input| a fixture input may have, over that tensor's max |x|


def sign_margin(model: BiRealResNet, x: torch.Tensor) -> float:
    """The smallest nonzero |v| / max|v| over the inputs v of every sign() in one forward. A value within
    float32 rounding of 0 (a residual sum cancelling to ~1e-8) takes its sign from the summation order, so
    no float implementation can be held to PyTorch's sign there: fixture inputs avoid such near-ties (exact
    zeros, from the stem's zero PReLU slopes, are kept: sign(0) = 0 is exact)."""
    seen, original = [], torch.sign
    def record(t):
        seen.append(t.detach())
        return original(t)
    torch.sign = record
    try:
        with torch.no_grad():
            model(x)
    finally:
        torch.sign = original
    worst = float("inf")
    for t in seen:
        nonzero = t[t != 0].abs()
        if nonzero.numel():
            worst = min(worst, (nonzero.min() / t.abs().max()).item())
    return worst


def zero_sign_inputs(model: BiRealResNet, x: torch.Tensor) -> dict:
    """{binary conv name: number of exact zeros in its sign() input} for one image (nonzero counts only)."""
    counts, hooks = {}, []
    for name, m in model.named_modules():
        if isinstance(m, EBConv2d):
            def count(module, args, name=name):
                counts[name] = int((args[0] == 0).sum())
            hooks.append(m.register_forward_pre_hook(count))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return {name: n for name, n in counts.items() if n}


def generate(prune_rate: float, blocks) -> None:
    common.seed_everything(SEED)
    gen = torch.Generator().manual_seed(SEED + int(prune_rate * 10))
    model = build(prune_rate, gen, blocks)
    depth = 2 * sum(blocks) + 2
    calibration.calibrate_batchnorm(model, calibration.calibration_batch(64, 32, 3, MEAN, STD),
                                    EPOCHS * ITERS_PER_EPOCH)
    name = f"model{prune_rate}"                        # trainer.py: 'model{}.th'.format(args.prune_rate)
    path = common.checkpoint_path(METHOD, name, "th")
    wrapped = nn.DataParallel(model)                    # keys 'module.'-prefixed, as trainer.py saves them
    best_prec1 = {0.0: 91.37, 0.5: 90.12, 0.25: 88.64}[prune_rate]  # placeholder accuracy, not measured
    common.save_checkpoint({"epoch": EPOCHS, "state_dict": wrapped.state_dict(), "best_prec1": best_prec1},
                           path, legacy=False)

    images = calibration.pick_inputs(model, 32, 3, MEAN, STD, IMAGES,
                                     accept=lambda x: sign_margin(model, x) >= SIGN_MARGIN)
    zeros = [zero_sign_inputs(model, common.load_input(img["path"], MEAN, STD)) for img in images]
    assert all(z.get("layer1.0.conv1", 0) > 0 for z in zeros)
    stem_zero_slopes = int((model.prelu.weight == 0).sum())
    codes = [halfmask(m.weight, prune_rate) for m in model.modules() if isinstance(m, EBConv2d)]
    zero_codes = int(sum((c == 0).sum() for c in codes))
    total_codes = int(sum(c.numel() for c in codes))
    common.write_fixture_json(METHOD, name, {
        "arch": f"bireal-resnet{depth}-cifar",
        "checkpoint": f"{name}.th",
        "format": "zip",
        "input": {"height": 32, "width": 32, "channels": 3, "mean": list(MEAN), "std": list(STD)},
        "options": {
            "prune_rate": prune_rate,
            "binarization_mode": "halfmask",
            "scale": "float32(sqrt(2) / sqrt(fan_in)), fan_in = Cin*kh*kw (scale_fan false)",
            "activation": "sign, sign(0) = 0",
            "key_prefix": "module.",
            "widths": list(WIDTHS),
            "real_widths": list(REAL_WIDTHS),
            **({} if blocks == (2, 2, 2, 2) else {"blocks": list(blocks)}),
        },
        "images": images,
        "notes": (
            f"Randomly initialised, not trained: latent scores He-normal (no ties within a filter), BN "
            f"affine randomised and running stats measured on 64 synthetic images through this forward, "
            f"num_batches_tracked = {EPOCHS}*{ITERS_PER_EPOCH}, best_prec1 a placeholder. Widths reduced "
            f"to {list(WIDTHS)} (the real ResNet-{depth} has {list(REAL_WIDTHS)}); keys and layout are the "
            f"real ones. {stem_zero_slopes} of {WIDTHS[0]} stem PReLU slopes are exactly 0, so the stem "
            f"output (input of layer1.0's sign) holds exact zeros; exact zeros per sign() input, by binary "
            f"conv, per image (of {WIDTHS[0] * 32 * 32} values at layer1.0): {zeros}. The zero padding of "
            f"every 3x3 binary conv is 0 (not -1). Codes: {zero_codes} of {total_codes} binary-conv weights are 0 (prune rate "
            f"{prune_rate}). Two PReLU slopes of layer2.0 are negative. Stem, shortcut 1x1 convs and "
            f"linear are full precision. Logits: PyTorch {torch.__version__} float32, 1 thread, one image "
            f"per forward."),
    })
    print(f"{name}: {path.stat().st_size} bytes, inputs {[i['path'] for i in images]}, zeros {zeros}")


FIXTURES = {"model0.0": (0.0, (2, 2, 2, 2)), "model0.5": (0.5, (2, 2, 2, 2)), "model0.25": (0.25, (1, 1, 1, 1))}


def empty_model(name: str) -> nn.Module:
    """The fixture's architecture with this file's forward, for verify_fixtures.py to load weights into."""
    prune_rate, blocks = FIXTURES[name]
    return BiRealResNet(prune_rate, blocks=blocks)


def main():
    torch.set_num_threads(1)
    for prune_rate, blocks in FIXTURES.values():
        generate(prune_rate, blocks)


if __name__ == "__main__":
    main()
