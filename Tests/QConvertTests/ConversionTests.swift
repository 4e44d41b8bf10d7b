import QCheckpoint
@testable import QConvert
import QFormat
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class ConversionTests: XCTestCase {
    private func resnet(_ name: String) throws -> URL {
        guard let url = TestPaths.shared("cifar10-resnets/\(name)") else {
            throw XCTSkip(TestPaths.missingSharedMessage("cifar10-resnets/\(name)"))
        }
        return url
    }

    /// Folding BatchNorm and fusing ReLU/add change nothing but rounding: the float graph before and after
    /// give the same logits on a real network.
    func testPassesPreserveTheFloatNetwork() throws {
        let checkpoint = try Checkpoint.load(contentsOf: try resnet("resnet20-12fca82f.th"))
        let (original, _) = try Architectures.build(checkpoint)
        var fused = original
        try foldBatchNorm(&fused)
        fuseResidualAdd(&fused.graph)
        fuseActivation(&fused.graph)
        XCTAssertFalse(fused.graph.nodes.contains { if case .batchNorm = $0.op { return true } else { return false } })
        XCTAssertFalse(fused.graph.nodes.contains { if case .add = $0.op { return true } else { return false } })
        let a = Session(model: try inMemoryModel(graph: original.graph, tensors: original.tensors, preprocessing: original.preprocessing))
        let b = Session(model: try inMemoryModel(graph: fused.graph, tensors: fused.tensors, preprocessing: fused.preprocessing))
        var rng = SeededGenerator(seed: 1)
        let input = (0..<(32 * 32 * 3)).map { _ in Float.random(in: -2...2, using: &rng) }
        let la = a.run(input), lb = b.run(input)
        let scale = la.map(abs).max()!
        for (x, y) in zip(la, lb) { XCTAssertEqual(x, y, accuracy: 1e-4 * scale) }
    }

    func testUnrecognisedLayoutListsWhatMatched() throws {
        let tensors = [(name: "foo.weight", tensor: CheckpointTensor(shape: [4, 4], floats: [Float](repeating: 0, count: 16)))]
        let checkpoint = Checkpoint(url: URL(fileURLWithPath: "/x.pt"), format: .zip, wrapper: "bare", strippedPrefix: nil,
                                    tensors: tensors, metadata: [], opaqueClasses: [], root: .none)
        XCTAssertThrowsError(try Architectures.build(checkpoint)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("cifar-resnet: no 'conv1.weight'"), text)
            XCTAssertTrue(text.contains("torchvision-resnet"), text)
            XCTAssertTrue(text.contains("--arch"), text)
        }
        XCTAssertThrowsError(try Architectures.build(checkpoint, override: "vgg99")) {
            XCTAssertTrue("\($0)".contains("unknown architecture 'vgg99'"))
        }
    }

    /// The shallowest and the deepest real CIFAR ResNet convert at every bit width and scheme, and read back to
    /// the same graph. (ResNet-32 and -44 are the same family between them; RealCheckpointTests reads all four
    /// and ValueGridFixtureTests builds their graphs. Converting all four here took 300 s of the ASan suite.)
    func testCheckpointsConvertAndReadBack() throws {
        let names = ["resnet20-12fca82f.th", "resnet56-4bfd9763.th"]
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in names {
            let url = try resnet(name)
            for bits in [32, 8, 4, 3, 2] {
                for scheme in bits == 32 ? [WeightScheme.uniform] : [.uniform, .codebook] {
                    var options = ConversionOptions()
                    options.plain.bits = bits
                    options.plain.scheme = scheme
                    options.plain.firstLastBits = bits == 32 ? 32 : 8
                    let out = dir.appendingPathComponent("\(name)-\(bits)-\(scheme).lbm")
                    let report = try Converter.convert(checkpoint: url, to: out, options: options)
                    let loaded = try ModelArchive.read(contentsOf: out)
                    XCTAssertEqual(loaded.info.arch, String(name.prefix { $0 != "-" }))
                    XCTAssertEqual(report.layers.count, loaded.graph.nodes.filter { $0.op.biasName != nil || $0.op.kind == "conv2d" || $0.op.kind == "linear" }.count)
                    if bits != 32 {
                        let body = report.layers.dropFirst().dropLast()
                        XCTAssertTrue(body.allSatisfy { $0.bits == bits && $0.format.hasPrefix(scheme.rawValue) }, "\(name) \(bits) \(scheme)")
                        XCTAssertEqual(report.layers.first?.bits, 8)
                    }
                    // The model plans and runs.
                    let model = try Model(loaded: loaded)
                    let logits = Session(model: model).run([Float](repeating: 0.1, count: model.inputElementCount))
                    XCTAssertEqual(logits.count, 10)
                    XCTAssertTrue(logits.allSatisfy(\.isFinite))
                }
            }
        }
    }

    /// The converted graph of ResNet-20 at 4 bits (dynamic activations, no data-free bias correction) against a committed golden dump.
    /// Regenerate with LOWBIT_UPDATE_GOLDEN=1 after an intended change, and review the diff.
    func testResNet20GoldenDump() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("r20.lbm")
        var options = ConversionOptions()
        options.plain.bits = 4
        options.uncalibratedRanges = .dynamic
        options.dataFreeBiasCorrection = false
        _ = try Converter.convert(checkpoint: try resnet("resnet20-12fca82f.th"), to: out, options: options)
        let dump = try ModelArchive.read(contentsOf: out).graph.textDump()
        let golden = TestPaths.repositoryRoot.appendingPathComponent("Tests/QConvertTests/Golden/resnet20-w4.txt")
        if ProcessInfo.processInfo.environment["LOWBIT_UPDATE_GOLDEN"] == "1" {
            try dump.write(to: golden, atomically: true, encoding: .utf8)
        }
        XCTAssertEqual(dump, try String(contentsOf: golden, encoding: .utf8))
    }
}
