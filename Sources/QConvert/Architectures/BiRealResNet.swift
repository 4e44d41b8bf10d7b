// Bi-Real CIFAR ResNets with PReLU (Equal Bits' CIFAR10/resnet.py), any number of blocks per stage.
import QCheckpoint
import QGraph

/// stem: PReLU(BN(conv3x3(x))) -> stages layer1, layer2, ... of Bi-Real blocks (block counts read from the
/// keys: [2, 2, 2, 2] is Bi-Real ResNet-18, [3, 4, 6, 3] ResNet-34; widths from the shapes; stride 2 in
/// the first block of every stage after the first) -> avg_pool2d(4) -> linear. Depth = 2 x blocks + 2.
/// A block, with one PReLU `nonlinear` shared by both convs:
///   out  = BN1(PReLU(conv1(sign x))) + shortcut(x)      shortcut = 1x1 conv + BN where the shape changes
///   out2 = BN2(PReLU(conv2(sign out))) + out
/// The block convs are the binary ones (the recipe supplies their weights); stem, shortcuts and linear
/// are full precision.
struct BiRealResNet: ArchitectureFamily {
    let name = "bireal-resnet"
    let aliases = ["bireal-resnet18", "bireal-resnet34"]

    /// Blocks per stage `layer1`, `layer2`, ... (as many stages as have a `layerS.0.conv1`).
    private func blockCounts(_ k: KeyChecker) -> [Int] {
        (1...).lazy.map { k.blockCount("layer\($0)", probe: "conv1.weight") }.prefix { $0 > 0 }.map { $0 }
    }

    func recognize(_ checkpoint: Checkpoint) -> Recognition {
        var k = KeyChecker(checkpoint)
        k.expect("conv1.weight", shape: [-1, -1, 3, 3])
        k.expect("prelu.weight")
        k.expect("layer1.0.nonlinear.weight")
        k.expect("linear.weight", shape: [-1, -1])
        let counts = blockCounts(k)
        if counts.isEmpty { k.problems.append("no 'layer1.0.conv1.weight'") }
        guard k.problems.isEmpty else { return .mismatch(reasons: k.problems) }
        return .match(arch: "bireal-resnet\(2 * counts.reduce(0, +) + 2)", evidence: "stem conv1 + prelu, stages \(counts) of blocks with a shared PReLU 'nonlinear', linear (Bi-Real)")
    }

    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel {
        let blocks = blockCounts(KeyChecker(checkpoint))
        let inChannels = checkpoint.tensor("conv1.weight")?.shape[1] ?? 3
        var b = GraphBuilder(checkpoint: checkpoint, inputShape: [32, 32, inChannels])
        var x = try b.conv("conv1", "input", padding: 1)
        x = try b.batchNorm("bn1", x)
        x = try b.prelu("prelu", x)
        for (s, count) in blocks.enumerated() {
            for i in 0..<count {
                let p = "layer\(s + 1).\(i)"
                let stride = (s > 0 && i == 0) ? 2 : 1
                var y = try b.op(.sign, [x], name: "\(p).sign1")
                y = try b.conv("\(p).conv1", y, stride: stride, padding: 1)
                y = try b.batchNorm("\(p).bn1", try b.prelu("\(p).nonlinear", y, node: "\(p).prelu1"))
                var shortcut = x
                if b.shape("\(p).shortcut.0.weight") != nil {
                    shortcut = try b.batchNorm("\(p).shortcut.1", try b.conv("\(p).shortcut.0", x, stride: stride))
                }
                let out = try b.op(.add(.none), [y, shortcut], name: "\(p).add1")
                y = try b.op(.sign, [out], name: "\(p).sign2")
                y = try b.conv("\(p).conv2", y, padding: 1)
                y = try b.batchNorm("\(p).bn2", try b.prelu("\(p).nonlinear", y, node: "\(p).prelu2"))
                x = try b.op(.add(.none), [y, out], name: "\(p).add2")
            }
        }
        x = try b.op(.globalAvgPool, [x], name: "avgpool")   // avg_pool2d(4) on the 4x4 map of a 32x32 input
        try b.linear("linear", x)
        let classes = checkpoint.tensor("linear.weight")!.shape[0]
        return try b.finish(arch: arch, preprocessing: .cifarStats,   // Equal Bits' CIFAR10/trainer.py
                            labels: Labels.cifar(classes))
    }
}
