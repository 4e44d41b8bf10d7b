// The ONNX graph source (QConvert) on hand-built models: the graph it builds (names, layouts, padding,
// bias folding, pruning) and its refusals, each naming the node, the op and the attribute.
import Foundation
import QCheckpoint
@testable import QConvert
import QGraph
@testable import QONNX
import XCTest

final class ONNXSourceTests: XCTestCase {
    private func build(_ proto: Onnx_ModelProto, inputSize: [Int]? = nil) throws -> FloatModel {
        let model = try ONNXModel.load(bytes: Proto.bytes(proto), name: "test.onnx")
        let initializers = Checkpoint(url: URL(fileURLWithPath: "test.onnx"), format: .onnx, wrapper: "initializers",
                                      tensors: model.graph.initializers)
        return try ONNXSource(model: model, initializers: initializers, inputSize: inputSize).floatModel(arch: nil).0
    }

    private func assertRefused(_ proto: Onnx_ModelProto, _ expected: String, inputSize: [Int]? = nil,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try build(proto, inputSize: inputSize), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(expected), "'\(error)' lacks '\(expected)'", file: file, line: line)
        }
    }

    private func conv(_ model: FloatModel, _ name: String) throws -> Conv2D {
        guard case .conv2d(let c)? = model.graph.nodes.first(where: { $0.name == name })?.op else {
            throw XCTSkip("no conv '\(name)' in \(model.graph.nodes.map(\.name))")
        }
        return c
    }

    func testTinyCNN() throws {
        let model = try build(Proto.tinyCNN())
        XCTAssertEqual(model.arch, "onnx")
        XCTAssertEqual(model.graph.nodes.map(\.name), ["conv", "relu_1", "globalavgpool_2", "fc"])
        XCTAssertEqual(model.graph.value(model.graph.input)?.shape, [8, 8, 3])
        XCTAssertEqual(model.graph.value(model.graph.output)?.shape, [2])
        XCTAssertEqual(model.preprocessing, Preprocessing(inputSize: [8, 8], channels: 3, mean: [0.485, 0.456, 0.406],
                                                          std: [0.229, 0.224, 0.225]))
        // GEMM rows in (ky, kx, c) order: row o, column (ky * 3 + kx) * 3 + c = w[o, c, ky, kx]
        let w = Proto.weights(108), rows = try XCTUnwrap(model.tensors["conv.weight"]).floats
        for (o, c, ky, kx) in [(0, 0, 0, 0), (1, 2, 0, 1), (3, 1, 2, 2), (2, 2, 1, 0)] {
            XCTAssertEqual(rows[o * 27 + (ky * 3 + kx) * 3 + c], w[((o * 3 + c) * 3 + ky) * 3 + kx])
        }
        XCTAssertEqual(try conv(model, "conv").padding, [1, 1, 1, 1])
    }

    /// SAME_UPPER puts the odd padding pixel at the end, SAME_LOWER at the start; VALID pads nothing.
    func testAutoPad() throws {
        for (mode, padding) in [("SAME_UPPER", [0, 0, 1, 1]), ("SAME_LOWER", [1, 1, 0, 0]), ("VALID", [0, 0, 0, 0])] {
            let model = try build(Proto.tinyCNN().editing { g in
                g.node[0].attribute = [Proto.string("auto_pad", mode), Proto.ints("strides", [2, 2])]
            })
            XCTAssertEqual(try conv(model, "conv").padding, padding, mode)
        }
        assertRefused(Proto.tinyCNN().editing { g in g.node[0].attribute = [Proto.string("auto_pad", "SAME_MIDDLE")] },
                      "node '/c/Conv' (Conv): attribute 'auto_pad' = 'SAME_MIDDLE' is not an ONNX padding mode")
    }

    /// MatMul then Add of a constant: one linear whose bias is the constant; an Add after a conv adds to its bias.
    func testBiasFolding() throws {
        let model = try build(Proto.tinyCNN().editing { g in
            g.initializer += [Proto.floats("head.w", [4, 2], Proto.weights(8, seed: 5)), Proto.floats("head.b", [2], [0.5, -0.25]),
                              Proto.floats("shift", [1, 4, 1, 1], [1, 2, 3, 4])]
            g.node[0].output = ["c0"]
            g.node.insert(Proto.node("Add", ["c0", "shift"], ["c"]), at: 1)
            g.node[5] = Proto.node("MatMul", ["f", "head.w"], ["m"])
            g.node.append(Proto.node("Add", ["head.b", "m"], ["y"]))
        })
        XCTAssertEqual(model.graph.nodes.map(\.name), ["conv", "relu_1", "globalavgpool_2", "head.w"])
        XCTAssertEqual(try XCTUnwrap(model.tensors["head.w.bias"]).floats, [0.5, -0.25])
        XCTAssertEqual(try XCTUnwrap(model.tensors["head.w.weight"]).floats, [0, 2, 4, 6, 1, 3, 5, 7].map { Proto.weights(8, seed: 5)[$0] })
        XCTAssertEqual(try XCTUnwrap(model.tensors["conv.bias"]).floats, zip(Proto.weights(4, seed: 7), [1, 2, 3, 4]).map { $0 + $1 })
    }

    /// Nodes no output depends on are not translated, so an op LowBit cannot run there does not matter.
    func testUnusedNodesArePruned() throws {
        let model = try build(Proto.tinyCNN().editing { g in g.node.append(Proto.node("Sigmoid", ["c"], ["unused"])) })
        XCTAssertEqual(model.graph.nodes.count, 4)
    }

    /// TorchScript exports rename folded weights `onnx::Conv_<n>`: the node's scope names the layer.
    func testLayerNamesFromScopes() throws {
        XCTAssertEqual(ONNXGraphBuilder.modulePath(ofScope: "/features/features.1/conv/conv.0/conv.0.0/Conv"), "features.1.conv.0.0")
        XCTAssertEqual(ONNXGraphBuilder.modulePath(ofScope: "/layer1/layer1.0/conv1/Conv"), "layer1.0.conv1")
        XCTAssertNil(ONNXGraphBuilder.modulePath(ofScope: "/Conv"))
        XCTAssertNil(ONNXGraphBuilder.modulePath(ofScope: "node_Conv_3"))
        let model = try build(Proto.tinyCNN().editing { g in
            g.initializer[0].name = "onnx::Conv_7"
            g.node[0].input[1] = "onnx::Conv_7"
            g.node[0].name = "/stem/stem.0/Conv"
        })
        XCTAssertEqual(model.graph.nodes.first?.name, "stem.0")
        XCTAssertNotNil(model.tensors["stem.0.weight"])
    }

    /// Two convs on one weight get distinct names.
    func testSharedWeightsGetUniqueNames() throws {
        let model = try build(Proto.tinyCNN().editing { g in
            g.initializer[0] = Proto.floats("conv.weight", [3, 3, 3, 3], Proto.weights(81))
            g.initializer[1] = Proto.floats("conv.bias", [3], [0, 0, 0])
            g.node[0].output = ["c0"]
            g.node.insert(Proto.node("Conv", ["c0", "conv.weight", "conv.bias"], ["c"], Proto.ints("pads", [1, 1, 1, 1])), at: 1)
            g.initializer[2] = Proto.floats("fc.weight", [2, 3], Proto.weights(6))
        })
        XCTAssertEqual(Array(model.graph.nodes.prefix(2).map(\.name)), ["conv", "conv_2"])
    }

    func testOpenHeightAndWidthNeedAnInputSize() throws {
        let open = Proto.tinyCNN().editing { g in g.input = [Proto.value("x", [nil, 3, nil, nil])] }
        assertRefused(open, "ONNX input 'x' has open height/width (batch, batch): pass --input-size H,W")
        XCTAssertEqual(try build(open, inputSize: [12, 10]).graph.value("input")?.shape, [12, 10, 3])
    }

    func testRefusedInputsAndOutputs() {
        assertRefused(Proto.tinyCNN().editing { g in g.input = [Proto.value("x", [2, 3, 8, 8])] }, "has batch size 2")
        assertRefused(Proto.tinyCNN().editing { g in g.input = [Proto.value("x", [1, 4, 8, 8])] }, "has 4 channels")
        assertRefused(Proto.tinyCNN().editing { g in g.input = [Proto.value("x", [1, 3, 64])] }, "LowBit feeds [1, C, H, W] images")
        assertRefused(Proto.tinyCNN().editing { g in g.input.append(Proto.value("x2", [1, 3, 8, 8])) }, "the ONNX graph has 2 inputs")
        assertRefused(Proto.tinyCNN().editing { g in g.output.append(Proto.value("c", [1, 4, 8, 8])) }, "the ONNX graph has 2 outputs")
        assertRefused(Proto.tinyCNN().editing { g in g.output = [Proto.value("x", [1, 3, 8, 8])] }, "a constant or the input itself")
    }

    func testRefusedOpsets() {
        assertRefused(Proto.tinyCNN(opset: 11), "ONNX opset 11: LowBit reads opsets 13-21")
        assertRefused(Proto.tinyCNN(opset: 22), "ONNX opset 22")
        assertRefused(Proto.tinyCNN().editing { g in g.node[1].domain = "com.microsoft" }, "op domain 'com.microsoft' is not supported")
    }

    /// Ops, attributes and values LowBit cannot run: the message names the node, the op and the attribute.
    func testRefusedOpsAndAttributes() {
        assertRefused(Proto.tinyCNN().editing { g in g.node[1].opType = "HardSwish" },
                      "node '/r/Relu' (HardSwish): op HardSwish is not supported; LowBit runs Add, AveragePool, BatchNormalization")
        assertRefused(Proto.tinyCNN().editing { g in g.node[0].attribute.append(Proto.int("foo", 1)) },
                      "node '/c/Conv' (Conv): attribute 'foo' is not supported for Conv")
        assertRefused(Proto.tinyCNN().editing { g in g.node[0].attribute.append(Proto.ints("kernel_shape", [5, 5])) },
                      "attribute 'kernel_shape' is given twice")
        assertRefused(Proto.tinyCNN().editing { g in g.node[0].attribute = [Proto.ints("dilations", [1, 1, 1])] },
                      "node '/c/Conv' (Conv): attribute 'dilations' = [1, 1, 1]: expected two values >= 1 (2-D only)")
        assertRefused(Proto.tinyCNN().editing { g in g.node[0].attribute = [Proto.int("group", 3)] },
                      "node '/c/Conv' (Conv): attribute 'group' = 3 does not fit input channels 3")
        assertRefused(Proto.tinyCNN().editing { g in g.node[0].attribute = [Proto.float("group", 1)] },
                      "attribute 'group' is FLOAT, expected INT")
        assertRefused(Proto.tinyCNN().editing { g in g.node[2] = Proto.node("AveragePool", ["r"], ["p"], Proto.ints("kernel_shape", [3, 3]), Proto.ints("pads", [1, 1, 1, 1])) },
                      "node '/p/AveragePool' (AveragePool): attribute 'count_include_pad' = 0 with padding")
        assertRefused(Proto.tinyCNN().editing { g in g.node[2] = Proto.node("MaxPool", ["r"], ["p"], Proto.ints("kernel_shape", [3, 3]), Proto.ints("strides", [2, 2]), Proto.int("ceil_mode", 1)) },
                      "attribute 'ceil_mode' = 1 changes the output size")
        assertRefused(Proto.tinyCNN().editing { g in g.node[2] = Proto.node("MaxPool", ["r"], ["p"], Proto.ints("kernel_shape", [2, 2]), Proto.ints("dilations", [2, 2])) },
                      "attribute 'dilations' other than 1 are not supported")
        assertRefused(Proto.tinyCNN().editing { g in g.node[4].attribute.append(Proto.int("transA", 1)) },
                      "node '/y/Gemm' (Gemm): attribute 'transA' = 1 is not supported")
    }

    func testRefusedShapes() {
        // a reshape that is not a flatten
        assertRefused(Proto.tinyCNN().editing { g in
            g.initializer.append(Proto.int64s("shape", [1, 4, 64]))
            g.node[3] = Proto.node("Reshape", ["r", "shape"], ["f"])
        }, "node '/f/Reshape' (Reshape): reshapes [1, 4, 8, 8] to [1, 4, 64]")
        // squeeze-excite: a product of run-time tensors
        assertRefused(Proto.tinyCNN().editing { g in g.node.insert(Proto.node("Mul", ["c0", "c0"], ["c"]), at: 1); g.node[0].output = ["c0"] },
                      "node '/c/Mul' (Mul): Mul of run-time tensors is not supported")
        // a constant added to something that is not a layer's output
        assertRefused(Proto.tinyCNN().editing { g in
            g.initializer.append(Proto.floats("k", [1], [1]))
            g.node.insert(Proto.node("Add", ["r0", "k"], ["r"]), at: 2)
            g.node[1].output = ["r0"]
        }, "LowBit runs a constant Add only as the bias of a conv or linear")
        // a conv on a pooled vector
        assertRefused(Proto.tinyCNN().editing { g in
            g.initializer.append(Proto.floats("se.weight", [4, 4, 1, 1], Proto.weights(16)))
            g.node.insert(Proto.node("Conv", ["p", "se.weight"], ["p2"]), at: 3)
            g.node[4].input = ["p2"]
        }, "LowBit runs Conv only on [1, C, H, W] feature maps")
        // padding that would make a map of 2^60 elements
        assertRefused(Proto.tinyCNN().editing { g in g.node[0].attribute = [Proto.ints("pads", [1 << 30, 1 << 30, 1 << 30, 1 << 30])] },
                      "node '/c/Conv' (Conv): output shape [2147483654, 2147483654, 4] is not supported")
        // broadcasting residual add
        assertRefused(Proto.tinyCNN().editing { g in g.node.insert(Proto.node("Add", ["c0", "x"], ["c"]), at: 1); g.node[0].output = ["c0"] },
                      "shapes [1, 4, 8, 8] and [1, 3, 8, 8] differ")
        // Dropout's mask read
        assertRefused(Proto.tinyCNN().editing { g in
            g.node[1] = Proto.node("Dropout", ["c"], ["r", "mask"])
            g.output.append(Proto.value("mask", [1, 4, 8, 8]))
            g.output.removeFirst()
        }, "output 1 ('mask') is read")
    }
}
