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

    /// MobileNetV3 / EfficientNet ops: squeeze-excite (global pool, 1x1 convs on the pooled vector as
    /// linear layers, HardSigmoid, the per-channel Mul either way round), x * Sigmoid(x) fused into one
    /// SiLU (either operand order), HardSwish.
    func testMobileOps() throws {
        let model = try build(Proto.tinyCNN().editing { g in
            g.initializer += [Proto.floats("se.fc1.weight", [2, 4, 1, 1], Proto.weights(8, seed: 11)), Proto.floats("se.fc1.bias", [2], [0.1, 0.2]),
                              Proto.floats("se.fc2.weight", [4, 2, 1, 1], Proto.weights(8, seed: 12))]
            g.node.replaceSubrange(2...2, with: [
                Proto.node("GlobalAveragePool", ["r"], ["sp"]),
                Proto.node("Conv", ["sp", "se.fc1.weight", "se.fc1.bias"], ["s1"], Proto.ints("kernel_shape", [1, 1])),
                Proto.node("Sigmoid", ["s1"], ["s1g"]),
                Proto.node("Mul", ["s1g", "s1"], ["s1s"]),
                Proto.node("Conv", ["s1s", "se.fc2.weight"], ["s2"]),
                Proto.node("HardSigmoid", ["s2"], ["s3"], Proto.float("alpha", 1 / 6)),
                Proto.node("Mul", ["s3", "r"], ["m"]),
                Proto.node("Sigmoid", ["m"], ["mg"]),
                Proto.node("Mul", ["m", "mg"], ["ms"]),
                Proto.node("HardSwish", ["ms"], ["h"]),
                Proto.node("GlobalAveragePool", ["h"], ["p"]),
            ])
        })
        XCTAssertEqual(model.graph.nodes.map(\.op.kind), ["conv2d", "relu", "globalavgpool", "linear", "silu", "linear", "hardsigmoid",
                                                          "channelmul", "silu", "hardswish", "globalavgpool", "linear"])
        XCTAssertEqual(model.graph.nodes.map(\.name)[3...9], ["se.fc1", "silu_4", "se.fc2", "hardsigmoid_5", "channelmul_6", "silu_8", "hardswish_9"])
        XCTAssertEqual(try XCTUnwrap(model.tensors["se.fc1.weight"]).shape, [2, 4])
        XCTAssertEqual(model.graph.value("channelmul_6")?.shape, [8, 8, 4])
        XCTAssertEqual(model.graph.nodes[7].inputs, ["relu_1", "hardsigmoid_5"])
        guard case .defined(.hardSigmoid(let h)) = model.graph.nodes[6].op else { return XCTFail("\(model.graph.nodes[6].op)") }
        XCTAssertEqual(h, HardSigmoid(alpha: 1 / 6, beta: 0.5))
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
        assertRefused(Proto.tinyCNN().editing { g in g.output += (0..<64).map { _ in Proto.value("c", [1, 4, 8, 8]) } }, "the ONNX graph has 65 outputs")
        assertRefused(Proto.tinyCNN().editing { g in g.output = [Proto.value("x", [1, 3, 8, 8])] }, "a constant or the input itself")
    }

    /// Several outputs: each becomes a graph output in order, named as in the file; two names of one
    /// tensor (an Identity) are refused.
    func testSeveralOutputs() throws {
        let model = try build(Proto.tinyCNN().editing { g in g.output.append(Proto.value("c", [1, 4, 8, 8])) })
        XCTAssertEqual(model.outputNames, ["y", "c"])
        XCTAssertEqual(model.graph.outputs.map { model.graph.value($0)!.shape }, [[2], [8, 8, 4]])
        assertRefused(Proto.tinyCNN().editing { g in
            g.node.append(Proto.node("Identity", ["y"], ["y2"]))
            g.output.append(Proto.value("y2", [1, 2]))
        }, "the ONNX graph's outputs [\"y\", \"y2\"] name one tensor twice")
    }

    /// Resize, Pad, Softmax, PRelu, LeakyRelu: the nodes they become, and their refusals naming the attribute.
    func testSegmentationOps() throws {
        func tiny(_ edit: (inout Onnx_GraphProto) -> Void) -> Onnx_ModelProto {
            Proto.tinyCNN(opset: 18).editing { g in
                g.node[0].output = ["c0"]
                edit(&g)
            }
        }
        let resized = try build(tiny { g in
            g.initializer.append(Proto.int64s("sizes", [1, 4, 5, 7]))
            g.node.insert(Proto.node("Resize", ["c0", "", "", "sizes"], ["c"], Proto.string("mode", "linear"),
                                     Proto.string("coordinate_transformation_mode", "align_corners")), at: 1)
        })
        guard case .defined(.resize(let r))? = resized.graph.nodes.first(where: { $0.op.kind == "resize" })?.op else {
            return XCTFail("no resize in \(resized.graph.textDump())")
        }
        XCTAssertEqual([r.outHeight, r.outWidth, r.inHeight, r.inWidth], [5, 7, 8, 8])
        XCTAssertEqual(r.coordinates, .alignCorners)
        let padded = try build(tiny { g in
            g.initializer += [Proto.int64s("pads", [0, 0, 1, 2, 0, 0, 3, 4])]
            g.node[0].input[0] = "xp"
            g.node.insert(Proto.node("Pad", ["x", "pads"], ["xp"]), at: 0)
            g.node.insert(Proto.node("LeakyRelu", ["c0"], ["c"], Proto.float("alpha", 0.1)), at: 2)
        })
        XCTAssertEqual(try conv(padded, "conv").padding, [2, 3, 4, 5], "the zero pad is folded into the conv's [1, 1, 1, 1]")
        XCTAssertEqual(padded.graph.value(padded.graph.nodes[0].output)?.shape, [12, 14, 4])
        XCTAssertEqual(padded.tensors.names.filter { $0.hasSuffix(".slopes") }.map { padded.tensors[$0]!.floats }, [[0.1]])

        assertRefused(tiny { g in
            g.initializer.append(Proto.int64s("sizes", [1, 4, 5, 7]))
            g.node.insert(Proto.node("Resize", ["c0", "", "", "sizes"], ["c"], Proto.string("mode", "cubic")), at: 1)
        }, "node '/c/Resize' (Resize): attribute 'mode' = 'cubic': LowBit resizes with nearest or linear")
        assertRefused(tiny { g in
            g.initializer.append(Proto.int64s("sizes", [1, 4, 5, 7]))
            g.node.insert(Proto.node("Resize", ["c0", "", "", "sizes"], ["c"], Proto.string("coordinate_transformation_mode", "tf_crop_and_resize")), at: 1)
        }, "attribute 'coordinate_transformation_mode' = 'tf_crop_and_resize'")
        assertRefused(tiny { g in
            g.initializer.append(Proto.int64s("sizes", [1, 2, 5, 7]))
            g.node.insert(Proto.node("Resize", ["c0", "", "", "sizes"], ["c"]), at: 1)
        }, "sizes [1, 2, 5, 7] for input [1, 4, 8, 8]")
        assertRefused(tiny { g in
            g.initializer.append(Proto.int64s("pads", [0, 0, 1, 1, 0, 0, 1, 1]))
            g.node.insert(Proto.node("Pad", ["c0", "pads"], ["c"], Proto.string("mode", "wrap")), at: 1)
        }, "node '/c/Pad' (Pad): attribute 'mode' = 'wrap': LowBit pads with constant, reflect or edge")
        assertRefused(tiny { g in
            g.initializer.append(Proto.int64s("pads", [0, 1, 0, 0, 0, 0, 0, 0]))
            g.node.insert(Proto.node("Pad", ["c0", "pads"], ["c"]), at: 1)
        }, "LowBit pads H and W only, by amounts >= 0")
        assertRefused(tiny { g in
            g.initializer.append(Proto.int64s("pads", [0, 0, 8, 0, 0, 0, 0, 0]))
            g.node.insert(Proto.node("Pad", ["c0", "pads"], ["c"], Proto.string("mode", "reflect")), at: 1)
        }, "reflect pads [8, 0, 0, 0] must be smaller than the input's 8x8")
        assertRefused(tiny { g in g.node.insert(Proto.node("Softmax", ["c0"], ["c"], Proto.int("axis", 3)), at: 1) },
                      "node '/c/Softmax' (Softmax): attribute 'axis' = 3 on shape [1, 4, 8, 8]")
        assertRefused(tiny { g in
            g.initializer.append(Proto.floats("slope", [3], [0.1, 0.2, 0.3]))
            g.node.insert(Proto.node("PRelu", ["c0", "slope"], ["c"]), at: 1)
        }, "node '/c/PRelu' (PRelu): slope float32[3] is neither one value nor one per channel of input [1, 4, 8, 8]")
    }

    /// The TorchScript exporter's F.pad (here F.pad(x, [1, 2, 3, 0]): 1 left, 2 right, 3 top, 0 bottom) computes
    /// the ONNX pads at run time: ConstantOfShape -> Concat -> Reshape [-1, 2] -> Slice (reverse rows) ->
    /// Transpose -> Reshape [-1] -> Cast. It folds to [0, 0, 3, 1, 0, 0, 0, 2] and the pad into the conv.
    func testTorchScriptPadSubgraphFolds() throws {
        let model = try build(Proto.tinyCNN(opset: 17).editing { g in
            var zero = Onnx_TensorProto()
            zero.dims = [1]
            zero.dataType = ONNXDataType.int64.rawValue
            zero.int64Data = [0]
            g.initializer += [Proto.int64s("four", [4]), Proto.int64s("torch_pads", [1, 2, 3, 0]),
                              Proto.int64s("rows", [-1, 2]), Proto.int64s("flat", [-1]), Proto.int64s("zero", [0]),
                              Proto.int64s("last", [-1]), Proto.int64s("before_first", [-Int64.max]),
                              Proto.int64s("back", [-1])]
            g.node[0].input[0] = "xp"
            g.node.insert(contentsOf: [
                Proto.node("ConstantOfShape", ["four"], ["zeros"], Proto.attribute("value", .tensor) { $0.t = zero }),
                Proto.node("Concat", ["torch_pads", "zeros"], ["both"], Proto.int("axis", 0)),
                Proto.node("Reshape", ["both", "rows"], ["pairs"]),
                Proto.node("Slice", ["pairs", "last", "before_first", "zero", "back"], ["reversed"]),
                Proto.node("Transpose", ["reversed"], ["columns"], Proto.ints("perm", [1, 0])),
                Proto.node("Reshape", ["columns", "flat"], ["onnx_pads"]),
                Proto.node("Cast", ["onnx_pads"], ["pads"], Proto.int("to", Int64(ONNXDataType.int64.rawValue))),
                Proto.node("Pad", ["x", "pads"], ["xp"]),
            ], at: 0)
        })
        // The conv's own [1, 1, 1, 1] plus the pad's top 3, left 1, bottom 0, right 2.
        XCTAssertEqual(try conv(model, "conv").padding, [4, 2, 1, 3])
        XCTAssertEqual(model.graph.nodes.map(\.op.kind), ["conv2d", "relu", "globalavgpool", "linear"], "no pad node left")
        XCTAssertEqual(model.graph.value(model.graph.nodes[0].output)?.shape, [11, 11, 4])
    }

    func testRefusedOpsets() {
        assertRefused(Proto.tinyCNN(opset: 11), "ONNX opset 11: LowBit reads opsets 13-21")
        assertRefused(Proto.tinyCNN(opset: 22), "ONNX opset 22")
        assertRefused(Proto.tinyCNN().editing { g in g.node[1].domain = "com.microsoft" }, "op domain 'com.microsoft' is not supported")
    }

    /// Ops, attributes and values LowBit cannot run: the message names the node, the op and the attribute.
    func testRefusedOpsAndAttributes() {
        assertRefused(Proto.tinyCNN().editing { g in g.node[1].opType = "Softplus" },
                      "node '/r/Relu' (Softplus): op Softplus is not supported; LowBit runs Add, AveragePool, BatchNormalization")
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
        // a product of run-time tensors that is neither SiLU nor per-channel, and one by a constant
        assertRefused(Proto.tinyCNN().editing { g in g.node.insert(Proto.node("Mul", ["c0", "c0"], ["c"]), at: 1); g.node[0].output = ["c0"] },
                      "node '/c/Mul' (Mul): Mul of shapes [1, 4, 8, 8] and [1, 4, 8, 8] is not supported")
        assertRefused(Proto.tinyCNN().editing { g in
            g.initializer.append(Proto.floats("k", [1], [2]))
            g.node.insert(Proto.node("Mul", ["c0", "k"], ["c"]), at: 1)
            g.node[0].output = ["c0"]
        }, "node '/c/Mul' (Mul): Mul of a run-time tensor by a constant is not supported")
        // a Sigmoid read by another node too is not fused into a SiLU, so the Mul is refused
        assertRefused(Proto.tinyCNN().editing { g in
            g.node.insert(contentsOf: [Proto.node("Sigmoid", ["c0"], ["s"]), Proto.node("Mul", ["c0", "s"], ["m"]),
                                       Proto.node("Add", ["m", "s"], ["c"])], at: 1)
            g.node[0].output = ["c0"]
        }, "node '/m/Mul' (Mul): Mul of shapes [1, 4, 8, 8] and [1, 4, 8, 8] is not supported")
        // a constant added to something that is not a layer's output
        assertRefused(Proto.tinyCNN().editing { g in
            g.initializer.append(Proto.floats("k", [1], [1]))
            g.node.insert(Proto.node("Add", ["r0", "k"], ["r"]), at: 2)
            g.node[1].output = ["r0"]
        }, "LowBit runs a constant Add only as the bias of a conv or linear")
        // a 3x3 conv on a pooled vector (a 1x1 one is a linear layer)
        assertRefused(Proto.tinyCNN().editing { g in
            g.initializer.append(Proto.floats("se.weight", [4, 4, 3, 3], Proto.weights(144)))
            g.node.insert(Proto.node("Conv", ["p", "se.weight"], ["p2"], Proto.ints("pads", [1, 1, 1, 1])), at: 3)
            g.node[4].input = ["p2"]
        }, "LowBit runs only 1x1 convs without padding or groups on [1, C, 1, 1] vectors")
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
