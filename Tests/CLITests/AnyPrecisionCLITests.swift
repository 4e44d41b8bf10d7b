// qconvert + qinfer --bits on the Any-Precision fixture: one file, the width picked on the command line.
import _QTestSupport
import XCTest

final class AnyPrecisionCLITests: XCTestCase {
    private var tmp: URL!
    private let seeds = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds")

    override func setUpWithError() throws { tmp = try TestPaths.makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func testQinferBitsSelectsTheWidthAndRefusesOthers() throws {
        let fixture = try JSONSerialization.jsonObject(with: Data(contentsOf: seeds.appendingPathComponent("anyprec/resnet20q.json"))) as! [String: Any]
        let input = fixture["input"] as! [String: Any]
        let csv = { (key: String) in (input[key] as! [Double]).map { String($0) }.joined(separator: ",") }
        let model = tmp.appendingPathComponent("resnet20q.lbm").path
        let convert = try ProcessRunner.runProduct("qconvert", [seeds.appendingPathComponent("anyprec/resnet20q.pth.tar").path,
                                                               "-o", model, "--mean", csv("mean"), "--std", csv("std")])
        XCTAssertEqual(convert.status, 0, convert.stderr)
        XCTAssertTrue(convert.stdout.contains("any-precision"), convert.stdout)

        let image = (fixture["images"] as! [[String: Any]])[0]
        let path = seeds.appendingPathComponent(image["path"] as! String).path
        let byBits = image["logits_by_bits"] as! [String: [Double]]
        for bits in [1, 4, 32] {
            let r = try ProcessRunner.runProduct("qinfer", [path, "--model", model, "--bits", "\(bits)", "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            XCTAssertEqual(object["bits"] as? Int, bits)
            let got = object["logits"] as! [Double], want = byBits["\(bits)"]!
            let worst = zip(got, want).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 1e-3 * want.map(abs).max()!, "\(bits) bits: \(got) vs \(want)")
        }
        let missing = try ProcessRunner.runProduct("qinfer", [path, "--model", model, "--bits", "3"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("no 3-bit variant") && missing.stderr.contains("1, 2, 4, 8, 32"), missing.stderr)
        let plain = try ProcessRunner.runProduct("qinfer", ["--bits", "4"])
        XCTAssertEqual(plain.status, 1)
        XCTAssertTrue(plain.stderr.contains("no run-time bit widths"), plain.stderr)
    }
}
