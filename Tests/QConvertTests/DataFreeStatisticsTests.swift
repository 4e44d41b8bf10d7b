// Data-free activation statistics (Passes/DataFreeStatistics.swift): ranges and means derived from BatchNorm
// statistics on a small graph against hand-computed values, degenerate statistics, the bias correction
// they drive, and uncalibrated conversions of a BatchNorm family fixture with static ranges.
import Foundation
@testable import QConvert
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class DataFreeStatisticsTests: XCTestCase {
    /// input [2,2,3] -> conv a -> bnA -> relu ─┐
    ///               -> conv b -> bnB ─────────add+relu -> maxpool 2x2 -> global avg pool -> linear
    /// bnA: gamma [2, 1], beta [1, -3], var [3, 1], eps 1 (normal variances 3, 0.5);
    /// bnB: gamma [1, -1], beta [0.5, 2], var `varianceB`, eps 1e-5.
    private func smallModel(varianceB: [Float] = [1, 0], gammaB: [Float] = [1, -1]) throws -> FloatModel {
        var g = Graph(input: Value(name: "input", shape: [2, 2, 3]))
        var t = TensorStore()
        func conv(_ name: String) throws {
            t.set("\(name).weight", StoredTensor(floats: [0.5, -0.25, 1, 0.75, 0.1, -0.6], shape: [2, 3]))
            try g.append(name, .conv2d(Conv2D(inChannels: 3, outChannels: 2, kernel: [1, 1], weight: .float32("\(name).weight"))),
                         inputs: ["input"])
        }
        func batchNorm(_ name: String, _ input: String, gamma: [Float], beta: [Float], variance: [Float], eps: Float) throws {
            for (suffix, values) in [("gamma", gamma), ("beta", beta), ("mean", [0.3, 0.1]), ("var", variance)] {
                t.set("\(name).\(suffix)", StoredTensor(floats: values, shape: [2]))
            }
            try g.append(name, .batchNorm(BatchNorm(channels: 2, gamma: "\(name).gamma", beta: "\(name).beta", mean: "\(name).mean",
                                                    variance: "\(name).var", eps: eps)), inputs: [input])
        }
        try conv("a")
        try batchNorm("bnA", "a", gamma: [2, 1], beta: [1, -3], variance: [3, 1], eps: 1)
        try g.append("reluA", .activation(.relu), inputs: ["bnA"])
        try conv("b")
        try batchNorm("bnB", "b", gamma: gammaB, beta: [0.5, 2], variance: varianceB, eps: 1e-5)
        try g.append("s", .add(.relu), inputs: ["reluA", "bnB"])
        try g.append("p", .maxPool(Pool(kernel: [2, 2], stride: [2, 2])), inputs: ["s"])
        try g.append("gap", .globalAvgPool, inputs: ["p"])
        t.set("fc.weight", StoredTensor(floats: [1, 0, 0, 1], shape: [2, 2]))
        t.set("fc.bias", StoredTensor(floats: [0, 0], shape: [2]))
        try g.append("fc", .linear(Linear(inFeatures: 2, outFeatures: 2, weight: .float32("fc.weight"), bias: "fc.bias")), inputs: ["gap"])
        g.setOutputs(["fc"])
        let p = Preprocessing(inputSize: [2, 2], channels: 3, mean: [0.5, 0.25, 0], std: [0.5, 0.25, 1])
        return FloatModel(arch: "test", graph: g, tensors: t, preprocessing: p, labels: [])
    }

    private func assertRange(_ r: (min: Float, max: Float)?, _ lo: Float, _ hi: Float, _ label: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        guard let r else { return XCTFail("\(label): no range", file: file, line: line) }
        XCTAssertEqual(r.min, lo, accuracy: 1e-4, label, file: file, line: line)
        XCTAssertEqual(r.max, hi, accuracy: 1e-4, label, file: file, line: line)
    }

    /// Ranges at 2 sigma and means against values computed by hand (rectified normal moments in closed form).
    func testRangesAndMeansOfASmallGraph() throws {
        let stats = DataFreeStatistics(try smallModel(), sigmas: 2)
        // input: (0 - mean) / std ... (1 - mean) / std over the channels
        assertRange(stats.ranges["input"], -1, 3, "input")
        // bnA: N(1, 3) and N(-3, 0.5): 1 +- 2 sqrt 3, -3 +- 2 sqrt 0.5
        assertRange(stats.ranges["bnA"], -4.414214, 4.464102, "bnA")
        assertRange(stats.ranges["reluA"], 0, 4.464102, "reluA")
        // bnB: variance 1 / (1 + 1e-5) and 0 (a constant channel at beta)
        let sdB = (1 / 1.00001 as Float).squareRoot()
        assertRange(stats.ranges["bnB"], 0.5 - 2 * sdB, 0.5 + 2 * sdB, "bnB")
        // s = relu(reluA + bnB): normal mean 1.8030575 (E relu N(1, 3) = 1.3030575, + 0.5), variance 2.7595343
        assertRange(stats.ranges["s"], 0, 1.8030575 + 2 * (2.7595343 as Float).squareRoot(), "s")
        assertRange(stats.ranges["p"], 0, 1.8030575 + 2 * (2.7595343 as Float).squareRoot(), "p (max pool keeps the range)")
        XCTAssertNil(stats.ranges["gap"], "a channel mean's spread is not modeled")
        XCTAssertNil(stats.ranges["a"], "a conv output before its BatchNorm is not modeled")
        let reluA = try XCTUnwrap(stats.means["reluA"])
        XCTAssertEqual(reluA[0], 1.3030575, accuracy: 1e-6)
        XCTAssertEqual(reluA[1], 1.6775e-6, accuracy: 1e-9)
        // max pool: the clamped mean plus one sd (E relu N(1.80306, 2.75953) = 1.92038, var 2.15102)
        let pooled = try XCTUnwrap(stats.means["gap"])
        XCTAssertEqual(pooled[0], 3.3870110, accuracy: 1e-6)
        XCTAssertEqual(pooled[1], 2.0007017, accuracy: 1e-6)
        // the linear's mean input row is the pooled means; conv a reads the input (not modeled)
        let rows = stats.layerInputMeans(try smallModel().graph)
        XCTAssertEqual(rows["fc"]?.first?.count, 2)
        XCTAssertEqual(rows["fc"]?.first?[0] ?? 0, 3.3870110, accuracy: 1e-6)
        XCTAssertNil(rows["a"])
    }

    /// Clamped normal moments: relu of N(0, 1) (mean 1 / sqrt(2 pi), variance 1/2 - 1/(2 pi)), relu6 of
    /// N(3, 1) (mean 3 by symmetry), a zero spread (the clamped constant).
    func testClampedNormalMoments() {
        let relu = clampedNormalMoments(mean: 0, sd: 1, lo: 0, hi: .infinity)
        XCTAssertEqual(relu.mean, 1 / (2 * Double.pi).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(relu.variance, 0.5 - 1 / (2 * Double.pi), accuracy: 1e-12)
        XCTAssertEqual(clampedNormalMoments(mean: 3, sd: 1, lo: 0, hi: 6).mean, 3, accuracy: 1e-12)
        let none = clampedNormalMoments(mean: 0.7, sd: 2, lo: -.infinity, hi: .infinity)
        XCTAssertEqual(none.mean, 0.7, accuracy: 1e-12)
        XCTAssertEqual(none.variance, 4, accuracy: 1e-12)
        XCTAssertEqual(clampedNormalMoments(mean: 7, sd: 0, lo: 0, hi: 6).mean, 6)
        XCTAssertEqual(clampedNormalMoments(mean: -1, sd: 0, lo: 0, hi: 6).variance, 0)
    }

    /// NaN or negative running variances and non-finite gammas make that BatchNorm (and what depends on it)
    /// unmodeled, named in the notes; a conversion still types and runs, quantizing those values at run time.
    func testUnusableStatisticsAreNotModeled() throws {
        for (variance, gamma) in [([Float.nan, 1], [Float(1), -1]), ([-1, 1], [1, -1]), ([1, 1], [.infinity, 1])] {
            let model = try smallModel(varianceB: variance, gammaB: gamma)
            let stats = DataFreeStatistics(model, sigmas: 4)
            XCTAssertEqual(stats.unusableBatchNorms, ["bnB"])
            XCTAssertNil(stats.ranges["bnB"])
            XCTAssertNil(stats.ranges["s"], "an add with an unmodeled operand")
            XCTAssertNotNil(stats.ranges["reluA"])
            XCTAssertTrue(stats.notes(biasCorrected: 0).joined().contains("bnB"))
            XCTAssertTrue(stats.ranges.values.allSatisfy { $0.min.isFinite && $0.max.isFinite })
        }
        // all-zero variances: constant channels, a zero-width (but finite) range
        let constant = DataFreeStatistics(try smallModel(varianceB: [0, 0]), sigmas: 4)
        assertRange(constant.ranges["bnB"], 0.5, 2, "constant bnB")
    }

    /// The bias correction moves a rounded layer's mean output toward the float layer's, on inputs drawn
    /// from the distribution the BatchNorm statistics describe: input x ~ N(0, 1) -> BatchNorm (running
    /// mean 0, variance 1: the true statistics) -> relu -> conv quantized at 2 bits.
    func testBiasCorrectionMovesTheMeanOutputTowardFloat() throws {
        var g = Graph(input: Value(name: "input", shape: [4, 4, 3]))
        var t = TensorStore()
        for (suffix, values) in [("gamma", [Float](arrayLiteral: 1.5, 0.7, 2)), ("beta", [0.8, -0.2, 0.3]),
                                 ("mean", [0, 0, 0]), ("var", [1, 1, 1])] {
            t.set("bn.\(suffix)", StoredTensor(floats: values, shape: [3]))
        }
        try g.append("bn", .batchNorm(BatchNorm(channels: 3, gamma: "bn.gamma", beta: "bn.beta", mean: "bn.mean", variance: "bn.var",
                                                eps: 0)), inputs: ["input"])
        try g.append("relu", .activation(.relu), inputs: ["bn"])
        var rng = SeededGenerator(seed: 20)
        let (oc, k) = (8, 27)
        t.set("conv.weight", StoredTensor(floats: (0..<(oc * k)).map { _ in Float.random(in: -1...1, using: &rng) }, shape: [oc, k]))
        t.set("conv.bias", StoredTensor(floats: [Float](repeating: 0, count: oc), shape: [oc]))
        try g.append("conv", .conv2d(Conv2D(inChannels: 3, outChannels: oc, kernel: [3, 3], padding: [1, 1, 1, 1],
                                            weight: .float32("conv.weight"), bias: "conv.bias")), inputs: ["relu"])
        g.setOutputs(["conv"])
        let float = FloatModel(arch: "test", graph: g, tensors: t,
                               preprocessing: Preprocessing(inputSize: [4, 4], channels: 3, mean: [0, 0, 0], std: [1, 1, 1]), labels: [])
        let means = DataFreeStatistics(float, sigmas: 4).layerInputMeans(float.graph)
        XCTAssertNotNil(means["conv"])
        var options = PlainOptions()
        options.bits = 2
        options.firstLastBits = 2
        func quantized(_ inputMeans: [String: [[Double]]]) throws -> Session {
            var model = float
            _ = try applyPlainRecipe(&model, options: options, calibration: nil, inputMeans: inputMeans)
            try assignActivationTypes(&model.graph, ranges: nil)
            return Session(model: try inMemoryModel(graph: model.graph, tensors: model.tensors, preprocessing: model.preprocessing))
        }
        let reference = Session(model: try inMemoryModel(graph: g, tensors: t, preprocessing: float.preprocessing))
        let plain = try quantized([:]), corrected = try quantized(means)
        var sums = [[Double]](repeating: [Double](repeating: 0, count: oc), count: 3)
        for _ in 0..<400 {
            // standard normal inputs (Box-Muller)
            let input = (0..<48).map { _ -> Float in
                let u = Float.random(in: Float.ulpOfOne...1, using: &rng), v = Float.random(in: 0...1, using: &rng)
                return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
            }
            for (i, session) in [reference, plain, corrected].enumerated() {
                let y = session.run(input)
                for j in 0..<y.count { sums[i][j % oc] += Double(y[j]) }
            }
        }
        let errorPlain = zip(sums[0], sums[1]).map { abs($0 - $1) }.reduce(0, +)
        let errorCorrected = zip(sums[0], sums[2]).map { abs($0 - $1) }.reduce(0, +)
        XCTAssertLessThan(errorCorrected, 0.5 * errorPlain, "summed |mean output - float mean output|: corrected \(errorCorrected), plain \(errorPlain)")
    }

    /// An uncalibrated conversion of a BatchNorm family fixture: every conv writes static u8 codes (no
    /// quantize step before the body convs), the input's range is the preprocessing's, the global average
    /// pool's output is the one value quantized at run time, the summary says so, and the network gives
    /// PyTorch's top-1 with logits near its own at 8 bits (0.15 of the largest; dynamic ranges 0.1). It is
    /// the default; `--activation-ranges dynamic` measures every range at run time instead.
    func testUncalibratedConversionHasStaticRanges() throws {
        let (model, fixture, report) = try convertWithReport("families", "resnet10", recipe: "plain", arch: "resnet10") {
            $0.plain.bits = 8
        }
        let graph = model.graph
        for node in graph.nodes where node.op.kind == "conv2d" {
            guard case .uint8? = graph.value(node.output)?.quant else { return XCTFail("\(node.name) writes \(graph.value(node.output)!.quant)") }
        }
        XCTAssertEqual(graph.nodes.filter { $0.op == .quantize }.map(\.inputs[0]), ["input", "avgpool"])
        XCTAssertEqual(graph.values.filter { $0.quant == .dynamicUInt8 }.map(\.name), ["avgpool.q"])
        XCTAssertTrue(report.activations.hasPrefix("u8 static without calibration"), report.activations)
        XCTAssertTrue(report.activations.contains("from the preprocessing"), report.activations)
        XCTAssertTrue(report.activations.contains("1 at run time"), report.activations)
        XCTAssertTrue(report.recipeNotes.contains { $0.hasPrefix("data-free bias correction") }, "\(report.recipeNotes)")
        let worst = try compare(model, fixture, tolerance: 0.15, "families/resnet10 w8 data-free")
        print("families/resnet10 w8, data-free static activations: worst |logit - PyTorch| / max |logit| = \(String(format: "%.1e", worst))")

        let (dynamic, _, dynamicReport) = try convertWithReport("families", "resnet10", recipe: "plain", arch: "resnet10") {
            $0.plain.bits = 8
            $0.uncalibratedRanges = .dynamic
        }
        XCTAssertTrue(dynamic.graph.nodes.filter { $0.op.kind == "conv2d" }.allSatisfy { dynamic.graph.value($0.output)?.quant == .float32 })
        XCTAssertEqual(dynamicReport.activations, "u8 dynamic (per tensor, at run time)")
    }
}
