#!/usr/bin/env python3
"""Writes the DGMS fixtures (Differentiable Gaussian Mixture weight Sharing, Dong et al., ICML 2022):
Tests/Fixtures/seeds/dgms/{resnet20.pth.tar, resnet20.json, vggsmall.pth, vggsmall.json, resnet14.pth.tar,
resnet14.json}.

    /work/venv/bin/python toolchain/seeds/gen_dgms.py            # writes the fixtures
    /work/venv/bin/python toolchain/seeds/gen_dgms.py --verify   # reloads them and checks the JSON

Inference math of a DGMS conv (weights only; activations stay float), float32, in the training code's
operation order (modeling/DGMS/GMM.py, eval branch):
    pi   = |[pi_zero, pi_k]| / sum |[pi_zero, pi_k]|                          (K values)
    N(w; m, s) = (1 / sqrt(2*pi * s^2)) * exp(-((w - m)^2 / (2 * s^2)))         then * pi_j
    r_0 = N(w; 0, sigma_zero) * pi_0,  r_k = N(w; mu_{k-1}, sigma_{k-1}) * pi_k   (k = 1..K-1)
    r   = r / (sum_j r_j + 1e-11);  p = softmax(r / temperature) over the K components
    k*  = argmax p (first index wins ties);  w_q = 0 if k* = 0 else mu_{k*-1}
A weight far from every component underflows every r_j to 0, so p is uniform and k* = 0 (weight 0).
The first conv and the Linear layers stay full precision (the layer transformer skips layer 1).

Fixtures (random but trained-like: BatchNorm statistics calibrated on synthetic images through the
quantized network, mixture parameters fitted to each layer's weights like the k-means initialisation):
  resnet20  CIFAR ResNet-20 (option-A shortcuts) at half width 8/16/32 (real: 16/32/64), K = 16
            (4-bit); the full training checkpoint {epoch, state_dict, optimizer, best_top1, best_top5,
            params, bits, CR, according_sparsity}, zip format, storages tagged cuda:0.
  vggsmall  VGG-small (convs with bias) at 1/8 width 16/32/64 (real: 128/256/512), Linear 1024->10
            (real 8192->10), K = 4 (2-bit); a bare state_dict, zip format, storages tagged cpu.
  resnet14  the resnet20 layout with 2 blocks per stage (a depth the DGMS code does not ship), saved the
            same way: the converter reads the depth from the keys.
"""
import math
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

METHOD = "dgms"
EPS = 1e-11            # config.EPS of the DGMS code
TEMPERATURE = 0.01     # config.TAU, the default --tau
CIFAR_MEAN = [0.4914, 0.4822, 0.4465]
CIFAR_STD = [0.2023, 0.1994, 0.2010]
INPUT_SEEDS = [1, 2, 3, 4, 5]
RESNET_BLOCKS = {"resnet20": 3, "resnet14": 2}   # CIFAR ResNet depth 6n + 2: blocks n per stage


class GaussianMixture(nn.Module):
    """`X.sub_distribution`: K-1 non-zero components (mu, pi_k, sigma) and the zero component (mean 0,
    not stored; pi_zero, sigma_zero), registered in the training code's order."""

    def __init__(self, k: int):
        super().__init__()
        self.mu = nn.Parameter(torch.zeros(k - 1))
        self.pi_k = nn.Parameter(torch.ones(k - 1))
        self.pi_zero = nn.Parameter(torch.ones(1))
        self.sigma_zero = nn.Parameter(torch.ones(1))
        self.sigma = nn.Parameter(torch.ones(k - 1))
        self.temperature = nn.Parameter(torch.tensor([TEMPERATURE]))

    def normalized_pi(self) -> torch.Tensor:
        pi = torch.cat([self.pi_zero, self.pi_k], dim=-1).abs()
        return torch.div(pi, pi.sum(dim=-1).unsqueeze(-1))

    @staticmethod
    def _weighted_pdf(w, pi, mean, sigma):
        front = torch.reciprocal(torch.sqrt(torch.mul(torch.tensor([2 * math.pi]), sigma ** 2)))
        return torch.mul(front, torch.exp(-torch.div((w - mean) ** 2, 2 * sigma ** 2))).mul(pi)

    @torch.no_grad()
    def quantize(self, weight: torch.Tensor):
        """(w_q, k* per weight, r before normalisation, p): the hard assignment of DGMS inference."""
        w = weight.flatten()
        k = self.mu.numel() + 1
        pi = self.normalized_pi()
        r = torch.zeros([k, w.numel()])
        r[0] = self._weighted_pdf(w, pi[0], 0.0, self.sigma_zero)
        for j in range(k - 1):
            r[j + 1] = self._weighted_pdf(w, pi[j + 1], self.mu[j], self.sigma[j])
        raw = r.clone()
        r = torch.div(r, r.sum(dim=0) + EPS)
        p = F.softmax(r / self.temperature, dim=0)
        index = torch.argmax(p, dim=0)
        mask = torch.zeros_like(p).scatter_(0, index.unsqueeze(0), 1.0)
        w_q = torch.mul(mask[1:], self.mu.unsqueeze(1)).sum(dim=0).view(weight.shape)
        return w_q, index, raw, p


class DGMSConv(nn.Conv2d):
    """A conv whose weight is replaced by its DGMS hard assignment at inference."""

    def __init__(self, *args, k: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.sub_distribution = GaussianMixture(k)

    def forward(self, x):
        w_q = self.sub_distribution.quantize(self.weight)[0]
        return F.conv2d(x, w_q, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ShortcutA(nn.Module):
    """Option A: x[:, :, ::2, ::2] zero-padded with `pad` channels on each side (no parameters)."""

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride, k):
        super().__init__()
        self.conv1 = DGMSConv(in_planes, planes, 3, stride=stride, padding=1, bias=False, k=k)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = DGMSConv(planes, planes, 3, stride=1, padding=1, bias=False, k=k)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ShortcutA(planes // 4) if stride != 1 or in_planes != planes else nn.Sequential()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """resnet_cifar.py of the DGMS code: conv1 (full precision), bn1, layer1..3, linear."""

    def __init__(self, blocks: int, width: int, k: int, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        planes, layers = width, []
        for stage, out in enumerate([width, 2 * width, 4 * width]):
            seq = []
            for i in range(blocks):
                seq.append(BasicBlock(planes, out, 2 if stage > 0 and i == 0 else 1, k))
                planes = out
            layers.append(nn.Sequential(*seq))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(4 * width, classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


class VGGSmall(nn.Module):
    """vgg_small_cifar.py of the DGMS code: features = conv-BN-ReLU, conv, maxpool, BN-ReLU at three
    widths (indices 0..20), classifier Linear(c3*4*4, classes). Convs have bias; features.0 stays full
    precision."""

    def __init__(self, widths, k: int, classes: int = 10):
        super().__init__()
        layers, cin, first = [], 3, True
        for c in widths:
            conv_a = nn.Conv2d(cin, c, 3, padding=1) if first else DGMSConv(cin, c, 3, padding=1, k=k)
            layers += [conv_a, nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       DGMSConv(c, c, 3, padding=1, k=k), nn.MaxPool2d(2, 2), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            cin, first = c, False
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(widths[-1] * 4 * 4, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.05)   # the original's 0.01 gives logits ~0.2; trained ones are larger

    def forward(self, x):
        x = self.features(x)
        return self.classifier(x.reshape(x.size(0), -1))


class DGMSNet(nn.Module):
    """The training wrapper: its state_dict keys start with `network.`."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x):
        return self.network(x)


@torch.no_grad()
def make_trained_like(model: nn.Module, k: int, gen: torch.Generator) -> None:
    """Random BatchNorm affine parameters and conv biases; for every DGMS conv, outlier weights (about
    0.4%, far beyond every component) and a mixture fitted the way the k-means initialisation does:
    K centres at the weight quantiles (j + 0.5) / K, the centre nearest 0 becomes the zero component,
    sigma = 0.4 * distance to the nearest other centre, pi = share of weights nearest each centre
    (jittered; one pi_k made negative, which |.| in the normalisation must absorb)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(0.6 + 0.8 * torch.rand(m.weight.shape, generator=gen))
            m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            m.bias.copy_(0.05 * torch.randn(m.bias.shape, generator=gen))
        if not isinstance(m, DGMSConv):
            continue
        w = m.weight.flatten()
        centres = torch.quantile(w, (torch.arange(k, dtype=torch.float64) + 0.5).float() / k)
        zero = int(torch.argmin(centres.abs()))
        centres[zero] = 0.0
        gaps = (centres.unsqueeze(0) - centres.unsqueeze(1)).abs() + torch.eye(k) * 1e9
        sigmas = 0.4 * gaps.min(dim=1).values
        share = torch.bincount((w.unsqueeze(1) - centres.unsqueeze(0)).abs().argmin(dim=1), minlength=k).float()
        pis = share / share.sum() * (0.8 + 0.4 * torch.rand(k, generator=gen))
        keep = [j for j in range(k) if j != zero]
        g = m.sub_distribution
        g.mu.copy_(centres[keep])
        g.sigma.copy_(sigmas[keep])
        g.pi_k.copy_(pis[keep])
        g.pi_k[(k - 1) // 3] *= -1
        g.pi_zero.copy_(pis[zero:zero + 1])
        g.sigma_zero.copy_(sigmas[zero:zero + 1])
        g.temperature.fill_(TEMPERATURE)
        count = max(2, w.numel() // 250)
        where = torch.randperm(w.numel(), generator=gen)[:count]
        reach = centres.abs().max() + 20 * sigmas.max()
        signs = torch.where(torch.rand(count, generator=gen) < 0.5, -1.0, 1.0)
        w[where] = signs * reach * (1.0 + 0.5 * torch.rand(count, generator=gen))
        m.weight.copy_(w.view(m.weight.shape))


def layer_records(model: nn.Module, prefix: str) -> list:
    """Per DGMS conv: the codebook (index 0 = the zero component), normalised pi, how many weights took
    each index, how many underflowed (every r_j == 0 -> uniform softmax -> index 0) and how many others
    had a tie between the two largest softmax outputs (broken by the first index: r_j so small that
    r / temperature rounds to equal softmax outputs)."""
    records = []
    for name, m in model.named_modules():
        if not isinstance(m, DGMSConv):
            continue
        g = m.sub_distribution
        _, index, raw, p = g.quantize(m.weight)
        top2 = torch.topk(p, 2, dim=0).values
        underflow = (raw == 0).all(dim=0)
        records.append({
            "name": prefix + name,
            "shape": list(m.weight.shape),
            "codebook": common.f32_list(torch.cat([torch.zeros(1), g.mu.detach()])),
            "pi_normalized": common.f32_list(g.normalized_pi().detach()),
            "index_counts": [int(c) for c in torch.bincount(index, minlength=g.mu.numel() + 1)],
            "underflow": int(underflow.sum()),
            "softmax_ties": int(((top2[0] == top2[1]) & ~underflow).sum()),
        })
    return records


def build(arch: str, seed: int):
    common.seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    if arch in RESNET_BLOCKS:
        net, k = CifarResNet(blocks=RESNET_BLOCKS[arch], width=8, k=16), 16
    else:
        net, k = VGGSmall([16, 32, 64], k=4), 4
    model = DGMSNet(net)
    make_trained_like(model, k, gen)
    batches = common.calibration_batches(32, 32, 3, CIFAR_MEAN, CIFAR_STD, count=4, batch=16)
    common.calibrate_batchnorm(model, lambda m, x: m(x), batches)
    return model, k


def logits_for(model, inputs):
    with torch.no_grad():
        return [model(common.load_input(rel, CIFAR_MEAN, CIFAR_STD))[0] for rel in inputs]


def optimizer_for(model: DGMSNet, gen) -> dict:
    """SGD(momentum 0.9, weight decay 5e-4) over get_1x_lr_params(), which yields the parameters of every
    module of `network` in named_modules() order, so a parameter appears once per enclosing module: the
    saved group lists indices with repeats, the state holds one momentum buffer per distinct parameter."""
    listed = [p for _, m in model.network.named_modules() for p in m.parameters()]
    distinct = list({id(p): p for p in listed}.values())
    group = {"lr": 2e-05, "momentum": 0.9, "dampening": 0, "weight_decay": 0.0005, "nesterov": False,
             "maximize": False}
    state = common.optimizer_state(distinct, {"momentum_buffer": "normal"}, group, gen)
    index = {id(p): i for i, p in enumerate(distinct)}
    state["param_groups"][0]["params"] = [index[id(p)] for p in listed]
    return state


def write(arch: str) -> None:
    inputs = [common.write_input(32, 32, 3, s) for s in INPUT_SEEDS]
    for seed in range(100):
        model, k = build(arch, seed)
        logits = logits_for(model, inputs)
        margins = [common.top2_margin(l) for l in logits]
        if min(margins) >= 1e-2 and len({int(l.argmax()) for l in logits}) > 1:
            break
        print(f"{arch}: model seed {seed} gives top-2 margin {min(margins):.4f} or one class for every input, next seed")
    layers = layer_records(model, "")
    underflow = sum(r["underflow"] for r in layers)
    assert underflow > 0, "no weight underflowed: the zero-by-underflow case would go untested"
    bits = int(math.floor(math.log(k, 2)))
    if arch in RESNET_BLOCKS:
        ext, legacy, location = "pth.tar", False, "cuda:0"
        zeros = sum(r["index_counts"][0] for r in layers)
        total = sum(sum(r["index_counts"]) for r in layers)
        sparsity = zeros / total
        gen = torch.Generator().manual_seed(1000 + seed)
        obj = {"epoch": 350, "state_dict": model.state_dict(), "optimizer": optimizer_for(model, gen),
               "best_top1": 91.87, "best_top5": 99.71,
               "params": sum(p.numel() for p in model.parameters()) / 1e6, "bits": bits,
               "CR": 1 / ((1 - sparsity) * bits / 32), "according_sparsity": sparsity}
        notes = (f"CIFAR ResNet-{6 * RESNET_BLOCKS[arch] + 2}, option-A shortcuts, at half width 8/16/32 (the real "
                 "network is 16/32/64: same keys, shapes scaled). Full training checkpoint (Saver.save_checkpoint), zip format, "
                 "storages tagged cuda:0 (a GPU-saved file). The optimizer's param group lists indices with "
                 "repeats, as get_1x_lr_params() yields them.")
    else:
        ext, legacy, location = "pth", False, "cpu"
        obj = model.state_dict()
        notes = ("VGG-small (conv biases) at 1/8 width 16/32/64 (the real network is 128/256/512 with "
                 "Linear 8192->10; here Linear 1024->10, flattened C,H,W from 64x4x4). Bare state_dict "
                 "with the network. prefix, zip format.")
    ckpt = common.checkpoint_path(METHOD, arch, ext)
    common.save_checkpoint(obj, ckpt, legacy=legacy, location=location)
    common.write_fixture_json(METHOD, arch, {
        "arch": arch,
        "checkpoint": ckpt.name,
        "format": "legacy" if legacy else "zip",
        "input": {"height": 32, "width": 32, "channels": 3, "mean": CIFAR_MEAN, "std": CIFAR_STD},
        "options": {
            "K": k, "bits": bits, "temperature": TEMPERATURE, "eps": EPS, "model_seed": seed,
            "full_precision": ["network.conv1", "network.linear"] if arch in RESNET_BLOCKS
            else ["network.features.0", "network.classifier"],
            "underflow_weights": underflow,
            "softmax_ties": sum(r["softmax_ties"] for r in layers),
            "layers": layers,
        },
        "images": [{"path": rel, "logits": common.f32_list(l), "top2_margin": round(m, 6)}
                   for rel, l, m in zip(inputs, logits, margins)],
        "notes": notes,
    })
    print(f"{arch}: seed {seed}, {ckpt.stat().st_size} bytes, underflow {underflow}, "
          f"min margin {min(margins):.4f}, top-1 {[int(l.argmax()) for l in logits]}")


def verify(arch: str) -> None:
    """Reloads the written checkpoint into a fresh network and checks the JSON's logits and per-layer
    records exactly."""
    record = common.read_fixture_json(METHOD, arch)
    loaded = common.load_checkpoint(METHOD, arch)
    state = loaded["state_dict"] if arch in RESNET_BLOCKS else loaded
    k = record["options"]["K"]
    model = DGMSNet(CifarResNet(blocks=RESNET_BLOCKS[arch], width=8, k=k) if arch in RESNET_BLOCKS
                    else VGGSmall([16, 32, 64], k=k))
    model.load_state_dict(state, strict=True)
    model.eval()
    logits = logits_for(model, [im["path"] for im in record["images"]])
    assert all(common.f32_list(l) == im["logits"] for l, im in zip(logits, record["images"])), arch
    assert layer_records(model, "") == record["options"]["layers"], arch
    print(f"{arch}: checkpoint reloads to the recorded logits and codebooks")


def main():
    torch.set_num_threads(1)
    for arch in ("resnet20", "vggsmall", "resnet14"):
        if "--verify" in sys.argv:
            verify(arch)
        else:
            write(arch)


if __name__ == "__main__":
    main()
