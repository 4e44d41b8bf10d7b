// The architecture families at depths, widths, layouts and wrappers no other fixture uses
// (Tests/Fixtures/seeds/families, written by toolchain/seeds/gen_families.py): each converts with no
// --arch and matches PyTorch in float; layouts without a fixture are recognised from tiny in-test
// checkpoints and from the real-size key layouts of layouts.json; --arch forces a family.
import Foundation
import QCheckpoint
@testable import QConvert
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class FamilyFixtureTests: XCTestCase {
    private static let folder = SeedFixture.root.appendingPathComponent("families")

    /// (fixture, the arch LowBit must report).
    private static let fixtures = [
        ("resnet10", "resnet10"), ("resnet10_lightning", "resnet10"), ("resnet26_bottleneck", "resnet26"),
        ("resnext14", "resnext14_4x16d"), ("resnet18_cifar", "resnet18-cifar"), ("resnet26_cifar", "resnet26"),
        ("vgg11_cifar", "vgg11"), ("vgg14_nobn", "vgg14"), ("mobilenetv2_01", "mobilenet_v2"), ("mnasnet_01", "mnasnet"),
    ]

    /// Every fixture, recognised with no --arch and converted at 32 bits, gives PyTorch's float32 logits to
    /// 1e-4 of the largest and the same top-1.
    func testFixturesConvertWithoutArchAndMatchPyTorch() throws {
        for (name, arch) in Self.fixtures {
            XCTAssertEqual(try fixture("families", name).arch, arch, name)
            let (model, fixture) = try convert("families", name, recipe: "plain", arch: arch) {
                $0.plain.bits = 32
                $0.plain.firstLastBits = 32
            }
            let worst = try compare(model, fixture, tolerance: 1e-4, "families/\(name)")
            print("families/\(name) (\(arch)) at 32 bits: worst |logit - PyTorch| / max |logit| = \(String(format: "%.1e", worst))")
        }
    }

    /// With dynamic u8 activations (`--activation-ranges dynamic`) the stem's max pool runs on the codes: the conv's floats
    /// are quantized before the pool, the pool keeps that scale (its dynamic slot), the first block reads the
    /// codes as input and as residual (no dequantize), and the network still gives PyTorch's top-1 with
    /// logits near its own at 8 bits.
    func testDynamicMaxPoolRunsOnCodes() throws {
        let (model, fixture) = try convert("families", "resnet10", recipe: "plain", arch: "resnet10") {
            $0.plain.bits = 8
            $0.uncalibratedRanges = .dynamic
        }
        let graph = model.graph
        let pool = try XCTUnwrap(graph.nodes.first { $0.name == "maxpool" })
        XCTAssertEqual(graph.value(pool.inputs[0])?.quant, .dynamicUInt8)
        XCTAssertEqual(graph.value(pool.output)?.quant, .dynamicUInt8)
        let readers = graph.consumers(of: pool.output).map { graph.nodes[$0].name }
        XCTAssertEqual(Set(readers), ["layer1.0.conv1", "layer1.0.conv2"], "the block's conv and its residual add")
        XCTAssertFalse(graph.nodes.contains { $0.op == .dequantize })
        let worst = try compare(model, fixture, tolerance: 0.1, "families/resnet10 w8 dynamic")
        print("families/resnet10 w8, dynamic activations: worst |logit - PyTorch| / max |logit| = \(String(format: "%.1e", worst))")
    }

    /// The graph keeps the PyTorch module names and the residual structure recipes ask for: shortcut
    /// convs named after their keys, residual adds, option-A shortcut ops where the shape changes.
    func testGraphsKeepModuleNamesAndResidualStructure() throws {
        let cifar18 = try floatModel("resnet18_cifar.pth")
        let names = Set(cifar18.graph.nodes.map(\.name))
        for stage in 2...4 {
            XCTAssertTrue(names.isSuperset(of: ["layer\(stage).0.shortcut.0", "layer\(stage).0.shortcut.1"]), "\(names.sorted())")
        }
        XCTAssertEqual(cifar18.graph.nodes.filter { $0.op.kind == "add" }.count, 8)
        XCTAssertFalse(names.contains("maxpool"))
        XCTAssertEqual(cifar18.graph.nodes.first?.name, "conv1")

        let cifar26 = try floatModel("resnet26_cifar.th")
        XCTAssertEqual(cifar26.graph.nodes.filter { $0.op.kind == "shortcutA" }.map(\.name), ["layer2.0.shortcut", "layer3.0.shortcut"])
        XCTAssertEqual(cifar26.graph.nodes.filter { $0.op.kind == "conv2d" }.count, 25)

        let bottleneck = try floatModel("resnet26_bottleneck.pth.tar")
        XCTAssertTrue(bottleneck.graph.nodes.contains { $0.name == "maxpool" })
        // the stride sits on the 3x3 conv (torchvision v1.5) and on the downsample conv
        for node in bottleneck.graph.nodes where node.name.hasPrefix("layer3.0.") {
            guard case .conv2d(let c) = node.op else { continue }
            XCTAssertEqual(c.stride, node.name.hasSuffix("conv2") || node.name.hasSuffix("downsample.0") ? [2, 2] : [1, 1], node.name)
        }
        let resnext = try floatModel("resnext14.pth")
        let grouped = resnext.graph.nodes.compactMap { n -> Int? in if case .conv2d(let c) = n.op { return c.groups } else { return nil } }
        XCTAssertEqual(grouped.filter { $0 == 4 }.count, 4)
    }

    /// The Lightning checkpoint: the weights are found under state_dict with the `model.` prefix stripped.
    func testLightningWrapper() throws {
        let checkpoint = try Checkpoint.load(contentsOf: Self.folder.appendingPathComponent("resnet10_lightning.ckpt"))
        XCTAssertEqual(checkpoint.wrapper, "lightning")
        XCTAssertEqual(checkpoint.strippedPrefix, "model.")
        XCTAssertNotNil(checkpoint.metadata("optimizer_states"))
    }

    /// `--arch` forces a family, whose depth still comes from the checkpoint; an earlier member name is an
    /// alias of its family (resnet18 on a ResNet-10 once failed on a missing layer1.1.conv1); a family
    /// that does not fit is refused with its reasons; an unknown name lists the families.
    func testForcedFamily() throws {
        for forced in ["resnet", "resnet18", "torchvision-resnet"] {
            let report = try convertResNet10(arch: forced)
            XCTAssertEqual(report.arch, "resnet10")
            XCTAssertTrue(report.archEvidence.hasPrefix("forced by --arch \(forced) (family resnet): conv1 [8,3,7,7]"), report.archEvidence)
        }
        XCTAssertThrowsError(try convertResNet10(arch: "mobilenet_v2")) {
            XCTAssertTrue("\($0)".contains("--arch mobilenet_v2 forces the mobilenet_v2 family, which does not fit")
                && "\($0)".contains("no 'features.0.0.weight'"), "\($0)")
        }
        XCTAssertThrowsError(try convertResNet10(arch: "vgg")) { XCTAssertTrue("\($0)".contains("no 'classifier.weight'"), "\($0)") }
        XCTAssertThrowsError(try convertResNet10(arch: "resnet-ish")) {
            XCTAssertTrue("\($0)".contains("unknown architecture 'resnet-ish'; families: resnet, "), "\($0)")
        }
    }

    /// Real-size key layouts (shapes only, from torchvision's and akamaster's classes: layouts.json) are
    /// recognised with the names torchvision gives them.
    func testRealSizeLayoutsAreRecognised() throws {
        struct Layouts: Decodable {
            struct Layout: Decodable { var arch: String; var tensors: [Entry] }
            struct Entry: Decodable {
                var key: String, shape: [Int]
                init(from decoder: Decoder) throws {
                    var c = try decoder.unkeyedContainer()
                    key = try c.decode(String.self)
                    shape = try c.decode([Int].self)
                }
            }
            var layouts: [String: Layout]
        }
        let file = try JSONDecoder().decode(Layouts.self, from: Data(contentsOf: Self.folder.appendingPathComponent("layouts.json")))
        XCTAssertEqual(Set(file.layouts.keys), ["resnet101", "resnet152", "resnext50_32x4d", "wide_resnet50_2", "resnet1202"])
        for (name, layout) in file.layouts {
            // one byte per element: recognition reads shapes only
            let tensors = layout.tensors.map { e in
                (name: e.key, tensor: CheckpointTensor(dtype: .uint8, shape: e.shape, bytes: [UInt8](repeating: 0, count: e.shape.reduce(1, *))))
            }
            guard case .match(let arch, let evidence) = ResNet().recognize(checkpoint(tensors)) else {
                return XCTFail("\(name) not recognised: \(ResNet().recognize(checkpoint(tensors)))")
            }
            XCTAssertEqual(arch, layout.arch, evidence)
        }
    }

    /// Layouts without a fixture, as tiny checkpoints: each is recognised with its depth and builds
    /// (shapes validated through the graph).
    func testTinyLayoutsAreRecognisedAndBuild() throws {
        let cases: [(TinyResNet, String)] = [
            (TinyResNet(counts: [3, 4, 6, 3], bottleneck: true, stem: 3, shortcut: "shortcut", head: "linear"), "resnet50-cifar"),
            (TinyResNet(counts: [3, 3, 3], bottleneck: false, stem: 3, shortcut: "downsample", head: "linear"), "resnet20"),
            (TinyResNet(counts: [2, 3, 4, 2], bottleneck: false, stem: 7, shortcut: "downsample", head: "fc"), "resnet24"),
            (TinyResNet(counts: [1, 1], bottleneck: false, stem: 3, shortcut: nil, head: "linear"), "resnet6"),
            (TinyResNet(counts: [2, 2, 2, 2, 2], bottleneck: true, stem: 7, shortcut: "downsample", head: "fc"), "resnet32"),
        ]
        for (net, arch) in cases {
            let (model, evidence) = try Architectures.build(checkpoint(net.tensors()))
            XCTAssertEqual(model.arch, arch, evidence)
            XCTAssertEqual(model.graph.nodes.filter { $0.op.kind == "add" }.count, net.counts.reduce(0, +), arch)
            XCTAssertEqual(model.graph.value(model.graph.output)?.shape, [10], arch)
        }
    }

    /// Near misses are refused with the reason, never half-converted: an extra tensor (Bi-Real's PReLU
    /// without its other parts), a 5x5 stem, a block with one conv.
    func testNearMissesAreRefusedWithReasons() {
        let base = TinyResNet(counts: [1, 1, 1], bottleneck: false, stem: 3, shortcut: nil, head: "linear").tensors()
        let extra = base + [(name: "prelu.weight", tensor: CheckpointTensor(shape: [1], floats: [0.25]))]
        XCTAssertEqual(reasons(extra), ["1 tensor(s) outside a ResNet: prelu.weight"])
        let stem5 = base.map { $0.name == "conv1.weight" ? (name: $0.name, tensor: CheckpointTensor(shape: [4, 3, 5, 5], floats: [Float](repeating: 0, count: 300))) : $0 }
        XCTAssertEqual(reasons(stem5), ["conv1 is 5x5, expected 7x7 (ImageNet stem) or 3x3 (CIFAR stem)"])
        let oneConv = base.filter { !$0.name.hasPrefix("layer2.0.conv2") && !$0.name.hasPrefix("layer2.0.bn2") }
        XCTAssertEqual(reasons(oneConv), ["layer2.0 has 1 convs conv1...; a BasicBlock has 2, a Bottleneck 3"])
    }

    // MARK: helpers

    private func floatModel(_ file: String) throws -> FloatModel {
        try Architectures.build(try Checkpoint.load(contentsOf: Self.folder.appendingPathComponent(file))).0
    }

    private func convertResNet10(arch: String) throws -> ConversionReport {
        var options = ConversionOptions()
        options.arch = arch
        options.plain.bits = 32
        options.inputSize = [64, 64]
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        return try Converter.convert(checkpoint: Self.folder.appendingPathComponent("resnet10.pth"),
                                     to: dir.appendingPathComponent("r10.lbm"), options: options)
    }

    private func checkpoint(_ tensors: [(name: String, tensor: CheckpointTensor)]) -> Checkpoint {
        Checkpoint(url: URL(fileURLWithPath: "/tiny.pt"), format: .zip, wrapper: "bare", tensors: tensors)
    }

    private func reasons(_ tensors: [(name: String, tensor: CheckpointTensor)]) -> [String] {
        guard case .mismatch(let reasons) = ResNet().recognize(checkpoint(tensors)) else { return ["matched"] }
        return reasons
    }
}

/// The state_dict of a tiny ResNet in the torchvision / kuangliu / akamaster layouts (stem width 4,
/// planes doubling per stage, Bottleneck expansion 4), written from the layout's definition, not from
/// the recogniser's code. `shortcut` nil: option A (no shortcut tensors).
private struct TinyResNet {
    var counts: [Int]
    var bottleneck: Bool
    var stem: Int
    var shortcut: String?
    var head: String

    func tensors() -> [(name: String, tensor: CheckpointTensor)] {
        var out: [(name: String, tensor: CheckpointTensor)] = []
        func conv(_ name: String, _ o: Int, _ i: Int, _ k: Int) {
            out.append((name + ".weight", CheckpointTensor(shape: [o, i, k, k], floats: (0..<(o * i * k * k)).map { Float($0 % 7) * 0.01 })))
        }
        func bn(_ name: String, _ c: Int) {
            for part in ["weight", "running_var"] { out.append(("\(name).\(part)", CheckpointTensor(shape: [c], floats: [Float](repeating: 1, count: c)))) }
            for part in ["bias", "running_mean"] { out.append(("\(name).\(part)", CheckpointTensor(shape: [c], floats: [Float](repeating: 0, count: c)))) }
        }
        conv("conv1", 4, 3, stem)
        bn("bn1", 4)
        var cin = 4
        for (s, n) in counts.enumerated() {
            let planes = 4 << s, expansion = bottleneck ? 4 : 1
            for i in 0..<n {
                let p = "layer\(s + 1).\(i)", stride = s > 0 && i == 0 ? 2 : 1
                if bottleneck {
                    conv("\(p).conv1", planes, cin, 1); bn("\(p).bn1", planes)
                    conv("\(p).conv2", planes, planes, 3); bn("\(p).bn2", planes)
                    conv("\(p).conv3", planes * 4, planes, 1); bn("\(p).bn3", planes * 4)
                } else {
                    conv("\(p).conv1", planes, cin, 3); bn("\(p).bn1", planes)
                    conv("\(p).conv2", planes, planes, 3); bn("\(p).bn2", planes)
                }
                if let shortcut, stride != 1 || cin != planes * expansion {
                    conv("\(p).\(shortcut).0", planes * expansion, cin, 1); bn("\(p).\(shortcut).1", planes * expansion)
                }
                cin = planes * expansion
            }
        }
        out.append(("\(head).weight", CheckpointTensor(shape: [10, cin], floats: [Float](repeating: 0.01, count: 10 * cin))))
        out.append(("\(head).bias", CheckpointTensor(shape: [10], floats: [Float](repeating: 0, count: 10))))
        return out
    }
}
