// Hostile ONNX files: each is refused with a message naming what is wrong — never a crash, a hang or an
// allocation sized by a claim the file does not back with bytes.
import Foundation
@testable import QONNX
import _QTestSupport
import XCTest

final class HostileONNXTests: XCTestCase {
    /// Loads `model` and expects an ONNXError whose message contains `expected`.
    private func assertRefused(_ model: Onnx_ModelProto, _ expected: String, limits: ONNXReadLimits = .default,
                               file: StaticString = #filePath, line: UInt = #line) {
        assertRefused(Proto.bytes(model), expected, limits: limits, file: file, line: line)
    }

    private func assertRefused(_ bytes: Data, _ expected: String, limits: ONNXReadLimits = .default,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ONNXModel.load(bytes: bytes, name: "hostile.onnx", limits: limits), file: file, line: line) { error in
            guard let error = error as? ONNXError else { return XCTFail("not an ONNXError: \(error)", file: file, line: line) }
            XCTAssertEqual(error.file, "hostile.onnx", file: file, line: line)
            XCTAssertTrue(error.message.contains(expected), "'\(error.message)' lacks '\(expected)'", file: file, line: line)
        }
    }

    func testTheBaseModelIsValid() throws {
        let model = try ONNXModel.load(bytes: Proto.bytes(Proto.tinyCNN()), name: "tiny")
        XCTAssertEqual(model.graph.nodes.count, 5)
    }

    /// Every proper prefix of a real file is refused (truncated inside a field, or without the fields that
    /// come last).
    func testTruncatedFiles() throws {
        let bytes = try Data(contentsOf: ONNXReaderTests.fixtures.appendingPathComponent("smallnet.onnx"))
        var cuts = Array(0..<200) + Array(stride(from: 200, to: bytes.count, by: 97)) + [bytes.count - 1]
        cuts.removeAll { $0 >= bytes.count }
        for cut in cuts {
            XCTAssertThrowsError(try ONNXModel.load(bytes: bytes.prefix(cut), name: "cut"), "prefix of \(cut) bytes")
        }
    }

    /// Random single-bit and byte flips of a real file: loaded or refused with an ONNXError, nothing else.
    func testBitFlips() throws {
        let bytes = try Data(contentsOf: ONNXReaderTests.fixtures.appendingPathComponent("smallnet.onnx"))
        var rng = SeededGenerator(seed: 17)
        var refused = 0
        for trial in 0..<1500 {
            var flipped = bytes
            let position = Int(rng.next() % UInt64(bytes.count))
            if trial % 2 == 0 { flipped[position] ^= UInt8(1 << (rng.next() % 8)) } else { flipped[position] = UInt8(rng.next() & 0xff) }
            do {
                _ = try ONNXModel.load(bytes: flipped, name: "flip")
            } catch is ONNXError {
                refused += 1
            } catch {
                XCTFail("flip at \(position): \(error)")
            }
        }
        XCTAssertGreaterThan(refused, 0)
    }

    func testNotONNX() {
        assertRefused(Data(), "no ir_version or no graph")
        assertRefused(Data("PK\u{3}\u{4} not a model".utf8), "not an ONNX model")
        assertRefused(Data([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), "ONNX model")  // PNG
        assertRefused(Proto.tinyCNN().withoutOpsets, "imports no operator set")
        assertRefused(Proto.bytes(Proto.tinyCNN()), "larger than the 100-byte limit", limits: ONNXReadLimits(maxFileBytes: 100))
    }

    func testCycles() {
        assertRefused(Proto.tinyCNN().editing { g in
            g.node[1].input = ["c", "p"]  // Relu reads the pool that reads it
        }, "the graph has a cycle")
        assertRefused(Proto.tinyCNN().editing { g in g.node[1].input = ["r"] }, "node '/r/Relu' (Relu) reads its own output")
    }

    func testAbsurdDimsAndClaims() {
        // a billion-element claim backed by 12 bytes (over the byte limit), and one of 10^8 (under it)
        assertRefused(Proto.tinyCNN().editing { g in
            g.initializer[0] = Proto.floats("conv.weight", [1000, 1000, 1000], [1, 2, 3])
        }, "claims 1000000000 elements of FLOAT (dims [1000, 1000, 1000]): 4000000000 bytes, more than the 2147483648-byte limit")
        assertRefused(Proto.tinyCNN().editing { g in
            g.initializer[0] = Proto.floats("conv.weight", [100, 1000, 1000], [1, 2, 3])
        }, "claims 100000000 elements of FLOAT (dims [100, 1000, 1000]), 400000000 bytes, but raw_data holds 12 bytes")
        assertRefused(Proto.tinyCNN().editing { g in g.initializer[0].dims = [-4, 3, 3, 3] }, "has dimension -4")
        assertRefused(Proto.tinyCNN().editing { g in g.initializer[0].dims = [1 << 31, 1 << 31, 1 << 31] }, "outside 0...")
        assertRefused(Proto.tinyCNN().editing { g in g.initializer[0].dims = [1 << 30, 1 << 30, 1 << 30] }, "more than")
        assertRefused(Proto.tinyCNN().editing { g in g.initializer[0].dims = Array(repeating: 1, count: 40) }, "40 dimensions")
        assertRefused(Proto.tinyCNN().editing { g in
            g.input[0].type.tensorType.shape.dim[2].dimValue = -7
        }, "value 'x' has dimension -7")
        assertRefused(Proto.tinyCNN().editing { g in
            g.input[0].type.tensorType.shape.dim[2].dimValue = 1 << 40
        }, "value 'x' has dimension 1099511627776")
    }

    func testExternalDataIsRefused() {
        assertRefused(Proto.tinyCNN().editing { g in
            g.initializer[0].rawData = Data()
            g.initializer[0].dataLocation = .external
            var location = Onnx_StringStringEntryProto()
            location.key = "location"
            location.value = "../../etc/passwd"
            g.initializer[0].externalData = [location]
        }, "external data is refused")
    }

    func testWrongDataSizesAndTypes() {
        assertRefused(Proto.tinyCNN().editing { g in g.initializer[1].rawData.removeLast() }, "raw_data holds 15 bytes")
        assertRefused(Proto.tinyCNN().editing { g in g.initializer.append(Proto.int64s("shape", [1, 2, 3], dims: [4])) },
                      "int64_data holds 3 values")
        assertRefused(Proto.tinyCNN().editing { g in
            var t = Proto.int64s("shape", [1, 2])
            t.floatData = [1, 2]
            g.initializer.append(t)
        }, "holds its data in float_data, not int64_data")
        assertRefused(Proto.tinyCNN().editing { g in
            var t = g.initializer[1]
            t.floatData = [1, 2, 3, 4]
            g.initializer[1] = t
        }, "has both raw_data and float_data")
        assertRefused(Proto.tinyCNN().editing { g in
            var t = Onnx_TensorProto()
            t.name = "bytes"
            t.dims = [1]
            t.dataType = ONNXDataType.int8.rawValue
            t.int32Data = [300]
            g.initializer.append(t)
        }, "holds 300 in int32_data")
        assertRefused(Proto.tinyCNN().editing { g in g.initializer[1].dataType = 99 }, "unknown data type 99")
        assertRefused(Proto.tinyCNN().editing { g in g.initializer[1].dataType = ONNXDataType.string.rawValue }, "data type STRING")
        assertRefused(Proto.tinyCNN().editing { g in g.initializer[1].dataType = ONNXDataType.int64.rawValue }, "raw_data holds 16 bytes")
    }

    func testDuplicateNames() {
        assertRefused(Proto.tinyCNN().editing { g in g.initializer.append(g.initializer[0]) }, "value 'conv.weight' is defined twice")
        assertRefused(Proto.tinyCNN().editing { g in g.node[1].output = ["conv.bias"] }, "value 'conv.bias' is defined twice")
        assertRefused(Proto.tinyCNN().editing { g in g.node[2].output = ["c"] }, "value 'c' is defined twice")
        assertRefused(Proto.tinyCNN().editing { g in g.input.append(g.input[0]) }, "graph input 'x' is listed twice")
        assertRefused(Proto.tinyCNN().editing { g in g.node[0].attribute.append(Proto.int("group", 1)); g.node[0].attribute.append(Proto.int("group", 2)) },
                      "attribute 'group' is given twice")
    }

    func testMissingValues() {
        assertRefused(Proto.tinyCNN().editing { g in g.initializer.remove(at: 0) },
                      "node '/c/Conv' (Conv) reads 'conv.weight', which no graph input, initializer or node defines")
        assertRefused(Proto.tinyCNN().editing { g in g.output[0].name = "z" }, "graph output 'z' is not defined")
        assertRefused(Proto.tinyCNN().editing { g in g.node[0].opType = "" }, "has no op_type")
    }

    func testUnsupportedStructures() {
        assertRefused(Proto.tinyCNN().editing { g in
            g.node.append(Proto.node("If", ["p"], ["q"], Proto.attribute("then_branch", .graph) { $0.g = Onnx_GraphProto() }))
        }, "control flow (If, Loop, Scan) is not supported")
        assertRefused(Proto.tinyCNN().editing { g in
            var sparse = Onnx_SparseTensorProto()
            sparse.values = Proto.floats("s", [1], [1])
            g.sparseInitializer = [sparse]
        }, "sparse initializers are not supported")
        assertRefused(Proto.tinyCNN().editing { g in
            g.node[0].attribute.append(Proto.attribute("untyped", .undefined) { _ in })
        }, "attribute 'untyped' has no type")
    }

    /// Subgraphs nested 40 deep stop at the decoder's depth limit before anything is walked.
    func testDeepNesting() {
        var inner = Onnx_GraphProto()
        for depth in 0..<40 {
            var graph = Onnx_GraphProto()
            graph.node = [Proto.node("Loop", [], ["o\(depth)"], Proto.attribute("body\(depth)", .graph) { [inner] in $0.g = inner })]
            inner = graph
        }
        assertRefused(Proto.model(inner), "nested deeper than 32")
    }

    func testNodeLimit() {
        assertRefused(Proto.tinyCNN(), "5 nodes is more than the 4-node limit", limits: ONNXReadLimits(maxNodes: 4))
    }
}

private extension Onnx_ModelProto {
    var withoutOpsets: Onnx_ModelProto {
        var m = self
        m.opsetImport = []
        return m
    }
}
