// Checkpoints whose weights are already on a low-bit grid but carry no method keys (Tests/Fixtures/seeds/
// valuegrid, toolchain/seeds/gen_valuegrid.py; released S3 and stochastic-rounding fixtures) convert with no
// quantization flags to their exact codes, on the exact path, and the report says which layers were kept.
import Foundation
import QCheckpoint
@testable import QConvert
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class ValueGridFixtureTests: XCTestCase {

    /// Converts with only the fixture's input geometry (no --bits, --recipe, --activations), checks the
    /// recipe and that the logits are within 1e-4 x max |logit| of PyTorch float32, and returns the report.
    @discardableResult
    private func check(_ method: String, _ name: String, recipe: String = "plain", arch: String = "resnet20",
                       configure: (inout ConversionOptions) -> Void = { _ in }) throws -> (Model, ConversionReport) {
        let (model, fixture, report) = try convertWithReport(method, name, recipe: recipe, arch: arch, configure: configure)
        try compare(model, fixture, tolerance: 1e-4, "\(method)/\(name)")
        return (model, report)
    }

    /// The report's note of every layer, by name.
    private func notes(_ report: ConversionReport) -> [String: String] {
        Dictionary(uniqueKeysWithValues: report.layers.map { ($0.name, $0.note ?? "") })
    }

    /// The weight schemes of the model's convs and linears, by layer name.
    private func schemes(_ model: Model) -> [String: WeightDescriptor] {
        var out: [String: WeightDescriptor] = [:]
        for node in model.graph.nodes {
            if case .conv2d(let c) = node.op { out[node.name] = c.weight }
            if case .linear(let l) = node.op { out[node.name] = l.weight }
        }
        return out
    }

    /// Activations stay f32: no quantize node anywhere.
    private func assertExactPath(_ model: Model, _ report: ConversionReport, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(report.activations.hasPrefix("f32"), report.activations, file: file, line: line)
        XCTAssertFalse(model.graph.nodes.contains { $0.op == .quantize }, file: file, line: line)
        XCTAssertTrue(report.precision.hasPrefix("already quantized"), report.precision, file: file, line: line)
    }

    /// DeepShift's weights.pth at its default 5 bits: 20-32 shift values per layer, more than the kernels
    /// take, so every layer keeps its exact f32 weights (before: 4-bit uniform, logits ~40 % off).
    func testDeepShiftWeightsPthKeepsExactFloatWeights() throws {
        let (model, report) = try check("valuegrid", "deepshift_weights")
        assertExactPath(model, report)
        XCTAssertEqual(report.layers.count, 20)
        for layer in report.layers {
            XCTAssertTrue(layer.note?.hasPrefix("kept: exact f32, ") == true, "\(layer.name): \(layer.note ?? "-")")
            XCTAssertEqual(layer.format, "f32", layer.name)
        }
        XCTAssertTrue(report.layers.first!.note!.hasSuffix("levels (--first-last-bits 8 not applied)"), report.layers.first!.note!)
        XCTAssertTrue(report.layers[1].note!.hasSuffix("levels (--bits 4 not applied)"), report.layers[1].note!)
        XCTAssertTrue(report.recipeNotes.contains {
            $0.hasSuffix("kept exactly: 20 x exact f32, 20-32 levels") }, "\(report.recipeNotes)")
    }

    /// DeepShift's weights.pth at 3 bits (7 or 9 values per layer, every one a multiple of 2^-3): with no
    /// flags BinaryConnect's stochastic-rounding detection (every layer on a grid of <= 16 multiples of one
    /// step) takes it first and codes it exactly; with --recipe plain the value grids give shift codes.
    func testDeepShiftThreeBitWeightsPthBecomesShiftCodes() throws {
        let (method, _) = try check("valuegrid", "deepshift_w3_weights", recipe: "binaryconnect")
        for (name, weight) in schemes(method) { XCTAssertEqual(weight.scheme, .shift, name) }
        let (model, report) = try check("valuegrid", "deepshift_w3_weights") { $0.recipe = "plain" }
        assertExactPath(model, report)
        for (name, weight) in schemes(model) { XCTAssertEqual(weight.scheme, .shift, name) }
        for layer in report.layers {
            XCTAssertTrue(layer.note?.hasPrefix("kept: shift ") == true, "\(layer.name): \(layer.note ?? "-")")
            XCTAssertEqual(layer.sqnrDB, .infinity, "\(layer.name): the int8 table is exact too")
        }
    }

    /// The same files through DeepShift's own inference (--recipe deepshift --fixed-point 16,16): the
    /// recipe's rounding of power-of-two weights leaves them unchanged.
    func testDeepShiftWeightsPthThroughTheDeepShiftRecipe() throws {
        for name in ["deepshift_weights", "deepshift_w3_weights"] {
            let (model, fixture, _) = try convertWithReport("valuegrid", name, recipe: "deepshift", arch: "resnet20") {
                $0.recipe = "deepshift"
                $0.method.fixedPoint = (16, 16)
                $0.method.weightBits = name == "deepshift_weights" ? 5 : 3
            }
            try compare(model, fixture, tolerance: 1e-4, "valuegrid/\(name) deepshift") { $0.logits_deepshift! }
        }
    }

    /// 3-bit per-channel block convs with float conv1 and linear: codebook3 codes (levels -4..3 times the
    /// channel's step), the float layers stay f32 and activations f32.
    func testThreeBitPerChannelResNet() throws {
        let (model, report) = try check("valuegrid", "resnet20_w3")
        assertExactPath(model, report)
        let notes = notes(report), weights = schemes(model)
        for (name, note) in notes where name != "conv1" && name != "linear" {
            XCTAssertEqual(note, "kept: uniform 3-bit per channel (--bits 4 not applied)", name)
            XCTAssertEqual(weights[name]?.label, "codebook3", name)
            XCTAssertEqual(weights[name]?.levels?.prefix(8), [0, -4, -3, -2, -1, 1, 2, 3], name)
        }
        XCTAssertEqual(notes["conv1"], "f32: float layer of an already-quantized network (--first-last-bits 8 not applied)")
        XCTAssertEqual(weights["linear"]?.scheme, .float32)
        XCTAssertTrue(report.recipeNotes.contains { $0.contains("18 x uniform 3-bit per channel") }, "\(report.recipeNotes)")
    }

    func testTernaryPerChannelResNet() throws {
        let (model, report) = try check("valuegrid", "resnet20_ternary")
        assertExactPath(model, report)
        for (name, note) in notes(report) where name != "conv1" && name != "linear" {
            XCTAssertEqual(note, "kept: ternary 0, +-a per channel (--bits 4 not applied)", name)
        }
    }

    /// --activations u8 on an already-quantized network: the integer kernels (dynamic u8), same top-1.
    func testAlreadyQuantizedNetworkOnU8Activations() throws {
        let (model, fixture, report) = try convertWithReport("valuegrid", "resnet20_w3", recipe: "plain", arch: "resnet20") {
            $0.method.activations = .u8
        }
        XCTAssertTrue(report.activations.hasPrefix("u8 dynamic"), report.activations)
        XCTAssertTrue(model.graph.nodes.contains { $0.op == .quantize })
        try compare(model, fixture, tolerance: nil, "valuegrid/resnet20_w3 u8")
    }

    /// A released S3 file (values {0, +-1, +-2, +-4} in `weight`): S3's own detection with no flags, and
    /// the value-grid pass with --recipe plain give the same shift codes and logits.
    func testReleasedS3WithAndWithoutItsRecipe() throws {
        let (s3, _) = try check("s3", "resnet18_released", recipe: "s3", arch: "resnet18")
        let (plain, report) = try check("s3", "resnet18_released", arch: "resnet18") { $0.recipe = "plain" }
        assertExactPath(plain, report)
        let s3Weights = schemes(s3)
        for (name, weight) in schemes(plain) where name != "conv1" && name != "fc" {
            XCTAssertEqual(weight.scheme, .shift, name)
            XCTAssertEqual(weight.bits, s3Weights[name]?.bits, name)
        }
        XCTAssertTrue(notes(report).values.contains("kept: shift 7 levels per layer (--bits 4 not applied)"), "\(notes(report))")
    }

    /// Stochastic rounding (every layer on its own grid q * delta) with --recipe plain: uniform per layer.
    func testStochasticRoundingGridsWithThePlainRecipe() throws {
        let (model, report) = try check("binaryconnect", "vgg9_sr", arch: "vgg9") { $0.recipe = "plain" }
        assertExactPath(model, report)
        for layer in report.layers {
            let note = layer.note ?? "-"
            XCTAssertTrue(note.hasPrefix("kept: uniform ") && note.contains("-bit per layer"), "\(layer.name): \(note)")
        }
    }

    /// Part of a float network on a grid: that layer is kept, the rest quantized at --bits as before.
    func testOneGridLayerInAFloatNetwork() throws {
        let fixture = try fixture("plain", "mobilenetv2")
        var checkpoint = try Checkpoint.load(contentsOf: SeedFixture.root.appendingPathComponent("plain/\(fixture.checkpoint)"))
        let name = "features.2.conv.1.0"        // a 3x3 depthwise conv
        let stored = try XCTUnwrap(checkpoint.tensor(name + ".weight"))
        let rows = stored.shape[0], k = stored.elementCount / rows
        let w = stored.floatValues()
        let grid = (0..<w.count).map { i -> Float in
            let s = w[(i / k) * k..<(i / k + 1) * k].map(abs).max()! / 3.5
            return min(max((w[i] / s).rounded(), -4), 3) * s
        }
        checkpoint = checkpoint.replacing([name + ".weight": CheckpointTensor(shape: stored.shape, floats: grid)])
        let (float, _) = try StateDictSource(checkpoint: checkpoint).floatModel(arch: nil)
        let options = ConversionOptions()
        let recipe = PlainRecipe()
        let result = try lower(try XCTUnwrap(recipe.apply(float, checkpoint: checkpoint, options: options).first),
                               options: options) { _, _ in }
        let precision = recipe.precision(result, widths: [], options: options)
        let model = result.model
        let kept = result.layers.filter { $0.note != nil }
        XCTAssertEqual(kept.map(\.name), [name])
        XCTAssertEqual(kept.first?.note, "kept: uniform 3-bit per channel (--bits 4 not applied)")
        XCTAssertEqual(kept.first?.format, "codebook3")
        XCTAssertTrue(result.layers.filter { $0.name != name }.allSatisfy { $0.format.hasPrefix("uniform") })
        XCTAssertTrue(result.activations.hasPrefix("u8 static without calibration"), result.activations)
        XCTAssertTrue(precision.hasSuffix("; kept on value grids: 1 of \(result.layers.count) layers"), precision)
        try model.graph.validate(tensors: model.tensors)
    }

    /// Float networks: no layer is taken for a grid (the generated MobileNetV2 with depthwise convs, and the
    /// real trained CIFAR ResNets of ../shared/data).
    func testFloatNetworksHaveNoGridLayers() throws {
        let (_, _, report) = try convertWithReport("plain", "mobilenetv2", recipe: "plain", arch: "mobilenet_v2")
        XCTAssertTrue(report.layers.allSatisfy { $0.note == nil })
        XCTAssertTrue(report.precision.hasPrefix("w4 uniform"), report.precision)
        guard let folder = TestPaths.shared("cifar10-resnets") else {
            throw XCTSkip(TestPaths.missingSharedMessage("cifar10-resnets"))
        }
        for file in ["resnet20-12fca82f.th", "resnet32-d509ac18.th", "resnet44-014dd654.th", "resnet56-4bfd9763.th"] {
            let checkpoint = try Checkpoint.load(contentsOf: folder.appendingPathComponent(file))
            let (model, _) = try Architectures.build(checkpoint)
            XCTAssertEqual(findValueGridLayers(model).keys.sorted(), [], file)
        }
    }
}
