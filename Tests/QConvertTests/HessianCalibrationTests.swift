// Sequential calibration for GPTQ (Quantizers/HessianCalibration.swift, LayerInputStatistics.swift): the
// statistics against naive im2col, the f32 simulation against the u8 network it stands for, and GPTQ
// conversions end to end (deterministic, depthwise included, accurate on real data).
import Foundation
import QCheckpoint
@testable import QConvert
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class HessianCalibrationTests: XCTestCase {
    private let fashion = TestPaths.repositoryRoot.appendingPathComponent("models/fashion-mnist")

    /// Every output position sampled: H is sum x x^T over the im2col rows and the mean their mean, per conv
    /// group (stride 2, padding, two groups, a non-square input), and a linear's row is its input.
    func testStatisticsMatchNaiveIm2col() throws {
        let shape = [7, 6, 4]
        let conv = Conv2D(inChannels: 4, outChannels: 6, kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1], groups: 2,
                          weight: .float32("w"))
        var rng = SeededGenerator(seed: 5)
        let images = (0..<3).map { _ in (0..<(7 * 6 * 4)).map { _ in Float.random(in: -1...2, using: &rng) } }
        let accumulator = LayerInputAccumulator(op: .conv2d(conv), inputShape: shape, rowsPerImage: 1000, seed: 1)
        for x in images { x.withUnsafeBufferPointer { accumulator.add($0) } }
        let statistics = accumulator.finish()
        let (oh, ow, cg, k) = (4, 3, 2, 18)
        XCTAssertEqual(statistics.rows, 3 * oh * ow)
        XCTAssertEqual(statistics.sampledRows, 3 * oh * ow)
        for g in 0..<2 {
            var h = [Double](repeating: 0, count: k * k), mean = [Double](repeating: 0, count: k)
            for x in images {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var row = [Double](repeating: 0, count: k)
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let y = oy * 2 - 1 + ky, xx = ox * 2 - 1 + kx
                                guard y >= 0, y < 7, xx >= 0, xx < 6 else { continue }
                                for c in 0..<cg { row[(ky * 3 + kx) * cg + c] = Double(x[(y * 6 + xx) * 4 + g * cg + c]) }
                            }
                        }
                        for i in 0..<k { mean[i] += row[i] / Double(3 * oh * ow); for j in 0..<k { h[i * k + j] += row[i] * row[j] } }
                    }
                }
            }
            for i in 0..<(k * k) { XCTAssertEqual(statistics.hessians[g][i], h[i], accuracy: 1e-4, "group \(g) H[\(i)]") }
            for i in 0..<k { XCTAssertEqual(statistics.means[g][i], mean[i], accuracy: 1e-6, "group \(g) mean[\(i)]") }
        }
        // with weights: the moments of every output channel over the (here: all) rows, and their mean
        let weights = (0..<(6 * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        let outputs = LayerInputAccumulator(op: .conv2d(conv), inputShape: shape, rowsPerImage: 1000, seed: 1, weights: weights)
        for x in images { x.withUnsafeBufferPointer { outputs.add($0) } }
        let moments = outputs.finish()
        XCTAssertTrue(moments.hessians.isEmpty)
        for g in 0..<2 { for i in 0..<k { XCTAssertEqual(moments.sampledMeans[g][i], statistics.means[g][i], accuracy: 1e-6) } }
        for o in 0..<6 {
            let g = o / 3
            let mean = (0..<k).reduce(0.0) { $0 + Double(weights[o * k + $1]) * statistics.means[g][$1] }
            let square = (0..<k).reduce(0.0) { i, a in
                i + (0..<k).reduce(0.0) { $0 + Double(weights[o * k + a]) * Double(weights[o * k + $1]) * statistics.hessians[g][a * k + $1] }
            } / Double(3 * oh * ow)
            XCTAssertEqual(moments.outputMeans[o], mean, accuracy: 1e-4)
            XCTAssertEqual(moments.outputSquares[o], square, accuracy: 1e-3 * max(1, square))
        }
        let linear = LayerInputAccumulator(op: .linear(Linear(inFeatures: 5, outFeatures: 2, weight: .float32("w"))),
                                           inputShape: [5], rowsPerImage: 1, seed: 1)
        for x in [[Float]([1, 2, 3, 4, 5]), [0, 1, 0, -1, 2]] { x.withUnsafeBufferPointer { linear.add($0) } }
        let s = linear.finish()
        XCTAssertEqual(s.means[0], [0.5, 1.5, 1.5, 1.5, 3.5])
        XCTAssertEqual(s.hessians[0][0 * 5 + 4], 5)
        XCTAssertEqual(s.hessians[0][3 * 5 + 4], 18)
    }

    /// The float pass keeps its sampled outputs y = w . x; a pass with them measures sum x y^T at the same
    /// rows. Fed the same images with the same seed (rows sampled, 5 of 12 per image), that is H W^T, row
    /// for row; fed other images with every row taken, it is the naive sum over the pairs of rows.
    func testCrossMomentsWithFloatOutputs() throws {
        let shape = [7, 6, 4]
        let conv = Conv2D(inChannels: 4, outChannels: 6, kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1], groups: 2,
                          weight: .float32("w"))
        let (k, perGroup) = (18, 3)
        var rng = SeededGenerator(seed: 7)
        let images = (0..<4).map { _ in (0..<(7 * 6 * 4)).map { _ in Float.random(in: -1...2, using: &rng) } }
        let weights = (0..<(6 * k)).map { _ in Float.random(in: -1...1, using: &rng) }
        func measure(_ inputs: [[Float]], rowsPerImage: Int, weights: [Float]? = nil, float: LayerInputStatistics? = nil) -> LayerInputStatistics {
            let accumulator = LayerInputAccumulator(op: .conv2d(conv), inputShape: shape, rowsPerImage: rowsPerImage,
                                                    seed: statisticsSeed(layer: "conv"), weights: weights, floatOutputs: float)
            for x in inputs { x.withUnsafeBufferPointer { accumulator.add($0) } }
            return accumulator.finish()
        }
        let float = measure(images, rowsPerImage: 5, weights: weights)
        XCTAssertEqual(float.sampledRows, 20)
        XCTAssertEqual(float.sampledOutputs.count, 6 * 20)
        XCTAssertTrue(float.crossMoments.isEmpty)
        for o in 0..<6 {
            let mean = float.sampledOutputs[(o * 20)..<((o + 1) * 20)].reduce(0.0) { $0 + Double($1) } / 20
            XCTAssertEqual(mean, float.outputMeans[o], accuracy: 1e-5)
        }
        let same = measure(images, rowsPerImage: 5, float: float)
        XCTAssertEqual(same.crossMoments.count, 2)
        for g in 0..<2 {
            for j in 0..<k {
                for o in 0..<perGroup {
                    let hw = (0..<k).reduce(0.0) { $0 + same.hessians[g][j * k + $1] * Double(weights[(g * perGroup + o) * k + $1]) }
                    XCTAssertEqual(same.crossMoments[g][j * perGroup + o], hw, accuracy: 1e-4 * max(1, abs(hw)), "group \(g) [\(j)][\(o)]")
                }
            }
        }
        // other inputs, every row taken: sum over the pairs of rows of x_other y_float^T
        let other = images.map { $0.map { $0 * 0.5 + 0.25 } }
        let cross = measure(other, rowsPerImage: 1000, float: measure(images, rowsPerImage: 1000, weights: weights))
        XCTAssertTrue(measure(other, rowsPerImage: 1000).crossMoments.isEmpty)
        let naive = naiveCross(images: images, other: other, weights: weights, shape: shape, conv: conv, k: k, perGroup: perGroup)
        for g in 0..<2 {
            for i in 0..<(k * perGroup) {
                XCTAssertEqual(cross.crossMoments[g][i], naive[g][i], accuracy: 1e-4 * max(1, abs(naive[g][i])), "group \(g) [\(i)]")
            }
        }
        // rows that do not line up (fewer float rows than this pass samples): no cross moments
        XCTAssertTrue(measure(images, rowsPerImage: 6, float: float).crossMoments.isEmpty)
    }

    /// sum over every output position of every image of x_other (im2col row of `other`) times y = w . x
    /// (im2col row of `images`), per group [k][perGroup].
    private func naiveCross(images: [[Float]], other: [[Float]], weights: [Float], shape: [Int], conv: Conv2D,
                            k: Int, perGroup: Int) -> [[Double]] {
        let (h, w, cin) = (shape[0], shape[1], shape[2])
        let cg = cin / conv.groups
        let oh = (h + 2 - 3) / 2 + 1, ow = (w + 2 - 3) / 2 + 1
        func row(_ x: [Float], _ oy: Int, _ ox: Int, _ g: Int) -> [Double] {
            var r = [Double](repeating: 0, count: k)
            for ky in 0..<3 {
                for kx in 0..<3 {
                    let y = oy * 2 - 1 + ky, xx = ox * 2 - 1 + kx
                    guard y >= 0, y < h, xx >= 0, xx < w else { continue }
                    for c in 0..<cg { r[(ky * 3 + kx) * cg + c] = Double(x[(y * w + xx) * cin + g * cg + c]) }
                }
            }
            return r
        }
        var out = Array(repeating: [Double](repeating: 0, count: k * perGroup), count: conv.groups)
        for (x, z) in zip(images, other) {
            for oy in 0..<oh {
                for ox in 0..<ow {
                    for g in 0..<conv.groups {
                        let (a, b) = (row(x, oy, ox, g), row(z, oy, ox, g))
                        for o in 0..<perGroup {
                            let y = (0..<k).reduce(0.0) { $0 + Double(weights[(g * perGroup + o) * k + $1]) * a[$1] }
                            for j in 0..<k { out[g][j * perGroup + o] += b[j] * y }
                        }
                    }
                }
            }
        }
        return out
    }


    /// f32 simulation (u8 values as quantize -> dequantize pairs) gives the u8 network's logits, and so does
    /// the simulation run piece by piece, each piece's output feeding the next.
    func testSimulationIsTheU8Network() throws {
        let checkpoint = try Checkpoint.load(contentsOf: fashion.appendingPathComponent("fmnist-cnn.pt"))
        var (model, _) = try Architectures.build(checkpoint)
        try foldBatchNorm(&model)
        fuseResidualAdd(&model.graph)
        fuseActivation(&model.graph)
        let images = try calibrationImages(fashion.appendingPathComponent("samples/labels.csv"), count: 10)
        let calibration = try calibrate(graph: model.graph, tensors: model.tensors, preprocessing: model.preprocessing,
                                        images: images, sampledLayers: []) { _, _ in }
        var options = PlainOptions()
        options.ptq = .round
        _ = try applyPlainRecipe(&model, options: options, calibration: calibration)
        let layers = Set(model.graph.nodes.filter { $0.op.weightDescriptor != nil }.map(\.name))
        let simulation = try QuantizationSimulation(graph: model.graph, quantizedLayers: layers, ranges: calibration.ranges)
        var typed = model.graph
        try assignActivationTypes(&typed, ranges: calibration.ranges)
        let u8 = Session(model: try inMemoryModel(graph: typed, tensors: model.tensors, preprocessing: model.preprocessing))
        let f32 = Session(model: try inMemoryModel(graph: simulation.graph, tensors: model.tensors, preprocessing: model.preprocessing))
        let segments = simulation.segments()
        XCTAssertGreaterThan(segments.count, 1)
        XCTAssertEqual(segments.first?.nodes.lowerBound, 0)
        XCTAssertEqual(segments.last?.nodes.upperBound, simulation.graph.nodes.count)
        let pieces = try segments.map {
            Session(model: try simulation.segmentModel($0.nodes, input: $0.input, output: $0.output, model: model))
        }
        for url in images {
            let input = try Preprocessor.apply(model.preprocessing, to: ImageReader.read(contentsOf: url))
            let want = u8.run(input), got = f32.run(input)
            let scale = want.map(abs).max()!
            for (a, b) in zip(got, want) { XCTAssertEqual(a, b, accuracy: 0.02 * scale, url.lastPathComponent) }
            var x = input
            for piece in pieces { x = piece.run(x) }
            XCTAssertEqual(x, got, "piece by piece")
        }
    }

    private func convertFashion(ptq: PTQMethod, to out: URL) throws -> ConversionReport {
        var options = ConversionOptions()
        options.plain.bits = 3
        options.plain.ptq = ptq
        options.calibration = fashion.appendingPathComponent("samples/labels.csv")
        return try Converter.convert(checkpoint: fashion.appendingPathComponent("fmnist-cnn.pt"), to: out, options: options)
    }

    /// GPTQ is the default with calibration at <= 4 bits, writes the same bytes for the same calibration set,
    /// and keeps the float network's top-1 on the samples.
    func testGPTQConversionIsDeterministic() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (a, b) = (dir.appendingPathComponent("a.lbm"), dir.appendingPathComponent("b.lbm"))
        let report = try convertFashion(ptq: .gptq, to: a)
        _ = try convertFashion(ptq: .gptq, to: b)
        XCTAssertEqual(try Data(contentsOf: a), try Data(contentsOf: b))
        XCTAssertTrue(report.layers.allSatisfy { $0.clip == "hessian" }, "\(report.layers.map(\.clip))")
        XCTAssertTrue(report.precision.contains("gptq"), report.precision)
        var float = ConversionOptions()
        float.plain.bits = 32
        let f = dir.appendingPathComponent("f.lbm")
        _ = try Converter.convert(checkpoint: fashion.appendingPathComponent("fmnist-cnn.pt"), to: f, options: float)
        let (quantized, reference) = (Session(model: try Model(contentsOf: a)), Session(model: try Model(contentsOf: f)))
        var agree = 0
        let samples = try Dataset.images(from: fashion.appendingPathComponent("samples/labels.csv").path, labels: [])
        for sample in samples {
            let image = try ImageReader.read(contentsOf: sample.url)
            let (x, y) = (try quantized.classify(image), try reference.classify(image))
            if x.firstIndex(of: x.max()!) == y.firstIndex(of: y.max()!) { agree += 1 }
        }
        XCTAssertGreaterThanOrEqual(agree, samples.count - 1, "3-bit GPTQ agrees with float on \(agree) of \(samples.count)")
    }

    /// MobileNetV2 (depthwise 3x3, BatchNorm, residual adds): every layer goes through GPTQ, depthwise ones
    /// per channel (the codebook starts from uniform GPTQ, so both run), and the model runs.
    func testGPTQDepthwiseNetwork() throws {
        for scheme in [WeightScheme.codebook] {
            let (model, fixture) = try convert("plain", "mobilenetv2", recipe: "plain", arch: "mobilenet_v2") {
                $0.plain.bits = 3
                $0.plain.scheme = scheme
                $0.calibration = SeedFixture.root.appendingPathComponent("inputs")
            }
            let depthwise = model.graph.nodes.filter { if case .conv2d(let c) = $0.op { return c.groups > 1 } else { return false } }
            XCTAssertEqual(depthwise.count, 17)
            XCTAssertTrue(depthwise.allSatisfy { if case .conv2d(let c) = $0.op { return c.weight.label == "\(scheme.rawValue)3" } else { return false } })
            let session = Session(model: model)
            for image in fixture.images {
                let logits = try session.classify(ImageReader.read(contentsOf: SeedFixture.root.appendingPathComponent(image.path)))
                XCTAssertTrue(logits.allSatisfy(\.isFinite))
            }
        }
    }

    /// ResNet-20 at 2 bits on the real data (every 10th image of the 9,000 held-apart ones, calibrated on
    /// 100 of the others): generous bounds around toolchain/ptq/evaluate.sh's full-set figures (float 81.1;
    /// 2-bit GPTQ uniform 78.6, codebook 80.0; round-to-nearest 36).
    func testResNet20TwoBitsOnRealData() throws {
        guard let checkpoint = TestPaths.shared("cifar10-resnets/resnet20-12fca82f.th"),
              let testSet = TestPaths.shared("cifar10-test/labels.csv") else {
            throw XCTSkip(TestPaths.missingSharedMessage("cifar10-resnets"))
        }
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let all = try Dataset.images(from: testSet.path, labels: [])
        let number = { (item: LabelledImage) in Int(item.url.deletingPathExtension().lastPathComponent) ?? 0 }
        let calibration = all.filter { number($0) < 10 }, evaluation = all.filter { number($0) >= 100 }
        let csv = dir.appendingPathComponent("calibration.csv")
        try ("path,label\n" + calibration.map { "\($0.url.path),\($0.label!)\n" }.joined()).write(to: csv, atomically: true, encoding: .utf8)
        let subset = stride(from: 0, to: evaluation.count, by: 10).map { evaluation[$0] }
        let images = try subset.map { try ImageReader.read(contentsOf: $0.url) }
        func accuracy(bits: Int, scheme: WeightScheme) throws -> Double {
            var options = ConversionOptions()
            options.plain.bits = bits
            options.plain.scheme = scheme
            options.plain.firstLastBits = bits == 32 ? 32 : 8
            options.calibration = csv
            options.calibrationCount = 100
            let out = dir.appendingPathComponent("r20-\(bits)-\(scheme).lbm")
            _ = try Converter.convert(checkpoint: checkpoint, to: out, options: options)
            let session = Session(model: try Model(contentsOf: out))
            let right = try zip(images, subset).filter { image, item in
                let logits = try session.classify(image)
                return logits.firstIndex(of: logits.max()!) == item.label
            }.count
            return Double(right) / Double(subset.count) * 100
        }
        let float = try accuracy(bits: 32, scheme: .uniform)
        let uniform = try accuracy(bits: 2, scheme: .uniform), codebook = try accuracy(bits: 2, scheme: .codebook)
        print("resnet20 on \(subset.count) images: float \(float)%, 2-bit GPTQ uniform \(uniform)%, codebook \(codebook)%")
        XCTAssertGreaterThanOrEqual(uniform, float - 15, "2-bit uniform \(uniform)% vs float \(float)%")
        XCTAssertGreaterThanOrEqual(codebook, float - 15, "2-bit codebook \(codebook)% vs float \(float)%")
    }
}
