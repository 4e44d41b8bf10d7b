// qconvert + qinfer --bits on the Any-Precision fixture: one file, the width picked on the command line.
import _QTestSupport
import XCTest

final class AnyPrecisionCLITests: XCTestCase {
    private var tmp: URL!

    override func setUpWithError() throws { tmp = try TestPaths.makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    func testQinferBitsSelectsTheWidthAndRefusesOthers() throws {
        let converted = try ConvertedAnyPrecisionFixture("resnet20q", in: tmp)
        let (convert, model) = (converted.convert, converted.model)
        XCTAssertEqual(convert.status, 0, convert.stderr)
        XCTAssertTrue(convert.stdout.contains("any-precision"), convert.stdout)

        let (path, image) = converted.firstImage
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
