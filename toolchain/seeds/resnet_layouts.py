"""ResNets as torchvision (torchvision/models/resnet.py) and kuangliu/pytorch-cifar (models/resnet.py) write
them, with their module names, so that state_dict keys and shapes match those files exactly, at any depth
and width. Written here because torchvision is not part of the fixture venv.

    stem "imagenet": conv1 7x7/2 pad 3, bn1, relu, maxpool 3x3/2 pad 1   (torchvision)
    stem "cifar":    conv1 3x3/1 pad 1, bn1, relu                           (kuangliu)
    layer1..layerN: `counts[i]` blocks each; the first block of layer2.. has stride 2
    BasicBlock:  relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut(x)), conv1 3x3/s, conv2 3x3
    Bottleneck:  conv1 1x1 -> conv2 3x3/s (groups) -> conv3 1x1 (expansion 4), BN + ReLU between,
                 width = int(planes * width_per_group / 64) * groups (torchvision: ResNeXt, wide ResNets)
    projection shortcut `downsample` (torchvision) or `shortcut` (kuangliu) = {0: conv1x1/s, 1: BN}
                 where the stride or the channel count changes
    global average pool, head `fc` (torchvision) or `linear` (kuangliu)
`base` is the stem width (64 in both codes); the stages have planes base, 2 base, 4 base, ...
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def conv(cin, cout, kernel, stride=1, groups=1):
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)


class Block(nn.Module):
    """What both block kinds share: the projection shortcut (`shortcut_name` = {0: conv1x1/s, 1: BN}) where
    the stride or the channel count changes, registered after the branch as in both codes, and
    out = relu(branch(x) + shortcut(x))."""

    def add_shortcut(self, cin, out, stride, shortcut_name):
        self.shortcut_name = shortcut_name
        if stride != 1 or cin != out:
            setattr(self, shortcut_name, nn.Sequential(conv(cin, out, 1, stride), nn.BatchNorm2d(out)))

    def forward(self, x):
        sc = getattr(self, self.shortcut_name, None)
        return F.relu(self.branch(x) + (sc(x) if sc is not None else x))


class BasicBlock(Block):
    expansion = 1

    def __init__(self, cin, planes, stride, shortcut_name, groups=1, width_per_group=64):
        assert groups == 1 and width_per_group == 64, "BasicBlock has no groups / base width (torchvision)"
        super().__init__()
        self.conv1 = conv(cin, planes, 3, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.add_shortcut(cin, planes, stride, shortcut_name)

    def branch(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))


class Bottleneck(Block):
    expansion = 4

    def __init__(self, cin, planes, stride, shortcut_name, groups=1, width_per_group=64):
        width = int(planes * (width_per_group / 64.0)) * groups
        out = planes * self.expansion
        super().__init__()
        self.conv1 = conv(cin, width, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv(width, width, 3, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv(width, out, 1)
        self.bn3 = nn.BatchNorm2d(out)
        self.add_shortcut(cin, out, stride, shortcut_name)

    def branch(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


class ResNet(nn.Module):
    def __init__(self, block, counts, base=64, classes=1000, stem="imagenet", shortcut_name="downsample",
                 head_name="fc", groups=1, width_per_group=64):
        super().__init__()
        kernel, stride = (7, 2) if stem == "imagenet" else (3, 1)
        self.stem = stem
        self.conv1 = nn.Conv2d(3, base, kernel, stride, kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        cin = base
        self.stages = len(counts)
        for i, n in enumerate(counts):
            planes = base * 2 ** i
            blocks = []
            for j in range(n):
                blocks.append(block(cin, planes, 2 if i > 0 and j == 0 else 1, shortcut_name, groups, width_per_group))
                cin = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.head_name = head_name
        setattr(self, head_name, nn.Linear(cin, classes))

    def features(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        if self.stem == "imagenet":
            x = F.max_pool2d(x, 3, 2, 1)
        for i in range(self.stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def head(self):
        return getattr(self, self.head_name)

    def forward(self, x):
        return self.head()(self.features(x))


def last_norm(block: nn.Module) -> nn.BatchNorm2d:
    """The BatchNorm that ends a block's residual branch (before the add)."""
    return block.bn3 if isinstance(block, Bottleneck) else block.bn2
