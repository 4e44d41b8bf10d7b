// The readable zero tail behind a model's bytes (MappedRegion.swift): kernels may read QK_EXTRA_BYTES past
// the weights they use, and the last tensor can end the file exactly on a page boundary.
import Foundation
@testable import QFormat
import _QTestSupport
import XCTest

final class MappedRegionTests: XCTestCase {
    /// A file of exactly two pages: the 64 bytes after it read as zeros, mapped or copied (without the
    /// reserved zero page this read faults).
    func testTailPastAPageAlignedFileReadsZeros() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let url = dir.appendingPathComponent("pages.bin")
        try Data(repeating: 0xA5, count: 2 * page).write(to: url)
        let mapped = try MappedRegion(contentsOf: url)
        XCTAssertTrue(mapped.isMapped)
        XCTAssertEqual(mapped.bytes.count, 2 * page)
        let copy = MappedRegion(copying: mapped.bytes)
        for region in [mapped, copy] {
            let base = region.bytes.baseAddress!
            XCTAssertEqual(base.load(fromByteOffset: 2 * page - 1, as: UInt8.self), 0xA5)
            let tail = (0..<MappedRegion.readableTail).map { base.load(fromByteOffset: 2 * page + $0, as: UInt8.self) }
            XCTAssertEqual(tail, [UInt8](repeating: 0, count: MappedRegion.readableTail))
        }
    }
}
