// Quantized ONNX (QDQ) fixtures against onnxruntime on the same files (Tests/Fixtures/seeds/onnx, written by
// toolchain/onnx/quantize.py): resnet18_qdq (onnxruntime's quantize_static: int8 per-channel weights, int32
// biases, u8 activations) and int4net (INT4 / UINT4 / int8 weights, s8 and u8 activations, a pair after a
// sigmoid whose rounding LowBit drops, opset 21).
// `qconvert` keeps the file's codes (read back from the .lbm they equal the file's integers, the scales
// the file's) and its activation quantization; the logits stay within 2e-2 x max |logit| of onnxruntime's
// integer execution (its default: QDQ groups fused into QLinearConv / QGemm), and of its float execution of
// the QDQ graph as written (graph optimizations off) up to the distance between those two.
import Foundation
import QCheckpoint
@testable import QConvert
import QGraph
import QKernels
import QONNX
import QRuntime
import _QTestSupport
import XCTest

final class ONNXQuantizedFixtureTests: XCTestCase {
    private static let fixtures = ["resnet18_qdq", "int4net"]

    /// onnxruntime's integer execution's logits of each fixture image (`logits_integer`), by path.
    private func integerLogits(_ name: String) throws -> [String: [Double]] {
        let data = try Data(contentsOf: SeedFixture.root.appendingPathComponent("onnx/\(name).json"))
        let images = try XCTUnwrap((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["images"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: try images.map { image in
            (try XCTUnwrap(image["path"] as? String), try XCTUnwrap(image["logits_integer"] as? [Double]))
        })
    }

    /// Default options (as `qconvert model.onnx`): every layer kept, u8 activations with the file's
    /// scales; logits within 2e-2 x max |logit| of onnxruntime's integer execution, within 2e-2 plus the
    /// distance between onnxruntime's two executions of its float one, the same top-1 as both.
    func testKeptQuantizationMatchesONNXRuntime() throws {
        for name in Self.fixtures {
            let (model, fixture, report) = try convertWithReport("onnx", name, recipe: "plain", arch: "onnx")
            let integer = try integerLogits(name)
            let worst = try compare(model, fixture, tolerance: 2e-2, "onnx/\(name) kept vs integer") { integer[$0.path]! }
            print("onnx/\(name) kept QDQ: max |LowBit - onnxruntime integer| / max |onnxruntime| = \(worst)")
            var own: Float = 0
            for image in fixture.images {
                let (a, b) = (image.logits, integer[image.path]!)
                own = max(own, Float(zip(a, b).map { abs($0 - $1) }.max()! / a.map(abs).max()!))
            }
            let float = try compare(model, fixture, tolerance: 2e-2 + own, "onnx/\(name) kept vs float")
            print("onnx/\(name) kept QDQ: vs onnxruntime's float execution \(float) (its two executions differ by \(own))")
            XCTAssertTrue(report.precision.hasPrefix("already quantized: \(report.layers.count) layers coded"), report.precision)
            XCTAssertTrue(report.precision.contains("u8 static"), report.precision)
            for layer in report.layers {
                XCTAssertTrue(layer.note?.hasPrefix("kept: file's ") == true && layer.note!.contains("not re-quantized"),
                              "\(name) \(layer.name): \(layer.note ?? "no note")")
            }
        }
    }

    /// `--bits 32`: the dequantized float weights, each Q -> DQ pair a clamp to its range, float activations
    /// (the rounding of activations dropped): the same top-1; measured 0.11 x max |logit| on resnet18_qdq,
    /// 4.8e-3 on int4net (bound 0.15).
    func testFloatDequantizedStaysClose() throws {
        for name in Self.fixtures {
            let (model, fixture) = try convert("onnx", name, recipe: "plain", arch: "onnx") {
                $0.plain.bits = 32
                $0.plain.firstLastBits = 32
            }
            let worst = try compare(model, fixture, tolerance: 0.15, "onnx/\(name) f32")
            print("onnx/\(name) --bits 32: max |LowBit - onnxruntime| / max |onnxruntime| = \(worst)")
        }
    }

    /// The codes stored in the .lbm are the file's integers (8-bit: the int8 byte q - zp; 4-bit: the file's
    /// nibble), in GEMM order, and every code decodes to scale[oc] * (q - zp) with the file's scales.
    func testStoredCodesAreTheFileIntegers() throws {
        for name in Self.fixtures {
            let url = SeedFixture.root.appendingPathComponent("onnx/\(name).onnx")
            let onnx = try ONNXModel.load(contentsOf: url)
            let initializers = Dictionary(uniqueKeysWithValues: onnx.graph.initializers.map { ($0.name, $0.tensor) })
            let dir = try TestPaths.makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            let out = dir.appendingPathComponent("\(name).lbm")
            _ = try Converter.convert(checkpoint: url, to: out, options: ConversionOptions())
            let loaded = try ModelArchive.read(contentsOf: out)
            var checked = 0
            for node in loaded.graph.nodes {
                let (weight, kernel, rows): (WeightDescriptor, [Int], Int)
                switch node.op {
                case .conv2d(let c): (weight, kernel, rows) = (c.weight, c.kernel, c.outChannels)
                case .linear(let l): (weight, kernel, rows) = (l.weight, [1, 1], l.outFeatures)
                default: continue
                }
                let q = try XCTUnwrap(initializers["\(node.name).weight_quantized"], "\(name) \(node.name)")
                let scale = try XCTUnwrap(initializers["\(node.name).weight_scale"]).floatValues()
                let zero = initializers["\(node.name).weight_zero_point"]?.int64Values().map { Int($0) } ?? [0]
                // the file's integers [rows][k] in LowBit's GEMM order (ky, kx, c); MatMul weights are [K, N]
                let values = q.int64Values().map { Int($0) }, k = values.count / rows
                let outputFirst = q.shape[0] == rows
                let cg = k / (kernel[0] * kernel[1])
                var expected = [Int](repeating: 0, count: values.count), zp = [Int](repeating: 0, count: values.count)
                for o in 0..<rows {
                    for j in 0..<k {
                        let (tap, c) = (j / cg, j % cg)
                        let file = outputFirst ? (o * cg + c) * kernel[0] * kernel[1] + tap : j * rows + o
                        expected[o * k + j] = values[file]
                        zp[o * k + j] = zero.count == 1 ? zero[0] : zero[o]
                    }
                }
                let packed = try XCTUnwrap(loaded.file.tensor(weight.codes!))
                var codes = [UInt8](repeating: 0, count: rows * k)
                qk_unpack_codes(packed.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), rows, k, Int32(weight.bits), &codes)
                let mask = weight.bits == 8 ? 0xff : 0x0f
                let stored = try XCTUnwrap(loaded.file.tensor(weight.scale!))
                let scales = Array(stored.bytes.bindMemory(to: Float.self))
                for i in 0..<(rows * k) {
                    let want = weight.bits == 8 ? (expected[i] - zp[i]) & mask : expected[i] & mask
                    guard Int(codes[i]) == want else { return XCTFail("\(name) \(node.name) weight \(i): code \(codes[i]), file \(expected[i])") }
                    XCTAssertEqual(weight.exactValue(code: Int(codes[i])), Float(expected[i] - zp[i]), "\(name) \(node.name) \(i)")
                }
                XCTAssertEqual(scales, (0..<rows).map { scale.count == 1 ? scale[0] : scale[$0] }, "\(name) \(node.name) scales")
                checked += 1
            }
            XCTAssertEqual(checked, name == "int4net" ? 4 : 21, name)
        }
    }
}
