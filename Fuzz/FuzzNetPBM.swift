// Fuzz target `netpbm`: the PPM/PGM decoder (P2, P3, P5, P6).
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNetPBM(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let image = try? ImageReader.decode(bytes, name: "fuzz.ppm") {
        precondition(image.pixels.count == image.width * image.height * image.channels)
        precondition(image.pixels.allSatisfy { $0 >= 0 && $0 <= 1 }, "sample outside [0, 1]")
    }
    return 0
}
