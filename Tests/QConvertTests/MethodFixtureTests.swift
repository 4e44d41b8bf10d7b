// The method recipes against the PyTorch reference of each method (Tests/Fixtures/seeds, written by
// toolchain/seeds/gen_*.py): detection, then logits on every fixture input.
import Foundation
import QCheckpoint
@testable import QConvert
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class MethodFixtureTests: XCTestCase {

    private static let root = SeedFixture.root

    /// Converts fixture `method/name` with `configure`, checks the detected recipe and architecture, and
    /// compares every input's logits with PyTorch's (max |diff| <= tolerance * max |logit|, same top-1).
    @discardableResult
    private func check(_ method: String, _ name: String, recipe: String, arch: String, tolerance: Float = 1e-3,
                       configure: (inout ConversionOptions) -> Void = { _ in }) throws -> Model {
        let (model, fixture) = try convert(method, name, recipe: recipe, arch: arch, configure: configure)
        try compare(model, fixture, tolerance: tolerance, "\(method)/\(name)")
        return model
    }

    func testDGMS() throws {
        try check("dgms", "resnet20", recipe: "dgms", arch: "resnet20")
        try check("dgms", "vggsmall", recipe: "dgms", arch: "vgg-small")
    }

    func testS3() throws {
        let model = try check("s3", "resnet18", recipe: "s3", arch: "resnet18")
        XCTAssertTrue(model.graph.nodes.contains { if case .conv2d(let c) = $0.op { return c.weight.label == "shift3" } else { return false } })
        try check("s3", "resnet18_released", recipe: "s3", arch: "resnet18")
    }

    /// PS mode with the fixture's 16.16 fixed point (the library's default is none; qconvert's is 16,16).
    func testDeepShiftPS() throws {
        try check("deepshift", "resnet20_ps", recipe: "deepshift", arch: "resnet20") { $0.method.fixedPoint = (16, 16) }
    }

    /// Q mode with 4.6 fixed-point activations: every conv input is floored to a 1/64 grid, so a value
    /// within float rounding of a grid line moves a whole step. LowBit keeps BatchNorm out of the shift
    /// weights on this path (exact power-of-two products, so the conv sums are exact in any order) and
    /// applies it as PyTorch's CPU kernel does (one fused multiply-add): the logits equal PyTorch float32's
    /// (the JSON's `logits`) to ~4e-8 on every input and every ISA. Against float64 PyTorch (`logits_f64`)
    /// input 0 stays 3.6e-3 away: PyTorch float32 itself lands on the other side of a grid line there
    /// (0.03 ulp; docs/METHODS.md "Coarse quantizers"), so that bound is 5e-3.
    func testDeepShiftQ() throws {
        let model = try check("deepshift", "resnet20_q", recipe: "deepshift", arch: "resnet20", tolerance: 1e-6) {
            $0.recipe = "deepshift"
            $0.method.fixedPoint = (4, 6)
        }
        try compare(model, try fixture("deepshift", "resnet20_q"), tolerance: 5e-3, "deepshift/resnet20_q vs float64") {
            $0.logits_f64!
        }
    }

    /// The float64 reference (ReferenceExecutor) against float64 PyTorch (`logits_f64`) on both DeepShift
    /// fixtures with their fixed point (PS 16.16, Q 4.6), input 0 of Q included (where PyTorch float32 and
    /// the f32 engine are 3.6e-3 away): the file keeps every shift weight exact and BatchNorm unfolded,
    /// every conv product is exact and every round_to_fixed decision agrees, so the logits are equal to
    /// double rounding (measured: identical on all 10 inputs).
    func testFloat64ReferenceMatchesFloat64PyTorchOnDeepShift() throws {
        for (name, fixedPoint) in [("resnet20_ps", (16, 16)), ("resnet20_q", (4, 6))] {   // the fixtures' I.F
            let (model, fixture) = try convert("deepshift", name, recipe: "deepshift", arch: "resnet20") {
                $0.recipe = "deepshift"
                $0.method.fixedPoint = fixedPoint
            }
            let reference = try ReferenceExecutor(model: model)
            var worst = 0.0
            for image in fixture.images {
                let got = try reference.classify(try ImageReader.read(contentsOf: Self.root.appendingPathComponent(image.path)))
                let d = RelativeDifference(got, image.logits_f64!)
                XCTAssertLessThanOrEqual(d.relative, 1e-12, "deepshift/\(name) \(image.path)")
                XCTAssertTrue(d.sameTop1, "deepshift/\(name) \(image.path) top-1")
                worst = max(worst, d.relative)
            }
            print("deepshift/\(name) float64 reference vs float64 PyTorch: worst \(String(format: "%.1e", worst))")
        }
    }

    /// The f32 engine against the float64 reference on method models whose float activations carry no
    /// coarse quantizer (so f32 rounding cannot flip a step): depthwise 3x3 / 5x5 and grouped convs
    /// (mnasnet), sign + PReLU + binary kernels (Equal Bits), shift codes with max pooling (S3), a
    /// stochastic-rounding grid VGG. Measured <= 7.5e-6 of the logit range (mnasnet's depthwise FMA
    /// chains; the others <= 2.9e-6), so the bound is 2e-5; top-1 agrees.
    func testEngineMatchesTheFloat64Reference() throws {
        for (method, name, recipe, arch) in [("dgms", "mnasnet", "dgms", "mnasnet"), ("equalbits", "model0.0", "equal-bits", "bireal-resnet18"),
                                             ("s3", "resnet18", "s3", "resnet18"), ("binaryconnect", "vgg9_sr", "binaryconnect", "vgg9")] {
            let (model, fixture) = try convert(method, name, recipe: recipe, arch: arch)
            let reference = try ReferenceExecutor(model: model), session = Session(model: model)
            for image in fixture.images {
                let input = try ImageReader.read(contentsOf: Self.root.appendingPathComponent(image.path))
                let d = RelativeDifference(try session.classify(input).map(Double.init), try reference.classify(input))
                XCTAssertLessThanOrEqual(d.relative, 2e-5, "\(method)/\(name) \(image.path)")
                XCTAssertTrue(d.sameTop1, "\(method)/\(name) \(image.path) top-1")
            }
        }
    }

    /// Binary (k = 0) and ternary (k = 0.5) Bi-Real ResNet-18; the prune rate comes from the file name.
    func testEqualBits() throws {
        for name in ["model0.0", "model0.5"] {
            let model = try check("equalbits", name, recipe: "equal-bits", arch: "bireal-resnet18")
            // the 16 block convs read sign(x): they run on the binary kernels (exact integer sums)
            XCTAssertEqual(model.layerKernels.filter { $0.kernel.hasPrefix("qk_bgemm_") }.count, 16, name)
        }
    }

    func testEqualBitsPruneRateFromFileName() {
        XCTAssertEqual(EqualBitsRecipe.pruneRate(fromFileName: URL(fileURLWithPath: "/x/model0.5.th")), 0.5)
        XCTAssertEqual(EqualBitsRecipe.pruneRate(fromFileName: URL(fileURLWithPath: "/x/model0.0.th")), 0)
        XCTAssertNil(EqualBitsRecipe.pruneRate(fromFileName: URL(fileURLWithPath: "/x/best.th")))
    }

    func testBinaryConnect() throws {
        try check("binaryconnect", "resnet56_bc", recipe: "binaryconnect", arch: "resnet56") { $0.recipe = "binaryconnect" }
        try check("binaryconnect", "vgg9_sr", recipe: "binaryconnect", arch: "vgg9")
    }

    /// The default path of the float-activation methods (no --activations): u8 activations (dynamic, per
    /// tensor) into the integer kernels for every coded layer; the logits stay near PyTorch's float
    /// inference (an approximation: the activations are rounded to 8 bits).
    func testFloatActivationMethodsDefaultToTheIntegerKernels() throws {
        for (method, name, recipe, arch) in [("dgms", "resnet20", "dgms", "resnet20"), ("s3", "resnet18", "s3", "resnet18"),
                                             ("deepshift", "resnet20_ps", "deepshift", "resnet20"),
                                             ("binaryconnect", "resnet56_bc", "binaryconnect", "resnet56")] {
            let (model, fixture, report) = try convertWithReport(method, name, recipe: recipe, arch: arch) {
                $0.method.activations = nil
                if method == "binaryconnect" { $0.recipe = "binaryconnect" }
            }
            XCTAssertTrue(report.activations.hasPrefix("u8 dynamic"), "\(method): \(report.activations)")
            let coded = model.graph.nodes.filter { if case .conv2d(let c) = $0.op { return c.weight.scheme != .float32 } else { return false } }
            XCTAssertFalse(coded.isEmpty, method)
            let integer = Set(model.layerKernels.map(\.layer))
            XCTAssertEqual(coded.filter { !integer.contains($0.name) }.map(\.name), [], "\(method): coded convs off the integer kernels")
            let relative = try compare(model, fixture, tolerance: nil, "\(method)/\(name) default path")
            XCTAssertLessThan(relative, 0.25, "\(method)/\(name): default path vs PyTorch float")
        }
    }

    /// The u8 integer path of a method model: shift-add and table lookup give identical logits (exact
    /// integer sums), and top-1 agrees with the float reference.
    func testS3IntegerPathShiftEqualsLookup() throws {
        let fixture = try fixture("s3", "resnet18")
        var options = ConversionOptions()
        options.inputSize = [64, 64]
        options.resize = 0
        options.method.activations = .u8
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("s3-u8.lbm")
        _ = try Converter.convert(checkpoint: Self.root.appendingPathComponent("s3/resnet18.pth.tar"), to: out, options: options)
        let lut = Session(model: try Model(contentsOf: out, kernel: .lut))
        let shiftModel = try Model(contentsOf: out, kernel: .shift)
        XCTAssertTrue(shiftModel.layerKernels.contains { $0.kernel.hasPrefix("qk_sgemm_w3_") })
        let shift = Session(model: shiftModel)
        for image in fixture.images {
            let img = try ImageReader.read(contentsOf: Self.root.appendingPathComponent(image.path))
            XCTAssertEqual(try lut.classify(img), try shift.classify(img), image.path)
        }
    }

    /// --binary-channel-scale: W = mean|w_oc| * sign(w) per output channel, carried as the channel's scale.
    func testBinaryConnectChannelScale() throws {
        let checkpoint = try QCheckpoint.Checkpoint.load(contentsOf: Self.root.appendingPathComponent("binaryconnect/resnet56_bc.th"))
        var options = ConversionOptions()
        options.method.binaryChannelScale = true
        let (float, _) = try StateDictSource(checkpoint: checkpoint).floatModel(arch: nil)
        let prepared = try XCTUnwrap(try BinaryConnectRecipe().apply(float, checkpoint: checkpoint, options: options).first)
        let latent = checkpoint.tensor("layer2.3.conv1.weight")!
        let w = try XCTUnwrap(prepared.model.pytorchWeights(of: "layer2.3.conv1")).values
        let layer = try XCTUnwrap(prepared.codes["layer2.3.conv1"])
        let rows = latent.shape[0], per = latent.elementCount / rows, x = latent.floatValues()
        for r in 0..<rows {
            let alpha = x[r * per ..< (r + 1) * per].reduce(Float(0)) { $0 + abs($1) } / Float(per)
            XCTAssertEqual(layer.channelScales?[r], alpha)
            for j in 0..<per { XCTAssertEqual(w[r * per + j], alpha * (x[r * per + j] > 0 ? 1 : x[r * per + j] < 0 ? -1 : 0)) }
        }
        XCTAssertNil(prepared.codes["conv1"], "the first conv stays float")
        // converted, it runs and its decoded weights are the scaled ones (logits differ from the unscaled model)
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var conv = ConversionOptions()
        conv.recipe = "binaryconnect"
        conv.method.binaryChannelScale = true
        _ = try Converter.convert(checkpoint: checkpoint.url, to: dir.appendingPathComponent("s.lbm"), options: conv)
        conv.method.binaryChannelScale = false
        _ = try Converter.convert(checkpoint: checkpoint.url, to: dir.appendingPathComponent("u.lbm"), options: conv)
        let input = [Float](repeating: 0.25, count: 32 * 32 * 3)
        XCTAssertNotEqual(Session(model: try Model(contentsOf: dir.appendingPathComponent("s.lbm"))).run(input),
                          Session(model: try Model(contentsOf: dir.appendingPathComponent("u.lbm"))).run(input))
    }

    func testRecipeFlagValidation() throws {
        var options = ConversionOptions()
        options.recipe = "nonsense"
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try Converter.convert(checkpoint: Self.root.appendingPathComponent("dgms/vggsmall.pth"),
                                                   to: dir.appendingPathComponent("x.lbm"), options: options)) {
            XCTAssertTrue("\($0)".contains("unknown recipe 'nonsense'"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("x.lbm").path))
    }

    /// DGMS assignment rules on hand-made cases: nearest weighted component wins; a weight that underflows
    /// every component goes to index 0 (weight 0); ties go to the first index.
    func testDGMSAssignmentRules() {
        let mu: [Float] = [-0.5, 0.5], pi: [Float] = [1, 1], sigma: [Float] = [0.05, 0.05]
        let (codes, underflow) = DGMSRecipe.assign([0.49, -0.51, 0.001, 1000, 0], mu: mu, piK: pi, piZero: 1,
                                                   sigmaZero: 0.05, sigma: sigma, temperature: 0.01)
        XCTAssertEqual(codes, [2, 1, 0, 0, 0])
        XCTAssertEqual(underflow, 1)
    }
}
