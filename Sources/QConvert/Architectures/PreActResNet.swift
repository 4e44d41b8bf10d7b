// Pre-activation CIFAR ResNets of the Any-Precision code (resnet20q; models/resnet_quan.py in
// Any-Precision-DNNs), after the any-precision recipe has picked one bit width's BatchNorms.
import QCheckpoint
import QGraph

/// conv0 3x3 (w) -> n blocks per stage at w, 2w, 4w (w read from conv0, 80 in the paper's 5x-wide
/// resnet20q) -> bn -> mean over H and W -> fc. Depth = 2 * blocks + 2, any block count (resnet<depth>q).
/// Block i (`layers.i`):
///     out = act(bn0(x));  shortcut = skip_bn(skip_conv(out)) if the block has a skip conv, else x
///     y = conv1(act(bn1(conv0(out)))) + shortcut
/// A block with a skip conv (1x1) is a stage's first, with stride 2 in conv0 and skip_conv. `act` is built
/// as ReLU (the 32-bit activation); the any-precision recipe turns it into DoReFa at k < 32 bits.
struct PreActResNet: ArchitectureFamily {
    let name = "preact-resnet"
    let aliases = ["resnet20q", "resnet32q", "resnet44q", "resnet56q", "resnet110q"]

    func recognize(_ checkpoint: Checkpoint) -> Recognition {
        var k = KeyChecker(checkpoint)
        let width = checkpoint.tensor("conv0.weight")?.shape.first ?? 16
        k.expect("conv0.weight", shape: [width, -1, 3, 3])
        let blocks = k.blockCount("layers", probe: "conv0.weight")
        if blocks == 0 { k.problems.append("no 'layers.0.conv0.weight'") }
        for part in ["bn0.running_mean", "conv1.weight", "bn1.running_mean"] where blocks > 0 {
            k.expect("layers.0.\(part)")
        }
        let last = blocks > 0 ? checkpoint.tensor("layers.\(blocks - 1).conv1.weight")?.shape.first ?? 0 : 0
        k.expect("bn.running_mean", shape: [last])
        k.expect("fc.weight", shape: [-1, last])
        guard k.problems.isEmpty else { return .mismatch(reasons: k.problems) }
        return .match(arch: "resnet\(2 * blocks + 2)q", evidence: "conv0 [\(width),3,3,3], \(blocks) pre-activation blocks layers.i.{bn0,conv0,bn1,conv1} (skip_conv where the shape changes), bn, fc [*,\(last)]")
    }

    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel {
        guard let depth = Int(arch.dropFirst("resnet".count).dropLast()), depth >= 4, depth % 2 == 0 else {
            throw ConvertError("bad pre-activation ResNet name \(arch)")
        }
        let inChannels = checkpoint.tensor("conv0.weight")?.shape[1] ?? 3
        var b = GraphBuilder(checkpoint: checkpoint, inputShape: [32, 32, inChannels])
        var x = try b.conv("conv0", "input", padding: 1)
        for i in 0..<(depth - 2) / 2 {
            let p = "layers.\(i)"
            guard b.shape("\(p).conv0.weight") != nil else {
                throw ConvertError("\(arch) needs \((depth - 2) / 2) blocks; the checkpoint has no '\(p).conv0.weight'")
            }
            let hasSkip = b.shape("\(p).skip_conv.weight") != nil
            let stride = hasSkip ? 2 : 1
            var out = try b.batchNorm("\(p).bn0", x)
            out = try b.relu(out, name: "\(p).act0")
            var shortcut = x
            if hasSkip {
                shortcut = try b.conv("\(p).skip_conv", out, stride: stride)
                shortcut = try b.batchNorm("\(p).skip_bn", shortcut)
            }
            var y = try b.conv("\(p).conv0", out, stride: stride, padding: 1)
            y = try b.batchNorm("\(p).bn1", y)
            y = try b.relu(y, name: "\(p).act1")
            y = try b.conv("\(p).conv1", y, padding: 1)
            x = try b.op(.add(.none), [y, shortcut], name: "\(p).add")
        }
        x = try b.batchNorm("bn", x)
        x = try b.op(.globalAvgPool, [x], name: "avgpool")
        try b.linear("fc", x)
        let classes = checkpoint.tensor("fc.weight")!.shape[0]
        return try b.finish(arch: arch, preprocessing: .anyPrecisionCIFAR,
                            labels: Labels.cifar(classes))
    }
}

extension Preprocessing {
    /// 32x32 RGB with the Any-Precision training code's CIFAR statistics: mean [125.3, 123.0, 113.9] / 255,
    /// std [63.0, 62.1, 66.7] / 255.
    static let anyPrecisionCIFAR: Preprocessing = {
        let mean: [Double] = [125.3, 123.0, 113.9], std: [Double] = [63.0, 62.1, 66.7]
        return Preprocessing(inputSize: [32, 32], channels: 3, mean: mean.map { Float($0 / 255) },
                             std: std.map { Float($0 / 255) })
    }()
}
