// qconvert on ONNX files: a converted fixture classifies like onnxruntime through qinfer, a file named
// without `.onnx` is recognised by its bytes, and a damaged file exits 1 with the reason and no output.
import Foundation
import _QTestSupport
import XCTest

final class ONNXCLITests: XCTestCase {
    private static let onnx = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/onnx")
    private var tmp: URL!

    override func setUpWithError() throws { tmp = try TestPaths.makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func testConvertsAnONNXFileAndQinferAgreesWithONNXRuntime() throws {
        // named .bin: recognised as ONNX by its first bytes
        let input = tmp.appendingPathComponent("smallnet.bin")
        try FileManager.default.copyItem(at: Self.onnx.appendingPathComponent("smallnet.onnx"), to: input)
        let model = tmp.appendingPathComponent("smallnet.lbm").path
        let convert = try ProcessRunner.runProduct("qconvert", [input.path, "--bits", "8", "-o", model])
        XCTAssertEqual(convert.status, 0, convert.stderr)
        XCTAssertTrue(convert.stdout.contains("architecture:  onnx — ONNX model, opset 13 from pytorch"), convert.stdout)
        XCTAssertTrue(convert.stdout.contains("(onnx, weights in initializers)"), convert.stdout)
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.onnx.appendingPathComponent("smallnet.json"))) as! [String: Any]
        for image in fixture["images"] as! [[String: Any]] {
            let path = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/\(image["path"] as! String)").path
            let r = try ProcessRunner.runProduct("qinfer", [path, "--model", model, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let got = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any])["logits"] as! [Double]
            let want = image["logits"] as! [Double]
            XCTAssertEqual(got.firstIndex(of: got.max()!), want.firstIndex(of: want.max()!), "\(path): \(got) vs \(want)")
        }
    }

    func testDamagedONNXFileExitsWithTheReason() throws {
        let bytes = try Data(contentsOf: Self.onnx.appendingPathComponent("smallnet.onnx"))
        let cut = tmp.appendingPathComponent("cut.onnx")
        try bytes.prefix(bytes.count / 2).write(to: cut)
        let out = tmp.appendingPathComponent("cut.lbm")
        let r = try ProcessRunner.runProduct("qconvert", [cut.path, "-o", out.path])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("qconvert: error: \(cut.path): not a complete ONNX model"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }
}
