#!/usr/bin/env python3
"""Writes the Any-Precision ImageNet fixture: Tests/Fixtures/seeds/anyprec/{resnet50q.pth.tar, resnet50q.json}.

    /work/venv/bin/python toolchain/seeds/gen_anyprec_resnet50q.py            # writes the fixture
    /work/venv/bin/python toolchain/seeds/gen_anyprec_resnet50q.py --verify   # reloads it and checks the JSON

resnet50q of the Any-Precision code (models/resnet_quan.py, PreActResNetBottleneck with [3, 4, 6, 3]
PreActBottleneckQ blocks) at base width 4 instead of 64 (same keys, shapes scaled), with the weight/activation
math and switchable BatchNorm of gen_anyprec.py:
    conv1 7x7/2 (full precision) -> maxpool 3/2 -> layer1..4 -> bn -> act -> avgpool -> fc (full precision)
    block: shortcut = downsample(x) (conv 1x1/s full precision + switchable BN) or x;
           out = conv0(act(bn0 x)); out = conv1(act(bn1 out)) (3x3/s); out = conv2(act(bn2 out)); out + shortcut
Saved as train_imagenet.py saves it under DataParallel: {epoch, arch, state_dict ('module.' keys), best_prec1},
zip format. Inputs 64x64 (the network is fully convolutional up to the global pool), ImageNet mean/std.
"""
import sys
from pathlib import Path

import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from gen_anyprec import (BITS, LOGITS_NOTE, QConv2d, Switch, SwitchBatchNorm2d, activate, check_logits,  # noqa: E402
                         float64_logits, image_records, logits_by_bits, pick_model, print_summary, randomize,
                         run_all_widths)

METHOD = "anyprec"
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
INPUT_SEEDS = [1, 2, 3, 4, 5]
WIDTH = 4


class Bottleneck(nn.Module):
    def __init__(self, cin: int, planes: int, stride: int, downsample):
        super().__init__()
        self.bn0 = SwitchBatchNorm2d(cin)
        self.conv0 = QConv2d(cin, planes, 1, stride=1, bias=False)
        self.bn1 = SwitchBatchNorm2d(planes)
        self.conv1 = QConv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = SwitchBatchNorm2d(planes)
        self.conv2 = QConv2d(planes, planes * 4, 1, stride=1, bias=False)
        self.downsample = downsample

    def forward(self, x):
        shortcut = self.downsample(x) if self.downsample is not None else x
        out = self.conv0(activate(self.bn0(x), Switch.bits))
        out = self.conv1(activate(self.bn1(out), Switch.bits))
        out = self.conv2(activate(self.bn2(out), Switch.bits))
        return out + shortcut


class ResNet50Q(nn.Module):
    def __init__(self, width: int, classes: int = 10):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(width, 3)
        self.layer2 = self._make_layer(2 * width, 4, 2)
        self.layer3 = self._make_layer(4 * width, 6, 2)
        self.layer4 = self._make_layer(8 * width, 3, 2)
        self.bn = SwitchBatchNorm2d(32 * width)
        self.fc = nn.Linear(32 * width, classes)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                       SwitchBatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes, 1, None) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = activate(self.bn(x), Switch.bits)
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, (1, 1)), 1)
        return self.fc(x)


@torch.no_grad()
def build(seed: int) -> ResNet50Q:
    common.seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ResNet50Q(WIDTH)
    return randomize(model, gen, 64, MEAN, STD)


def verify() -> None:
    record = common.read_fixture_json(METHOD, "resnet50q")
    model = ResNet50Q(record["options"]["width"])
    state = common.strip_prefix(common.load_checkpoint(METHOD, "resnet50q")["state_dict"], "module.")
    model.load_state_dict(state, strict=True)
    model.eval()
    check_logits(model, record, MEAN, STD)
    print("resnet50q: checkpoint reloads to the recorded float32 and float64 logits at every bit width")


def main():
    torch.set_num_threads(1)
    if "--verify" in sys.argv:
        verify()
        return
    inputs = [common.write_input(64, 64, 3, s) for s in INPUT_SEEDS]
    seed, model, logits, margins, worst = pick_model(build, inputs, MEAN, STD)
    logits64 = float64_logits(model, inputs, MEAN, STD)
    state = {"module." + k: v for k, v in model.state_dict().items()}
    obj = {"epoch": 120, "arch": "resnet50q", "state_dict": state, "best_prec1": 74.63}
    ckpt = common.checkpoint_path(METHOD, "resnet50q", "pth.tar")
    common.save_checkpoint(obj, ckpt, legacy=False)
    common.write_fixture_json(METHOD, "resnet50q", {
        "arch": "resnet50q",
        "checkpoint": ckpt.name,
        "format": "zip",
        "input": {"height": 64, "width": 64, "channels": 3, "mean": MEAN, "std": STD},
        "options": {"bits": BITS, "model_seed": seed, "width": WIDTH, "real_width": 64,
                    "full_precision": ["conv1", "layerS.0.downsample.0", "fc"]},
        "images": image_records(inputs, logits, margins, logits64),
        "notes": ("resnet50q at base width 4 (the paper's is 64: same keys, shapes scaled), 64x64 inputs, 10 "
                  "classes; 'module.' keys as DataParallel saves them; downsample.1 is a switchable BatchNorm. "
                  + LOGITS_NOTE),
    })
    print_summary(seed, ckpt, worst, logits)


if __name__ == "__main__":
    main()
