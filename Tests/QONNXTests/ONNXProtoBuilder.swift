// Small ONNX models built in code (the generated protobuf types), for the reader's and the ONNX source's
// tests: a valid tiny CNN to start from, and helpers to write tensors, nodes and attributes.
import Foundation
@testable import QONNX
import SwiftProtobuf

/// Builders of ONNX protobuf messages.
enum Proto {
    /// A FLOAT initializer with raw little-endian data.
    static func floats(_ name: String, _ dims: [Int64], _ values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = ONNXDataType.float.rawValue
        t.rawData = Data(values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } })
        return t
    }

    /// An INT64 initializer in int64_data.
    static func int64s(_ name: String, _ values: [Int64], dims: [Int64]? = nil) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims ?? [Int64(values.count)]
        t.dataType = ONNXDataType.int64.rawValue
        t.int64Data = values
        return t
    }

    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String? = nil,
                     _ attributes: Onnx_AttributeProto...) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.input = inputs
        n.output = outputs
        n.name = name ?? "/\(outputs.first ?? op)/\(op)"
        n.attribute = attributes
        return n
    }

    static func attribute(_ name: String, _ type: Onnx_AttributeProto.AttributeType,
                          _ fill: (inout Onnx_AttributeProto) -> Void) -> Onnx_AttributeProto {
        var a = Onnx_AttributeProto()
        a.name = name
        a.type = type
        fill(&a)
        return a
    }

    static func ints(_ name: String, _ v: [Int64]) -> Onnx_AttributeProto { attribute(name, .ints) { $0.ints = v } }
    static func int(_ name: String, _ v: Int64) -> Onnx_AttributeProto { attribute(name, .int) { $0.i = v } }
    static func float(_ name: String, _ v: Float) -> Onnx_AttributeProto { attribute(name, .float) { $0.f = v } }
    static func string(_ name: String, _ v: String) -> Onnx_AttributeProto { attribute(name, .string) { $0.s = Data(v.utf8) } }

    /// A FLOAT tensor value: fixed dims, or a named dim for nil.
    static func value(_ name: String, _ dims: [Int64?]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = ONNXDataType.float.rawValue
        tensor.shape.dim = dims.map { d in
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = d } else { dim.dimParam = "batch" }
            return dim
        }
        v.type.tensorType = tensor
        return v
    }

    /// Deterministic small weights: value i is sin(i + seed) / 2.
    static func weights(_ count: Int, seed: Int = 0) -> [Float] {
        (0..<count).map { Float(sin(Double($0 + seed))) / 2 }
    }

    /// The tiny CNN: x [1, 3, 8, 8] -> Conv 3x3 pad 1 (conv.weight, conv.bias) -> Relu -> GlobalAveragePool
    /// -> Flatten -> Gemm transB (fc.weight [2, 4], fc.bias) -> y [1, 2]; opset 13.
    static func tinyCNN(opset: Int64 = 13) -> Onnx_ModelProto {
        var g = Onnx_GraphProto()
        g.name = "tiny"
        g.input = [value("x", [1, 3, 8, 8])]
        g.output = [value("y", [1, 2])]
        g.initializer = [floats("conv.weight", [4, 3, 3, 3], weights(108)), floats("conv.bias", [4], weights(4, seed: 7)),
                         floats("fc.weight", [2, 4], weights(8, seed: 3)), floats("fc.bias", [2], [0.1, -0.1])]
        g.node = [node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], ints("pads", [1, 1, 1, 1]), ints("kernel_shape", [3, 3])),
                  node("Relu", ["c"], ["r"]),
                  node("GlobalAveragePool", ["r"], ["p"]),
                  node("Flatten", ["p"], ["f"], int("axis", 1)),
                  node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], int("transB", 1))]
        return model(g, opset: opset)
    }

    static func model(_ graph: Onnx_GraphProto, opset: Int64 = 13) -> Onnx_ModelProto {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        m.producerName = "lowbit-tests"
        var set = Onnx_OperatorSetIdProto()
        set.version = opset
        m.opsetImport = [set]
        m.graph = graph
        return m
    }

    /// The serialized bytes of `model`.
    static func bytes(_ model: Onnx_ModelProto) -> Data {
        try! model.serializedBytes()
    }
}

extension Onnx_ModelProto {
    /// The model with its graph changed by `change`.
    func editing(_ change: (inout Onnx_GraphProto) -> Void) -> Onnx_ModelProto {
        var m = self
        change(&m.graph)
        return m
    }
}
