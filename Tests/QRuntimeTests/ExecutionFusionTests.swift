// The plan-time fusions (ExecutionFusion.swift) give the unfused plan's bits: DoReFa on every Any-Precision
// fixture at every width, on the table-lookup and the bit-serial paths; the u8 activation lookups on the
// ONNX mobile networks; one and two threads.
import Foundation
import QConvert
import QGraph
@testable import QRuntime
import _QTestSupport
import XCTest

final class ExecutionFusionTests: XCTestCase {
    private let root = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/anyprec")

    private func convert(_ checkpoint: String, size: Int, dir: URL) throws -> Model {
        var options = ConversionOptions()
        options.inputSize = [size, size]
        options.resize = 0
        let out = dir.appendingPathComponent("\(checkpoint).lbm")
        _ = try Converter.convert(checkpoint: root.appendingPathComponent(checkpoint), to: out, options: options)
        return try Model(contentsOf: out)
    }

    private func run(_ plan: Plan, _ input: [Float], threads: Int) -> [UInt32] {
        let state = ExecutionState(plan: plan)
        return input.withUnsafeBufferPointer {
            Executor.run(plan, state: state, input: $0, threads: threads, observer: nil).map(\.bitPattern)
        }
    }

    func testFusedPlansGiveTheUnfusedBits() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var rng = SeededGenerator(seed: 0xF05E)
        for (checkpoint, size) in [("resnet20q.pth.tar", 32), ("svhnq.pth.tar", 40), ("resnet50q.pth.tar", 64)] {
            let model = try convert(checkpoint, size: size, dir: dir)
            let widths = try XCTUnwrap(model.bitWidthGraphs)
            let input = (0..<model.inputElementCount).map { _ in Float.random(in: -2...2, using: &rng) }
            for bits in widths.bits where bits < 32 {
                let graph = widths.graph(bits: bits)!
                for kernel: KernelChoice in bits <= 2 ? [.lut, .bitSerial] : [.lut] {
                    let what = "\(checkpoint) \(bits) bits, --kernel \(kernel.rawValue)"
                    let fused = try Plan(graph: graph, tensors: model.tensors, kernel: kernel)
                    let unfused = try Plan(graph: graph, tensors: model.tensors, kernel: kernel, fusion: false)
                    // the fusions happened: fewer steps; in resnet20q (pre-activation blocks) every DoReFa
                    // read only by its quantize node is fused, about half of them into a BatchNorm entry step
                    XCTAssertLessThan(fused.steps.count, unfused.steps.count, what)
                    if checkpoint.hasPrefix("resnet20q") {
                        let shared = graph.nodes.filter { $0.op == .doReFa(bits: bits) && graph.consumers(of: $0.output).count > 1 }
                        XCTAssertEqual(fused.steps.filter { if case .doReFa = $0 { return true } else { return false } }.count,
                                       shared.count, what)
                        XCTAssertGreaterThanOrEqual(fused.layerInfo.filter { $0.op == "batchnorm+dorefa\(bits)+quantize" }.count, 6, what)
                    }
                    for threads in [1, 2] {
                        XCTAssertEqual(run(fused, input, threads: threads), run(unfused, input, threads: threads),
                                       "\(what), \(threads) threads")
                    }
                }
            }
        }
    }

    /// The stored graph is the method's; only the plan is fused, and the float64 reference still reads the
    /// DoReFa codes as exact.
    func testFusionLeavesTheStoredGraphAlone() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try convert("resnet20q.pth.tar", size: 32, dir: dir)
        let graph = model.bitWidthGraphs!.graph(bits: 2)!
        let fused = graph.fusingDoReFaIntoEpilogues()
        XCTAssertLessThan(fused.nodes.count, graph.nodes.count)
        XCTAssertNoThrow(try fused.validate(tensors: model.tensors))
        // every value the fused layers write holds 2-bit codes as the quantize nodes' did
        let coded = fused.nodes.filter { node in
            if case .conv2d(let c) = node.op { return c.activation == .hardtanh(min: 0, max: 1) } else { return false }
        }
        XCTAssertFalse(coded.isEmpty)
        for node in coded { XCTAssertEqual(fused.doReFaCodeBits(of: node.output), 2, node.name) }
        XCTAssertTrue(graph.nodes.contains { $0.op == .doReFa(bits: 2) })
    }

    func testInverseScaleOfDoReFaCodesIsTheLevelCount() {
        for bits in 1...8 {
            let n = Float((1 << bits) - 1)
            XCTAssertEqual(inverseScale(1 / n), n, "\(bits) bits")
        }
        XCTAssertEqual(inverseScale(0.0123), 1 / Float(0.0123))
        XCTAssertEqual(inverseScale(4), 0.25)
    }

    /// Fusion 3: dequantize -> SiLU / sigmoid / hardswish / hardsigmoid (-> quantize) as one table lookup, on
    /// the ONNX MobileNetV3 and EfficientNet fixtures calibrated to static u8 activations: the fused plan
    /// gives the unfused plan's bits at 1 and 2 threads, and it did fuse.
    func testLookupChainsGiveTheUnfusedBits() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let seeds = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds")
        var rng = SeededGenerator(seed: 0x100C)
        for name in ["mobilenetv3", "efficientnet"] {
            var options = ConversionOptions()
            options.plain.bits = 8
            options.calibration = seeds.appendingPathComponent("inputs")
            options.calibrationCount = 8
            let out = dir.appendingPathComponent("\(name).lbm")
            _ = try Converter.convert(checkpoint: seeds.appendingPathComponent("onnx/\(name).onnx"), to: out, options: options)
            let model = try Model(contentsOf: out)
            let fused = try Plan(graph: model.graph, tensors: model.tensors)
            let unfused = try Plan(graph: model.graph, tensors: model.tensors, fusion: false)
            let lookups = fused.steps.filter { if case .lookup = $0 { return true } else { return false } }.count
            let floatLookups = fused.steps.filter { if case .lookupFloats = $0 { return true } else { return false } }.count
            XCTAssertGreaterThanOrEqual(lookups, 3, "\(name): \(fused.layerInfo.map(\.op))")
            if name == "efficientnet" {   // squeeze-excite reads the SiLU's floats: code -> float lookups
                XCTAssertGreaterThanOrEqual(floatLookups, 3, "\(name): \(fused.layerInfo.map(\.op))")
            }
            XCTAssertEqual(fused.steps.count, unfused.steps.count - 2 * lookups - floatLookups, name)
            for _ in 0..<2 {
                let input = (0..<model.inputElementCount).map { _ in Float.random(in: -2...2, using: &rng) }
                for threads in [1, 2] {
                    XCTAssertEqual(run(fused, input, threads: threads), run(unfused, input, threads: threads), "\(name), \(threads) threads")
                }
            }
        }
    }

    /// Fusion 4: a dynamically quantized ImageNet-stem ResNet (the families fixture's ResNet-10, 8 bits, no
    /// calibration, `--activation-ranges dynamic`) pools its stem's floats straight into codes: the fused plan
    /// gives the unfused plan's bits at 1 and 2 threads, and it did fuse.
    func testQuantizedMaxPoolGivesTheUnfusedBits() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let families = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/families")
        var options = ConversionOptions()
        options.plain.bits = 8
        options.uncalibratedRanges = .dynamic
        options.inputSize = [64, 64]
        let out = dir.appendingPathComponent("resnet10.lbm")
        _ = try Converter.convert(checkpoint: families.appendingPathComponent("resnet10.pth"), to: out, options: options)
        let model = try Model(contentsOf: out)
        let fused = try Plan(graph: model.graph, tensors: model.tensors)
        let unfused = try Plan(graph: model.graph, tensors: model.tensors, fusion: false)
        XCTAssertEqual(fused.layerInfo.filter { $0.op == "quantize+maxpool" }.count, 1, "\(fused.layerInfo.map(\.op))")
        XCTAssertEqual(fused.steps.count, unfused.steps.count - 1)
        var rng = SeededGenerator(seed: 0x9002)
        for _ in 0..<2 {
            let input = (0..<model.inputElementCount).map { _ in Float.random(in: -2...2, using: &rng) }
            for threads in [1, 2] {
                XCTAssertEqual(run(fused, input, threads: threads), run(unfused, input, threads: threads), "\(threads) threads")
            }
        }
    }
}
