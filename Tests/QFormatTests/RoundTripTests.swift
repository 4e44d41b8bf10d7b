// Writing then reading .lbm files: every dtype and shape, alignment, metadata, determinism, writer checks.
import XCTest
@testable import QFormat
import _QTestSupport

final class RoundTripTests: XCTestCase {
    func testSampleRoundTripFromMemoryAndDisk() throws {
        let writer = try LBMTestFiles.sampleWriter()
        let bytes = try writer.serialized()
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("sample.lbm")
        try writer.write(to: url)
        XCTAssertEqual(try [UInt8](Data(contentsOf: url)), bytes, "write(to:) and serialized() differ")

        for file in [try LBMFile(bytes: bytes, name: "sample"), try LBMFile(contentsOf: url)] {
            XCTAssertEqual(file.version, 1)
            XCTAssertEqual(file.fileSize, bytes.count)
            XCTAssertEqual(file.tensorNames, ["conv1.weight", "conv1.codes", "empty", "scale", "mask"])
            XCTAssertEqual(file.metadata["lowbit.format"], "lbm")
            XCTAssertEqual(file.metadata["lowbit.version"], "1")
            XCTAssertTrue(file.metadata["lowbit.checksum"]!.hasPrefix("xxh64:"))
            XCTAssertEqual(file.metadata["labels"], "chat\nperro\u{1F415}\t\"q\"\\")
            XCTAssertEqual(file.metadata["lowbit.graph"], #"{"ops":[{"op":"conv","in":"x"}]}"#)
            let w = try XCTUnwrap(file.tensor("conv1.weight"))
            XCTAssertEqual(w.dtype, .f32)
            XCTAssertEqual(w.shape, [2, 3])
            XCTAssertEqual(Array(w.bytes.bindMemory(to: Float.self)), [Float](repeating: 1.5, count: 6))
            XCTAssertEqual(Array(file.tensor("conv1.codes")!.bytes.bindMemory(to: Int8.self)), [-1, 2, -3, 4, -5])
            let empty = try XCTUnwrap(file.tensor("empty"))
            XCTAssertEqual(empty.shape, [0, 4])
            XCTAssertEqual(empty.bytes.count, 0)
            XCTAssertNotNil(empty.bytes.baseAddress)
            let scalar = try XCTUnwrap(file.tensor("scale"))
            XCTAssertEqual(scalar.shape, [])
            XCTAssertEqual(scalar.elementCount, 1)
            XCTAssertEqual(scalar.bytes.load(as: Double.self), 2.5)
            XCTAssertEqual(Array(file.tensor("mask")!.bytes), [1, 0, 1])
            XCTAssertNil(file.tensor("__pad__.0"), "padding is not a tensor")
            XCTAssertNil(file.tensor("missing"))
            for view in file.tensors {
                XCTAssertEqual(view.fileOffset % 64, 0, "\(view.name) at \(view.fileOffset)")
                XCTAssertEqual(Int(bitPattern: view.bytes.baseAddress!) % 64, 0, "\(view.name) in memory")
                XCTAssertEqual(view.bytes.baseAddress! - UnsafeRawPointer(file.tensor(file.tensorNames[0])!.bytes.baseAddress!),
                               view.fileOffset - file.tensor(file.tensorNames[0])!.fileOffset, "zero-copy views")
            }
        }
        XCTAssertTrue(try LBMFile(contentsOf: url).isMemoryMapped)
    }

    func testManyDtypesAndShapes() throws {
        var rng = SeededGenerator(seed: 42)
        let shapes: [[Int]] = [[], [0], [1], [7], [3, 5], [2, 0, 3], [1, 1, 1, 1], [4, 3, 3, 3], [65], [17, 3]]
        var writer = LBMWriter()
        var expected: [String: (LBMDType, [Int], [UInt8])] = [:]
        var order: [String] = []
        for dtype in LBMDType.allCases {
            for (i, shape) in shapes.enumerated() {
                let count = dtype.byteCount(shape: shape)!
                let bytes = (0..<count).map { _ in
                    dtype == .bool ? UInt8.random(in: 0...1, using: &rng) : UInt8.random(in: 0...255, using: &rng)
                }
                let name = "\(dtype.rawValue.lowercased()).t\(i)"
                try writer.addTensor(name, dtype: dtype, shape: shape, bytes: bytes)
                expected[name] = (dtype, shape, bytes)
                order.append(name)
            }
        }
        let file = try LBMFile(bytes: try writer.serialized(), name: "many")
        XCTAssertEqual(file.tensorNames, order)
        for (name, (dtype, shape, bytes)) in expected {
            let view = try XCTUnwrap(file.tensor(name))
            XCTAssertEqual(view.dtype, dtype, name)
            XCTAssertEqual(view.shape, shape, name)
            XCTAssertEqual(Array(view.bytes), bytes, name)
            XCTAssertEqual(view.fileOffset % 64, 0, name)
        }
    }

    func testNoTensorsAndUnicodeNames() throws {
        var writer = LBMWriter()
        writer.metadata["ключ 🔑"] = "значение\u{0}\u{1F}é"
        writer.metadata[""] = ""
        let file = try LBMFile(bytes: try writer.serialized(), name: "meta")
        XCTAssertEqual(file.tensorNames, [])
        XCTAssertEqual(file.metadata["ключ 🔑"], "значение\u{0}\u{1F}é")
        XCTAssertEqual(file.metadata[""], "")

        var named = LBMWriter()
        try named.addTensor("poids/ß/🙂", dtype: .u8, shape: [1], bytes: [9])
        // The file must outlive the copy of its bytes (found by toolchain/sanitize.sh: a use after free
        // when the temporary file was released before Array copied the view).
        let namedFile = try LBMFile(bytes: named.serialized(), name: "n")
        withExtendedLifetime(namedFile) {
            XCTAssertEqual(Array(namedFile.tensor("poids/ß/🙂")!.bytes), [9])
        }
    }

    func testOutputIsDeterministicAndDataStartsAligned() throws {
        let a = try LBMTestFiles.sampleWriter().serialized()
        let b = try LBMTestFiles.sampleWriter().serialized()
        XCTAssertEqual(a, b)
        let headerLength = Int(a.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        XCTAssertEqual((8 + headerLength) % 64, 0)
        XCTAssertTrue(a[8..<50].elementsEqual(Array(#"{"__metadata__":{"lowbit.checksum":"xxh64:"#.utf8)))
    }

    func testWriterRejectsBadTensorsAndReservedKeys() throws {
        var writer = LBMWriter()
        XCTAssertThrowsError(try writer.addTensor("a", dtype: .f32, shape: [2], bytes: [0, 0, 0]))
        XCTAssertThrowsError(try writer.addTensor("a", dtype: .f32, shape: [-1], bytes: []))
        XCTAssertThrowsError(try writer.addTensor("a", dtype: .u8, shape: [1 << 40, 1 << 40], bytes: []))
        XCTAssertThrowsError(try writer.addTensor("", dtype: .u8, shape: [0], bytes: []))
        XCTAssertThrowsError(try writer.addTensor("__pad__.0", dtype: .u8, shape: [0], bytes: []))
        XCTAssertThrowsError(try writer.addTensor("__metadata__", dtype: .u8, shape: [0], bytes: []))
        XCTAssertThrowsError(try writer.addTensor("a", dtype: .f32, shape: [2], values: [Int8(1), 2]))
        try writer.addTensor("a", dtype: .u8, shape: [1], bytes: [1])
        XCTAssertThrowsError(try writer.addTensor("a", dtype: .u8, shape: [1], bytes: [1])) { error in
            XCTAssertTrue("\(error)".contains("already added"), "\(error)")
        }
        writer.metadata["lowbit.version"] = "2"
        XCTAssertThrowsError(try writer.serialized()) { error in
            XCTAssertTrue("\(error)".contains("reserved"), "\(error)")
        }
        writer.metadata["lowbit.version"] = nil
        writer.metadata["lowbit.anything-else"] = "is the caller's"
        XCTAssertNoThrow(try writer.serialized())
    }

    func testErrorDescriptionNamesFileAndOffset() {
        XCTAssertEqual(LBMError(file: "m.lbm", offset: 12, message: "bad").description, "m.lbm: byte 12: bad")
        XCTAssertEqual(LBMError(file: "m.lbm", message: "bad").description, "m.lbm: bad")
    }

    /// Writes the sample to $LOWBIT_FORMAT_EXAMPLE when set (used for the Python example in docs/FORMAT.md).
    func testWriteDocsExampleWhenAsked() throws {
        guard let path = ProcessInfo.processInfo.environment["LOWBIT_FORMAT_EXAMPLE"] else { return }
        try LBMTestFiles.sampleWriter().write(to: URL(fileURLWithPath: path))
    }
}
