// Table-coded weights expanded to int8 at plan time (Int8Expansion.swift) give the table-lookup plan's
// bits: Any-Precision at 1-4 bits (including the bit-serial-eligible widths), a DGMS codebook network and
// a grouped MnasNet (depthwise and grouped layers), one and two threads.
import Foundation
import QConvert
import QGraph
import QKernels
@testable import QRuntime
import _QTestSupport
import XCTest

final class Int8ExpansionTests: XCTestCase {
    private let seeds = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds")

    private func convert(_ checkpoint: String, size: Int, activations: ActivationMode? = nil, dir: URL) throws -> Model {
        var options = ConversionOptions()
        options.inputSize = [size, size]
        options.resize = 0
        if let activations { options.method.activations = activations }
        let out = dir.appendingPathComponent(checkpoint.replacingOccurrences(of: "/", with: "_") + ".lbm")
        _ = try Converter.convert(checkpoint: seeds.appendingPathComponent(checkpoint), to: out, options: options)
        return try Model(contentsOf: out)
    }

    private func run(_ plan: Plan, _ input: [Float], threads: Int) -> [UInt32] {
        let state = ExecutionState(plan: plan)
        return input.withUnsafeBufferPointer {
            Executor.run(plan, state: state, input: $0, threads: threads, observer: nil).map(\.bitPattern)
        }
    }

    private func checkSameBits(_ graph: Graph, _ model: Model, _ what: String, rng: inout SeededGenerator) throws {
        let input = (0..<model.inputElementCount).map { _ in Float.random(in: -2...2, using: &rng) }
        let lut = try Plan(graph: graph, tensors: model.tensors, kernel: .lut)
        let int8 = try Plan(graph: graph, tensors: model.tensors, kernel: .int8)
        // every table-lookup conv of the lut plan runs on the int8 member in the other
        let lutConvs = lut.layerKernels.filter { $0.kernel.hasPrefix("qk_lgemm_") }
        XCTAssertFalse(lutConvs.isEmpty, what)
        let int8Kernels = Dictionary(int8.layerKernels.map { ($0.layer, $0.kernel) }, uniquingKeysWith: { a, _ in a })
        for (layer, _) in lutConvs {
            XCTAssertTrue(int8Kernels[layer]?.hasPrefix("qk_qgemm_w8_") ?? false, "\(what): \(layer) on \(int8Kernels[layer] ?? "-")")
        }
        for threads in [1, 2] {
            XCTAssertEqual(run(int8, input, threads: threads), run(lut, input, threads: threads), "\(what), \(threads) threads")
        }
    }

    func testExpandedPlansGiveTheTableLookupBits() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SeededGenerator(seed: 0x1A8E)
        let anyPrecision = try convert("anyprec/resnet20q.pth.tar", size: 32, dir: dir)
        let widths = try XCTUnwrap(anyPrecision.bitWidthGraphs)
        for bits in widths.bits where bits <= 4 {
            try checkSameBits(widths.graph(bits: bits)!, anyPrecision, "resnet20q \(bits) bits", rng: &rng)
        }
        for (checkpoint, size) in [("dgms/resnet20.pth.tar", 32), ("dgms/mnasnet.pth", 64)] {
            let model = try convert(checkpoint, size: size, activations: .u8, dir: dir)
            try checkSameBits(model.graph, model, checkpoint, rng: &rng)
        }
    }

    /// The expanded weights are the table's values of the codes, group by group, padding rows zero.
    func testExpandWritesTheTableValues() {
        var rng = SeededGenerator(seed: 0xE8)
        for (oc, k, groups, bits) in [(24, 37, 1, 4), (32, 9, 2, 2), (48, 100, 3, 3), (16, 65, 1, 1)] {
            let perGroup = oc / groups
            let codes = (0..<(oc * k)).map { _ in UInt8.random(in: 0...UInt8((1 << bits) - 1), using: &rng) }
            let table = (0..<(1 << bits)).map { _ in Int8.random(in: -128...127, using: &rng) }
            let inBytes = qk_packed_bytes(perGroup, k, Int32(bits)), outBytes = qk_packed_bytes(perGroup, k, 8)
            var packed = [UInt8](repeating: 0, count: groups * inBytes)
            for g in 0..<groups {
                packed.withUnsafeMutableBufferPointer { qk_pack_codes(Array(codes[(g * perGroup * k)..<((g + 1) * perGroup * k)]),
                                                                      perGroup, k, Int32(bits), $0.baseAddress! + g * inBytes) }
            }
            let memory = OwnedMemory()
            let expanded = Int8Expansion.expand(packed, outChannels: oc, reduction: k, groups: groups, bits: bits,
                                                table: table, memory: memory)
            for g in 0..<groups {
                var values = [UInt8](repeating: 0, count: perGroup * k)
                qk_unpack_codes(expanded + g * outBytes, perGroup, k, 8, &values)
                let want = codes[(g * perGroup * k)..<((g + 1) * perGroup * k)].map { UInt8(bitPattern: table[Int($0)]) }
                XCTAssertEqual(values, want, "oc \(oc) k \(k) groups \(groups) bits \(bits), group \(g)")
            }
        }
    }

    /// The timing operands of a grouped conv are packed group by group as the planner packs the layer: the
    /// table-lookup and int8 runs of one synthetic grouped layer write the same bytes (a single packed matrix
    /// read out of bounds and disagreed).
    func testSyntheticGroupedConvRunsBothPathsAlike() throws {
        // output channels per group below a 16-row group too (there one matrix and per-group matrices differ)
        for (groups, perGroup, bits) in [(1, 16, 4), (4, 5, 2), (8, 3, 3), (24, 1, 4)] {
            var g = qk_conv_geom()
            g.in_h = 9; g.in_w = 7; g.in_c = Int32(8 * groups); g.out_c = Int32(perGroup * groups)
            g.kernel_h = 3; g.kernel_w = 3; g.stride_h = 1; g.stride_w = 1
            g.pad_top = 1; g.pad_left = 1; g.pad_bottom = 1; g.pad_right = 1
            g.dilation_h = 1; g.dilation_w = 1; g.groups = Int32(groups)
            let conv = SyntheticConv(g, inputBits: 8, weightBits: bits, workspaceBytes: 0)
            // an epilogue that keeps the sums apart (the timing one clamps to [0, 1])
            (conv.epilogue.clamp_lo, conv.epilogue.clamp_hi, conv.epilogue.out_zero) = (-1e9, 1e9, 128)
            let table = (0..<16).map { Int8(($0 - (1 << bits) / 2) * 9) }
            var lutArgs = conv.qgemmArgs(bits: bits, codes: conv.codes, table: table)
            var int8Args = conv.qgemmArgs(bits: 8, codes: conv.codes.map { UInt8(bitPattern: table[Int($0)]) }, table: nil)
            let lut = try XCTUnwrap(qk_qgemm_select_kind(Int32(bits), qk_isa_active(), QK_KIND_LUT))
            let int8 = try XCTUnwrap(qk_qgemm_select_kind(8, qk_isa_active(), QK_KIND_LUT))
            conv.runQgemm(lut, &lutArgs)
            let byTable = conv.output
            conv.runQgemm(int8, &int8Args)
            XCTAssertEqual(conv.output, byTable, "groups \(groups) x \(perGroup) bits \(bits)")
            XCTAssertGreaterThan(Set(byTable).count, 20, "groups \(groups): a degenerate output proves nothing")
            _ = Int8Expansion.isFaster(bits: bits, geometry: g)   // and the measurement itself runs
        }
    }
}
