"""The CIFAR ResNet skeleton with option-A shortcuts and akamaster/pytorch_resnet_cifar10 module names,
with the convolutions and the classifier supplied by the method (binary, shift, ...) and the stage
widths as a parameter (the real ones are 16/32/64; fixtures shrink them, the keys stay the same).

    conv1 3x3 stride 1, bn1, relu
    layer1..layer3: n BasicBlocks each, widths w1/w2/w3, the first block of layer2/layer3 has stride 2
    BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), 3x3 convs, padding 1
    option-A shortcut where the shape changes: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p)), p = planes // 4
    global average pool, linear -> classes
Keys: conv1.*, bn1.*, layerL.B.{conv1,bn1,conv2,bn2}.*, linear.* (shortcuts have no parameters).
Depth 6n+2: resnet20 n=3, resnet56 n=9.
"""
import torch.nn as nn
import torch.nn.functional as F


class ShortcutA(nn.Module):
    """Option A: subsample by 2 and zero-pad `pad` channels on each side; no parameters."""

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride, conv):
        super().__init__()
        self.conv1 = conv(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv(planes, planes, 1)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or in_planes != planes:
            assert planes == 2 * in_planes, "option A pads planes // 4 channels on each side"
            self.shortcut = ShortcutA(planes // 4)
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNetA(nn.Module):
    """stem_conv(cin, cout, stride), block_conv(cin, cout, stride): 3x3 convs without bias, padding 1;
    classifier(features, classes): the final layer."""

    def __init__(self, depth, widths, stem_conv, block_conv, classifier, classes=10):
        super().__init__()
        assert (depth - 2) % 6 == 0
        n = (depth - 2) // 6
        self.conv1 = stem_conv(3, widths[0], 1)
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_planes = widths[0]
        for stage, (planes, stride) in enumerate(zip(widths, (1, 2, 2)), start=1):
            blocks = []
            for s in [stride] + [1] * (n - 1):
                blocks.append(BasicBlock(in_planes, planes, s, block_conv))
                in_planes = planes
            setattr(self, f"layer{stage}", nn.Sequential(*blocks))
        self.linear = classifier(widths[2], classes)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))
