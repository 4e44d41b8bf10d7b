// Replays the .lbm fuzz seeds and every kept fuzz crasher (Fuzz/corpus/lbm, Fuzz/crashers/lbm) through
// LBMFile in the normal suite, as they are and with the checksum recomputed (as the fuzz target does):
// each must open or fail with an LBMError, never trap. toolchain/fuzz.sh copies new crashers there.
import Foundation
@testable import QFormat
import _QTestSupport
import XCTest

final class LBMFuzzRegressionTests: XCTestCase {
    func testFuzzSeedsAndCrashersOpenOrFailCleanly() throws {
        let root = TestPaths.repositoryRoot.appendingPathComponent("Fuzz")
        var files: [URL] = []
        for folder in ["corpus/lbm", "crashers/lbm"] {
            let dir = root.appendingPathComponent(folder)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            files += names.sorted().map { dir.appendingPathComponent($0) }
        }
        XCTAssertGreaterThanOrEqual(files.count, 2, "the committed seeds are missing")
        var opened = 0
        for url in files {
            let bytes = try [UInt8](Data(contentsOf: url))
            for variant in [bytes, withChecksumFixed(bytes)].compactMap({ $0 }) {
                do {
                    let file = try LBMFile(bytes: variant, name: url.lastPathComponent)
                    for view in file.tensors { XCTAssertEqual(view.bytes.count, view.elementCount * view.dtype.byteSize) }
                    opened += 1
                } catch let error as LBMError {
                    XCTAssertEqual(error.file, url.lastPathComponent)
                }
            }
        }
        XCTAssertGreaterThan(opened, 0, "the seeds include a valid model file")
    }

    /// The bytes with the header's xxh64 field recomputed, or nil when the checksum field is absent.
    private func withChecksumFixed(_ bytes: [UInt8]) -> [UInt8]? {
        let start = LBMFormat.checksumOffset, end = start + LBMFormat.checksumDigits
        guard bytes.count >= end, bytes[8..<start].elementsEqual(LBMFormat.headerPrefix) else { return nil }
        var file = bytes
        file.replaceSubrange(start..<end, with: LBMFormat.checksumPlaceholder)
        let hex = String(LBMChecksum.hash(file), radix: 16)
        file.replaceSubrange(start..<end, with: Array((String(repeating: "0", count: 16 - hex.count) + hex).utf8))
        return file
    }
}
