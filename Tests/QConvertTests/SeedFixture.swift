// The seed-method fixtures (Tests/Fixtures/seeds, toolchain/seeds/README.md) as the converter tests use
// them: the JSON, conversion with the fixture's input geometry, and the logit comparison with PyTorch.
import Foundation
import QConvert
import QRuntime
import _QTestSupport
import XCTest

/// One fixture's JSON (toolchain/seeds/README.md).
struct SeedFixture: Decodable {
    struct Input: Decodable { var height, width: Int; var mean, std: [Float] }
    struct Image: Decodable {
        var path: String
        /// PyTorch float32 (every fixture).
        var logits: [Double]
        /// The same model in float64 (fixtures whose coarse quantizers float32 rounding can flip).
        var logits_f64: [Double]?
        /// valuegrid/deepshift_*: DeepShift's own forward (round_to_fixed 16.16) of the stored weights.
        var logits_deepshift: [Double]?
    }
    var method, arch, checkpoint: String
    var input: Input
    var images: [Image]

    /// Tests/Fixtures/seeds.
    static let root = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds")
}

extension XCTestCase {
    /// The JSON of fixture `method/name`.
    func fixture(_ method: String, _ name: String) throws -> SeedFixture {
        try JSONDecoder().decode(SeedFixture.self, from: Data(contentsOf: SeedFixture.root.appendingPathComponent("\(method)/\(name).json")))
    }

    /// Converts fixture `method/name` with the fixture's input geometry and `configure`, checks the
    /// recognised recipe and architecture, and returns the model with the fixture.
    func convert(_ method: String, _ name: String, recipe: String, arch: String,
                 configure: (inout ConversionOptions) -> Void = { _ in }) throws -> (Model, SeedFixture) {
        let (model, fixture, _) = try convertWithReport(method, name, recipe: recipe, arch: arch, configure: configure)
        return (model, fixture)
    }

    /// `convert`, also returning the conversion report.
    func convertWithReport(_ method: String, _ name: String, recipe: String, arch: String,
                           configure: (inout ConversionOptions) -> Void = { _ in }) throws -> (Model, SeedFixture, ConversionReport) {
        let fixture = try fixture(method, name)
        var options = ConversionOptions()
        options.inputSize = [fixture.input.height, fixture.input.width]
        options.resize = 0
        options.mean = fixture.input.mean
        options.std = fixture.input.std
        configure(&options)
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("\(name).lbm")
        let report = try Converter.convert(checkpoint: SeedFixture.root.appendingPathComponent("\(method)/\(fixture.checkpoint)"),
                                           to: out, options: options)
        XCTAssertEqual(report.recipe, recipe, "\(method)/\(name): \(report.recipeEvidence)")
        XCTAssertEqual(report.arch, arch, "\(method)/\(name): \(report.archEvidence)")
        return (try Model(contentsOf: out), fixture, report)
    }

    /// Runs every fixture input: logits within `tolerance` x max |logit| of PyTorch's `reference` logits
    /// (float32 unless given; when `tolerance` is given) and the same top-1. Returns the worst
    /// max |got - want| / max |want| over the inputs.
    @discardableResult
    func compare(_ model: Model, _ fixture: SeedFixture, tolerance: Float?, _ label: String,
                 reference: (SeedFixture.Image) -> [Double] = { $0.logits }) throws -> Float {
        let session = Session(model: model)
        var worstRelative: Float = 0
        for image in fixture.images {
            let want = reference(image).map(Float.init)
            let got = try session.classify(try ImageReader.read(contentsOf: SeedFixture.root.appendingPathComponent(image.path)))
            let worst = zip(got, want).map { abs($0 - $1) }.max()!, scale = want.map(abs).max()!
            if let tolerance {
                XCTAssertLessThanOrEqual(worst, tolerance * scale, "\(label) \(image.path): got \(got) want \(want)")
            }
            worstRelative = max(worstRelative, worst / scale)
            XCTAssertEqual(got.firstIndex(of: got.max()!), want.firstIndex(of: want.max()!), "\(label) \(image.path) top-1")
        }
        return worstRelative
    }
}

/// A comparison of float64 logits with a reference: max |got - want| / max |want|, and whether top-1 agrees.
struct RelativeDifference: CustomStringConvertible {
    var relative: Double
    var sameTop1: Bool

    init(_ got: [Double], _ want: [Double]) {
        precondition(got.count == want.count && !want.isEmpty, "\(got.count) logits vs \(want.count)")
        relative = zip(got, want).map { abs($0 - $1) }.max()! / want.map(abs).max()!
        sameTop1 = got.firstIndex(of: got.max()!) == want.firstIndex(of: want.max()!)
    }

    var description: String { String(format: "%.2e%@", relative, sameTop1 ? "" : " (top-1 differs)") }
}
