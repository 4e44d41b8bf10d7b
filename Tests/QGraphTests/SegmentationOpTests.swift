// Resize, SpatialPad and ChannelSoftmax (QGraph/Ops) through the graph's entry points: shape rules and
// their errors, the source tables of each coordinate mode against ONNX's formulas worked by hand, the
// float64 references, and graphs with several outputs (validation, dump, JSON without the key when one).
import Foundation
import QFormat
import QGraph
import XCTest

final class SegmentationOpTests: XCTestCase {
    private func resize(_ mode: Resize.Mode, _ coordinates: Resize.Coordinates, _ rounding: Resize.Rounding = .floor,
                        in n: Int, out m: Int) -> Resize {
        Resize(inHeight: 1, inWidth: n, outHeight: 1, outWidth: m, mode: mode, coordinates: coordinates, rounding: rounding,
               scales: [1, Double(m) / Double(n)])
    }

    func testSourceTables() {
        // half_pixel 2 -> 4: sources -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1)
        XCTAssertEqual(resize(.linear, .halfPixel, in: 2, out: 4).sourceTable(inLength: 2, outLength: 4, scale: 2),
                       [.init(i0: 0, i1: 1, w: 0), .init(i0: 0, i1: 1, w: 0.25), .init(i0: 0, i1: 1, w: 0.75), .init(i0: 1, i1: 1, w: 0)])
        // align_corners 3 -> 5: sources 0, 0.5, 1, 1.5, 2
        XCTAssertEqual(resize(.linear, .alignCorners, in: 3, out: 5).sourceTable(inLength: 3, outLength: 5, scale: 5.0 / 3).map(\.w),
                       [0, 0.5, 0, 0.5, 0])
        // pytorch_half_pixel to one pixel: source 0 (half_pixel would say 1.5 for 4 -> 1)
        XCTAssertEqual(resize(.linear, .pytorchHalfPixel, in: 4, out: 1).sourceTable(inLength: 4, outLength: 1, scale: 0.25),
                       [.init(i0: 0, i1: 1, w: 0)])
        XCTAssertEqual(resize(.linear, .halfPixel, in: 4, out: 1).sourceTable(inLength: 4, outLength: 1, scale: 0.25),
                       [.init(i0: 1, i1: 2, w: 0.5)])
        // nearest, asymmetric x / 2 with floor: 0 0 1 1 2 2; half_pixel 2 -> 4 sources -0.25, 0.25, 0.75, 1.25
        XCTAssertEqual(resize(.nearest, .asymmetric, in: 3, out: 6).sourceTable(inLength: 3, outLength: 6, scale: 2).map(\.i0), [0, 0, 1, 1, 2, 2])
        XCTAssertEqual(resize(.nearest, .halfPixel, .roundPreferFloor, in: 2, out: 4).sourceTable(inLength: 2, outLength: 4, scale: 2).map(\.i0),
                       [0, 0, 1, 1])
        // ties: half_pixel 1 -> 2 at scale 0.5... 4 -> 2: sources 0.5, 2.5
        XCTAssertEqual(resize(.nearest, .halfPixel, .roundPreferFloor, in: 4, out: 2).sourceTable(inLength: 4, outLength: 2, scale: 0.5).map(\.i0), [0, 2])
        XCTAssertEqual(resize(.nearest, .halfPixel, .roundPreferCeil, in: 4, out: 2).sourceTable(inLength: 4, outLength: 2, scale: 0.5).map(\.i0), [1, 3])
        XCTAssertEqual(resize(.nearest, .halfPixel, .ceil, in: 4, out: 2).sourceTable(inLength: 4, outLength: 2, scale: 0.5).map(\.i0), [1, 3])
    }

    func testShapesReferencesAndErrors() throws {
        let up = Resize(inHeight: 1, inWidth: 2, outHeight: 2, outWidth: 4, mode: .linear, coordinates: .halfPixel,
                        rounding: .floor, scales: [2, 2])
        XCTAssertEqual(try Graph.inferShape(.defined(.resize(up)), inputs: [[1, 2, 3]], node: "r"), [2, 4, 3])
        XCTAssertThrowsError(try Graph.inferShape(.defined(.resize(up)), inputs: [[2, 2, 3]], node: "r")) { error in
            XCTAssertEqual("\(error)", "node 'r' (resize): input [2, 2, 3] is not 1x2")
        }
        // a pooled [C] vector is a 1x1 map
        let pooled = Resize(inHeight: 1, inWidth: 1, outHeight: 2, outWidth: 2, mode: .linear, coordinates: .halfPixel,
                            rounding: .floor, scales: [2, 2])
        XCTAssertEqual(try Graph.inferShape(.defined(.resize(pooled)), inputs: [[5]], node: "r"), [2, 2, 5])
        XCTAssertEqual(pooled.reference([[1, 2]], shape: [2]), [1, 2, 1, 2, 1, 2, 1, 2])
        // one channel, x = [0, 8] -> [0, 2, 6, 8] on both rows
        XCTAssertEqual(up.reference([[0, 8]], shape: [1, 2, 1]), [0, 2, 6, 8, 0, 2, 6, 8])

        let pad = SpatialPad(pads: [1, 0, 0, 2], mode: .reflect)
        XCTAssertEqual(try Graph.inferShape(.defined(.pad(pad)), inputs: [[2, 3, 1]], node: "p"), [3, 5, 1])
        // rows: reflect row -1 -> row 1; columns 3, 4 -> 1, 0
        XCTAssertEqual(pad.reference([[1, 2, 3, 4, 5, 6]], shape: [2, 3, 1]), [4, 5, 6, 5, 4, 1, 2, 3, 2, 1, 4, 5, 6, 5, 4])
        XCTAssertEqual(SpatialPad(pads: [0, 1, 0, 1], mode: .edge).reference([[1, 2]], shape: [1, 2, 1]), [1, 1, 2, 2])
        XCTAssertEqual(SpatialPad(pads: [0, 1, 0, 0], mode: .constant, value: 7).reference([[1, 2]], shape: [1, 2, 1]), [7, 1, 2])
        XCTAssertThrowsError(try Graph.inferShape(.defined(.pad(SpatialPad(pads: [2, 0, 0, 0], mode: .reflect))), inputs: [[2, 3, 1]], node: "p")) { error in
            XCTAssertEqual("\(error)", "node 'p' (pad): reflect pads [2, 0, 0, 0] must be smaller than the input's 2x3")
        }

        let softmax = ChannelSoftmax().reference([[0, log(3), 5, 5]], shape: [2, 2])
        XCTAssertEqual(softmax[0], 0.25, accuracy: 1e-15)
        XCTAssertEqual(softmax[1], 0.75, accuracy: 1e-15)
        XCTAssertEqual(softmax[2], 0.5, accuracy: 1e-15)
    }

    func testChannelArithmetic() throws {
        let sub = Op.defined(.arithmetic(ChannelArithmetic(.sub)))
        XCTAssertEqual(try Graph.inferShape(sub, inputs: [[2, 2, 3], [3]], node: "s"), [2, 2, 3])
        XCTAssertEqual(try Graph.inferShape(sub, inputs: [[3], [2, 2, 3]], node: "s"), [2, 2, 3])
        XCTAssertEqual(try Graph.inferShape(sub, inputs: [[2, 2, 3], [2, 2, 3]], node: "s"), [2, 2, 3])
        XCTAssertThrowsError(try Graph.inferShape(sub, inputs: [[2, 2, 3], [2]], node: "s")) { error in
            XCTAssertEqual("\(error)", "node 's' (arith): shapes [2, 2, 3] and [2] are neither equal nor a map and one value per channel")
        }
        // [3] - [1 x 2 x 3]: the vector read at every pixel
        XCTAssertEqual(ChannelArithmetic(.sub).reference([[10, 20, 30], [1, 2, 3, 4, 5, 6]], shape: [3]), [9, 18, 27, 6, 15, 24])
        XCTAssertEqual(ChannelArithmetic(.div).reference([[1, 2, 3, 4], [2, 4]], shape: [2, 2]), [0.5, 0.5, 1.5, 1])
    }

    /// Several outputs: validated, dumped, in the JSON only when there are more than one.
    func testSeveralOutputs() throws {
        var g = Graph(input: Value(name: "input", shape: [2, 2, 3]))
        try g.append("soft", .defined(.softmax(ChannelSoftmax())), inputs: ["input"])
        try g.append("up", .defined(.resize(Resize(inHeight: 2, inWidth: 2, outHeight: 4, outWidth: 4, mode: .nearest,
                                                   coordinates: .asymmetric, rounding: .floor, scales: [2, 2]))), inputs: ["input"])
        let single = String(decoding: try JSONEncoder().encode(g), as: UTF8.self)
        XCTAssertFalse(single.contains("extraOutputs"))
        g.setOutputs(["up", "soft"])
        try g.validate(tensors: TensorStore())
        XCTAssertEqual(g.outputs, ["up", "soft"])
        XCTAssertTrue(g.textDump().hasSuffix("output up, soft\n"))
        XCTAssertEqual(try JSONDecoder().decode(Graph.self, from: JSONEncoder().encode(g)), g)
        XCTAssertEqual(g.consumers(of: "soft"), [-1])
        var renamed = g
        renamed.replaceUses(of: "soft", with: "input")
        XCTAssertEqual(renamed.outputs, ["up", "input"])
        var twice = g
        twice.setOutputs(["up", "up"])
        XCTAssertThrowsError(try twice.validate(tensors: TensorStore()))
        var unknown = g
        unknown.setOutputs(["up", "nothing"])
        XCTAssertThrowsError(try unknown.validate(tensors: TensorStore())) { error in
            XCTAssertEqual("\(error)", "graph output 'nothing' is not a value")
        }
    }
}
