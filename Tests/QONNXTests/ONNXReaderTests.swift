// The ONNX reader on well-formed input: the fixtures, every typed data field, node ordering, detection.
import Foundation
import QCheckpoint
@testable import QONNX
import _QTestSupport
import XCTest

final class ONNXReaderTests: XCTestCase {
    static let fixtures = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/seeds/onnx")

    func testReadsTheFixtures() throws {
        let model = try ONNXModel.load(contentsOf: Self.fixtures.appendingPathComponent("smallnet.onnx"))
        XCTAssertEqual(model.defaultOpset, 13)
        XCTAssertEqual(model.producer, "pytorch 2.13.0")
        XCTAssertEqual(model.graph.inputs.map(\.name), ["image"])
        XCTAssertEqual(model.graph.inputs[0].shape, [.parameter("batch"), .value(3), .value(64), .value(64)])
        XCTAssertEqual(model.graph.inputs[0].elementType, .float)
        XCTAssertEqual(model.graph.outputs.map(\.name), ["logits"])
        let stem = try XCTUnwrap(model.graph.initializers.first { $0.name == "stem.weight" })
        XCTAssertEqual(stem.tensor.shape, [16, 3, 3, 3])
        XCTAssertEqual(stem.tensor.dtype, .float32)
        let conv = try XCTUnwrap(model.graph.nodes.first { $0.opType == "Conv" })
        XCTAssertEqual(conv.attributes["pads"], .ints([1, 1, 1, 1]))
        XCTAssertEqual(conv.attributes["group"], .int(1))
        for name in ["resnet18", "mobilenetv2"] {
            let m = try ONNXModel.load(contentsOf: Self.fixtures.appendingPathComponent("\(name).onnx"))
            XCTAssertFalse(m.graph.nodes.isEmpty, name)
        }
    }

    /// float_data, int64_data, double_data and int32_data (8/16-bit integers, bool, float16 bit patterns)
    /// hold the same values as raw_data would.
    func testTypedDataFields() throws {
        func tensor(_ type: ONNXDataType, _ fill: (inout Onnx_TensorProto) -> Void) -> Onnx_TensorProto {
            var t = Onnx_TensorProto()
            t.name = "t\(type.rawValue)"
            t.dims = [2]
            t.dataType = type.rawValue
            fill(&t)
            return t
        }
        let tensors = [tensor(.float) { $0.floatData = [1.5, -2] }, tensor(.int64) { $0.int64Data = [-3, 1 << 40] },
                       tensor(.double) { $0.doubleData = [0.25, 1e300] }, tensor(.int8) { $0.int32Data = [-128, 127] },
                       tensor(.uint8) { $0.int32Data = [0, 255] }, tensor(.bool) { $0.int32Data = [1, 0] },
                       tensor(.int16) { $0.int32Data = [-300, 300] }, tensor(.int32) { $0.int32Data = [-70000, 70000] },
                       tensor(.float16) { $0.int32Data = [0x3C00, 0xC000] }]
        let model = try ONNXModel.load(bytes: Proto.bytes(Proto.tinyCNN().editing { $0.initializer += tensors }), name: "typed")
        func values(_ type: ONNXDataType) throws -> CheckpointTensor {
            try XCTUnwrap(model.graph.initializers.first { $0.name == "t\(type.rawValue)" }?.tensor)
        }
        XCTAssertEqual(try values(.float).floatValues(), [1.5, -2])
        XCTAssertEqual(try values(.int64).int64Values(), [-3, 1 << 40])
        XCTAssertEqual(try values(.double).dtype, .float64)
        XCTAssertEqual(try values(.double).floatValues()[0], 0.25)
        XCTAssertEqual(try values(.int8).int64Values(), [-128, 127])
        XCTAssertEqual(try values(.uint8).int64Values(), [0, 255])
        XCTAssertEqual(try values(.bool).int64Values(), [1, 0])
        XCTAssertEqual(try values(.int16).int64Values(), [-300, 300])
        XCTAssertEqual(try values(.int32).int64Values(), [-70000, 70000])
        XCTAssertEqual(try values(.float16).floatValues(), [1, -2])
    }

    /// Nodes out of order are sorted so every producer comes first.
    func testSortsNodesIntoExecutionOrder() throws {
        let model = try ONNXModel.load(bytes: Proto.bytes(Proto.tinyCNN().editing { $0.node.reverse() }), name: "reversed")
        XCTAssertEqual(model.graph.nodes.map(\.opType), ["Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm"])
        XCTAssertEqual(model.graph.nodes.map(\.index), [4, 3, 2, 1, 0])
    }

    func testDetection() throws {
        XCTAssertTrue(ONNXModel.looksLikeONNX(Proto.bytes(Proto.tinyCNN())))
        for name in ["resnet18", "mobilenetv2", "smallnet"] {
            let bytes = try Data(contentsOf: Self.fixtures.appendingPathComponent("\(name).onnx"))
            XCTAssertTrue(ONNXModel.looksLikeONNX(bytes.prefix(3)), name)
        }
        XCTAssertFalse(ONNXModel.looksLikeONNX(Data("PK\u{3}\u{4}".utf8)))            // zip (torch.save)
        XCTAssertFalse(ONNXModel.looksLikeONNX(Data([0x80, 0x02, 0x8a])))           // legacy pickle
        XCTAssertFalse(ONNXModel.looksLikeONNX(Data([0x08, 0x01, 0, 0, 0, 0, 0, 0]))) // safetensors header size 264
        XCTAssertFalse(ONNXModel.looksLikeONNX(Data([0x08])))
    }
}
