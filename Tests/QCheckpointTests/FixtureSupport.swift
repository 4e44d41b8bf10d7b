// Shared helpers for QCheckpoint tests: fixture locations, expected-value JSON, hex decoding.
import Foundation
import QCheckpoint
import XCTest
import _QTestSupport

enum Fixtures {
    /// Tests/QCheckpointTests/Fixtures in the checkout (the same files the bundle copies).
    static let folder = TestPaths.repositoryRoot.appendingPathComponent("Tests/QCheckpointTests/Fixtures")

    static func url(_ name: String) -> URL { folder.appendingPathComponent(name) }

    static func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: url(name))) }

    /// A JSON fixture as a dictionary.
    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: url(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}

/// Bytes from lowercase hex.
func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(hex.utf8.count / 2)
    var iterator = hex.utf8.makeIterator()
    func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
    while let hi = iterator.next(), let lo = iterator.next() { out.append(nibble(hi) << 4 | nibble(lo)) }
    return out
}

/// Checks a tensor against a record written by make_checkpoint_fixtures.py (dtype, shape, exact bytes).
func assertTensor(_ tensor: CheckpointTensor?, matches record: Any?, _ label: String,
                  file: StaticString = #filePath, line: UInt = #line) {
    guard let tensor else { return XCTFail("\(label): missing tensor", file: file, line: line) }
    guard let rec = record as? [String: Any], let dtype = rec["dtype"] as? String, let shape = rec["shape"] as? [Int],
          let hex = rec["hex"] as? String else { return XCTFail("\(label): bad record", file: file, line: line) }
    XCTAssertEqual(tensor.dtype.rawValue, dtype, "\(label) dtype", file: file, line: line)
    XCTAssertEqual(tensor.shape, shape, "\(label) shape", file: file, line: line)
    XCTAssertEqual(tensor.bytes, hexBytes(hex), "\(label) bytes", file: file, line: line)
    if let values = rec["values"] as? [NSNumber], values.count == tensor.elementCount {
        if tensor.dtype.isFloatingPoint {
            let floats = tensor.floatValues()
            for (i, v) in values.enumerated() where floats[i] != v.floatValue && !(floats[i].isNaN && v.floatValue.isNaN) {
                return XCTFail("\(label)[\(i)]: \(floats[i]) != \(v)", file: file, line: line)
            }
        } else {
            XCTAssertEqual(tensor.int64Values(), values.map(\.int64Value), "\(label) values", file: file, line: line)
        }
    }
}
