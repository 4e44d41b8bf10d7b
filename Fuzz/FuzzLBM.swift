// Fuzz target `lbm`: the .lbm container (preamble, JSON header, tensor table, checksum) and the model
// archive on top of it (graph JSON, model info, weights referenced by the graph). Each input is read as
// it is, and once more with its checksum field recomputed (when it has one), so that mutations reach the
// header, tensor and graph checks behind the checksum.
import Foundation
@testable import QFormat
import QGraph

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLBM(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    decode(bytes)
    if let fixed = withChecksumFixed(bytes), fixed != bytes { decode(fixed) }
    return 0
}

private func decode(_ bytes: [UInt8]) {
    guard let file = try? LBMFile(bytes: bytes, name: "fuzz.lbm") else { return }
    for view in file.tensors { _ = view.bytes.reduce(0, &+) }
    if let loaded = try? ModelArchive.decode(file, name: "fuzz.lbm") {
        _ = loaded.graph.textDump()
    }
}

/// The bytes with the header's xxh64 field set to the hash of the file (placeholder digits in place).
private func withChecksumFixed(_ bytes: [UInt8]) -> [UInt8]? {
    let start = LBMFormat.checksumOffset, end = start + LBMFormat.checksumDigits
    guard bytes.count >= end, bytes[8..<start].elementsEqual(LBMFormat.headerPrefix) else { return nil }
    var file = bytes
    file.replaceSubrange(start..<end, with: LBMFormat.checksumPlaceholder)
    let hex = String(LBMChecksum.hash(file), radix: 16)
    let digits = Array((String(repeating: "0", count: 16 - hex.count) + hex).utf8)
    file.replaceSubrange(start..<end, with: digits)
    return file
}
