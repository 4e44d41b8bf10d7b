// Replays the fuzz seeds and every kept fuzz crasher (Fuzz/corpus/{checkpoint,safetensors},
// Fuzz/crashers/{checkpoint,safetensors}) through Checkpoint.load in the normal suite: each input must
// load or fail with a CheckpointError, never trap. toolchain/fuzz.sh copies new crashers there.
import Foundation
@testable import QCheckpoint
import _QTestSupport
import XCTest

final class FuzzRegressionTests: XCTestCase {
    private func inputs(_ folders: [String]) throws -> [URL] {
        let root = TestPaths.repositoryRoot.appendingPathComponent("Fuzz")
        return folders.flatMap { folder -> [URL] in
            let dir = root.appendingPathComponent(folder)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            return names.sorted().map { dir.appendingPathComponent($0) }
        }
    }

    func testFuzzSeedsAndCrashersLoadOrFailCleanly() throws {
        let files = try inputs(["corpus/checkpoint", "corpus/safetensors", "crashers/checkpoint", "crashers/safetensors"])
        XCTAssertGreaterThanOrEqual(files.count, 2, "the committed seeds are missing")
        var loaded = 0
        for url in files {
            let bytes = try [UInt8](Data(contentsOf: url))
            do {
                _ = try Checkpoint.load(bytes: bytes, url: url).inspectionReport()
                loaded += 1
            } catch let error as CheckpointError {
                XCTAssertFalse(error.message.isEmpty, url.lastPathComponent)
            }
            _ = try? PickleValue(unpickling: bytes, name: url.lastPathComponent)
        }
        XCTAssertGreaterThan(loaded, 0, "the seeds include valid checkpoints")
    }
}
