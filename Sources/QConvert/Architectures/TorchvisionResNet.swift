// torchvision ResNet-18/34 (BasicBlock) and ResNet-50 (Bottleneck, v1.5: stride on the 3x3 conv).
import QCheckpoint
import QGraph

/// conv7x7/2(64) -> bn -> relu -> maxpool3x3/2 -> 4 stages (64, 128, 256, 512 planes) -> global avg pool -> fc.
/// Blocks: relu(F(x) + sc(x)), sc = identity or downsample.{0: conv1x1/s, 1: bn}.
struct TorchvisionResNet: ArchitectureFamily {
    let family = "torchvision-resnet"
    let members = ["resnet18", "resnet34", "resnet50"]
    private let layouts: [String: (blocks: [Int], bottleneck: Bool)] = [
        "resnet18": ([2, 2, 2, 2], false), "resnet34": ([3, 4, 6, 3], false), "resnet50": ([3, 4, 6, 3], true),
    ]

    func recognize(_ checkpoint: Checkpoint) -> Recognition {
        var k = KeyChecker(checkpoint)
        k.expect("conv1.weight", shape: [-1, -1, 7, 7])   // 64 in torchvision; any base width is built
        k.expect("fc.weight", shape: [-1, -1])
        let counts = (1...4).map { k.blockCount("layer\($0)", probe: "conv1.weight") }
        let bottleneck = k.has("layer1.0.conv3.weight")
        let arch = layouts.first { $0.value.blocks == counts && $0.value.bottleneck == bottleneck }?.key
        if arch == nil { k.problems.append("blocks per stage \(counts)\(bottleneck ? " (bottleneck)" : "") match no ResNet-18/34/50") }
        guard k.problems.isEmpty, let arch else { return .mismatch(reasons: k.problems) }
        let width = checkpoint.tensor("conv1.weight")?.shape.first ?? 64
        return .match(arch: arch, evidence: "conv1 [\(width),3,7,7], stages \(counts) of \(bottleneck ? "Bottleneck" : "BasicBlock"), fc")
    }

    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel {
        guard let layout = layouts[arch] else { throw ConvertError("bad torchvision ResNet name \(arch)") }
        let inChannels = checkpoint.tensor("conv1.weight")?.shape[1] ?? 3
        var b = GraphBuilder(checkpoint: checkpoint, inputShape: [224, 224, inChannels])
        var x = try b.conv("conv1", "input", stride: 2, padding: 3)
        x = try b.batchNorm("bn1", x)
        x = try b.relu(x, name: "relu")
        x = try b.op(.maxPool(Pool(kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1])), [x], name: "maxpool")
        for (s, count) in layout.blocks.enumerated() {
            for i in 0..<count {
                let p = "layer\(s + 1).\(i)"
                let stride = (s > 0 && i == 0) ? 2 : 1
                var y: String
                if layout.bottleneck {
                    y = try b.relu(try b.batchNorm("\(p).bn1", try b.conv("\(p).conv1", x)), name: "\(p).relu1")
                    y = try b.relu(try b.batchNorm("\(p).bn2", try b.conv("\(p).conv2", y, stride: stride, padding: 1)),
                                   name: "\(p).relu2")
                    y = try b.batchNorm("\(p).bn3", try b.conv("\(p).conv3", y))
                } else {
                    y = try b.relu(try b.batchNorm("\(p).bn1", try b.conv("\(p).conv1", x, stride: stride, padding: 1)),
                                   name: "\(p).relu1")
                    y = try b.batchNorm("\(p).bn2", try b.conv("\(p).conv2", y, padding: 1))
                }
                var shortcut = x
                if b.shape("\(p).downsample.0.weight") != nil {
                    shortcut = try b.batchNorm("\(p).downsample.1", try b.conv("\(p).downsample.0", x, stride: stride))
                }
                x = try b.relu(try b.op(.add(.none), [y, shortcut], name: "\(p).add"), name: "\(p).relu")
            }
        }
        x = try b.op(.globalAvgPool, [x], name: "avgpool")
        try b.linear("fc", x)
        let classes = checkpoint.tensor("fc.weight")!.shape[0]
        return try b.finish(arch: arch, preprocessing: .imageNet, labels: Labels.numbered(classes))
    }
}
