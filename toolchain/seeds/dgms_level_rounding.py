#!/usr/bin/env python3
"""Where DGMS's u8 points go (issue #16), simulated in PyTorch on gen_realweights.py's DGMS ResNet-20: its
block convs run with (a) the exact mixture levels or the levels rounded to an int8 table (unit max |level|
/ 127, or the unit qconvert's Passes/TableUnit.swift searches: max |level| / t, t in 127...96, least
count-weighted squared level error), and (b) float inputs or u8 inputs into every DGMS conv (dynamic: each
image's tensor min/max with 0; calibrated: the min/max over the 1,000 images NNNN < 0100 of each class, scored
on the other 9,000). Prints top-1 on the CIFAR-10 test set of --data. The first conv and the linear layer
stay float, as on qconvert's u8 path.

    /work/venv/bin/python toolchain/seeds/dgms_level_rounding.py --checkpoint models/realweights/dgms/resnet20.pth.tar
"""
import argparse
import re
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import gen_dgms  # noqa: E402
import gen_realweights  # noqa: E402


def level_error(levels: torch.Tensor, counts: torch.Tensor, unit: float) -> float:
    q = torch.round(levels.double() / unit) * unit
    return float((counts * (levels.double() - q) ** 2).sum())


def plain_unit(levels: torch.Tensor, counts: torch.Tensor) -> float:
    return float(levels.abs().max()) / 127


def searched_unit(levels: torch.Tensor, counts: torch.Tensor) -> float:
    """TableUnit.swift's search: t from 127 down to 96 in steps of 1/64, the least error (the first on ties)."""
    top = float(levels.abs().max())
    best = (level_error(levels, counts, top / 127), top / 127)
    for i in range(1, 31 * 64 + 1):
        unit = top / (127 - i / 64)
        e = level_error(levels, counts, unit)
        if e < best[0] * (1 - 1e-6):
            best = (e, unit)
    return best[1]


def quantize_u8(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """PyTorch's quantize_per_tensor + dequantize with the range [min(lo, 0), max(hi, 0)]."""
    lo, hi = lo.clamp(max=0), hi.clamp(min=0)
    scale = ((hi - lo) / 255).clamp(min=1e-30)
    zero = torch.round(-lo / scale)
    return (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale


class Simulation:
    def __init__(self, checkpoint: Path):
        loaded = torch.load(str(checkpoint), map_location="cpu", weights_only=False)
        self.model = gen_dgms.DGMSNet(gen_dgms.CifarResNet(blocks=3, width=16, k=16))
        self.model.load_state_dict(loaded["state_dict"])
        self.model.eval()
        self.convs = [m for m in self.model.modules() if isinstance(m, gen_dgms.DGMSConv)]
        self.exact = {}
        for m in self.convs:
            w, index, _, _ = m.sub_distribution.quantize(m.weight)
            levels = torch.cat([torch.zeros(1), m.sub_distribution.mu.detach()])
            self.exact[m] = (w, index.view(w.shape), levels)
        self.mode, self.ranges = "float", {}
        for m in self.convs:
            m.forward = self._forward(m)

    def _forward(self, m):
        def forward(x):
            if self.mode == "dynamic":
                x = quantize_u8(x, x.amin(dim=(1, 2, 3), keepdim=True), x.amax(dim=(1, 2, 3), keepdim=True))
            elif self.mode == "record":
                lo, hi = self.ranges.get(m, (x.min(), x.max()))
                self.ranges[m] = (torch.minimum(lo, x.min()), torch.maximum(hi, x.max()))
            elif self.mode == "calibrated":
                x = quantize_u8(x, *self.ranges[m])
            return F.conv2d(x, m.sim_weight, None, m.stride, m.padding)
        return forward

    def set_weights(self, unit_rule):
        """Exact levels (unit_rule None) or the levels rounded to the int8 table of unit_rule's unit."""
        for m in self.convs:
            w, index, levels = self.exact[m]
            if unit_rule is None:
                m.sim_weight = w
                continue
            counts = torch.bincount(index.flatten(), minlength=len(levels)).double()
            unit = unit_rule(levels, counts)
            m.sim_weight = (torch.clamp(torch.round(levels.double() / unit), -128, 127)[index] * unit).float()

    @torch.no_grad()
    def top1(self, x, labels) -> float:
        logits = torch.cat([self.model(x[i:i + 500]) for i in range(0, len(x), 500)])
        return 100.0 * float((logits.argmax(dim=1) == labels).double().mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=common.ROOT / "models" / "realweights" / "dgms" / "resnet20.pth.tar")
    parser.add_argument("--data", type=Path, default=common.ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    paths, labels, x = gen_realweights.load_test_set(args.data)
    calibration = torch.tensor([int(re.search(r"(\d+)\.", p).group(1)) < 100 for p in paths])
    evaluation = ~calibration
    sim = Simulation(args.checkpoint)
    print("| weights | float activations (10,000) | u8 dynamic (10,000) | float activations (9,000) | u8 calibrated (9,000) |")
    print("|---|---|---|---|---|")
    for name, rule in (("exact levels", None), ("int8, max |level| / 127", plain_unit), ("int8, searched unit", searched_unit)):
        sim.set_weights(rule)
        sim.mode = "float"
        full, held = sim.top1(x, labels), sim.top1(x[evaluation], labels[evaluation])
        sim.mode = "dynamic"
        dynamic = sim.top1(x, labels)
        sim.mode, sim.ranges = "record", {}
        sim.top1(x[calibration], labels[calibration])
        sim.mode = "calibrated"
        calibrated = sim.top1(x[evaluation], labels[evaluation])
        print(f"| {name} | {full:.2f} | {dynamic:.2f} | {held:.2f} | {calibrated:.2f} |", flush=True)


if __name__ == "__main__":
    main()
