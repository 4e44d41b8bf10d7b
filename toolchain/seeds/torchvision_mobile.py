"""torchvision's MobileNetV2 and MNASNet with their module names (so state_dict keys match torchvision's
exactly), the convolutions and the classifier supplied by the method (DGMS mixture convs, DeepShift
shift layers, or plain nn.Conv2d / nn.Linear), and the width multiplier as a parameter. Written here
because torchvision is not part of the fixture venv; the structure follows torchvision/models/
mobilenetv2.py and mnasnet.py (v2 layout: the stem is scaled by alpha too).

    conv(cin, cout, kernel, stride, groups) -> module: no bias, padding kernel // 2
    linear(cin, cout) -> module with bias

MobileNetV2 keys: features.0.{0: conv3x3/2, 1: BN} (+ReLU6); features.1..17 InvertedResidual `conv`:
  expansion 1: conv.0.{0: dw3x3, 1: BN}, conv.1 (1x1 project), conv.2 (BN)
  expansion t: conv.0.{0,1} (1x1 expand), conv.1.{0,1} (dw3x3/s), conv.2 (project), conv.3 (BN)
  residual when stride 1 and in == out; features.18.{0: 1x1 conv to last_channel, 1: BN} (+ReLU6);
  adaptive average pool 1x1, flatten, classifier.{0: Dropout, 1: Linear}.
MNASNet keys: layers.0 conv3x3/2, 1 BN, (2 ReLU), 3 dw3x3, 4 BN, (5 ReLU), 6 1x1, 7 BN; layers.8..13
  stacks of _InvertedResidual `layers.{0: 1x1 expand, 1: BN, 3: dw kxk/s, 4: BN, 6: 1x1 project, 7: BN}`
  with (kernel, stride, expansion, repeats) (3,2,3,3) (5,2,3,3) (5,2,6,3) (3,1,6,2) (5,2,6,4) (3,1,6,1),
  residual when stride 1 and in == out; layers.14 1x1 to 1280, 15 BN, (16 ReLU); mean over H, W;
  classifier.{0: Dropout, 1: Linear}.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

MOBILENETV2_SETTING = [  # t (expansion), c (channels), n (repeats), s (stride of the first)
    [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
]
MNASNET_STACKS = [(3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1)]
MNASNET_DEPTHS = [32, 16, 24, 40, 80, 96, 192, 320]


def plain_conv(cin, cout, kernel, stride, groups):
    return nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)


def plain_linear(cin, cout):
    return nn.Linear(cin, cout)


def make_divisible(v, divisor=8):
    """torchvision's _make_divisible (MobileNetV2 widths)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def round_to_multiple_of(val, divisor=8, round_up_bias=0.9):
    """torchvision's _round_to_multiple_of (MNASNet depths)."""
    new_val = max(divisor, int(val + divisor / 2) // divisor * divisor)
    return new_val if new_val >= round_up_bias * val else new_val + divisor


def conv_bn_act(conv, cin, cout, kernel, stride, groups, act):
    """Conv2dNormActivation: Sequential(conv, BN, activation) -> keys .0 and .1."""
    return nn.Sequential(conv(cin, cout, kernel, stride, groups), nn.BatchNorm2d(cout), act())


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio, conv):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = []
        if expand_ratio != 1:
            layers.append(conv_bn_act(conv, inp, hidden, 1, 1, 1, nn.ReLU6))
        layers += [conv_bn_act(conv, hidden, hidden, 3, stride, hidden, nn.ReLU6),
                   conv(hidden, oup, 1, 1, 1), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, width_mult=1.0, classes=1000, conv=plain_conv, linear=plain_linear):
        super().__init__()
        cin = make_divisible(32 * width_mult)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult))
        features = [conv_bn_act(conv, 3, cin, 3, 2, 1, nn.ReLU6)]
        for t, c, n, s in MOBILENETV2_SETTING:
            cout = make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(cin, cout, s if i == 0 else 1, t, conv))
                cin = cout
        features.append(conv_bn_act(conv, cin, self.last_channel, 1, 1, 1, nn.ReLU6))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=0.2), linear(self.last_channel, classes))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


class MnasInvertedResidual(nn.Module):
    """torchvision's mnasnet._InvertedResidual."""

    def __init__(self, cin, cout, kernel, stride, expansion, conv):
        super().__init__()
        mid = cin * expansion
        self.apply_residual = cin == cout and stride == 1
        self.layers = nn.Sequential(
            conv(cin, mid, 1, 1, 1), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            conv(mid, mid, kernel, stride, mid), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            conv(mid, cout, 1, 1, 1), nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.layers(x) + x if self.apply_residual else self.layers(x)


class MNASNet(nn.Module):
    """`stem_conv` builds layers.0 (DGMS keeps it full precision), `conv` every other conv."""

    def __init__(self, alpha=1.0, classes=1000, conv=plain_conv, linear=plain_linear, stem_conv=plain_conv):
        super().__init__()
        d = [round_to_multiple_of(x * alpha) for x in MNASNET_DEPTHS]
        layers = [stem_conv(3, d[0], 3, 2, 1), nn.BatchNorm2d(d[0]), nn.ReLU(inplace=True),
                  conv(d[0], d[0], 3, 1, d[0]), nn.BatchNorm2d(d[0]), nn.ReLU(inplace=True),
                  conv(d[0], d[1], 1, 1, 1), nn.BatchNorm2d(d[1])]
        for (kernel, stride, expansion, repeats), cin, cout in zip(MNASNET_STACKS, d[1:-1], d[2:]):
            blocks = [MnasInvertedResidual(cin, cout, kernel, stride, expansion, conv)]
            blocks += [MnasInvertedResidual(cout, cout, kernel, 1, expansion, conv) for _ in range(1, repeats)]
            layers.append(nn.Sequential(*blocks))
        layers += [conv(d[-1], 1280, 1, 1, 1), nn.BatchNorm2d(1280), nn.ReLU(inplace=True)]
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(p=0.2, inplace=True), linear(1280, classes))

    def forward(self, x):
        return self.classifier(self.layers(x).mean([2, 3]))
