// Models that ask for absurd memory are refused with a clear message before anything that size is
// allocated: values beyond the validator's caps (10^9 channels), and arenas beyond ModelLimits.
import Foundation
import QFormat
import QGraph
@testable import QRuntime
import _QTestSupport
import XCTest

final class ResourceLimitTests: XCTestCase {
    private var tmp: URL!
    override func setUpWithError() throws { tmp = try TestPaths.makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// A weightless model file: f32 input [H, W, C] -> global average pool -> flatten.
    private func poolModel(_ shape: [Int], name: String) throws -> URL {
        var graph = Graph(input: Value(name: "x", shape: shape))
        try graph.append("pool", .globalAvgPool, inputs: ["x"])
        try graph.append("logits", .flatten, inputs: ["pool"])
        let info = ModelInfo(name: name, arch: "test", recipe: "none", precision: "f32", labels: [],
                             preprocessing: Preprocessing(inputSize: [shape[0], shape[1]], channels: shape[2],
                                                          mean: Array(repeating: 0, count: shape[2]),
                                                          std: Array(repeating: 1, count: shape[2])))
        let url = tmp.appendingPathComponent("\(name).lbm")
        try ModelArchive.write(graph: graph, info: info, tensors: TensorStore(), to: url)
        return url
    }

    /// Writes a model file whose graph JSON is edited after encoding (to get past the writer's checks).
    private func editedModel(_ name: String, _ edit: (String) -> String) throws -> URL {
        let good = try poolModel([4, 4, 3], name: name + "-base")
        let file = try LBMFile(contentsOf: good)
        var metadata = file.metadata.filter { !LBMFormat.reservedKeys.contains($0.key) }
        metadata[ModelArchive.graphKey] = edit(metadata[ModelArchive.graphKey]!)
        var writer = LBMWriter()
        writer.metadata = metadata
        let url = tmp.appendingPathComponent("\(name).lbm")
        try writer.write(to: url)
        return url
    }

    func testArenaBeyondTheLimitIsRefusedBeforeAllocating() throws {
        // 2^28 f32 input values: 1 GiB of activations, within the validator's per-value cap.
        let url = try poolModel([16384, 16384, 1], name: "huge-input")
        XCTAssertThrowsError(try Model(contentsOf: url, limits: ModelLimits())) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("activation memory per session"), text)
            XCTAssertTrue(text.contains(ModelLimits.arenaEnvironmentVariable), text)
            XCTAssertTrue(text.contains("huge-input.lbm"), text)
        }
        // The same model with the limit raised plans (no session, so nothing that size is allocated).
        let model = try Model(contentsOf: url, limits: ModelLimits(maxArenaBytes: 1 << 33))
        XCTAssertGreaterThanOrEqual(model.arenaBytes, 1 << 30)
    }

    func testConfigurableLimitAppliesToARealModel() throws {
        let url = try DefaultModel.modelURL()
        let arena = try Model(contentsOf: url).arenaBytes
        XCTAssertGreaterThan(arena, 0)
        XCTAssertNoThrow(try Model(contentsOf: url, limits: ModelLimits(maxArenaBytes: arena)))
        XCTAssertThrowsError(try Model(contentsOf: url, limits: ModelLimits(maxArenaBytes: arena - 1)))
        XCTAssertEqual(ModelLimits().maxArenaBytes, ModelLimits.defaultMaxArenaBytes)
    }

    /// The environment variable reaches the executables: a 1000-byte limit refuses the bundled model.
    func testEnvironmentVariableLimitsTheExecutables() throws {
        var environment = ProcessInfo.processInfo.environment
        environment[ModelLimits.arenaEnvironmentVariable] = "1000"
        let r = try ProcessRunner.runProduct("qinfer", [], environment: environment)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("qinfer: error:") && r.stderr.contains("limit of 1000"), r.stderr)
        environment[ModelLimits.arenaEnvironmentVariable] = "not a number"
        XCTAssertEqual(try ProcessRunner.runProduct("qinfer", [], environment: environment).status, 0)
    }

    func testAbsurdShapesAreRefusedByValidation() throws {
        let cases: [(String, String, String)] = [
            ("billion-channels", #"[4,4,3]"#, #"[4,4,1000000000]"#),
            ("overflowing", #"[4,4,3]"#, #"[4611686018427387904,4,4]"#),
            ("too-many-elements", #"[4,4,3]"#, #"[16777216,16777216,1]"#),
            ("negative", #"[4,4,3]"#, #"[4,-4,3]"#),
        ]
        for (name, from, to) in cases {
            let url = try editedModel(name) { json in
                guard let r = json.range(of: from) else { return json }
                return json.replacingCharacters(in: r, with: to)
            }
            XCTAssertThrowsError(try Model(contentsOf: url), name) { error in
                let text = "\(error)"
                XCTAssertTrue(text.contains("shape") || text.contains("too large"), "\(name): \(text)")
            }
        }
    }
}
