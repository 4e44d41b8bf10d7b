// One-time measurements that pick between two exact kernel paths for a conv shape on this CPU (the
// bit-serial path, BitSerialChoice.swift; int8-expanded table weights, Int8Expansion.swift).
import Dispatch
import Foundation
import QGraph
import QKernels

/// Verdicts of "is path A faster than path B for this key", measured once per process and key.
enum MeasuredChoice {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var verdicts: [String: Bool] = [:]

    /// The cached verdict for `key`, or `measure()`'s (run once, under the lock, then cached).
    static func verdict(_ key: String, measure: () -> Bool) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if let known = verdicts[key] { return known }
        let verdict = measure()
        verdicts[key] = verdict
        return verdict
    }

    /// A conv shape and the run's thread count, as a verdict key.
    static func key(_ g: qk_conv_geom, _ path: String) -> String {
        "\(g.in_h)x\(g.in_w)x\(g.in_c)->\(g.out_c) k\(g.kernel_h)x\(g.kernel_w) s\(g.stride_h)x\(g.stride_w) "
            + "p\(g.pad_top),\(g.pad_left),\(g.pad_bottom),\(g.pad_right) d\(g.dilation_h)x\(g.dilation_w) g\(g.groups) "
            + "\(path) t\(qk_get_max_threads())"
    }

    /// Whether `a` runs faster than `b`: after one warm-up of each, the best of five alternating runs
    /// (alternating, so that a change in machine load hits both alike).
    static func isFaster(_ a: () -> Void, than b: () -> Void) -> Bool {
        func time(_ run: () -> Void) -> UInt64 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            run()
            return DispatchTime.now().uptimeNanoseconds - t0
        }
        a(); b()
        var ta = UInt64.max, tb = UInt64.max
        for _ in 0..<5 {
            ta = min(ta, time(a))
            tb = min(tb, time(b))
        }
        return ta < tb
    }
}

/// Random operands for timing one conv shape on the u8 paths: input codes below 2^inputBits, weight
/// codes below 2^weightBits, u8 output through the clamp [0, 1] epilogue, no residual. Owns its memory.
/// Tall layers are cut to a band of about `timedRows` output rows (both paths' cost is linear in the rows,
/// so the verdict holds, and planning a 224x224 network does not spend a fifth of a second timing).
final class SyntheticConv {
    static let timedRows: Int32 = 8

    var geometry: qk_conv_geom
    let outChannels: Int, reduction: Int
    let input: [UInt8]
    let codes: [UInt8]
    private let memory = OwnedMemory()
    var epilogue = qk_epilogue()
    /// im2col / image scratch for either path
    let workspace: UnsafeMutableRawPointer
    /// Bytes of the u8 output the last run wrote (at epilogue.out).
    let outputBytes: Int
    var output: [UInt8] { Array(UnsafeBufferPointer(start: epilogue.out!.assumingMemoryBound(to: UInt8.self), count: outputBytes)) }

    init(_ full: qk_conv_geom, inputBits: Int, weightBits: Int, workspaceBytes: Int) {
        var g = full
        g.in_h = min(g.in_h, Self.timedRows * g.stride_h + g.dilation_h * (g.kernel_h - 1) + 1)
        geometry = g
        outChannels = Int(g.out_c)
        reduction = Int(qk_conv_gemm_k(&geometry))
        let pixels = Int(qk_conv_out_h(&geometry)) * Int(qk_conv_out_w(&geometry))
        var rng = SplitMix(seed: 0x9E37_79B9_7F4A_7C15)
        input = (0..<(Int(g.in_h * g.in_w * g.in_c) + Int(QK_EXTRA_BYTES))).map { _ in
            UInt8.random(in: 0...UInt8((1 << inputBits) - 1), using: &rng)
        }
        codes = (0..<(outChannels * reduction)).map { _ in UInt8.random(in: 0...UInt8((1 << weightBits) - 1), using: &rng) }
        epilogue.scale = memory.floats([Float](repeating: 1e-3, count: outChannels))
        epilogue.bias = memory.floats([Float](repeating: 0, count: outChannels))
        epilogue.clamp_lo = 0
        epilogue.clamp_hi = 1
        epilogue.output_kind = QK_OUTPUT_U8
        outputBytes = pixels * outChannels
        epilogue.out = UnsafeMutableRawPointer(memory.allocate(pixels * outChannels))
        epilogue.ldc = outChannels
        epilogue.out_inv_scale = 1
        epilogue.out_zero = 0
        workspace = memory.allocate(max(workspaceBytes, qk_conv_workspace_bytes(&geometry, 1)) + 64)
    }

    /// qgemm arguments of `codes` (or `values`, as int8 weights when bits is 8) with `table` (1-4 bits),
    /// packed as the planner packs a layer: each conv group's rows their own matrix (qk_pack.h).
    func qgemmArgs(bits: Int, codes: [UInt8], table: [Int8]?) -> qk_qgemm_args {
        let groups = Int(geometry.groups), perGroup = outChannels / groups
        let groupBytes = qk_packed_bytes(perGroup, reduction, Int32(bits))
        let packed = memory.allocate(groups * groupBytes).bindMemory(to: UInt8.self, capacity: groups * groupBytes)
        var args = qk_qgemm_args()
        if let table {
            let lut = memory.allocate(16).bindMemory(to: Int8.self, capacity: 16)
            for (i, v) in table.enumerated() { lut[i] = v }
            args.lut = UnsafePointer(lut)
        }
        let colsum = memory.allocate(outChannels * 4).bindMemory(to: Int32.self, capacity: outChannels)
        for g in 0..<groups {
            let rows = Array(codes[(g * perGroup * reduction)..<((g + 1) * perGroup * reduction)])
            qk_pack_codes(rows, perGroup, reduction, Int32(bits), packed + g * groupBytes)
            qk_weight_colsums(packed + g * groupBytes, perGroup, reduction, Int32(bits), args.lut, colsum + g * perGroup)
        }
        args.K = reduction
        args.w = UnsafePointer(packed)
        args.bits = Int32(bits)
        args.w_group_stride = Int(QK_ROW_GROUP) * WeightDescriptor.packedRowBytes(k: reduction, bits: bits)
        args.colsum = UnsafePointer(colsum)
        args.epi = epilogue
        return args
    }

    /// Runs qgemm member `uk` on these operands.
    func runQgemm(_ uk: UnsafePointer<qk_qgemm_ukernel_desc>, _ args: inout qk_qgemm_args) {
        qk_conv2d_u8(uk, &geometry, input, &args, workspace.assumingMemoryBound(to: UInt8.self))
    }
}

/// SplitMix64: reproducible random numbers without a system call per value (the system generator made
/// planning a 224x224 network take seconds when it drew the timing operands); also the converter's
/// calibration sampling.
package struct SplitMix: RandomNumberGenerator {
    package var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
