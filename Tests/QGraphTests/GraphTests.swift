import QFormat
import QGraph
import XCTest

final class GraphTests: XCTestCase {
    private func convOp(_ cin: Int, _ cout: Int, k: Int = 3, stride: Int = 1, pad: Int = 1, groups: Int = 1,
                        residual: Bool = false, weight: WeightDescriptor = .float32("w")) -> Op {
        .conv2d(Conv2D(inChannels: cin, outChannels: cout, kernel: [k, k], stride: [stride, stride],
                       padding: [pad, pad, pad, pad], groups: groups, weight: weight, residual: residual))
    }

    func testShapeInferenceFollowsPyTorchArithmetic() throws {
        XCTAssertEqual(try Graph.inferShape(convOp(3, 16), inputs: [[32, 32, 3]], node: "c"), [32, 32, 16])
        XCTAssertEqual(try Graph.inferShape(convOp(16, 32, stride: 2), inputs: [[32, 32, 16]], node: "c"), [16, 16, 32])
        XCTAssertEqual(try Graph.inferShape(convOp(3, 64, k: 7, stride: 2, pad: 3), inputs: [[224, 224, 3]], node: "c"), [112, 112, 64])
        let pool = Op.maxPool(Pool(kernel: [3, 3], stride: [2, 2], padding: [1, 1, 1, 1]))
        XCTAssertEqual(try Graph.inferShape(pool, inputs: [[112, 112, 64]], node: "p"), [56, 56, 64])
        XCTAssertEqual(try Graph.inferShape(.shortcutA(padChannels: 8), inputs: [[32, 32, 16]], node: "s"), [16, 16, 32])
        XCTAssertEqual(try Graph.inferShape(.shortcutA(padChannels: 1), inputs: [[7, 5, 2]], node: "s"), [4, 3, 4])
        XCTAssertEqual(try Graph.inferShape(.globalAvgPool, inputs: [[8, 8, 64]], node: "g"), [64])
        XCTAssertEqual(try Graph.inferShape(.flatten, inputs: [[2, 3, 4]], node: "f"), [24])
    }

    func testShapeErrorsAreClear() {
        XCTAssertThrowsError(try Graph.inferShape(convOp(4, 8), inputs: [[8, 8, 3]], node: "bad")) { error in
            XCTAssertTrue("\(error)".contains("3 channels"), "\(error)")
        }
        XCTAssertThrowsError(try Graph.inferShape(convOp(3, 8, k: 5, pad: 0), inputs: [[2, 2, 3]], node: "tiny"))
        XCTAssertThrowsError(try Graph.inferShape(.add(.none), inputs: [[2, 2, 3], [2, 2, 4]], node: "a"))
        XCTAssertThrowsError(try Graph.inferShape(convOp(6, 8, groups: 4), inputs: [[4, 4, 6]], node: "g"))
    }

    func testValidationChecksTensorsAndTypes() throws {
        var g = Graph(input: Value(name: "input", shape: [4, 4, 2]))
        try g.append("conv", convOp(2, 3), inputs: ["input"])
        try g.append("gap", .globalAvgPool, inputs: ["conv"])
        var store = TensorStore()
        XCTAssertThrowsError(try g.validate(tensors: store)) { XCTAssertTrue("\($0)".contains("'w' is not in the file"), "\($0)") }
        store.set("w", StoredTensor(floats: [Float](repeating: 0, count: 3 * 17), shape: [3, 17]))
        XCTAssertThrowsError(try g.validate(tensors: store)) { XCTAssertTrue("\($0)".contains("expected F32[3, 18]"), "\($0)") }
        store.set("w", StoredTensor(floats: [Float](repeating: 0, count: 3 * 18), shape: [3, 18]))
        XCTAssertNoThrow(try g.validate(tensors: store))

        // A quantized conv may read an f32 value (weights-only quantization) but needs its codes...
        var q = g
        q.nodes[0].op = convOp(2, 3, weight: WeightDescriptor(scheme: .uniform, bits: 4, codes: "c", lut: Array(-7...8), scale: "s"))
        XCTAssertThrowsError(try q.validate(tensors: store)) { XCTAssertTrue("\($0)".contains("codes tensor 'c'"), "\($0)") }
        // ...and an f32-weight conv on a u8 value is rejected.
        var u = Graph(input: Value(name: "input", shape: [4, 4, 2]))
        try u.append("q", .quantize, inputs: ["input"])
        u.values[1].quant = .uint8(scale: 0.1, zeroPoint: 0)
        try u.append("conv", convOp(2, 3), inputs: ["q"])
        try u.append("gap", .globalAvgPool, inputs: ["conv"])
        XCTAssertThrowsError(try u.validate(tensors: store)) { XCTAssertTrue("\($0)".contains("f32 weights need an f32 input"), "\($0)") }

        // Reading a value before it is produced is rejected.
        var order = g
        order.nodes.swapAt(0, 1)
        XCTAssertThrowsError(try order.validate(tensors: store))
    }

    /// Shift weights must have a table of 0 / +-2^e entries; packed codes are [roundup(OC, 16), rowBytes].
    func testShiftWeightsAndPackedShapesAreChecked() throws {
        var g = Graph(input: Value(name: "input", shape: [4, 4, 2]))
        try g.append("q", .quantize, inputs: ["input"])
        g.values[1].quant = .uint8(scale: 0.1, zeroPoint: 3)
        let table = [0, 1, 2, 4, 8, 16, 32, 64, 0, -1, -2, -4, -8, -16, -32, -64]
        try g.append("conv", convOp(2, 3, weight: WeightDescriptor(scheme: .shift, bits: 4, codes: "c", lut: table, scale: "s")),
                     inputs: ["q"])
        var store = TensorStore()
        store.set("s", StoredTensor(floats: [1, 1, 1], shape: [3]))
        store.set("c", StoredTensor(dtype: .u8, shape: [3, 16], bytes: [UInt8](repeating: 0, count: 48)))
        XCTAssertThrowsError(try g.validate(tensors: store)) { XCTAssertTrue("\($0)".contains("expected U8[16, 16]"), "\($0)") }
        store.set("c", StoredTensor(dtype: .u8, shape: [16, 16], bytes: [UInt8](repeating: 0, count: 256)))
        XCTAssertNoThrow(try g.validate(tensors: store))
        var bad = g
        var badTable = table
        badTable[3] = 3
        bad.nodes[1].op = convOp(2, 3, weight: WeightDescriptor(scheme: .shift, bits: 4, codes: "c", lut: badTable, scale: "s"))
        XCTAssertThrowsError(try bad.validate(tensors: store)) { XCTAssertTrue("\($0)".contains("0 and +-2^e"), "\($0)") }
    }

    func testPackedRowBytes() {
        XCTAssertEqual(WeightDescriptor.packedRowBytes(k: 27, bits: 4), 16)
        XCTAssertEqual(WeightDescriptor.packedRowBytes(k: 32, bits: 3), 12)
        XCTAssertEqual(WeightDescriptor.packedRowBytes(k: 33, bits: 2), 16)
        XCTAssertEqual(WeightDescriptor.packedRowBytes(k: 576, bits: 8), 576)
        XCTAssertEqual(WeightDescriptor.packedRowBytes(k: 64, bits: 1), 8)
    }

    func testQuantFitIncludesZero() {
        let (s, z) = ActivationQuant.fit(min: 0, max: 2.55)
        XCTAssertEqual(z, 0)
        XCTAssertEqual(s, 0.01, accuracy: 1e-7)
        let (s2, z2) = ActivationQuant.fit(min: -0.5, max: 2.05)
        XCTAssertEqual(z2, 50)
        XCTAssertEqual(s2, 0.01, accuracy: 1e-7)
        XCTAssertEqual(ActivationQuant.fit(min: 0, max: 0).scale, 1)
    }

    func testTextDumpIsStable() throws {
        var g = Graph(input: Value(name: "input", shape: [8, 8, 3]))
        try g.append("conv1", convOp(3, 4), inputs: ["input"], quant: .float32)
        try g.append("pool", .maxPool(Pool(kernel: [2, 2], stride: [2, 2])), inputs: ["conv1"])
        try g.append("q", .quantize, inputs: ["pool"], quant: .uint8(scale: 0.05, zeroPoint: 3))
        XCTAssertEqual(g.textDump(), """
            input input [8,8,3] f32
            conv1: conv2d(input) k=3x3 s=1x1 p=1,1,1,1 3->4 w=f32 -> conv1 [8,8,4] f32
            pool: maxpool(conv1) k=2x2 s=2x2 p=0,0,0,0 -> pool [4,4,4] f32
            q: quantize(pool) -> q [4,4,4] u8(s=0.05,z=3)
            output q

            """)
    }
}
