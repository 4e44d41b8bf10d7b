// torchvision MobileNetV2 (inverted residuals with depthwise 3x3 convs, ReLU6), any width multiplier.
import QCheckpoint
import QGraph

/// features.0 = {0: conv3x3/2, 1: BN} + ReLU6; features.1...17 inverted residual blocks `conv`:
///   expansion 1: conv.0.{0: dw3x3/s, 1: BN} + ReLU6, conv.1 (1x1 project), conv.2 (BN)
///   expansion t: conv.0.{0: 1x1 expand, 1: BN} + ReLU6, conv.1.{0: dw3x3/s, 1: BN} + ReLU6, conv.2, conv.3
///   plus the input when stride is 1 and the block keeps its channel count;
/// features.18 = {0: 1x1 conv, 1: BN} + ReLU6; global average pool; classifier.1 Linear (classifier.0 is
/// Dropout). Widths, expansions and kernel sizes come from the shapes, so any width_mult is built; the
/// strides are not in a state_dict and come from torchvision's fixed setting (below).
struct MobileNetV2: ArchitectureFamily {
    let name = "mobilenet_v2"
    let aliases = ["torchvision-mobilenetv2", "mobilenetv2"]
    /// (repeats, stride of the first block) of torchvision's inverted_residual_setting, in order.
    private static let stages = [(1, 1), (2, 2), (3, 2), (4, 2), (3, 1), (3, 2), (1, 1)]
    /// Stride of features.1 ... features.17.
    static let blockStrides: [Int] = stages.flatMap { n, s in [s] + Array(repeating: 1, count: n - 1) }

    func recognize(_ checkpoint: Checkpoint) -> Recognition {
        var k = KeyChecker(checkpoint)
        k.expect("features.0.0.weight", shape: [-1, -1, 3, 3])
        k.expect("features.0.1.running_mean")
        k.expect("classifier.1.weight", shape: [-1, -1])
        let blocks = (1...).prefix { k.has("features.\($0).conv.1.weight") || k.has("features.\($0).conv.1.0.weight") }.count
        if blocks != Self.blockStrides.count {
            k.problems.append("\(blocks) inverted residual blocks features.N.conv, expected \(Self.blockStrides.count)")
        }
        let last = "features.\(Self.blockStrides.count + 1)"
        k.expect("\(last).0.weight", shape: [-1, -1, 1, 1])
        guard k.problems.isEmpty else { return .mismatch(reasons: k.problems) }
        let width = checkpoint.tensor("features.0.0.weight")!.shape[0]
        return .match(arch: "mobilenet_v2", evidence: "features.0 conv3x3 [\(width)], 17 inverted residual blocks "
            + "features.1...17.conv, \(last) 1x1 conv, classifier.1")
    }

    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel {
        guard let stem = checkpoint.tensor("features.0.0.weight")?.shape, stem.count == 4 else {
            throw ConvertError("\(arch): no 4-D features.0.0.weight")
        }
        var b = GraphBuilder(checkpoint: checkpoint, inputShape: [224, 224, stem[1]])
        var x = try convBNReLU6(&b, "features.0", "input", stride: 2, channels: stem[1])
        var channels = stem[0]
        for (i, stride) in Self.blockStrides.enumerated() {
            let p = "features.\(i + 1).conv"
            let expanded = b.shape("\(p).3.running_mean") != nil
            var y = x, hidden = channels
            if expanded {
                y = try convBNReLU6(&b, "\(p).0", y, stride: 1, channels: channels)
                hidden = b.shape("\(p).0.0.weight")![0]
            }
            y = try convBNReLU6(&b, "\(p).\(expanded ? 1 : 0)", y, stride: stride, channels: hidden)
            let project = "\(p).\(expanded ? 2 : 1)", projectBN = "\(p).\(expanded ? 3 : 2)"
            y = try b.batchNorm(projectBN, try b.conv(project, y))
            guard let out = b.shape("\(project).weight")?.first else { throw ConvertError("\(arch): no \(project).weight") }
            if stride == 1 && out == channels { y = try b.op(.add(.none), [y, x], name: "features.\(i + 1).add") }
            x = y
            channels = out
        }
        x = try convBNReLU6(&b, "features.\(Self.blockStrides.count + 1)", x, stride: 1, channels: channels)
        x = try b.op(.globalAvgPool, [x], name: "avgpool")
        try b.linear("classifier.1", x)
        let classes = checkpoint.tensor("classifier.1.weight")!.shape[0]
        return try b.finish(arch: arch, preprocessing: .imageNet, labels: Labels.numbered(classes))
    }

    /// torchvision's Conv2dNormActivation `<name>.{0: conv, 1: BN}` + ReLU6; padding kernel / 2, groups
    /// from the weight's input channels (depthwise when it has one).
    private func convBNReLU6(_ b: inout GraphBuilder, _ name: String, _ input: String, stride: Int,
                             channels: Int) throws -> String {
        guard let s = b.shape("\(name).0.weight"), s.count == 4, s[1] > 0, channels % s[1] == 0 else {
            throw ConvertError("mobilenet_v2: \(name).0.weight is missing or does not fit \(channels) input channels")
        }
        let y = try b.conv("\(name).0", input, stride: stride, padding: s[2] / 2, groups: channels / s[1])
        return try b.op(.activation(.relu6), [try b.batchNorm("\(name).1", y)], name: "\(name).2")
    }
}
