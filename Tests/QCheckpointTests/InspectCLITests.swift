// `qconvert --inspect` end to end: the report on a fixture, the error path, and the not-yet-converting form.
import Foundation
import XCTest
import _QTestSupport

final class InspectCLITests: XCTestCase {
    private func qconvert(_ args: [String]) throws -> CommandResult {
        let binary = ProcessRunner.productsDirectory.appendingPathComponent("qconvert")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw XCTSkip("qconvert is not built beside the tests (\(binary.path))")
        }
        return try ProcessRunner.runProduct("qconvert", args, timeout: 60)
    }

    func testInspectPrintsEverything() throws {
        let r = try qconvert(["--inspect", "--time", Fixtures.url("scheduler_legacy.pth").path])
        XCTAssertEqual(r.status, 0, r.stderr)
        for expected in ["format:    legacy", "wrapper:   state_dict (stripped prefix 'network.')", "conv.weight",
                         "float32", "[4, 3, 3, 3]", "epoch: 2", "torch.optim.lr_scheduler.StepLR", "read time:"] {
            XCTAssertTrue(r.stdout.contains(expected), "missing '\(expected)' in:\n\(r.stdout)")
        }
    }

    func testErrorsNameFileAndOffsetAndExitOne() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("truncated.th")
        try Data(try Fixtures.bytes("dataparallel_legacy.th").prefix(1000)).write(to: bad)
        let r = try qconvert(["--inspect", bad.path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains(bad.path) && r.stderr.contains("offset"), r.stderr)
        // Converting a checkpoint of no known architecture explains what was tried, and writes nothing.
        let out = dir.appendingPathComponent("out.lbm")
        let unknown = try qconvert([Fixtures.url("dataparallel_zip.pt").path, "-o", out.path])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("unrecognised network layout") && unknown.stderr.contains("--arch"), unknown.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
    }
}
