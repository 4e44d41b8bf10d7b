// qinfer on a segmentation net with two outputs (the DeepLabV3 fixture, Tests/Fixtures/seeds/onnx):
// --save-outputs writes each output as .npy equal to onnxruntime's to 1e-4 x max |output|, --mask writes a
// paletted PNG whose pixels are onnxruntime's argmax, --json lists the outputs, and bad flag combinations
// exit non-zero with the reason and no files.
import Foundation
import QRuntime
import _QTestSupport
import XCTest

final class SegmentationCLITests: XCTestCase {
    private static let onnx = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/onnx")
    private static let image = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/inputs/3c64x64-7.ppm").path
    private var tmp: URL!

    override func setUpWithError() throws { tmp = try TestPaths.makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    private func convert() throws -> String {
        let model = tmp.appendingPathComponent("deeplabv3.lbm").path
        let r = try ProcessRunner.runProduct("qconvert", [Self.onnx.appendingPathComponent("deeplabv3.onnx").path, "--bits", "32", "-o", model])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("feed outputs 'out', 'aux'"), r.stdout)
        return model
    }

    func testSaveOutputsAndMaskMatchONNXRuntime() throws {
        let model = try convert()
        let folder = tmp.appendingPathComponent("outputs")
        let mask = tmp.appendingPathComponent("mask.png")
        let r = try ProcessRunner.runProduct("qinfer", [Self.image, "--model", model, "--save-outputs", folder.path, "--mask", mask.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual((object["outputs"] as! [[String: Any]]).map { $0["name"] as! String }, ["out", "aux"])
        XCTAssertEqual(object["mask"] as? String, mask.path)
        for name in ["out", "aux"] {
            let got = try NumPyArray.decode(Data(contentsOf: folder.appendingPathComponent("3c64x64-7.\(name).npy")))
            let want = try NumPyArray.decode(Data(contentsOf: Self.onnx.appendingPathComponent("deeplabv3.\(name).npy")))
            XCTAssertEqual(got.shape, [1, 4, 64, 64])
            XCTAssertEqual(got.shape, want.shape)
            let worst = zip(got.values, want.values).map { abs($0 - $1) }.max()! / want.values.map(abs).max()!
            XCTAssertLessThanOrEqual(worst, 1e-4, name)
        }
        // the PNG: colour type 3, and its decoded pixels are the VOC colours of onnxruntime's argmax
        let png = try Data(contentsOf: mask)
        XCTAssertEqual(png[25], 3, "colour type")
        let decoded = try ImageReader.read(contentsOf: mask)
        let want = try NumPyArray.decode(Data(contentsOf: Self.onnx.appendingPathComponent("deeplabv3.out.npy"))).values
        let palette = SegmentationMask.palette(4)
        let maxAbs = want.map(abs).max()!
        var differing = 0
        for p in 0..<(64 * 64) {
            let scores = (0..<4).map { want[$0 * 4096 + p] }
            let k = scores.indices.max { scores[$0] < scores[$1] }!
            let sorted = scores.sorted(by: >)
            let rgb = (0..<3).map { UInt8((decoded.pixels[p * 3 + $0] * 255).rounded()) }
            // pixels where onnxruntime's top two nearly tie (within twice the 1e-4 tolerance) may go either way
            if rgb != Array(palette[(3 * k)..<(3 * k + 3)]) && sorted[0] - sorted[1] > 2e-4 * maxAbs { differing += 1 }
        }
        XCTAssertEqual(differing, 0, "mask pixels differing from onnxruntime's argmax where its top-2 margin is > 2e-4 x max")
    }

    func testSeveralImagesNameMasksAfterEachImage() throws {
        let model = try convert()
        let second = tmp.appendingPathComponent("second.ppm")
        try FileManager.default.copyItem(atPath: Self.image, toPath: second.path)
        let mask = tmp.appendingPathComponent("m.png")
        let r = try ProcessRunner.runProduct("qinfer", [Self.image, second.path, "--model", model, "--mask", mask.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        for stem in ["3c64x64-7", "second"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("m.\(stem).png").path), stem)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: mask.path))
    }

    func testBadFlagsExitWithTheReason() throws {
        let model = try convert()
        let cases: [([String], String)] = [
            (["--mask", tmp.appendingPathComponent("m.jpg").path], "--mask must name a .png file"),
            (["--mask", tmp.appendingPathComponent("m.png").path, "--reference"], "do not combine with --reference"),
            ([Self.image, "--save-outputs", tmp.appendingPathComponent("o").path], "two images share the name '3c64x64-7'"),
        ]
        for (flags, message) in cases {
            let r = try ProcessRunner.runProduct("qinfer", [Self.image, "--model", model] + flags)
            XCTAssertNotEqual(r.status, 0, flags.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains(message), r.stderr)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp.path).sorted(), ["deeplabv3.lbm"])
        // a classifier has no map output to mask
        let classifier = tmp.appendingPathComponent("resnet18.lbm").path
        XCTAssertEqual(try ProcessRunner.runProduct("qconvert", [Self.onnx.appendingPathComponent("resnet18.onnx").path, "--bits", "32", "-o", classifier]).status, 0)
        let r = try ProcessRunner.runProduct("qinfer", [Self.image, "--model", classifier, "--mask", tmp.appendingPathComponent("c.png").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("--mask: the model has no [1, C, H, W] output"), r.stderr)
    }
}
