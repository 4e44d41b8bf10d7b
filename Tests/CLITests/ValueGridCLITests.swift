// qconvert on a checkpoint already on a value grid (Tests/Fixtures/seeds/valuegrid): the table's note
// column and --json say which layers were kept and how.
import Foundation
import _QTestSupport
import XCTest

final class ValueGridCLITests: XCTestCase {
    private let checkpoint = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/valuegrid/resnet20_w3.pth").path

    func testTableAndJSONReportKeptLayers() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("w3.lbm").path
        let table = try ProcessRunner.runProduct("qconvert", [checkpoint, "-o", out])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains("kept: uniform 3-bit per channel (--bits 4 not applied)"), table.stdout)
        XCTAssertTrue(table.stdout.contains("precision:     already quantized: 18 layers coded (codebook3), 2 float layers f32"), table.stdout)

        let json = try ProcessRunner.runProduct("qconvert", [checkpoint, "-o", out, "--json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let layers = try XCTUnwrap(report["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.filter { ($0["note"] as? String)?.hasPrefix("kept: uniform 3-bit per channel") == true }.count, 18)
        XCTAssertEqual(layers.first?["note"] as? String,
                       "f32: float layer of an already-quantized network (--first-last-bits 8 not applied)")

        // ternary per channel: the int8 table is the folded weights exactly, an infinite SQNR ("Infinity")
        let ternary = try ProcessRunner.runProduct("qconvert", [checkpoint.replacingOccurrences(of: "resnet20_w3", with: "resnet20_ternary"),
                                                                "-o", out, "--json"])
        XCTAssertEqual(ternary.status, 0, ternary.stderr)
        let exact = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(ternary.stdout.utf8)) as? [String: Any])["layers"] as? [[String: Any]]
        XCTAssertTrue(exact?.contains { $0["sqnrDB"] as? String == "Infinity" } == true, ternary.stdout)
    }
}
