// The automatic per-layer precision fallback (Quantizers/PrecisionFallback.swift): the decision against
// the median, each layer's measured sensitivity against a naive reference, and a conversion keeping the
// one layer whose rounding hurts float.
import Foundation
@testable import QConvert
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class PrecisionFallbackTests: XCTestCase {
    /// Above factor x the median (odd and even counts), most sensitive first; none when off or with too few layers.
    func testDecisionAgainstMedian() {
        let four = FloatFallback(["a": 1, "b": 2, "c": 3, "d": 400, "e": 301], factor: 100)
        XCTAssertEqual(four.median, 3)
        XCTAssertEqual(four.layers, ["d", "e"])
        let even = FloatFallback(["a": 1, "b": 2, "c": 3, "d": 400], factor: 100)
        XCTAssertEqual(even.median, 2.5)
        XCTAssertEqual(even.layers, ["d"])
        XCTAssertEqual(FloatFallback(["a": 1, "b": 2, "c": 3, "d": 250], factor: 100).layers, [])
        XCTAssertEqual(FloatFallback(["a": 1, "b": 2, "c": 3, "d": 400], factor: 0).layers, [])
        XCTAssertEqual(FloatFallback(["a": 1, "b": 400], factor: 100).layers, [])
        XCTAssertTrue(even.note("d", bits: 8, factor: 100).contains("160x"), even.note("d", bits: 8, factor: 100))
    }

    /// Each layer's sensitivity equals sum ||y_l - y||^2 / sum ||y - mean y||^2 computed naively (1x1 convs
    /// as per-pixel matrix products, weights rounded per channel to max |w| / (2^(b-1) - 0.5)).
    func testSensitivityMatchesNaiveReference() throws {
        var rng = SeededGenerator(seed: 17)
        let (model, weights) = try chain(channels: [3, 4, 3, 2], rng: &rng)
        let inputs = (0..<5).map { _ in (0..<(3 * 3 * 3)).map { _ in Float.random(in: -1...1, using: &rng) } }
        let bits = ["l0": 8, "l1": 4, "l2": 3]
        let measured = try weightSensitivities(model, bits: bits, inputs: inputs)
        let reference = inputs.map { naiveChain($0, weights) }
        var spread = 0.0
        for j in 0..<reference[0].count {
            let mean = reference.reduce(0.0) { $0 + Double($1[j]) } / Double(reference.count)
            spread += reference.reduce(0.0) { $0 + (Double($1[j]) - mean) * (Double($1[j]) - mean) }
        }
        for (l, name) in ["l0", "l1", "l2"].enumerated() {
            var moved = weights
            moved[l].w = naiveRound(weights[l].w, rows: weights[l].rows, bits: bits[name]!)
            var error = 0.0
            for (x, y) in zip(inputs, reference) {
                for (a, b) in zip(naiveChain(x, moved), y) { error += Double(a - b) * Double(a - b) }
            }
            XCTAssertGreaterThan(error, 0, name)
            XCTAssertEqual(measured[name]!, error / spread, accuracy: 1e-3 * error / spread, name)
        }
    }

    /// A chain of four 1x1 convs where one layer's rows are one large weight, on an input channel that is
    /// always 0, beside the small ones that carry the signal (8-bit rounding zeroes them; a folded BatchNorm
    /// makes such rows): the conversion keeps that layer float and says so, quantizes the others, and keeps
    /// all of them quantized with the fallback off.
    func testConversionKeepsTheSensitiveLayerFloat() throws {
        var rng = SeededGenerator(seed: 3)
        let (built, weights) = try chain(channels: [1, 4, 4, 4, 2], rng: &rng)
        var model = built
        var silent = weights[1].w, outlier = weights[2].w
        for j in 0..<4 { silent[j] = 0 }
        for r in 0..<4 { for j in 0..<4 { outlier[r * 4 + j] = j == 0 ? 40 : Float.random(in: 0.02...0.1, using: &rng) } }
        model.tensors.set("l1.weight", StoredTensor(floats: silent, shape: [4, 4]))
        model.tensors.set("l2.weight", StoredTensor(floats: outlier, shape: [4, 4]))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("lowbit-fallback-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for i in 0..<6 {
            let pixels = (0..<9).map { _ in UInt8.random(in: 0...255, using: &rng) }
            try (Data("P5\n3 3\n255\n".utf8) + Data(pixels)).write(to: folder.appendingPathComponent("\(i).pgm"))
        }
        let images = try calibrationImages(folder, count: 6)
        for factor in [100.0, 0] {
            var converted = model
            let calibration = try calibrate(graph: converted.graph, tensors: converted.tensors,
                                            preprocessing: converted.preprocessing, images: images,
                                            sampledLayers: Set(["l0", "l1", "l2", "l3"])) { _, _ in }
            var options = PlainOptions()
            options.bits = 8
            options.floatFallback = factor
            let reports = try applyPlainRecipe(&converted, options: options, calibration: calibration, images: images)
            for name in ["l0", "l1", "l2", "l3"] {
                let float = factor > 0 && name == "l2"
                XCTAssertEqual(reports[name]?.bits, float ? 32 : 8, "\(name), factor \(factor)")
                XCTAssertEqual(reports[name]?.note?.contains("automatic fallback") ?? false, float, "\(name), factor \(factor)")
                let node = converted.graph.nodes.first { $0.name == name }!
                XCTAssertEqual(node.op.weightDescriptor?.scheme == .float32, float, "\(name), factor \(factor)")
            }
        }
    }

    /// A chain of 1x1 convs (no bias) on a 3x3 input with channels[0] channels, seeded weights in [-1, 1]
    /// stored as [OC, K], and the weights for the naive reference.
    private func chain(channels: [Int], rng: inout SeededGenerator) throws -> (FloatModel, [(w: [Float], rows: Int)]) {
        var graph = Graph(input: Value(name: "input", shape: [3, 3, channels[0]]))
        var tensors = TensorStore()
        var weights: [(w: [Float], rows: Int)] = []
        var previous = "input"
        for l in 0..<(channels.count - 1) {
            let (cin, oc) = (channels[l], channels[l + 1])
            let w = (0..<(oc * cin)).map { _ in Float.random(in: -1...1, using: &rng) }
            previous = try graph.append("l\(l)", .conv2d(Conv2D(inChannels: cin, outChannels: oc, kernel: [1, 1],
                                                               weight: .float32("l\(l).weight"))), inputs: [previous])
            graph.nodes[graph.nodes.count - 1].name = "l\(l)"
            tensors.set("l\(l).weight", StoredTensor(floats: w, shape: [oc, cin]))
            weights.append((w, oc))
        }
        let preprocessing = Preprocessing(inputSize: [3, 3], channels: channels[0], mean: [Float](repeating: 0, count: channels[0]),
                                          std: [Float](repeating: 1, count: channels[0]))
        return (FloatModel(arch: "test", graph: graph, tensors: tensors, preprocessing: preprocessing, labels: []), weights)
    }

    /// The chain on one HWC input, pixel by pixel.
    private func naiveChain(_ x: [Float], _ weights: [(w: [Float], rows: Int)]) -> [Float] {
        var out: [Float] = []
        let cin = x.count / 9
        for p in 0..<9 {
            var v = Array(x[(p * cin)..<(p * cin + cin)])
            for (w, rows) in weights {
                let k = v.count
                v = (0..<rows).map { r in (0..<k).reduce(Float(0)) { $0 + w[r * k + $1] * v[$1] } }
            }
            out += v
        }
        return out
    }

    /// Per-row symmetric rounding to codes -2^(b-1) ... 2^(b-1) - 1 of max |w| / (2^(b-1) - 0.5).
    private func naiveRound(_ w: [Float], rows: Int, bits: Int) -> [Float] {
        let k = w.count / rows, qmax = Float((1 << (bits - 1)) - 1)
        var out = w
        for r in 0..<rows {
            let s = w[(r * k)..<(r * k + k)].map(abs).max()! / (qmax + 0.5)
            for j in 0..<k { out[r * k + j] = min(max((w[r * k + j] / s).rounded(.toNearestOrEven), -qmax - 1), qmax) * s }
        }
        return out
    }
}
