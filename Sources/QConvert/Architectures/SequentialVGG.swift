// VGG-style CIFAR networks of any configuration saved as one nn.Sequential `features` plus a `classifier`
// Linear: DGMS's VGG-small, the kuangliu/pytorch-cifar VGGs (used for BinaryConnect / stochastic
// rounding) and VGGs without BatchNorm (torchvision's features layout).
import QCheckpoint
import QGraph

/// `features.<i>` is, by what the checkpoint holds at index i: a 3x3 conv (padding 1; a 4-D weight,
/// optional bias), a BatchNorm (running_mean), or a parameter-free layer: MaxPool 2x2/2 right before a
/// BatchNorm (VGG-small's conv-pool-BN), else ReLU right after a conv or a BatchNorm, else MaxPool (after
/// the ReLU). Layers after the last indexed one are invisible in a state_dict: a final conv or BatchNorm
/// is followed by its ReLU, and trailing pools are inferred from the classifier's input size (a 32x32
/// input). Then flatten (C, H, W order) and `classifier`.
/// Named by weight layers: "vgg<convs + 1>" (kuangliu's 8-conv cfg is vgg9, its VGG16 cfg vgg14), except
/// VGG-small (DGMS: conv-BN-ReLU, conv-pool-BN-ReLU at 128, 256, 512).
struct SequentialVGG: ArchitectureFamily {
    let name = "vgg"
    let aliases = ["vgg-small", "vgg9", "sequential-vgg"]

    private enum Slot { case conv, batchNorm, relu, pool }

    private func slots(_ checkpoint: Checkpoint) -> [Slot] {
        var last = -1
        for (name, _) in checkpoint.tensors where name.hasPrefix("features.") {
            if let i = Int(name.dropFirst("features.".count).prefix { $0 != "." }) { last = max(last, i) }
        }
        guard last >= 0 else { return [] }
        var slots: [Slot] = []
        for i in 0...last {
            if checkpoint.tensor("features.\(i).running_mean") != nil {
                slots.append(.batchNorm)
            } else if checkpoint.tensor("features.\(i).weight")?.shape.count == 4 {
                slots.append(.conv)
            } else if checkpoint.tensor("features.\(i + 1).running_mean") == nil, let previous = slots.last,
                      previous == .conv || previous == .batchNorm {
                slots.append(.relu)
            } else {
                slots.append(.pool)
            }
        }
        return slots
    }

    private func arch(_ slots: [Slot]) -> String {
        let convs = slots.filter { $0 == .conv }.count
        let poolBeforeBN = slots.indices.contains { i in i + 2 < slots.count && slots[i] == .conv && slots[i + 1] == .pool }
        return convs == 6 && poolBeforeBN ? "vgg-small" : "vgg\(convs + 1)"
    }

    func recognize(_ checkpoint: Checkpoint) -> Recognition {
        var k = KeyChecker(checkpoint)
        k.expect("features.0.weight", shape: [-1, -1, 3, 3])
        k.expect("classifier.weight", shape: [-1, -1])
        let s = slots(checkpoint)
        let convs = s.filter { $0 == .conv }.count
        if convs < 2 { k.problems.append("fewer than 2 convs in features") }
        guard k.problems.isEmpty else { return .mismatch(reasons: k.problems) }
        let norms = s.filter { $0 == .batchNorm }.count
        return .match(arch: arch(s), evidence: "features.N: \(convs) 3x3 convs, \(norms) BatchNorms, "
            + "\(s.filter { $0 == .pool }.count) max pools, classifier")
    }

    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel {
        let s = slots(checkpoint)
        let inChannels = checkpoint.tensor("features.0.weight")?.shape[1] ?? 3
        var b = GraphBuilder(checkpoint: checkpoint, inputShape: [32, 32, inChannels])
        var x = "input", side = 32, channels = inChannels
        let pool = Op.maxPool(Pool(kernel: [2, 2], stride: [2, 2]))
        for (i, slot) in s.enumerated() {
            let n = "features.\(i)"
            switch slot {
            case .conv:
                x = try b.conv(n, x, padding: 1)
                channels = checkpoint.tensor("\(n).weight")!.shape[0]
            case .batchNorm:
                x = try b.batchNorm(n, x)
            case .relu:
                x = try b.relu(x, name: n)
            case .pool:
                x = try b.op(pool, [x], name: n)
                side /= 2
            }
        }
        if s.last == .batchNorm || s.last == .conv { x = try b.relu(x, name: "features.\(s.count)") }   // its ReLU
        guard let fc = checkpoint.tensor("classifier.weight")?.shape, fc.count == 2 else {
            throw ConvertError("\(arch): no 2-D classifier.weight")
        }
        var extra = 0
        while channels * side * side > fc[1] && side % 2 == 0 {
            x = try b.op(pool, [x], name: "features.pool\(extra)")
            side /= 2
            extra += 1
        }
        guard channels * side * side == fc[1] else {
            throw ConvertError("\(arch): classifier takes \(fc[1]) inputs, features give \(channels)x\(side)x\(side)")
        }
        x = try b.op(.flatten, [x], name: "flatten")
        try b.linear("classifier", x)
        return try b.finish(arch: arch, preprocessing: .cifarImageNetStats, labels: Labels.cifar(fc[0]))
    }
}
