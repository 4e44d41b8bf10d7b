// Fuzz target `checkpoint`: the restricted unpickler behind PyTorch zip and legacy torch.save files
// (Checkpoint.load detects the container from the bytes) and the plain pickle reader.
// Any thrown error is a correct outcome; a crash, hang, leak or sanitizer report is a bug.
import Foundation
import QCheckpoint

private let fuzzURL = URL(fileURLWithPath: "/fuzz/input.pt")
private let fuzzLimits = ReadLimits(maxTensorBytes: 1 << 26, maxValueCount: 1_000_000)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let checkpoint = try? Checkpoint.load(bytes: bytes, url: fuzzURL, limits: fuzzLimits) {
        _ = checkpoint.inspectionReport()
    }
    _ = try? PickleValue(unpickling: bytes, name: "fuzz", limits: fuzzLimits)
    return 0
}
