// Shared helpers of the QKernels tests: a seeded generator, guarded buffers, reference rounding.
import Foundation
import QKernels
import XCTest
@_exported import _QTestSupport   // SeededGenerator

/// The seed of a test: QK_TEST_SEED from the environment, or the test's fixed default.
func testSeed(_ fallback: UInt64) -> UInt64 {
    if let s = ProcessInfo.processInfo.environment["QK_TEST_SEED"], let v = UInt64(s) { return v }
    return fallback
}

/// A heap buffer of `count` elements of T between guard zones of `guardBytes` bytes. The guard
/// after the payload is at least QK_EXTRA_BYTES, so kernels may read there (memory contract).
/// Everything starts filled with `fill`; `unchangedOutside` checks what a kernel must not write.
final class Guarded<T> {
    static var guardBytes: Int { max(64, Int(QK_EXTRA_BYTES)) }
    let count: Int
    let raw: UnsafeMutableRawPointer
    let fill: UInt8
    var ptr: UnsafeMutablePointer<T> {
        (raw + Guarded.guardBytes).assumingMemoryBound(to: T.self)
    }
    var bytes: Int { count * MemoryLayout<T>.stride }

    init(count: Int, fill: UInt8 = 0xA5) {
        self.count = count
        self.fill = fill
        let total = count * MemoryLayout<T>.stride + 2 * Guarded.guardBytes
        raw = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: fill, count: total)
        _ = (raw + Guarded.guardBytes).bindMemory(to: T.self, capacity: max(count, 1))
    }

    convenience init(_ values: [T], fill: UInt8 = 0xA5) {
        self.init(count: values.count, fill: fill)
        for (i, v) in values.enumerated() { ptr[i] = v }
    }

    deinit { raw.deallocate() }

    subscript(i: Int) -> T { ptr[i] }
    var array: [T] { Array(UnsafeBufferPointer(start: ptr, count: count)) }

    /// True if the guard zones and every element for which `written(i)` is false still hold `fill`.
    func unchangedOutside(_ written: (Int) -> Bool) -> Bool {
        let b = raw.assumingMemoryBound(to: UInt8.self)
        let g = Guarded.guardBytes
        for i in 0..<g where b[i] != fill || b[g + bytes + i] != fill { return false }
        let s = MemoryLayout<T>.stride
        for e in 0..<count where !written(e) {
            for j in 0..<s where b[g + e * s + j] != fill { return false }
        }
        return true
    }
}

/// The reference u8 requantization: clamp(Int(t.rounded(.toNearestOrEven)) + zero, 0, 255).
func refRequant(_ y: Float, _ invScale: Float, _ zero: Int32) -> UInt8 {
    let t = y * invScale
    let q = Int(t.rounded(.toNearestOrEven)) + Int(zero)
    return UInt8(min(max(q, 0), 255))
}

/// Float clamp in the kernels' order: fminf(fmaxf(y, lo), hi).
func refClamp(_ y: Float, _ lo: Float, _ hi: Float) -> Float { min(max(y, lo), hi) }

/// The registries as Swift arrays.
var qgemmMembers: [qk_qgemm_ukernel_desc] {
    (0..<qk_qgemm_ukernel_count).map { qk_qgemm_ukernel_at($0)!.pointee }
}
var fgemmMembers: [qk_fgemm_ukernel_desc] {
    (0..<qk_fgemm_ukernel_count).map { qk_fgemm_ukernel_at($0)!.pointee }
}

var pfgemmMembers: [qk_pfgemm_ukernel_desc] {
    (0..<qk_pfgemm_ukernel_count).map { qk_pfgemm_ukernel_at($0)!.pointee }
}

extension qk_qgemm_ukernel_desc {
    var nameString: String { String(cString: name) }
}
extension qk_pfgemm_ukernel_desc {
    var nameString: String { String(cString: name) }
}
extension qk_fgemm_ukernel_desc {
    var nameString: String { String(cString: name) }
}

/// What dispatch must pick under `ceiling` (qk_isa.h): among `members` in registry order, those this CPU
/// supports whose rank is not above the ceiling's, the first of the highest rank.
func bestMember<T>(_ members: [T], under ceiling: qk_isa, isa: (T) -> qk_isa) -> T? {
    var best: T?
    for m in members where qk_isa_supported(isa(m)) == 1 && qk_isa_rank(isa(m)) <= qk_isa_rank(ceiling) {
        if best == nil || qk_isa_rank(isa(m)) > qk_isa_rank(isa(best!)) { best = m }
    }
    return best
}

/// The integer sums of a direct NHWC convolution (groups 1): out[m * N + n] = sum over in-image taps
/// (ky, kx) and channels c of input[(iy * in_w + ix) * C + c] * weights[n * K + (ky * kernel_w + kx) * C + c]
/// (K = kernel_h * kernel_w * C; taps outside the image add nothing).
func directConvolution(_ g: qk_conv_geom, input: [Int], weights: [Int]) -> [Int] {
    var g = g
    let oh = Int(qk_conv_out_h(&g)), ow = Int(qk_conv_out_w(&g))
    let C = Int(g.in_c), N = Int(g.out_c), kh = Int(g.kernel_h), kw = Int(g.kernel_w), K = kh * kw * C
    var out = [Int](repeating: 0, count: oh * ow * N)
    for oy in 0..<oh {
        for ox in 0..<ow {
            for n in 0..<N {
                var acc = 0
                for ky in 0..<kh {
                    for kx in 0..<kw {
                        let iy = oy * Int(g.stride_h) - Int(g.pad_top) + ky * Int(g.dilation_h)
                        let ix = ox * Int(g.stride_w) - Int(g.pad_left) + kx * Int(g.dilation_w)
                        if iy < 0 || iy >= Int(g.in_h) || ix < 0 || ix >= Int(g.in_w) { continue }
                        for c in 0..<C { acc += input[(iy * Int(g.in_w) + ix) * C + c] * weights[n * K + (ky * kw + kx) * C + c] }
                    }
                }
                out[(oy * ow + ox) * N + n] = acc
            }
        }
    }
    return out
}

/// Tail cases for a tile: 1...tile, tile+1, and two primes beyond.
func tailSizes(tile: Int) -> [Int] {
    Array(Set(Array(1...tile) + [tile + 1, 7, 13])).sorted()
}

/// K cases: below, at and above the 32-code block, primes.
let tailKs: [Int] = [1, 2, 5, 31, 32, 33, 63, 64, 65, 97, 131]

/// Runs body with the team size set to n, then restores the OpenMP default.
func withThreads<R>(_ n: Int32, _ body: () throws -> R) rethrows -> R {
    qk_set_num_threads(n)
    defer { qk_set_num_threads(0) }
    return try body()
}
