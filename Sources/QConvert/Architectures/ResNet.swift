// ResNets (He et al. 2016) of any depth and width in the layouts training code saves: torchvision's
// (7x7 stem, downsample.0/.1, fc; BasicBlock or Bottleneck, ResNeXt groups, wide bottlenecks),
// kuangliu/pytorch-cifar's (3x3 stem, shortcut.0/.1, linear) and akamaster's (option-A shortcuts).
import QCheckpoint
import QGraph

/// conv1 -> bn1 -> relu [-> maxpool] -> layer1 ... layerN -> global average pool -> fc | linear, every
/// choice read from the keys and shapes:
/// - stem: conv1 7x7 is the ImageNet stem (stride 2, padding 3, then max pool 3x3/2 padding 1); 3x3 the
///   CIFAR stem (stride 1, padding 1, no pool).
/// - stages `layer1`, `layer2`, ... of the blocks `layerS.i` that hold `conv1.weight`; the first block of
///   every stage after the first has stride 2 (the convention of all these codes; a state_dict has no strides).
/// - block: conv1, conv2 (BasicBlock) or conv1, conv2, conv3 (Bottleneck), each followed by its BatchNorm
///   bn1, bn2, bn3, ReLU between them; the stride sits on the first conv wider than 1x1 (BasicBlock: conv1;
///   torchvision's v1.5 Bottleneck: conv2); groups = input channels / the weight's input channels (ResNeXt).
///   out = relu(branch(x) + shortcut(x)).
/// - shortcut: `downsample.{0,1}` or `shortcut.{0,1}` (1x1 conv with the block's stride + BN, option B) when
///   present; else the identity where the shape is kept, else option A: x[:, :, ::2, ::2] with
///   (out - in) / 2 zero channels on each side.
/// - head: `fc` or `linear` [classes, channels of the last block].
/// Every tensor of the checkpoint must belong to the layout, so Bi-Real's PReLUs or a pre-activation net's
/// `bn0` make it another family's.
struct ResNet: ArchitectureFamily {
    let name = "resnet"
    let label = "torchvision-resnet/cifar-resnet"
    let aliases = ["resnet18", "resnet34", "resnet50", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
                   "torchvision-resnet", "cifar-resnet", "resnext", "wide_resnet"]

    func recognize(_ checkpoint: Checkpoint) -> Recognition {
        do {
            let layout = try ResNetLayout(checkpoint)
            return .match(arch: layout.arch, evidence: layout.evidence)
        } catch let mismatch as LayoutMismatch {
            return .mismatch(reasons: mismatch.reasons)
        } catch {
            return .mismatch(reasons: ["\(error)"])
        }
    }

    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel {
        let layout: ResNetLayout
        do { layout = try ResNetLayout(checkpoint) } catch { throw ConvertError("\(arch): \(error)") }
        let side = layout.imageNetStem ? 224 : 32
        var b = GraphBuilder(checkpoint: checkpoint, inputShape: [side, side, layout.inChannels])
        var x = try b.conv("conv1", "input", stride: layout.imageNetStem ? 2 : 1, padding: layout.stemKernel / 2)
        x = try b.relu(try b.batchNorm("bn1", x), name: "relu1")
        if layout.imageNetStem {
            x = try b.op(.maxPool(Pool(kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1])), [x], name: "maxpool")
        }
        for block in layout.blocks {
            var y = x
            for (j, conv) in block.convs.enumerated() {
                y = try b.conv(conv.name, y, stride: conv.stride, padding: conv.padding, groups: conv.groups)
                y = try b.batchNorm(conv.batchNorm, y)
                if j + 1 < block.convs.count { y = try b.relu(y, name: "\(block.name).relu\(j + 1)") }
            }
            var shortcut = x
            switch block.shortcut {
            case .identity: break
            case .optionA(let pad):
                shortcut = try b.op(.shortcutA(padChannels: pad), [x], name: "\(block.name).shortcut")
            case .projection(let module):
                shortcut = try b.batchNorm("\(module).1", try b.conv("\(module).0", x, stride: block.stride))
            }
            x = try b.op(.add(.none), [y, shortcut], name: "\(block.name).add")
            x = try b.relu(x, name: "\(block.name).relu\(block.convs.count)")
        }
        x = try b.op(.globalAvgPool, [x], name: "avgpool")
        try b.linear(layout.head, x)
        return try b.finish(arch: arch, preprocessing: layout.preprocessing,
                            labels: layout.imageNetStem ? Labels.numbered(layout.classes) : Labels.cifar(layout.classes))
    }
}

/// A ResNet's structure as read from a checkpoint (see `ResNet`).
struct ResNetLayout {
    struct Conv {
        var name: String, batchNorm: String
        var stride: Int, padding: Int, groups: Int, outChannels: Int
    }
    enum Shortcut: Equatable {
        case identity
        /// Subsample by 2, `pad` zero channels on each side.
        case optionA(pad: Int)
        /// The module holding `.0` (1x1 conv) and `.1` (BatchNorm).
        case projection(String)
    }
    struct Block {
        var name: String
        var convs: [Conv]
        var stride: Int
        var shortcut: Shortcut
        var outChannels: Int { convs.last!.outChannels }
    }

    var stemKernel: Int
    var inChannels: Int
    var stemChannels: Int
    var stages: [[Block]]
    var head: String
    var classes: Int

    var imageNetStem: Bool { stemKernel == 7 }
    var blocks: [Block] { stages.flatMap { $0 } }

    /// Reads the layout; throws `LayoutMismatch` naming every part that does not fit.
    init(_ checkpoint: Checkpoint) throws {
        func shape(_ key: String) -> [Int]? { checkpoint.tensor(key)?.shape }
        var problems: [String] = []
        var bound: Set<String> = []
        /// Binds a BatchNorm over `channels` (a problem when it is missing or of another size).
        func bindBatchNorm(_ name: String, channels: Int) {
            guard let s = shape("\(name).running_mean") else { return problems.append("no '\(name).running_mean'") }
            if s != [channels] { problems.append("'\(name)' has \(s) channels, expected \(channels)") }
            for part in ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"] { bound.insert("\(name).\(part)") }
        }
        /// Binds a conv weight [out, in / groups, k, k] reading `channels`; returns (out, groups, k).
        func bindConv(_ name: String, channels: Int) -> (out: Int, groups: Int, kernel: Int)? {
            guard let w = shape("\(name).weight") else { problems.append("no '\(name).weight'"); return nil }
            guard w.count == 4, w[2] == w[3], w[2] % 2 == 1, w[1] > 0, channels % w[1] == 0,
                  w[0] % (channels / w[1]) == 0 else {
                problems.append("'\(name).weight' is \(w): not a square odd-sized conv over \(channels) channels")
                return nil
            }
            bound.formUnion(["\(name).weight", "\(name).bias"])
            return (w[0], channels / w[1], w[2])
        }

        guard let stem = shape("conv1.weight"), stem.count == 4 else { throw LayoutMismatch(["no 'conv1.weight'"]) }
        guard stem[2] == stem[3], stem[2] == 7 || stem[2] == 3 else {
            throw LayoutMismatch(["conv1 is \(stem[2])x\(stem[3]), expected 7x7 (ImageNet stem) or 3x3 (CIFAR stem)"])
        }
        (stemKernel, inChannels, stemChannels) = (stem[2], stem[1], stem[0])
        _ = bindConv("conv1", channels: inChannels)
        bindBatchNorm("bn1", channels: stemChannels)
        let checker = KeyChecker(checkpoint)
        var channels = stemChannels, found: [[Block]] = []
        while true {
            let s = found.count + 1, count = checker.blockCount("layer\(s)", probe: "conv1.weight")
            if count == 0 { break }
            var stage: [Block] = []
            for i in 0..<count {
                let name = "layer\(s).\(i)", stride = s > 1 && i == 0 ? 2 : 1
                let depth = (1...).prefix { checker.has("\(name).conv\($0).weight") }.count
                guard depth == 2 || depth == 3 else {
                    throw LayoutMismatch(problems + ["\(name) has \(depth) convs conv1...; a BasicBlock has 2, a Bottleneck 3"])
                }
                var convs: [Conv] = [], cin = channels, strided = false
                for j in 1...depth {
                    guard let c = bindConv("\(name).conv\(j)", channels: cin) else { throw LayoutMismatch(problems) }
                    bindBatchNorm("\(name).bn\(j)", channels: c.out)
                    convs.append(Conv(name: "\(name).conv\(j)", batchNorm: "\(name).bn\(j)", stride: !strided && c.kernel > 1 ? stride : 1,
                                      padding: c.kernel / 2, groups: c.groups, outChannels: c.out))
                    strided = strided || c.kernel > 1
                    cin = c.out
                }
                if !strided && stride > 1 { problems.append("\(name) has no conv wider than 1x1 to carry stride 2") }
                let shortcut: Shortcut
                if let module = ["downsample", "shortcut"].map({ "\(name).\($0)" }).first(where: { checker.has("\($0).0.weight") }) {
                    if let c = bindConv("\(module).0", channels: channels), c.out != cin || c.groups != 1 || c.kernel != 1 {
                        problems.append("'\(module).0' is not a 1x1 conv from \(channels) to \(cin) channels")
                    }
                    bindBatchNorm("\(module).1", channels: cin)
                    shortcut = .projection(module)
                } else if stride == 1 && cin == channels {
                    shortcut = .identity
                } else if stride == 2 && cin >= channels && (cin - channels) % 2 == 0 {
                    shortcut = .optionA(pad: (cin - channels) / 2)
                } else {
                    problems.append("\(name) turns \(channels) into \(cin) channels at stride \(stride) without shortcut weights")
                    shortcut = .identity
                }
                stage.append(Block(name: name, convs: convs, stride: stride, shortcut: shortcut))
                channels = cin
            }
            found.append(stage)
        }
        stages = found
        if stages.isEmpty { problems.append("no 'layer1.0.conv1.weight'") }
        let heads = ["fc", "linear"].filter { checker.has("\($0).weight") }
        head = heads.first ?? "fc"
        classes = shape("\(head).weight")?.first ?? 0
        if heads.count != 1 {
            problems.append(heads.isEmpty ? "no 'fc.weight' or 'linear.weight'" : "both 'fc' and 'linear' heads")
        } else if shape("\(head).weight") != [classes, channels] {
            problems.append("'\(head).weight' is \(shape("\(head).weight")!), expected [*, \(channels)]")
        }
        bound.formUnion(["\(head).weight", "\(head).bias"])
        let extra = checker.unbound(bound)
        if !extra.isEmpty {
            problems.append("\(extra.count) tensor(s) outside a ResNet: " + extra.prefix(4).joined(separator: ", ")
                + (extra.count > 4 ? ", ..." : ""))
        }
        guard problems.isEmpty else { throw LayoutMismatch(problems) }
    }

    /// Weighted layers on the main path: the stem, every block conv, the head.
    var depth: Int { 2 + blocks.reduce(0) { $0 + $1.convs.count } }

    /// "resnet<depth>" (the torchvision and He et al. names: resnet18, resnet50, resnet20, resnet110, ...),
    /// "-cifar" appended for a 3x3-stem net of four stages (kuangliu's CIFAR ResNet-18 is not torchvision's);
    /// bottleneck nets with grouped 3x3 convs are "resnext<depth>_<groups>x<width per group>d" and those
    /// wider than their planes "wide_resnet<depth>_<factor>", as torchvision names them.
    var arch: String {
        if let first = blocks.first, first.convs.count == 3 {
            let mid = first.convs[1].outChannels, groups = first.convs[1].groups, planes = first.outChannels / 4
            if groups > 1, planes > 0, (mid * 64) % (groups * planes) == 0 {
                return "resnext\(depth)_\(groups)x\(mid * 64 / (groups * planes))d"
            }
            if groups == 1, planes > 0, mid != planes, mid % planes == 0 { return "wide_resnet\(depth)_\(mid / planes)" }
        }
        return "resnet\(depth)" + (!imageNetStem && stages.count == 4 ? "-cifar" : "")
    }

    var evidence: String {
        let counts = stages.map(\.count)
        let bottleneck = blocks.contains { $0.convs.count == 3 }, grouped = blocks.flatMap(\.convs).map(\.groups).max() ?? 1
        var shortcuts: [String] = []
        for block in blocks {
            let kind: String
            switch block.shortcut {
            case .identity: continue
            case .optionA: kind = "option A (no weights)"
            case .projection(let module): kind = "\(module.split(separator: ".").last!) 1x1 conv + BN"
            }
            if !shortcuts.contains(kind) { shortcuts.append(kind) }
        }
        return "conv1 [\(stemChannels),\(inChannels),\(stemKernel),\(stemKernel)] "
            + (imageNetStem ? "+ max pool (ImageNet stem)" : "(CIFAR stem)")
            + ", stages \(counts) of \(bottleneck ? "Bottleneck" : "BasicBlock")s" + (grouped > 1 ? " (groups \(grouped))" : "")
            + ", shortcuts: " + (shortcuts.isEmpty ? "identity" : shortcuts.joined(separator: ", "))
            + ", \(head) [\(classes),\(blocks.last?.outChannels ?? 0)]; depth \(depth)"
    }

    /// ImageNet stem: torchvision's evaluation; CIFAR stem: akamaster's statistics for option-A nets, else
    /// kuangliu's CIFAR-10 statistics.
    var preprocessing: Preprocessing {
        if imageNetStem { return .imageNet }
        let projections = blocks.contains { if case .projection = $0.shortcut { return true } else { return false } }
        return projections ? .cifarStats : .cifarImageNetStats
    }
}
