// Packed signs in the runtime: a sign node read only by binary convs with one padded input image writes
// its bit planes once (qk_bconv_pack_image) and those convs run from them (qk_bconv2d_packed); a sign
// node whose binary readers need different images writes floats and each conv packs its own input. Both
// give the exact binary conv: y = float(sum sign(x) * t) * scale + bias.
import Foundation
import QGraph
import QKernels
import QRuntime
import _QTestSupport
import XCTest

final class PackedSignTests: XCTestCase {
    private let shape = (h: 7, w: 9, c: 70)  // 70 channels: two words per pixel, the second partly used

    private struct BinaryLayer {
        var name: String, input: String, oc: Int, kernel: Int, stride: Int, padding: [Int]
        var ternary: Bool
        var t: [Int8] = [], scale: [Float] = [], bias: [Float] = []
    }

    /// image -> 1x1 float conv x -> s1 = sign(x) -> b1 (3x3 pad 1, binary) and b2 (3x3 stride 2 pad 1, ternary): one image;
    /// b1 -> s2 = sign -> b3 (3x3, asymmetric padding) and b4 (1x1): two images; output add(b3, b4).
    private func writeModel(to url: URL, zeroChannels: Bool, rng: inout SeededGenerator) throws -> [BinaryLayer] {
        var layers = [
            BinaryLayer(name: "b1", input: "s1", oc: 16, kernel: 3, stride: 1, padding: [1, 1, 1, 1], ternary: false),
            BinaryLayer(name: "b2", input: "s1", oc: 8, kernel: 3, stride: 2, padding: [1, 1, 1, 1], ternary: true),
            BinaryLayer(name: "b3", input: "s2", oc: 8, kernel: 3, stride: 1, padding: [0, 1, 2, 1], ternary: true),
            BinaryLayer(name: "b4", input: "s2", oc: 8, kernel: 1, stride: 1, padding: [0, 0, 0, 0], ternary: false),
        ]
        var tensors = TensorStore()
        var graph = Graph(input: Value(name: "image", shape: [shape.h, shape.w, 3]))
        // a float 1x1 conv to 70 channels; every tenth output channel has zero weights and the bias 0
        // (`zeroChannels`: x holds exact zeros, the general path) or 0.5 (no zeros: binary / sign-act)
        tensors.set("expand.w", StoredTensor(floats: (0..<(shape.c * 3)).map { i in
            i / 3 % 10 == 0 ? 0 : Float.random(in: -1...1, using: &rng) }, shape: [shape.c, 3]))
        tensors.set("expand.b", StoredTensor(floats: (0..<shape.c).map { $0 % 10 != 0 ? Float.random(in: -0.1...0.1, using: &rng)
                                                                         : zeroChannels ? 0 : 0.5 }, shape: [shape.c]))
        try graph.append("x", .conv2d(Conv2D(inChannels: 3, outChannels: shape.c, kernel: [1, 1],
                                             weight: .float32("expand.w"), bias: "expand.b")), inputs: ["image"])
        try graph.append("s1", .sign, inputs: ["x"])
        for i in layers.indices {
            let cin = layers[i].input == "s1" ? shape.c : 16, k = layers[i].kernel * layers[i].kernel * cin
            let bits = layers[i].ternary ? 2 : 1, oc = layers[i].oc, name = layers[i].name
            // codes: 1 bit {0: -1, 1: +1}; 2 bits {0: -1, 1: 0, 2: +1, 3: +1}
            let lut = layers[i].ternary ? [-1, 0, 1, 1] : [-1, 1]
            let codes = (0..<(oc * k)).map { _ in UInt8.random(in: 0...UInt8(lut.count - 1), using: &rng) }
            layers[i].t = codes.map { Int8(lut[Int($0)]) }
            layers[i].scale = (0..<oc).map { _ in Float.random(in: 0.01...0.1, using: &rng) }
            layers[i].bias = (0..<oc).map { _ in Float.random(in: -1...1, using: &rng) }
            var packed = [UInt8](repeating: 0, count: qk_packed_bytes(oc, k, Int32(bits)))
            qk_pack_codes(codes, oc, k, Int32(bits), &packed)
            tensors.set("\(name).codes", StoredTensor(dtype: .u8, shape: [WeightDescriptor.packedRows(rows: oc, groups: 1),
                                                                           WeightDescriptor.packedRowBytes(k: k, bits: bits)],
                                                      bytes: packed))
            tensors.set("\(name).scale", StoredTensor(floats: layers[i].scale, shape: [oc]))
            tensors.set("\(name).bias", StoredTensor(floats: layers[i].bias, shape: [oc]))
            let weight = WeightDescriptor(scheme: .uniform, bits: bits, codes: "\(name).codes", lut: lut, scale: "\(name).scale")
            let conv = Conv2D(inChannels: cin, outChannels: oc, kernel: [layers[i].kernel, layers[i].kernel],
                              stride: [layers[i].stride, layers[i].stride], padding: layers[i].padding,
                              weight: weight, bias: "\(name).bias")
            try graph.append(name, .conv2d(conv), inputs: [layers[i].input])
            if name == "b2" { try graph.append("s2", .sign, inputs: ["b1"]) }
        }
        try graph.append("out", .add(.none), inputs: ["b3", "b4"])
        let info = ModelInfo(name: "packed-signs", arch: "", recipe: "", precision: "", labels: [],
                             preprocessing: Preprocessing(inputSize: [shape.h, shape.w], channels: 3,
                                                          mean: [0, 0, 0], std: [1, 1, 1]))
        try ModelArchive.write(graph: graph, info: info, tensors: tensors, to: url)
        return layers
    }

    /// The exact binary conv of sign(x) ([h, w, c]), as the epilogue computes it (no fused multiply-add).
    private func naive(_ x: [Float], _ h: Int, _ w: Int, _ c: Int, _ l: BinaryLayer) -> [Float] {
        let k = l.kernel, oh = (h + l.padding[0] + l.padding[2] - k) / l.stride + 1
        let ow = (w + l.padding[1] + l.padding[3] - k) / l.stride + 1
        var y = [Float](repeating: 0, count: oh * ow * l.oc)
        for oy in 0..<oh {
            for ox in 0..<ow {
                for n in 0..<l.oc {
                    var acc = 0
                    for ky in 0..<k {
                        for kx in 0..<k {
                            let iy = oy * l.stride - l.padding[0] + ky, ix = ox * l.stride - l.padding[1] + kx
                            guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
                            for ch in 0..<c {
                                let v = x[(iy * w + ix) * c + ch], a = v > 0 ? 1 : v < 0 ? -1 : 0
                                acc += a * Int(l.t[n * k * k * c + (ky * k + kx) * c + ch])
                            }
                        }
                    }
                    let product = Float(acc) * l.scale[n]
                    y[(oy * ow + ox) * l.oc + n] = product + l.bias[n]
                }
            }
        }
        return y
    }

    func testPackedSignsAreWrittenOnceAndConvsStayExact() throws {
        var rng = SeededGenerator(seed: UInt64(ProcessInfo.processInfo.environment["QK_TEST_SEED"] ?? "") ?? 7)
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for zeroChannels in [false, true] {
            let url = dir.appendingPathComponent("signs-\(zeroChannels).lbm")
            let layers = try writeModel(to: url, zeroChannels: zeroChannels, rng: &rng)
            let model = try Model(contentsOf: url)

            // s1's readers share one image: it packs; s2's need two: it writes floats
            let kernels = Dictionary(uniqueKeysWithValues: model.layers.map { ($0.name, $0.kernel) })
            XCTAssertEqual(kernels["s1"], "qk_bconv_pack_image")
            XCTAssertEqual(kernels["s2"]!, nil)
            XCTAssertEqual(model.layerKernels.filter { $0.kernel.hasPrefix("qk_bgemm_") }.count, 4, "\(model.layerKernels)")

            let image = (0..<(shape.h * shape.w * 3)).map { _ in Float.random(in: -2...2, using: &rng) }
            var seen: [String: [Float]] = [:]
            try Session(model: model).run(input: image) { name, values in seen[name] = Array(values) }
            let x = seen["x"]!
            XCTAssertEqual(x.contains(0), zeroChannels)
            XCTAssertEqual(seen["s1"], x.map { $0 > 0 ? 1 : $0 < 0 ? -1 : 0 }, "the observer sees s1's floats")
            let b1 = naive(x, shape.h, shape.w, shape.c, layers[0])
            XCTAssertEqual(seen["b1"], b1, "zeros \(zeroChannels)")
            XCTAssertEqual(seen["b2"], naive(x, shape.h, shape.w, shape.c, layers[1]), "zeros \(zeroChannels)")
            let b3 = naive(b1, shape.h, shape.w, 16, layers[2]), b4 = naive(b1, shape.h, shape.w, 16, layers[3])
            XCTAssertEqual(seen["b3"], b3)
            XCTAssertEqual(seen["b4"], b4)
            XCTAssertEqual(Session(model: model).run(image), zip(b3, b4).map { $0 + $1 })
        }
    }
}
