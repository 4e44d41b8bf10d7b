// Replays the onnx fuzz seeds and every kept crasher (Fuzz/corpus/onnx, Fuzz/crashers/onnx) through the
// reader and the ONNX graph source in the normal suite: each input loads or fails with an error, never
// traps. toolchain/fuzz.sh copies new crashers there.
import Foundation
import QCheckpoint
@testable import QConvert
import QONNX
import _QTestSupport
import XCTest

final class ONNXFuzzRegressionTests: XCTestCase {
    func testFuzzSeedsAndCrashersLoadOrFailCleanly() throws {
        let root = TestPaths.repositoryRoot.appendingPathComponent("Fuzz")
        let files = ["corpus/onnx", "crashers/onnx"].flatMap { folder -> [URL] in
            let dir = root.appendingPathComponent(folder)
            return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted().map { dir.appendingPathComponent($0) }
        }
        XCTAssertGreaterThanOrEqual(files.count, 2, "the committed seeds are missing")
        var converted = 0
        for url in files {
            guard let model = try? ONNXModel.load(bytes: Data(contentsOf: url), name: url.lastPathComponent) else { continue }
            let initializers = Checkpoint(url: url, format: .onnx, wrapper: "initializers", tensors: model.graph.initializers)
            if (try? ONNXSource(model: model, initializers: initializers, inputSize: nil).floatModel(arch: nil)) != nil { converted += 1 }
        }
        XCTAssertGreaterThanOrEqual(converted, 2, "the seeds are models the source converts")
    }
}
