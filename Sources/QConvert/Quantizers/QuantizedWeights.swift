// The result of quantizing one layer's weight rows, independent of how it was obtained.
import QGraph

/// One layer's quantized weights: unsigned codes per weight, the code -> int8 value table, and the real
/// value of one int8 step per output channel: w ~= scale[oc] * value(code).
struct QuantizedWeights {
    var scheme: WeightScheme
    var bits: Int
    var rows: Int
    var k: Int
    /// Codes, row-major [rows][k]. For 8 bits the code byte is the int8 value's bit pattern.
    var codes: [UInt8]
    /// Code -> int8 value for bits < 8 (2^bits entries).
    var lut: [Int]?
    var scales: [Float]
    /// Exact value of each code in units of `scales` (before int8 rounding), when it differs from lut.
    var levels: [Float]?

    /// The int8 value of a code.
    @inline(__always) func value(_ code: UInt8) -> Int {
        bits == 8 ? Int(Int8(bitPattern: code)) : lut![Int(code)]
    }

    /// The weights the runtime will effectively use, [rows][k].
    func dequantized() -> [Float] {
        var out = [Float](repeating: 0, count: rows * k)
        let table: [Float] = (0..<(bits == 8 ? 256 : 1 << bits)).map { Float(value(UInt8($0))) }
        for r in 0..<rows {
            let s = scales[r]
            for j in 0..<k { out[r * k + j] = s * table[Int(codes[r * k + j])] }
        }
        return out
    }
}

/// Signal-to-quantization-noise ratio in dB (infinite when exact).
func sqnr(_ reference: [Float], _ approximation: [Float]) -> Double {
    var signal = 0.0, noise = 0.0
    for (a, b) in zip(reference, approximation) {
        signal += Double(a) * Double(a)
        noise += Double(a - b) * Double(a - b)
    }
    if noise == 0 { return .infinity }
    return 10 * log10(signal / noise)
}

private func log10(_ x: Double) -> Double { log(x) / 2.302585092994046 }
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
