// qconvert on a quantized ONNX file (QDQ): the layer table says each layer kept the file's codes, and qinfer
// on the result gives onnxruntime's logits (docs/ONNX.md "Quantized ONNX (QDQ)").
import Foundation
import _QTestSupport
import XCTest

final class ONNXQuantizedCLITests: XCTestCase {
    private static let onnx = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/onnx")

    func testKeptCodesReportedAndQinferAgreesWithONNXRuntime() throws {
        let tmp = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let model = tmp.appendingPathComponent("int4net.lbm").path
        let convert = try ProcessRunner.runProduct("qconvert", [Self.onnx.appendingPathComponent("int4net.onnx").path, "-o", model])
        XCTAssertEqual(convert.status, 0, convert.stderr)
        for line in ["kept: file's INT4 codes per channel, not re-quantized", "kept: file's UINT4 codes per tensor, zero point 8, not re-quantized",
                     "kept: file's INT8 codes per channel, not re-quantized",
                     "a: u8 static (6 scales and zero points from the file's QuantizeLinear)"] {
            XCTAssertTrue(convert.stdout.contains(line), "'\(line)' missing from\n\(convert.stdout)")
        }
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.onnx.appendingPathComponent("int4net.json"))) as! [String: Any]
        for image in fixture["images"] as! [[String: Any]] {
            let path = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/\(image["path"] as! String)").path
            let r = try ProcessRunner.runProduct("qinfer", [path, "--model", model, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let got = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any])["logits"] as! [Double]
            let want = image["logits"] as! [Double]
            let worst = zip(got, want).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 2e-2 * want.map(abs).max()!, "\(path): \(got) vs \(want)")
            XCTAssertEqual(got.firstIndex(of: got.max()!), want.firstIndex(of: want.max()!), "\(path): \(got) vs \(want)")
        }
    }
}
