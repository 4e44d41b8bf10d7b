// The ops defined in QGraph/Ops/ through the graph's generic entry points: shape rules and their errors,
// validation, activation typing, the text dump, the Codable form, and the float64 reference formulas.
import Foundation
import QFormat
import QGraph
import XCTest

final class DefinedOpTests: XCTestCase {
    private let unary: [DefinedOp] = [.hardSwish(HardSwish()), .hardSigmoid(HardSigmoid(alpha: 0.2, beta: 0.5)),
                                      .sigmoid(Sigmoid()), .silu(SiLU())]

    func testShapeRules() throws {
        for op in unary {
            XCTAssertEqual(try Graph.inferShape(.defined(op), inputs: [[4, 5, 6]], node: "a"), [4, 5, 6])
            XCTAssertEqual(try Graph.inferShape(.defined(op), inputs: [[7]], node: "a"), [7])
            XCTAssertThrowsError(try Graph.inferShape(.defined(op), inputs: [[7], [7]], node: "a")) { error in
                XCTAssertEqual("\(error)", "node 'a' (\(op.definition.kind)): expects 1 input, has 2")
            }
        }
        let mul = Op.defined(.channelMul(ChannelMul()))
        XCTAssertEqual(try Graph.inferShape(mul, inputs: [[4, 5, 6], [6]], node: "m"), [4, 5, 6])
        XCTAssertEqual(try Graph.inferShape(mul, inputs: [[6], [6]], node: "m"), [6])
        XCTAssertThrowsError(try Graph.inferShape(mul, inputs: [[4, 5, 6], [5]], node: "m")) { error in
            XCTAssertEqual("\(error)", "node 'm' (channelmul): scales [5] are not one per channel of [4, 5, 6]")
        }
        XCTAssertThrowsError(try Graph.inferShape(mul, inputs: [[4, 5, 6]], node: "m"))
    }

    /// A squeeze-excite block as the ONNX source builds it: validated, dumped, round-tripped through JSON.
    func testSqueezeExciteGraphValidatesDumpsAndRoundTrips() throws {
        var g = Graph(input: Value(name: "input", shape: [2, 2, 3]))
        try g.append("hs", .defined(.hardSwish(HardSwish())), inputs: ["input"])
        try g.append("gap", .globalAvgPool, inputs: ["hs"])
        try g.append("gate", .defined(.hardSigmoid(HardSigmoid(alpha: 0.25, beta: 0.5))), inputs: ["gap"])
        try g.append("se", .defined(.channelMul(ChannelMul())), inputs: ["hs", "gate"])
        try g.append("act", .defined(.silu(SiLU())), inputs: ["se"])
        try g.validate(tensors: TensorStore())
        XCTAssertEqual(g.textDump(), """
            input input [2,2,3] f32
            hs: hardswish(input) -> hs [2,2,3] f32
            gap: globalavgpool(hs) -> gap [3] f32
            gate: hardsigmoid(gap) alpha=0.25 beta=0.5 -> gate [3] f32
            se: channelmul(hs, gate) -> se [2,2,3] f32
            act: silu(se) -> act [2,2,3] f32
            output act

            """)
        let decoded = try JSONDecoder().decode(Graph.self, from: JSONEncoder().encode(g))
        XCTAssertEqual(decoded, g)
        // the lowbit.graph form docs/FORMAT.md documents
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        XCTAssertEqual(String(decoding: try encoder.encode(g.nodes[2].op), as: UTF8.self),
                       #"{"defined":{"_0":{"hardSigmoid":{"_0":{"alpha":0.25,"beta":0.5}}}}}"#)
        XCTAssertEqual(String(decoding: try encoder.encode(Op.defined(.slice(ChannelSlice(start: 1, count: 2)))), as: UTF8.self),
                       #"{"defined":{"_0":{"slice":{"_0":{"count":2,"start":1}}}}}"#)

        var bad = g
        bad.nodes[2].op = .defined(.hardSigmoid(HardSigmoid(alpha: .infinity, beta: 0.5)))
        XCTAssertThrowsError(try bad.validate(tensors: TensorStore())) { error in
            XCTAssertEqual("\(error)", "node 'gate' (hardsigmoid): alpha inf and beta 0.5 must be finite")
        }
    }

    /// Their typing is f32: a u8 input or output is refused.
    func testFloatTypingIsChecked() throws {
        var g = Graph(input: Value(name: "input", shape: [2, 2, 3]))
        try g.append("q", .quantize, inputs: ["input"], quant: .uint8(scale: 0.1, zeroPoint: 3))
        try g.append("s", .defined(.sigmoid(Sigmoid())), inputs: ["q"])
        XCTAssertThrowsError(try g.validate(tensors: TensorStore())) { error in
            XCTAssertEqual("\(error)", "node 's' (sigmoid): runs on f32 values only")
        }
    }

    func testChannelConcatAndSlice() throws {
        let concat = Op.defined(.concat(ChannelConcat()))
        XCTAssertEqual(try Graph.inferShape(concat, inputs: [[2, 3, 4], [2, 3, 1], [2, 3, 5]], node: "c"), [2, 3, 10])
        XCTAssertEqual(try Graph.inferShape(concat, inputs: [[4], [6]], node: "c"), [10])
        XCTAssertThrowsError(try Graph.inferShape(concat, inputs: [[2, 3, 4], [3, 2, 4]], node: "c")) { error in
            XCTAssertEqual("\(error)", "node 'c' (concat): inputs [[2, 3, 4], [3, 2, 4]] differ in more than their channels")
        }
        XCTAssertThrowsError(try Graph.inferShape(concat, inputs: [[2, 3, 4]], node: "c"))
        let slice = Op.defined(.slice(ChannelSlice(start: 2, count: 3)))
        XCTAssertEqual(try Graph.inferShape(slice, inputs: [[2, 3, 5]], node: "s"), [2, 3, 3])
        XCTAssertThrowsError(try Graph.inferShape(slice, inputs: [[2, 3, 4]], node: "s")) { error in
            XCTAssertEqual("\(error)", "node 's' (slice): channels 2..<5 are not within the input's [2, 3, 4]")
        }
        XCTAssertThrowsError(try Graph.inferShape(.defined(.slice(ChannelSlice(start: -1, count: 1))), inputs: [[4]], node: "s"))
        // two pixels: [0 1 | 2 3] ++ [10 | 11] -> [0 1 10 | 2 3 11]; channels 1..<3 of that -> [1 10 | 3 11]
        let joined = ChannelConcat().reference([[0, 1, 2, 3], [10, 11]], shape: [1, 2, 2])
        XCTAssertEqual(joined, [0, 1, 10, 2, 3, 11])
        XCTAssertEqual(ChannelSlice(start: 1, count: 2).reference([joined], shape: [1, 2, 3]), [1, 10, 3, 11])
        var g = Graph(input: Value(name: "input", shape: [2, 2, 3]))
        try g.append("s", .defined(.slice(ChannelSlice(start: 1, count: 2))), inputs: ["input"])
        try g.append("c", concat, inputs: ["input", "s"])
        XCTAssertEqual(g.textDump(), """
            input input [2,2,3] f32
            s: slice(input) channels=1..<3 -> s [2,2,2] f32
            c: concat(input, s) -> c [2,2,5] f32
            output c

            """)
    }

    func testReferenceFormulas() {
        let x: [Double] = [-10, -3, -1, 0, 0.5, 3, 10]
        func ref(_ op: DefinedOp, _ inputs: [[Double]]) -> [Double] { op.definition.reference(inputs, shape: [inputs[0].count]) }
        XCTAssertEqual(ref(.hardSwish(HardSwish()), [x]), [0, 0, -1.0 / 3, 0, 0.5 * 3.5 / 6, 3, 10])
        XCTAssertEqual(ref(.hardSigmoid(HardSigmoid(alpha: 0.25, beta: 0.5)), [x]), [0, 0, 0.25, 0.5, 0.625, 1, 1])
        let sigmoid = ref(.sigmoid(Sigmoid()), [x]), silu = ref(.silu(SiLU()), [x])
        for i in x.indices {
            XCTAssertEqual(sigmoid[i], 1 / (1 + exp(-x[i])), accuracy: 1e-15)
            XCTAssertEqual(silu[i], x[i] * sigmoid[i], accuracy: 1e-14)
        }
        XCTAssertEqual(ref(.channelMul(ChannelMul()), [[1, 2, 3, 4, 5, 6], [10, 100]]), [10, 200, 30, 400, 50, 600])
    }
}
