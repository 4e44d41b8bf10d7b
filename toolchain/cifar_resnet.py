"""The CIFAR-10 ResNets (He et al. 2016, "Deep Residual Learning", section 4.2) with option-A shortcuts,
laid out as akamaster/pytorch_resnet_cifar10 (BSD-2-Clause) lays them out, so that its pretrained
checkpoints (../shared/data/cifar10-resnets/*.th) load with strict key matching once the 'module.'
prefix that nn.DataParallel added is stripped.

    conv1 3x3 3->16, bn1, relu
    layer1: n BasicBlocks, 16 channels, 32x32
    layer2: n BasicBlocks, 32 channels, 16x16 (the first has stride 2)
    layer3: n BasicBlocks, 64 channels, 8x8   (the first has stride 2)
    global average pool over the 8x8 map, linear 64->10
    BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), convs 3x3 without bias
    option-A shortcut (shape changes): F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4)),
    i.e. subsample by 2 and zero-pad planes//4 channels on each side; no parameters. Otherwise identity.

resnet20/32/44/56/110 have n = 3/5/7/9/18.

    from cifar_resnet import load_checkpoint
    model, meta = load_checkpoint("resnet20-12fca82f.th")   # arch inferred from the block count
"""
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

BLOCKS = {"resnet20": 3, "resnet32": 5, "resnet44": 7, "resnet56": 9, "resnet110": 18}


class ShortcutA(nn.Module):
    """Option A: x[:, :, ::2, ::2] zero-padded with `pad` channels before and after."""

    def __init__(self, pad):
        super().__init__()
        self.pad = pad

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or in_planes != planes:
            self.shortcut = ShortcutA(planes // 4)
        else:
            self.shortcut = nn.Sequential()   # identity, as in the original (no state_dict keys either way)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, num_blocks, num_classes=10):
        super().__init__()
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, num_blocks, 1)
        self.layer2 = self._make_layer(32, num_blocks, 2)
        self.layer3 = self._make_layer(64, num_blocks, 2)
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)   # the original's init; irrelevant once weights load

    def _make_layer(self, planes, n, stride):
        blocks = []
        for s in [stride] + [1] * (n - 1):
            blocks.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size(3))          # the whole 8x8 map
        return self.linear(out.view(out.size(0), -1))


def resnet(arch):
    return CifarResNet(BLOCKS[arch])


def resnet20(): return resnet("resnet20")
def resnet32(): return resnet("resnet32")
def resnet44(): return resnet("resnet44")
def resnet56(): return resnet("resnet56")
def resnet110(): return resnet("resnet110")


def strip_module(state_dict):
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state_dict.items()}


def arch_of(state_dict):
    """resnetN from the number of blocks in layer1 (N = 6n + 2)."""
    n = 1 + max(int(m.group(1)) for k in state_dict for m in [re.match(r"(?:module\.)?layer1\.(\d+)\.", k)] if m)
    return f"resnet{6 * n + 2}"


def load_checkpoint(path):
    """Loads an akamaster .th file (legacy torch.save of {'state_dict', 'best_prec1'}); returns (model, raw).

    weights_only=False: these are trusted files read by an offline tool (the legacy format holds
    only tensors and a float, so weights_only=True would work as well)."""
    raw = torch.load(path, map_location="cpu", weights_only=False)
    sd = strip_module(raw["state_dict"])
    model = resnet(arch_of(sd))
    model.load_state_dict(sd, strict=True)   # the original has no num_batches_tracked; BN gives it a default
    return model.eval(), raw
