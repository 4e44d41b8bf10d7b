import _QTestSupport
import XCTest

/// The executables' contracts: exit codes and messages for bad input and bad flags.
final class CLITests: XCTestCase {
    private var tmp: URL!

    override func setUpWithError() throws { tmp = try TestPaths.makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    private func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = tmp.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    func testBadFlagsExitNonZeroWithUsage() throws {
        for (tool, args) in [("qinfer", ["--top", "0"]), ("qinfer", ["--threads", "-1"]), ("qbench", ["--runs", "0"]),
                             ("qconvert", ["x.pt", "--bits", "5"]), ("qconvert", ["x.pt", "--clip", "bogus"]),
                             ("qconvert", ["x.pt", "--scheme", "shift", "--bits", "8"]),
                             ("qconvert", ["x.pt", "--activation-ranges", "static"]), ("qconvert", ["x.pt", "--range-sigmas", "0"]),
                             ("qconvert", ["x.pt", "--activation-ranges", "data-free", "--calibrate", "imgs"]),
                             ("qconvert", ["x.pt", "--float-fallback=-1"]), ("qconvert", ["x.pt", "--float-fallback", "nan"]),
                             ("qinfer", ["--kernel", "bogus"]), ("qbench", ["--kernel", "fast"]),
                             ("qbench", ["--depthwise", "sideways"])] {
            let r = try ProcessRunner.runProduct(tool, args)
            XCTAssertNotEqual(r.status, 0, "\(tool) \(args)")
            XCTAssertTrue(r.stderr.contains("Error") || r.stderr.contains("error"), "\(tool) \(args): \(r.stderr)")
        }
    }

    func testHostileModelFilesGetClearErrors() throws {
        let cases: [(String, [UInt8])] = [
            ("empty.lbm", []),
            ("short.lbm", [1, 2, 3]),
            ("huge-header.lbm", [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f] + Array(repeating: 0x20, count: 64)),
            ("text.lbm", Array("this is not a model".utf8)),
        ]
        for (name, bytes) in cases {
            let path = try write(name, bytes)
            for tool in ["qinfer", "qbench"] {
                let r = try ProcessRunner.runProduct(tool, tool == "qinfer" ? ["--model", path, path] : ["--model", path])
                XCTAssertEqual(r.status, 1, "\(tool) \(name): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("\(tool): error:") && r.stderr.contains(name), "\(tool) \(name): \(r.stderr)")
            }
        }
        let missing = try ProcessRunner.runProduct("qinfer", ["--model", tmp.appendingPathComponent("nope.lbm").path])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("nope.lbm"), missing.stderr)
    }

    /// --kernel shift on a model without shift-coded layers (the bundled uniform one) is refused clearly.
    func testShiftKernelWithoutShiftLayersIsRefused() throws {
        for tool in ["qinfer", "qbench"] {
            let r = try ProcessRunner.runProduct(tool, ["--kernel", "shift"])
            XCTAssertEqual(r.status, 1, "\(tool): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("no shift-coded layers"), "\(tool): \(r.stderr)")
        }
    }

    func testQinferWithNoArgumentsClassifiesABundledSample() throws {
        let r = try ProcessRunner.runProduct("qinfer", [])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("0000-ankle-boot.pgm") && r.stdout.contains("Ankle boot"), r.stdout)
    }

    func testQinferJSONAndEvaluationOnBundledSamples() throws {
        let samples = TestPaths.repositoryRoot.appendingPathComponent("models/fashion-mnist/samples")
        let r = try ProcessRunner.runProduct("qinfer", [samples.appendingPathComponent("labels.csv").path, "--json", "--top", "3"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 11)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual((first["top"] as! [[String: Any]]).count, 3)
        XCTAssertEqual((first["logits"] as! [Double]).count, 10)
        XCTAssertNotNil(first["ms"] as? Double)
        XCTAssertTrue((first["image"] as! String).hasSuffix(".pgm"))
        let summary = try JSONSerialization.jsonObject(with: Data(lines[10].utf8)) as! [String: Any]
        XCTAssertGreaterThanOrEqual(summary["top1"] as! Double, 80)   // 4-bit model on its 10 samples
    }

    func testBundledFourBitModelAgreesWithPyTorchOnSamples() throws {
        let dir = TestPaths.repositoryRoot.appendingPathComponent("models/fashion-mnist")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("reference_logits.json"))) as! [String: Any]
        let reference = json["images"] as! [[String: Any]]
        let r = try ProcessRunner.runProduct("qinfer", reference.map { dir.appendingPathComponent($0["path"] as! String).path } + ["--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(reference.count, 10)
        for (line, ref) in zip(r.stdout.split(separator: "\n"), reference) {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let logits = ref["logits"] as! [Double]
            let top = (object["top"] as! [[String: Any]])[0]["index"] as! Int
            XCTAssertEqual(top, logits.firstIndex(of: logits.max()!), "\(ref["path"]!)")
        }
    }

    func testHostileImagesGetClearErrors() throws {
        let cases: [(String, [UInt8], String)] = [
            ("trunc.pgm", Array("P5\n28 28\n255\n".utf8) + [1, 2, 3], "truncated"),
            ("big.pgm", Array("P5\n28 28\n70000\n".utf8), "maxval"),
            ("jpeg.ppm", [0xFF, 0xD8, 0xFF, 0xE0, 0, 0], "JPEG"),
            ("rgb.ppm", Array("P6\n28 28\n255\n".utf8) + [UInt8](repeating: 9, count: 28 * 28 * 3), "channel"),
        ]
        for (name, bytes, needle) in cases {
            let r = try ProcessRunner.runProduct("qinfer", [try write(name, bytes)])
            XCTAssertEqual(r.status, 1, name)
            XCTAssertTrue(r.stderr.contains(name) && r.stderr.contains(needle), "\(name): \(r.stderr)")
        }
    }

    /// qconvert names the detected training method and why, and rejects bad method flags.
    func testQconvertReportsTheDetectedMethod() throws {
        let seeds = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds")
        let out = tmp.appendingPathComponent("dgms.lbm").path
        let r = try ProcessRunner.runProduct("qconvert", [seeds.appendingPathComponent("dgms/vggsmall.pth").path, "-o", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("recipe:        dgms — 5 layers have <layer>.sub_distribution"), r.stdout)
        XCTAssertTrue(r.stdout.contains("architecture:  vgg-small"), r.stdout)
        for args in [["--recipe", "bogus"], ["--activations", "int4"], ["--fixed-point", "4"], ["--prune-rate", "1.5"],
                     ["--deepshift-mode", "x"]] {
            let bad = try ProcessRunner.runProduct("qconvert", [seeds.appendingPathComponent("dgms/vggsmall.pth").path, "-o", out] + args)
            XCTAssertNotEqual(bad.status, 0, "\(args)")
            XCTAssertTrue(bad.stderr.contains("Error") || bad.stderr.contains("error"), "\(args): \(bad.stderr)")
        }
    }
}
