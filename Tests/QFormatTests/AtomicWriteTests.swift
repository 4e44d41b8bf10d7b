// write(to:) is atomic: a failed write leaves no partial file, no temporary, and any old file intact.
import XCTest
@testable import QFormat
import _QTestSupport

final class AtomicWriteTests: XCTestCase {
    private func contents(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    func testDiskFullLeavesOldFileAndNoTemporary() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("model.lbm")
        let old = Array("previous model".utf8)
        try Data(old).write(to: url)
        let writer = try LBMTestFiles.sampleWriter()
        for limit in [0, 1, 100, 300] {
            XCTAssertThrowsError(try writer.write(to: url, simulatingDiskFullAfter: limit)) { error in
                let e = error as? LBMError
                XCTAssertNotNil(e)
                XCTAssertEqual(e?.file, url.path)
                XCTAssertTrue(e?.message.contains("disk is full") ?? false, "\(error)")
            }
            XCTAssertEqual(try [UInt8](Data(contentsOf: url)), old)
            XCTAssertEqual(try contents(dir), ["model.lbm"])
        }
        try writer.write(to: url)
        XCTAssertEqual(try [UInt8](Data(contentsOf: url)), try writer.serialized())
        XCTAssertEqual(try contents(dir), ["model.lbm"])
    }

    func testMissingOrUnusableFolder() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let writer = try LBMTestFiles.sampleWriter()
        XCTAssertThrowsError(try writer.write(to: dir.appendingPathComponent("no/such/dir/m.lbm"))) { error in
            XCTAssertTrue("\(error)".contains("must exist and be writable"), "\(error)")
        }
        // A regular file where the folder should be.
        let notDir = dir.appendingPathComponent("file")
        try Data([1]).write(to: notDir)
        XCTAssertThrowsError(try writer.write(to: notDir.appendingPathComponent("m.lbm")))
        // A folder where the file should be: left as it was.
        let folder = dir.appendingPathComponent("taken.lbm")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        try Data([7]).write(to: folder.appendingPathComponent("inside"))
        XCTAssertThrowsError(try writer.write(to: folder)) { error in
            XCTAssertTrue("\(error)".contains("cannot move the finished file into place"), "\(error)")
        }
        XCTAssertEqual(try contents(folder), ["inside"])
        XCTAssertEqual(try contents(dir), ["file", "taken.lbm"])
    }

    func testReadOnlyFolder() throws {
        guard getuid() != 0 else { throw XCTSkip("running as root: permissions do not stop writes") }
        let dir = try TestPaths.makeTemporaryDirectory()
        defer {
            try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.path)
            try? FileManager.default.removeItem(at: dir)
        }
        let url = dir.appendingPathComponent("model.lbm")
        try Data([1, 2, 3]).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: dir.path)
        XCTAssertThrowsError(try LBMTestFiles.sampleWriter().write(to: url)) { error in
            XCTAssertTrue("\(error)".contains("must exist and be writable"), "\(error)")
        }
        XCTAssertEqual(try [UInt8](Data(contentsOf: url)), [1, 2, 3])
        XCTAssertEqual(try contents(dir), ["model.lbm"])
    }

    func testReadErrorsNameTheFile() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let missing = dir.appendingPathComponent("absent.lbm")
        XCTAssertThrowsError(try LBMFile(contentsOf: missing)) { error in
            XCTAssertEqual((error as? LBMError)?.file, missing.path)
        }
        XCTAssertThrowsError(try LBMFile(contentsOf: dir)) { error in
            XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
        }
        let empty = dir.appendingPathComponent("empty.lbm")
        try Data().write(to: empty)
        XCTAssertThrowsError(try LBMFile(contentsOf: empty)) { error in
            XCTAssertTrue("\(error)".contains("too short"), "\(error)")
        }
    }
}
