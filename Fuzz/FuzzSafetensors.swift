// Fuzz target `safetensors`: the safetensors header (JSON) and tensor table reader. Each input is read as
// it is, and once more with its 8-byte header length set to end at the input's last '}', so mutations of
// the JSON are not all lost to a length that no longer matches.
import Foundation
import QCheckpoint

private let fuzzURL = URL(fileURLWithPath: "/fuzz/input.safetensors")
private let fuzzLimits = ReadLimits(maxTensorBytes: 1 << 26, maxHeaderBytes: 1 << 20)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let raw = Array(UnsafeBufferPointer(start: data, count: size))
    read(raw)
    guard size > 8, let close = raw[8...].lastIndex(of: UInt8(ascii: "}")) else { return 0 }
    let length = UInt64(close - 8 + 1)
    var framed = raw
    framed.replaceSubrange(0..<8, with: (0..<8).map { UInt8(truncatingIfNeeded: length >> (8 * UInt64($0))) })
    if framed != raw { read(framed) }
    return 0
}

private func read(_ bytes: [UInt8]) {
    if let checkpoint = try? Checkpoint.load(bytes: bytes, url: fuzzURL, limits: fuzzLimits) {
        _ = checkpoint.inspectionReport()
    }
}
