// qinfer --reference: the float64 reference instead of the engine, with --bits and --json; u8 models refused.
import _QTestSupport
import XCTest

final class ReferenceCLITests: XCTestCase {
    private var tmp: URL!

    override func setUpWithError() throws { tmp = try TestPaths.makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// resnet50q converted by qconvert: --reference --json prints the logits of PyTorch in float64 over the
    /// method's float32 weights to double rounding at the chosen width (and at the default width, 8,
    /// without --bits); the text output says what ran.
    func testReferenceLogitsAreFloat64PyTorchs() throws {
        let converted = try ConvertedAnyPrecisionFixture("resnet50q", in: tmp, extra: ["--input-size", "64", "--resize", "0"])
        let model = converted.model
        XCTAssertEqual(converted.convert.status, 0, converted.convert.stderr)

        let (path, image) = converted.firstImage
        let byBits = image["logits_by_bits_f64_w32"] as! [String: [Double]]
        for (arguments, bits) in [(["--bits", "2"], 2), ([], 8)] {
            let r = try ProcessRunner.runProduct("qinfer", [path, "--model", model, "--reference", "--json"] + arguments)
            XCTAssertEqual(r.status, 0, r.stderr)
            let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            XCTAssertEqual(object["reference"] as? Bool, true)
            XCTAssertEqual(object["bits"] as? Int, bits)
            XCTAssertNotNil(object["ms"] as? Double)
            let got = object["logits"] as! [Double], want = byBits["\(bits)"]!
            let worst = zip(got, want).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 1e-12 * want.map(abs).max()!, "\(bits) bits: \(got) vs \(want)")
        }
        let text = try ProcessRunner.runProduct("qinfer", [path, "--model", model, "--reference", "--bits", "1", "--top", "2"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("1 bits, float64 reference"), text.stdout)
        XCTAssertEqual(text.stdout.split(separator: "\n").count, 3, text.stdout)
    }

    /// The bundled model runs on u8 activations: --reference refuses it with the reason and exit status 1,
    /// also when evaluating a labelled set.
    func testReferenceRefusesU8Models() throws {
        let samples = TestPaths.repositoryRoot.appendingPathComponent("models/fashion-mnist/samples/labels.csv").path
        for arguments in [["--reference"], [samples, "--reference", "--json"]] {
            let r = try ProcessRunner.runProduct("qinfer", arguments)
            XCTAssertEqual(r.status, 1, "\(arguments): \(r.stdout)")
            XCTAssertTrue(r.stderr.contains("qinfer: error: the float64 reference runs models with float activations")
                          && r.stderr.contains("--activations u8"), r.stderr)
            XCTAssertEqual(r.stdout, "", "\(arguments)")
        }
    }
}
