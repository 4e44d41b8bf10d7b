// Constant folding of the shape computations exporters write (QConvert's ONNXShapeOps): ConstantOfShape,
// Slice along any axis of a constant with any step, Transpose of a constant; checked against values
// worked out by hand, and their refusals. ONNXSourceTests.testTorchScriptPadSubgraphFolds runs them as the
// TorchScript exporter chains them for F.pad.
import Foundation
import QCheckpoint
@testable import QConvert
@testable import QONNX
import XCTest

final class ONNXConstantFoldingTests: XCTestCase {
    private func node(_ op: String, _ inputs: [String], _ attributes: [String: ONNXAttribute] = [:]) -> ONNXNode {
        ONNXNode(name: "/\(op)", opType: op, domain: "", inputs: inputs, outputs: ["out"], attributes: attributes, index: 0)
    }

    /// Translates `node` with `constants` as initializers (a 4x4 one-channel input 'x' beside them) and
    /// returns what its output 'out' became.
    private func fold(_ node: ONNXNode, _ constants: [(name: String, tensor: CheckpointTensor)]) throws -> ONNXValue? {
        var builder = ONNXGraphBuilder(input: "x", height: 4, width: 4, channels: 1, initializers: constants,
                                       nodes: [node], outputs: ["out"])
        try builder.translate(node)
        return builder.value("out")
    }

    private func constant(_ node: ONNXNode, _ constants: [(name: String, tensor: CheckpointTensor)],
                          file: StaticString = #filePath, line: UInt = #line) throws -> CheckpointTensor? {
        guard case .constant(let t)? = try fold(node, constants) else {
            XCTFail("\(node.opType) did not fold to a constant", file: file, line: line)
            return nil
        }
        return t
    }

    private func assertRefused(_ node: ONNXNode, _ constants: [(name: String, tensor: CheckpointTensor)], _ expected: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try fold(node, constants), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(expected), "'\(error)' lacks '\(expected)'", file: file, line: line)
        }
    }

    /// 0, 1, 2, ... as FLOAT of `shape`.
    private func iota(_ shape: [Int]) -> CheckpointTensor {
        CheckpointTensor(shape: shape, floats: (0..<shape.reduce(1, *)).map(Float.init))
    }

    func testConstantOfShape() throws {
        let filled = try constant(node("ConstantOfShape", ["shape"], ["value": .tensor(int64Tensor([7], shape: [1]))]),
                                  [("shape", int64Tensor([2, 3], shape: [2]))])
        XCTAssertEqual(filled?.dtype, .int64)
        XCTAssertEqual(filled?.shape, [2, 3])
        XCTAssertEqual(filled?.int64Values(), [7, 7, 7, 7, 7, 7])
        let zeros = try constant(node("ConstantOfShape", ["shape"]), [("shape", int64Tensor([4], shape: [1]))])
        XCTAssertEqual(zeros?.dtype, .float32)
        XCTAssertEqual(zeros?.floatValues(), [0, 0, 0, 0])
        let empty = try constant(node("ConstantOfShape", ["shape"]), [("shape", int64Tensor([0], shape: [1]))])
        XCTAssertEqual(empty?.shape, [0])
        assertRefused(node("ConstantOfShape", ["shape"]), [("shape", int64Tensor([1 << 20, 1 << 20], shape: [2]))],
                      "ConstantOfShape of shape [1048576, 1048576]: LowBit folds it only up to")
        assertRefused(node("ConstantOfShape", ["shape"], ["value": .tensor(int64Tensor([1, 2], shape: [2]))]),
                      [("shape", int64Tensor([4], shape: [1]))], "attribute 'value' (TENSOR) is not a one-element tensor")
        assertRefused(node("ConstantOfShape", ["x"]), [], "input ('x') is computed at run time")
    }

    /// Slice of a [2, 3, 4] constant along each axis, forwards and backwards, ends clamped as ONNX says.
    func testSliceAlongAnyAxis() throws {
        func slice(_ start: Int64, _ end: Int64, axis: Int64, step: Int64) throws -> CheckpointTensor? {
            try constant(node("Slice", ["data", "starts", "ends", "axes", "steps"]),
                         [("data", iota([2, 3, 4])), ("starts", int64Tensor([start], shape: [1])),
                          ("ends", int64Tensor([end], shape: [1])), ("axes", int64Tensor([axis], shape: [1])),
                          ("steps", int64Tensor([step], shape: [1]))])
        }
        // data[i, j, k] = 12 i + 4 j + k
        let middle = try slice(2, -Int64.max, axis: 1, step: -2)   // j = 2, 0
        XCTAssertEqual(middle?.shape, [2, 2, 4])
        XCTAssertEqual(middle?.floatValues(), [8, 9, 10, 11, 0, 1, 2, 3, 20, 21, 22, 23, 12, 13, 14, 15])
        let last = try slice(1, 100, axis: -1, step: 2)             // k = 1, 3
        XCTAssertEqual(last?.shape, [2, 3, 2])
        XCTAssertEqual(last?.floatValues(), [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23])
        let first = try slice(-1, -Int64.max, axis: 0, step: -1)    // i = 1, 0
        XCTAssertEqual(first?.floatValues(), (12..<24).map(Float.init) + (0..<12).map(Float.init))
        XCTAssertEqual(try slice(0, 3, axis: 1, step: 1)?.floatValues(), (0..<24).map(Float.init))
        XCTAssertEqual(try slice(3, 1, axis: 1, step: 1)?.shape, [2, 0, 4])
        assertRefused(node("Slice", ["data", "starts", "ends", "axes"]),
                      [("data", iota([2, 3])), ("starts", int64Tensor([0], shape: [1])), ("ends", int64Tensor([1], shape: [1])),
                       ("axes", int64Tensor([2], shape: [1]))], "LowBit folds Slice of a constant along one of its 2 axes")
    }

    /// Transpose of a [2, 3, 4] constant: out[p] = in[perm⁻¹(p)], element by element; the default perm reverses.
    func testTranspose() throws {
        let data = iota([2, 3, 4])
        let t = try XCTUnwrap(try constant(node("Transpose", ["data"], ["perm": .ints([2, 0, 1])]), [("data", data)]))
        XCTAssertEqual(t.shape, [4, 2, 3])
        let out = t.floatValues()
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 {
            XCTAssertEqual(out[(k * 2 + i) * 3 + j], Float(12 * i + 4 * j + k))
        } } }
        let reversed = try XCTUnwrap(try constant(node("Transpose", ["data"]), [("data", data)]))
        XCTAssertEqual(reversed.shape, [4, 3, 2])
        XCTAssertEqual(reversed.floatValues()[(3 * 3 + 1) * 2 + 1], Float(12 + 4 + 3))
        let ints = try constant(node("Transpose", ["data"], ["perm": .ints([1, 0])]), [("data", int64Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]))])
        XCTAssertEqual(ints?.dtype, .int64)
        XCTAssertEqual(ints?.int64Values(), [1, 4, 2, 5, 3, 6])
        assertRefused(node("Transpose", ["data"], ["perm": .ints([0, 0, 1])]), [("data", data)],
                      "attribute 'perm' = [0, 0, 1] is not a permutation of 3 axes")
        assertRefused(node("Transpose", ["x"], ["perm": .ints([0, 2, 3, 1])]), [],
                      "transposes a run-time tensor; LowBit folds Transpose only of constants")
    }
}
