// CIFAR ResNet-20/32/44/56/110 (He et al. 2016) with option-A shortcuts, as in akamaster/pytorch_resnet_cifar10.
import QCheckpoint
import QGraph

/// conv3x3(16) -> bn -> relu -> 3 stages of n BasicBlocks (16, 32, 64 planes, or w, 2w, 4w for a base
/// width w read from conv1; stride 2 at stages 2, 3)
/// -> global average pool -> linear. Depth = 6n + 2. A block is relu(bn2(conv2(relu(bn1(conv1 x)))) + sc(x)),
/// sc = identity, or x[:, :, ::2, ::2] zero-padded with planes/4 channels each side when the shape changes.
struct CIFARResNet: ArchitectureFamily {
    let family = "cifar-resnet"
    let members = ["resnet20", "resnet32", "resnet44", "resnet56", "resnet110"]

    func recognize(_ checkpoint: Checkpoint) -> Recognition {
        var k = KeyChecker(checkpoint)
        // The base width (16 in the paper) is read from conv1; the stages have 1x, 2x, 4x of it.
        let width = checkpoint.tensor("conv1.weight")?.shape.first ?? 16
        k.expect("conv1.weight", shape: [width, -1, 3, 3])
        k.expect("linear.weight", shape: [-1, 4 * width])
        let n = k.blockCount("layer1", probe: "conv1.weight")
        if n == 0 { k.problems.append("no 'layer1.0.conv1.weight'") }
        for stage in 2...3 where k.blockCount("layer\(stage)", probe: "conv1.weight") != n {
            k.problems.append("layer\(stage) has \(k.blockCount("layer\(stage)", probe: "conv1.weight")) blocks, layer1 has \(n)")
        }
        if k.has("layer1.0.conv3.weight") { k.problems.append("bottleneck blocks (conv3) present") }
        if k.has("layer2.0.shortcut.0.weight") { k.problems.append("has conv shortcuts (option B), not option A") }
        guard k.problems.isEmpty, let arch = members.first(where: { $0 == "resnet\(6 * n + 2)" }) else {
            if k.problems.isEmpty { k.problems.append("depth \(6 * n + 2) is not one of 20/32/44/56/110") }
            return .mismatch(reasons: k.problems)
        }
        return .match(arch: arch, evidence: "conv1 [\(width),3,3,3], 3 stages x \(n) BasicBlocks without shortcut weights (option A), linear [*,\(4 * width)]")
    }

    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel {
        guard let depth = Int(arch.dropFirst("resnet".count)), (depth - 2) % 6 == 0 else {
            throw ConvertError("bad CIFAR ResNet name \(arch)")
        }
        let n = (depth - 2) / 6
        let inChannels = checkpoint.tensor("conv1.weight")?.shape[1] ?? 3
        var b = GraphBuilder(checkpoint: checkpoint, inputShape: [32, 32, inChannels])
        var x = try b.conv("conv1", "input", padding: 1)
        x = try b.batchNorm("bn1", x)
        x = try b.relu(x, name: "relu1")
        var planes = checkpoint.tensor("conv1.weight")?.shape.first ?? 16
        for stage in 1...3 {
            for i in 0..<n {
                let p = "layer\(stage).\(i)"
                let stride = (stage > 1 && i == 0) ? 2 : 1
                var y = try b.conv("\(p).conv1", x, stride: stride, padding: 1)
                y = try b.batchNorm("\(p).bn1", y)
                y = try b.relu(y, name: "\(p).relu1")
                y = try b.conv("\(p).conv2", y, padding: 1)
                y = try b.batchNorm("\(p).bn2", y)
                let shortcut = stride == 1 ? x : try b.op(.shortcutA(padChannels: planes / 4), [x], name: "\(p).shortcut")
                y = try b.op(.add(.none), [y, shortcut], name: "\(p).add")
                x = try b.relu(y, name: "\(p).relu2")
            }
            planes *= 2
        }
        x = try b.op(.globalAvgPool, [x], name: "avgpool")
        try b.linear("linear", x)
        let classes = checkpoint.tensor("linear.weight")!.shape[0]
        return try b.finish(arch: arch, preprocessing: .cifarImageNetStats,
                            labels: classes == 10 ? Labels.cifar10 : Labels.numbered(classes))
    }
}

extension Preprocessing {
    /// 32x32 RGB, ImageNet mean/std: what akamaster's CIFAR ResNets were trained with.
    static let cifarImageNetStats = Preprocessing(inputSize: [32, 32], channels: 3,
                                                  mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
    /// torchvision ImageNet evaluation on PIL images: resize 256 (PIL bilinear, antialiased), center crop 224,
    /// ImageNet mean/std.
    static let imageNet = Preprocessing(inputSize: [224, 224], channels: 3,
                                        mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 256,
                                        antialias: true)
}

/// Built-in label lists.
enum Labels {
    static let cifar10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    static let fashionMNIST = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                               "Sneaker", "Bag", "Ankle boot"]
    static func numbered(_ n: Int) -> [String] { (0..<n).map { "class \($0)" } }
}
