// The small CNN of LowBit's bundled Fashion-MNIST model (toolchain/train_fashion_mnist.py).
import QCheckpoint
import QGraph

/// conv1(32)-bn-relu-maxpool2 -> conv2(64)-bn-relu-maxpool2 -> conv3(128)-bn-relu -> global avg pool -> fc.
/// All convs 3x3, padding 1, no bias; input 28x28 gray.
struct LowBitCNN: ArchitectureFamily {
    let name = "lowbit-cnn"
    let aliases: [String] = []

    func recognize(_ checkpoint: Checkpoint) -> Recognition {
        var k = KeyChecker(checkpoint)
        k.expect("conv1.weight", shape: [-1, -1, 3, 3])
        k.expect("conv2.weight", shape: [-1, -1, 3, 3])
        k.expect("conv3.weight", shape: [-1, -1, 3, 3])
        k.expect("bn3.running_mean")
        k.expect("fc.weight", shape: [-1, -1])
        if k.has("layer1.0.conv1.weight") { k.problems.append("has residual stages (layer1)") }
        guard k.problems.isEmpty else { return .mismatch(reasons: k.problems) }
        return .match(arch: "lowbit-cnn", evidence: "conv1..3 3x3 with bn1..3 and fc, no residual stages")
    }

    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel {
        let inChannels = checkpoint.tensor("conv1.weight")?.shape[1] ?? 1
        var b = GraphBuilder(checkpoint: checkpoint, inputShape: [28, 28, inChannels])
        let pool = Pool(kernel: [2, 2], stride: [2, 2])
        var x = "input"
        for i in 1...3 {
            x = try b.relu(try b.batchNorm("bn\(i)", try b.conv("conv\(i)", x, padding: 1)), name: "relu\(i)")
            if i < 3 { x = try b.op(.maxPool(pool), [x], name: "pool\(i)") }
        }
        x = try b.op(.globalAvgPool, [x], name: "avgpool")
        try b.linear("fc", x)
        let classes = checkpoint.tensor("fc.weight")!.shape[0]
        let gray = Preprocessing(inputSize: [28, 28], channels: inChannels, mean: Array(repeating: 0.2860, count: inChannels),
                                 std: Array(repeating: 0.3530, count: inChannels))
        return try b.finish(arch: arch, preprocessing: gray,
                            labels: classes == 10 ? Labels.fashionMNIST : Labels.numbered(classes))
    }
}
