#!/usr/bin/env python3
"""Writes the Any-Precision SVHN fixture: Tests/Fixtures/seeds/anyprec/{svhnq.pth.tar, svhnq.json}.

    /work/venv/bin/python toolchain/seeds/gen_anyprec_svhn.py            # writes the fixture
    /work/venv/bin/python toolchain/seeds/gen_anyprec_svhn.py --verify   # reloads it and checks the JSON

The DoReFa SVHN CNN of the Any-Precision code (models/svhn_quan.py, svhnq: expand 2, the released size),
with the weight/activation math and switchable BatchNorm of gen_anyprec.py, input 40x40, mean = std = 0.5:
    layers.0 conv 5x5 (bias, full precision) -> maxpool 2 -> act
    -> layers.3 qconv 3x3 p1 -> bn 4 -> act -> layers.6 qconv 3x3 p1 -> bn 7 -> maxpool 2 -> act
    -> layers.10 qconv 3x3 p0 -> bn 11 -> act -> layers.13 qconv 3x3 p1 -> bn 14 -> act
    -> layers.16 qconv 3x3 p0 -> bn 17 -> act -> (dropout) -> layers.20 qconv 5x5 p0
    -> Activate(quantize=False): clamp(x, 0, 1) at k < 32, ReLU at 32 -> flatten -> fc (full precision)
Saved like gen_anyprec.py's resnet20q ({epoch, model, state_dict, best_prec1, optimizer}), zip format.
"""
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from gen_anyprec import (BITS, LOGITS_NOTE, QConv2d, Switch, SwitchBatchNorm2d, activate, check_logits,  # noqa: E402
                         float64_logits, image_records, logits_by_bits, pick_model, print_summary, randomize,
                         run_all_widths)

METHOD = "anyprec"
MEAN = [0.5, 0.5, 0.5]
STD = [0.5, 0.5, 0.5]
INPUT_SEEDS = [1, 2, 3, 4, 5]
EXPAND = 2


class Act(nn.Module):
    """Activate: DoReFa at k < 32 and ReLU at 32; with quantize=False clamp(0, 1) at k < 32."""
    def __init__(self, quantize: bool = True):
        super().__init__()
        self.quantize = quantize

    def forward(self, x):
        if self.quantize or Switch.bits == 32:
            return activate(x, Switch.bits)
        return torch.clamp(x, 0.0, 1.0)


class SVHNQ(nn.Module):
    def __init__(self, ep: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, ep * 6, 5, padding=0, bias=True), nn.MaxPool2d(2), Act(),
            QConv2d(ep * 6, ep * 8, 3, padding=1, bias=False), SwitchBatchNorm2d(ep * 8), Act(),
            QConv2d(ep * 8, ep * 8, 3, padding=1, bias=False), SwitchBatchNorm2d(ep * 8), nn.MaxPool2d(2), Act(),
            QConv2d(ep * 8, ep * 16, 3, padding=0, bias=False), SwitchBatchNorm2d(ep * 16), Act(),
            QConv2d(ep * 16, ep * 16, 3, padding=1, bias=False), SwitchBatchNorm2d(ep * 16), Act(),
            QConv2d(ep * 16, ep * 16, 3, padding=0, bias=False), SwitchBatchNorm2d(ep * 16), Act(),
            nn.Dropout(0.5),
            QConv2d(ep * 16, ep * 64, 5, padding=0, bias=False), Act(quantize=False),
        )
        self.fc = nn.Linear(ep * 64, 10)

    def forward(self, x):
        x = self.layers(x)
        return self.fc(x.view([x.shape[0], -1]))


@torch.no_grad()
def build(seed: int) -> SVHNQ:
    common.seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model = SVHNQ(EXPAND)
    model.layers[0].weight.mul_(4.0)      # a stem whose outputs reach the [0, 1] activation range
    return randomize(model, gen, 40, MEAN, STD)


def verify() -> None:
    record = common.read_fixture_json(METHOD, "svhnq")
    model = SVHNQ(record["options"]["expand"])
    model.load_state_dict(common.load_checkpoint(METHOD, "svhnq")["state_dict"], strict=True)
    model.eval()
    check_logits(model, record, MEAN, STD)
    print("svhnq: checkpoint reloads to the recorded float32 and float64 logits at every bit width")


def main():
    torch.set_num_threads(1)
    if "--verify" in sys.argv:
        verify()
        return
    inputs = [common.write_input(40, 40, 3, s) for s in INPUT_SEEDS]
    seed, model, logits, margins, worst = pick_model(build, inputs, MEAN, STD)
    logits64 = float64_logits(model, inputs, MEAN, STD)
    obj = {"epoch": 100, "model": "svhnq", "state_dict": model.state_dict(), "best_prec1": 97.0}
    ckpt = common.checkpoint_path(METHOD, "svhnq", "pth.tar")
    common.save_checkpoint(obj, ckpt, legacy=False)
    common.write_fixture_json(METHOD, "svhnq", {
        "arch": "svhnq",
        "checkpoint": ckpt.name,
        "format": "zip",
        "input": {"height": 40, "width": 40, "channels": 3, "mean": MEAN, "std": STD},
        "options": {"bits": BITS, "model_seed": seed, "expand": EXPAND,
                    "full_precision": ["layers.0", "fc"]},
        "images": image_records(inputs, logits, margins, logits64),
        "notes": ("svhnq (models/svhn_quan.py, expand 2) with random but BatchNorm-calibrated weights; the last "
                  "activation is Activate(quantize=False): clamp(0, 1) below 32 bits, ReLU at 32. " + LOGITS_NOTE),
    })
    print_summary(seed, ckpt, worst, logits)


if __name__ == "__main__":
    main()
