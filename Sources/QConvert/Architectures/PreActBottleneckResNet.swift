// Pre-activation bottleneck ResNet-50 of the Any-Precision code (resnet50q; models/resnet_quan.py,
// PreActResNetBottleneck), after the any-precision recipe has picked one bit width's BatchNorms.
import QCheckpoint
import QGraph

/// conv1 7x7/2 (w, no BatchNorm or activation) -> maxpool 3x3/2 -> layer1, layer2, ... of bottlenecks
/// (counts read from the keys, [3, 4, 6, 3] in resnet50q; planes w, 2w, 4w, 8w; 4x expansion; w = 64 in
/// the paper) -> bn -> act -> global average pool -> fc. Depth = 3 x blocks + 2 (resnet<depth>q).
/// Bottleneck `layerS.i`: shortcut = downsample(x) (`downsample.0` 1x1 conv with the block's stride,
/// `downsample.1` BatchNorm) when present, else x;
///     y = conv0(act(bn0 x)) [1x1] -> conv1(act(bn1 .)) [3x3, stride 2 in the first block of layers 2-4]
///       -> conv2(act(bn2 .)) [1x1, 4 * planes];  out = y + shortcut
/// `act` is built as ReLU (the 32-bit activation); the any-precision recipe makes it DoReFa below 32 bits.
struct PreActBottleneckResNet: ArchitectureFamily {
    let name = "preact-bottleneck-resnet"
    let aliases = ["resnet50q"]

    /// Pre-activation bottlenecks (`layerS.i.conv0`) per stage, for as many stages as have one.
    private func blockCounts(_ k: KeyChecker) -> [Int] {
        (1...).lazy.map { k.blockCount("layer\($0)", probe: "conv0.weight") }.prefix { $0 > 0 }.map { $0 }
    }

    func recognize(_ checkpoint: Checkpoint) -> Recognition {
        var k = KeyChecker(checkpoint)
        let width = checkpoint.tensor("conv1.weight")?.shape.first ?? 64
        k.expect("conv1.weight", shape: [width, -1, 7, 7])
        let counts = blockCounts(k)
        if counts.isEmpty { k.problems.append("no pre-activation bottleneck 'layer1.0.conv0.weight'") }
        k.expect("layer1.0.bn0.running_mean", shape: [width])
        k.expect("layer1.0.conv2.weight", shape: [4 * width, width, 1, 1])
        let last = counts.isEmpty ? 0 : checkpoint.tensor("layer\(counts.count).\(counts.last! - 1).conv2.weight")?.shape.first ?? 0
        k.expect("bn.running_mean", shape: [last])
        k.expect("fc.weight", shape: [-1, last])
        guard k.problems.isEmpty else { return .mismatch(reasons: k.problems) }
        return .match(arch: "resnet\(3 * counts.reduce(0, +) + 2)q", evidence: "conv1 [\(width),3,7,7], stages \(counts) of pre-activation bottlenecks layerS.i.{bn0,conv0,bn1,conv1,bn2,conv2}, bn, fc [*,\(last)]")
    }

    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel {
        let inChannels = checkpoint.tensor("conv1.weight")?.shape[1] ?? 3
        var b = GraphBuilder(checkpoint: checkpoint, inputShape: [224, 224, inChannels])
        var x = try b.conv("conv1", "input", stride: 2, padding: 3)
        x = try b.op(.maxPool(Pool(kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1])), [x], name: "maxpool")
        for (s, count) in blockCounts(KeyChecker(checkpoint)).enumerated() {
            for i in 0..<count {
                let p = "layer\(s + 1).\(i)"
                let stride = (s > 0 && i == 0) ? 2 : 1
                var shortcut = x
                if b.shape("\(p).downsample.0.weight") != nil {
                    shortcut = try b.conv("\(p).downsample.0", x, stride: stride)
                    shortcut = try b.batchNorm("\(p).downsample.1", shortcut)
                }
                var y = x
                for (j, (kernel, convStride)) in [(1, 1), (3, stride), (1, 1)].enumerated() {
                    y = try b.batchNorm("\(p).bn\(j)", y)
                    y = try b.relu(y, name: "\(p).act\(j)")
                    y = try b.conv("\(p).conv\(j)", y, stride: convStride, padding: kernel / 2)
                }
                x = try b.op(.add(.none), [y, shortcut], name: "\(p).add")
            }
        }
        x = try b.batchNorm("bn", x)
        x = try b.relu(x, name: "act")
        x = try b.op(.globalAvgPool, [x], name: "avgpool")
        try b.linear("fc", x)
        let classes = checkpoint.tensor("fc.weight")!.shape[0]
        return try b.finish(arch: arch, preprocessing: .imageNet, labels: Labels.numbered(classes))
    }
}
