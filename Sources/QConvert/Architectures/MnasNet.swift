// torchvision MNASNet (mnasnet0_5 ... mnasnet1_3 share one key layout): depthwise 3x3/5x5 convs, ReLU.
import QCheckpoint
import QGraph

/// layers.0 conv3x3/2, 1 BN, (2 ReLU); 3 depthwise 3x3, 4 BN, (5 ReLU); 6 1x1 conv, 7 BN (no ReLU);
/// layers.8...13 stacks of _InvertedResidual `layers.{0: 1x1 expand, 1: BN, (2 ReLU), 3: depthwise kxk/s,
/// 4: BN, (5 ReLU), 6: 1x1 project, 7: BN}` plus the input when stride is 1 and channels are kept;
/// layers.14 1x1 conv, 15 BN, (16 ReLU); mean over H and W; classifier.1 Linear (classifier.0 is Dropout).
/// Widths, expansions, kernel sizes and block counts come from the shapes (any alpha); the stack strides
/// are torchvision's fixed 2, 2, 2, 1, 2, 1.
struct MnasNet: ArchitectureFamily {
    let name = "mnasnet"
    let aliases = ["torchvision-mnasnet"]
    /// Stride of the first block of each stack layers.8 ... layers.13.
    static let stackStrides = [2, 2, 2, 1, 2, 1]

    private func blockCounts(_ k: KeyChecker) -> [Int] {
        Self.stackStrides.indices.map { k.blockCount("layers.\($0 + 8)", probe: "layers.3.weight") }
    }

    func recognize(_ checkpoint: Checkpoint) -> Recognition {
        var k = KeyChecker(checkpoint)
        k.expect("layers.0.weight", shape: [-1, -1, 3, 3])
        k.expect("layers.3.weight", shape: [-1, 1, 3, 3])
        k.expect("layers.6.weight", shape: [-1, -1, 1, 1])
        k.expect("layers.14.weight", shape: [-1, -1, 1, 1])
        k.expect("layers.15.running_mean")
        k.expect("classifier.1.weight", shape: [-1, -1])
        let counts = blockCounts(k)
        if counts.contains(0) { k.problems.append("inverted residual stacks layers.8...13 have \(counts) blocks") }
        guard k.problems.isEmpty else { return .mismatch(reasons: k.problems) }
        let width = checkpoint.tensor("layers.0.weight")!.shape[0]
        return .match(arch: "mnasnet", evidence: "layers.0 conv3x3 [\(width)], depthwise-separable layers.3/6, "
            + "stacks layers.8...13 of \(counts) inverted residuals, layers.14 1x1, classifier.1")
    }

    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel {
        guard let stem = checkpoint.tensor("layers.0.weight")?.shape, stem.count == 4 else {
            throw ConvertError("\(arch): no 4-D layers.0.weight")
        }
        var b = GraphBuilder(checkpoint: checkpoint, inputShape: [224, 224, stem[1]])
        var x = try b.relu(try b.batchNorm("layers.1", try b.conv("layers.0", "input", stride: 2, padding: 1)), name: "layers.2")
        x = try b.relu(try b.batchNorm("layers.4", try b.conv("layers.3", x, padding: 1, groups: stem[0])), name: "layers.5")
        x = try b.batchNorm("layers.7", try b.conv("layers.6", x))
        var channels = b.shape("layers.6.weight")![0]
        let counts = blockCounts(KeyChecker(checkpoint))
        for (s, count) in counts.enumerated() {
            for i in 0..<count {
                let p = "layers.\(s + 8).\(i).layers", stride = i == 0 ? Self.stackStrides[s] : 1
                guard let dw = b.shape("\(p).3.weight"), dw.count == 4, dw[1] == 1,
                      let out = b.shape("\(p).6.weight")?.first else {
                    throw ConvertError("\(arch): \(p) lacks a depthwise layers.3 or a projection layers.6")
                }
                var y = try b.relu(try b.batchNorm("\(p).1", try b.conv("\(p).0", x)), name: "\(p).2")
                y = try b.relu(try b.batchNorm("\(p).4", try b.conv("\(p).3", y, stride: stride, padding: dw[2] / 2, groups: dw[0])),
                               name: "\(p).5")
                y = try b.batchNorm("\(p).7", try b.conv("\(p).6", y))
                if stride == 1 && out == channels { y = try b.op(.add(.none), [y, x], name: "layers.\(s + 8).\(i).add") }
                x = y
                channels = out
            }
        }
        x = try b.relu(try b.batchNorm("layers.15", try b.conv("layers.14", x)), name: "layers.16")
        x = try b.op(.globalAvgPool, [x], name: "mean")
        try b.linear("classifier.1", x)
        let classes = checkpoint.tensor("classifier.1.weight")!.shape[0]
        return try b.finish(arch: arch, preprocessing: .imageNet, labels: Labels.numbered(classes))
    }
}
