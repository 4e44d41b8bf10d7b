// Which files `--calibrate DIR` takes: every image qinfer reads (PPM/PGM/PNM, JPEG, PNG, any case, in
// subfolders), sorted by path, spread evenly when fewer are asked for; other files are skipped.
import Foundation
@testable import QConvert
import _QTestSupport
import XCTest

final class CalibrationImagesTests: XCTestCase {
    func testFolderTakesEveryImageFormatQinferReads() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("sub"), withIntermediateDirectories: true)
        let images = ["a.png", "b.JPG", "c.ppm", "d.pgm", "e.pnm", "sub/f.jpeg"]
        for name in images + ["notes.txt", "model.onnx", "sub/labels.json"] {
            try Data([0]).write(to: dir.appendingPathComponent(name))
        }
        let all = try calibrationImages(dir, count: 100)
        XCTAssertEqual(all.map { $0.path.replacingOccurrences(of: dir.path + "/", with: "") }, images)
        XCTAssertEqual(try calibrationImages(dir, count: 3).map(\.lastPathComponent), ["a.png", "c.ppm", "e.pnm"])
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        XCTAssertThrowsError(try calibrationImages(empty, count: 8)) {
            XCTAssertTrue("\($0)".contains("no calibration images found"), "\($0)")
        }
    }
}
