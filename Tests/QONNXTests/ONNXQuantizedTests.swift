// Quantized ONNX (QDQ) on hand-built models: INT4 / UINT4 unpacking, DequantizeLinear'd weights kept as
// codes, Q -> DQ activation pairs as static u8 quantization (s8 mapped to u8), and the refusals: bad scales,
// zero points, axes and shapes, the QOperator / QONNX ops, a QuantizeLinear's integers read directly.
import Foundation
import QCheckpoint
@testable import QConvert
import QGraph
@testable import QONNX
import XCTest

extension Proto {
    /// An initializer of `type` (INT4 / UINT4: two values a byte, low nibble first, in raw_data; 8-bit types
    /// one byte each) holding `values`.
    static func integers(_ name: String, _ dims: [Int64], _ type: ONNXDataType, _ values: [Int]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = type.rawValue
        if type == .int4 || type == .uint4 {
            var bytes = [UInt8](repeating: 0, count: (values.count + 1) / 2)
            for (i, v) in values.enumerated() { bytes[i / 2] |= (UInt8(truncatingIfNeeded: v) & 0x0f) << (i % 2 == 0 ? 0 : 4) }
            t.rawData = Data(bytes)
        } else {
            t.rawData = Data(values.map { UInt8(truncatingIfNeeded: $0) })
        }
        return t
    }

    /// The tiny CNN with its conv weight an INT4 DequantizeLinear per output channel (scales 0.5, 0.25,
    /// 0.125, 0.0625) and an s8 Q -> DQ pair (scale 0.05, zero point -3) on the input; opset 21.
    static func quantizedCNN() -> Onnx_ModelProto {
        tinyCNN(opset: 21).editing { g in
            g.initializer[0] = integers("conv.weight_quantized", [4, 3, 3, 3], .int4, (0..<108).map { $0 % 16 - 8 })
            g.initializer += [floats("conv.weight_scale", [4], [0.5, 0.25, 0.125, 0.0625]),
                              floats("x_scale", [], [0.05]), integers("x_zero_point", [], .int8, [-3])]
            g.node.insert(contentsOf: [
                node("QuantizeLinear", ["x", "x_scale", "x_zero_point"], ["x_q"]),
                node("DequantizeLinear", ["x_q", "x_scale", "x_zero_point"], ["x_dq"]),
                node("DequantizeLinear", ["conv.weight_quantized", "conv.weight_scale"], ["conv.weight_DequantizeLinear_Output"],
                     int("axis", 0)),
            ], at: 0)
            g.node[3].input = ["x_dq", "conv.weight_DequantizeLinear_Output", "conv.bias"]
        }
    }
}

final class ONNXQuantizedTests: XCTestCase {
    private func build(_ proto: Onnx_ModelProto) throws -> FloatModel {
        let model = try ONNXModel.load(bytes: Proto.bytes(proto), name: "test.onnx")
        let initializers = Checkpoint(url: URL(fileURLWithPath: "test.onnx"), format: .onnx, wrapper: "initializers",
                                      tensors: model.graph.initializers)
        return try ONNXSource(model: model, initializers: initializers, inputSize: nil).floatModel(arch: nil).0
    }

    private func assertRefused(_ proto: Onnx_ModelProto, _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try build(proto), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(expected), "'\(error)' lacks '\(expected)'", file: file, line: line)
        }
    }

    /// INT4 / UINT4: low nibble first, INT4 sign-extended; odd counts leave the last high nibble unused.
    func testFourBitInitializersUnpack() throws {
        var signed = Proto.integers("s", [5], .int4, [])
        signed.rawData = Data([0x8f, 0x70, 0x01])        // -1, -8, 0, 7, 1
        var unsigned = Proto.integers("u", [3], .uint4, [])
        unsigned.rawData = Data([0xf0, 0x09])            // 0, 15, 9
        var typed = Proto.integers("t", [2], .uint4, [])
        typed.clearRawData()
        typed.int32Data = [0x5a]                          // 10, 5
        let model = try ONNXModel.load(bytes: Proto.bytes(Proto.tinyCNN().editing { $0.initializer += [signed, unsigned, typed] }), name: "t")
        let tensors = Dictionary(uniqueKeysWithValues: model.graph.initializers.map { ($0.name, $0.tensor) })
        XCTAssertEqual(tensors["s"]?.dtype, .int8)
        XCTAssertEqual(tensors["s"]?.int64Values(), [-1, -8, 0, 7, 1])
        XCTAssertEqual(tensors["u"]?.dtype, .uint8)
        XCTAssertEqual(tensors["u"]?.int64Values(), [0, 15, 9])
        XCTAssertEqual(tensors["t"]?.int64Values(), [10, 5])
        XCTAssertEqual(model.graph.fourBitInitializers, ["s": .int4, "u": .uint4, "t": .uint4])
    }

    /// Hostile 4-bit tensors: the packed byte count is exact, int32_data entries are bytes, no other field.
    func testHostileFourBitTensors() {
        func refused(_ tensor: Onnx_TensorProto, _ expected: String, line: UInt = #line) {
            XCTAssertThrowsError(try ONNXModel.load(bytes: Proto.bytes(Proto.tinyCNN().editing { $0.initializer.append(tensor) }), name: "h"),
                                 line: line) { error in
                XCTAssertTrue("\(error)".contains(expected), "'\(error)' lacks '\(expected)'", line: line)
            }
        }
        var short = Proto.integers("w", [5], .int4, [1, 2, 3, 4, 5])
        short.rawData.removeLast()
        refused(short, "3 packed bytes, but raw_data holds 2 bytes")
        var long = Proto.integers("w", [4], .uint4, [1, 2, 3, 4])
        long.rawData.append(0)
        refused(long, "2 packed bytes, but raw_data holds 3 bytes")
        var wide = Proto.integers("w", [2], .int4, [])
        wide.clearRawData()
        wide.int32Data = [256]
        refused(wide, "holds 256 in int32_data, not a byte of two packed values")
        var count = Proto.integers("w", [6], .int4, [])
        count.clearRawData()
        count.int32Data = [1, 2]
        refused(count, "3 packed bytes, but int32_data holds 2 values")
        var both = Proto.integers("w", [2], .uint4, [1, 2])
        both.int32Data = [1]
        refused(both, "has both raw_data and int32_data")
        var floats = Proto.integers("w", [2], .uint4, [])
        floats.clearRawData()
        floats.floatData = [1, 2]
        refused(floats, "holds data in float_data")
        var huge = Proto.integers("w", [1 << 30, 1 << 30], .int4, [1])
        huge.rawData = Data([1])
        refused(huge, "more than")
    }

    /// The conv keeps the file's INT4 codes (the nibbles, the table q - zp) with its per-channel scales;
    /// the folded float weight is (q - zp) * scale; the input pair is a clamp with the s8 quantization as u8.
    func testDequantizedWeightsAndActivationPairs() throws {
        let model = try build(Proto.quantizedCNN())
        XCTAssertEqual(model.graph.nodes.map(\.name), ["hardtanh_1", "conv", "relu_2", "globalavgpool_3", "fc"])
        let kept = try XCTUnwrap(model.declared.weights["conv"])
        XCTAssertEqual(kept.description, "file's INT4 codes per channel, not re-quantized")
        let codes = try XCTUnwrap(kept.codes)
        let q = (0..<108).map { $0 % 16 - 8 }
        XCTAssertEqual(codes.codes, q.map { UInt8($0 & 0x0f) })
        XCTAssertEqual(codes.levels, (0..<16).map { Float($0 >= 8 ? $0 - 16 : $0) })
        XCTAssertEqual(codes.channelScales, [0.5, 0.25, 0.125, 0.0625])
        XCTAssertEqual(codes.weights, q.enumerated().map { Float($1) * [0.5, 0.25, 0.125, 0.0625][$0 / 27] })
        // s8 zero point -3 -> u8 zero point 125: the clamp is [0.05 * (-128 + 3), 0.05 * (127 + 3)]
        XCTAssertEqual(model.declared.activations, ["hardtanh_1": .uint8(scale: 0.05, zeroPoint: 125)])
        guard case .activation(.hardtanh(let lo, let hi)) = model.graph.nodes[0].op else { return XCTFail("\(model.graph.nodes[0].op)") }
        XCTAssertEqual(lo, 0.05 * -125)
        XCTAssertEqual(hi, 0.05 * 130)
    }

    /// A pair after a ReLU becomes the ReLU's clamp (one node); a u8 pair with zero point 0 clamps at 0.
    func testPairAfterReluMergesIntoIt() throws {
        let model = try build(Proto.quantizedCNN().editing { g in
            g.initializer += [Proto.floats("r_scale", [], [0.02]), Proto.integers("r_zero", [], .uint8, [0])]
            g.node.insert(contentsOf: [Proto.node("QuantizeLinear", ["r", "r_scale", "r_zero"], ["r_q"]),
                                       Proto.node("DequantizeLinear", ["r_q", "r_scale", "r_zero"], ["r_dq"])], at: 5)
            g.node[7].input = ["r_dq"]
        })
        XCTAssertEqual(model.graph.nodes.map(\.op.kind), ["hardtanh(-6.25,6.5)", "conv2d", "hardtanh(0.0,5.1)", "globalavgpool", "linear"])
        guard case .activation(.hardtanh(let lo, let hi)) = model.graph.nodes[2].op else { return XCTFail("\(model.graph.nodes[2].op)") }
        XCTAssertEqual([lo, hi], [0, 0.02 * 255])
        XCTAssertEqual(model.declared.activations[model.graph.nodes[2].output], .uint8(scale: 0.02, zeroPoint: 0))
    }

    /// uint8 weights whose q - zp leave int8 keep their exact float weights (not coded, not re-quantized).
    func testWeightsCodesCannotHoldStayExact() throws {
        let model = try build(Proto.quantizedCNN().editing { g in
            g.initializer[0] = Proto.integers("conv.weight_quantized", [4, 3, 3, 3], .uint8, (0..<108).map { $0 * 2 })
        })
        let kept = try XCTUnwrap(model.declared.weights["conv"])
        XCTAssertNil(kept.codes)
        XCTAssertEqual(kept.description, "file's UINT8 values per channel as exact f32 (LowBit's codes cannot hold them), not re-quantized")
        // GEMM rows (ky, kx, c): row 0 column 0 is w[0, 0, 0, 0] = 0 * 0.5, column 1 is w[0, 1, 0, 0] = 18 * 0.5
        XCTAssertEqual(Array(try XCTUnwrap(model.tensors["conv.weight"]).floats.prefix(2)), [0, 9])
    }

    /// A Gemm's int8 weight (transB 1, per tensor): codes q + 128 as 8-bit, the scale on every channel; with
    /// alpha != 1 the exact float weights instead (alpha * scale * q is not the file's grid).
    func testGemmWeightsAndAlpha() throws {
        func model(alpha: Float?) throws -> FloatModel {
            try build(Proto.quantizedCNN().editing { g in
                g.initializer[2] = Proto.integers("fc.weight_quantized", [2, 4], .int8, [-128, -3, 0, 5, 127, 1, 2, -7])
                g.initializer.append(Proto.floats("fc.weight_scale", [], [0.25]))
                g.node.insert(Proto.node("DequantizeLinear", ["fc.weight_quantized", "fc.weight_scale"], ["fc.weight_dequantized"]), at: 0)
                g.node[8].input[1] = "fc.weight_dequantized"
                if let alpha { g.node[8].attribute.append(Proto.float("alpha", alpha)) }
            })
        }
        let codes = try XCTUnwrap(try model(alpha: nil).declared.weights["fc"]?.codes)
        XCTAssertEqual(codes.codes, [0, 125, 128, 133, 255, 129, 130, 121])
        XCTAssertEqual(codes.channelScales, [0.25, 0.25])
        XCTAssertEqual(codes.weights, [-32, -0.75, 0, 1.25, 31.75, 0.25, 0.5, -1.75])
        let scaled = try XCTUnwrap(try model(alpha: 0.5).declared.weights["fc"])
        XCTAssertNil(scaled.codes)
        XCTAssertEqual(scaled.description, "file's INT8 values per tensor as exact f32 (LowBit's codes cannot hold them), not re-quantized")
    }

    /// QuantizeLinear of a float weight (fake-quantized exports) folds to its integers: round half to even,
    /// saturated; the DequantizeLinear after it then gives the layer its codes.
    func testQuantizeLinearOfAConstantFolds() throws {
        let w: [Float] = (0..<108).map { Float($0 - 54) * 0.25 }        // -13.5 ... 13.25
        let model = try build(Proto.quantizedCNN().editing { g in
            g.initializer[0] = Proto.floats("conv.weight_float", [4, 3, 3, 3], w)
            g.initializer.append(Proto.floats("w_scale", [], [0.5]))
            g.initializer.append(Proto.integers("w_zero", [], .int4, [0]))
            g.node.insert(Proto.node("QuantizeLinear", ["conv.weight_float", "w_scale", "w_zero"], ["conv.weight_quantized"]), at: 0)
            g.node[3].input = ["conv.weight_quantized", "w_scale", "w_zero"]
            g.node[3].attribute = []
        })
        let codes = try XCTUnwrap(model.declared.weights["conv"]?.codes)
        let q = w.map { Int(min(max(($0 / 0.5).rounded(.toNearestOrEven), -8), 7)) }
        XCTAssertEqual(codes.codes, q.map { UInt8($0 & 0x0f) })
        XCTAssertEqual(codes.weights, q.map { Float($0) * 0.5 })
        XCTAssertEqual(q.filter { $0 == -8 }.count, 40)        // saturated at INT4's -8, and -7.5 to even -8
    }

    func testRefusedQuantization() {
        let weightDQ = 2, base = Proto.quantizedCNN()
        assertRefused(base.editing { g in g.initializer[4] = Proto.floats("conv.weight_scale", [4], [0.5, 0, 0.1, 0.1]) },
                      "node '/conv.weight_DequantizeLinear_Output/DequantizeLinear' (DequantizeLinear): scale 0.0 is not a positive finite number")
        assertRefused(base.editing { g in g.initializer[5] = Proto.floats("x_scale", [], [.nan]) }, "scale nan is not a positive finite number")
        assertRefused(base.editing { g in g.initializer[5] = Proto.floats("x_scale", [], [-0.05]) }, "scale -0.05 is not a positive finite number")
        assertRefused(base.editing { g in g.node[weightDQ].attribute = [Proto.int("axis", 4)] },
                      "attribute 'axis' = 4 is out of range for a rank-4 input")
        assertRefused(base.editing { g in g.node[weightDQ].attribute = [Proto.int("axis", 1)] },
                      "scale has shape [4], expected [3] for axis 1 of input shape [4, 3, 3, 3]")
        assertRefused(base.editing { g in g.initializer[4] = Proto.floats("conv.weight_scale", [3], [0.5, 0.5, 0.5]) },
                      "scale has shape [3], expected [4] for axis 0")
        assertRefused(base.editing { g in
            g.initializer.append(Proto.integers("w_zero", [4], .int8, [0, 0, 0, 0]))
            g.node[weightDQ].input.append("w_zero")
        }, "zero point is INT8, input 'conv.weight_quantized' INT4; they must match")
        assertRefused(base.editing { g in
            g.initializer.append(Proto.integers("w_zero", [2], .int4, [0, 0]))
            g.node[weightDQ].input.append("w_zero")
        }, "zero point has shape [2], scale [4]; they must match")
        assertRefused(base.editing { g in
            var zero = Proto.integers("x_zero_point", [], .uint8, [])
            zero.clearRawData()
            zero.int32Data = [300]
            g.initializer[6] = zero
        }, "holds 300 in int32_data, outside 0...255")
        assertRefused(base.editing { g in g.initializer[6] = Proto.integers("x_zero_point", [], .int4, [1]) },
                      "activations quantized to INT4; LowBit runs u8 or s8 activations")
        assertRefused(base.editing { g in g.initializer[5] = Proto.floats("x_scale", [3], [0.1, 0.1, 0.1]) },
                      "3 scales on a run-time tensor; LowBit quantizes activations per tensor")
        assertRefused(base.editing { g in
            g.initializer.append(Proto.floats("other_scale", [], [0.1]))
            g.node[1].input[1] = "other_scale"
        }, "differ from its QuantizeLinear's")
        assertRefused(base.editing { g in g.node[3].input[0] = "x_q" },
                      "reads the integer output 'x_q' of a QuantizeLinear; LowBit reads quantized run-time tensors only through a DequantizeLinear")
        assertRefused(base.editing { g in g.node[weightDQ].attribute.append(Proto.int("block_size", 2)) },
                      "attribute 'block_size' (blocked quantization) is not supported yet")
    }

    func testQuantizedOperatorsAreRefusedByName() {
        for (op, domain) in [("QLinearConv", ""), ("QLinearMatMul", ""), ("Quant", "qonnx.custom_op.general"),
                             ("BipolarQuant", "qonnx.custom_op.general")] {
            assertRefused(Proto.tinyCNN().editing { g in
                g.node[1].opType = op
                g.node[1].domain = domain
            }, "node '/r/Relu' (\(op)): quantized operator \(op)" + (domain.isEmpty ? "" : " (domain '\(domain)')") + " is not supported yet")
        }
    }
}
