// Segmentation nets and their ops through `qconvert model.onnx` against onnxruntime (Tests/Fixtures/seeds/
// onnx, written by toolchain/onnx/segmentation.py): torchvision's DeepLabV3 + MobileNetV3-Large layout
// with its two outputs ('out', 'aux'), and an onnx.helper graph with one output per attribute variant of
// Resize, Pad, Softmax, PRelu and LeakyRelu. Float conversions within 1e-4 x max |output| of onnxruntime,
// every output; argmax masks equal on every pixel whose top-2 margin exceeds twice that tolerance.
import Foundation
@testable import QConvert
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class ONNXSegmentationTests: XCTestCase {
    private struct Fixture: Decodable {
        struct Input: Decodable { var path: String }
        var input: Input
        var outputs: [String: String]
    }

    /// Converts onnx/<name>.onnx at `--bits 32` and returns the model, its outputs on the fixture input in
    /// NCHW, and onnxruntime's (output name -> (shape, values)).
    private func run(_ name: String) throws -> (Model, got: [String: ([Int], [Float])], want: [String: ([Int], [Float])]) {
        let folder = SeedFixture.root.appendingPathComponent("onnx")
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: folder.appendingPathComponent("\(name).json")))
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = ConversionOptions()
        options.plain.bits = 32
        options.plain.firstLastBits = 32
        let out = dir.appendingPathComponent("\(name).lbm")
        _ = try Converter.convert(checkpoint: folder.appendingPathComponent("\(name).onnx"), to: out, options: options)
        let model = try Model(contentsOf: out)
        let image = try ImageReader.read(contentsOf: SeedFixture.root.appendingPathComponent(fixture.input.path))
        let outputs = try Session(model: model).runOutputs(image)
        var got: [String: ([Int], [Float])] = [:]
        for (output, values) in zip(model.outputs, outputs) { got[output.name] = NumPyArray.nchw(values, shape: output.shape) }
        let want = try fixture.outputs.mapValues { try NumPyArray.decode(Data(contentsOf: folder.appendingPathComponent($0))) }
        XCTAssertEqual(Set(got.keys), Set(want.keys), "\(name): output names")
        return (model, got, want.mapValues { ($0.shape, $0.values) })
    }

    /// The per-pixel argmax over channels of an NCHW [1, C, H, W] output.
    private func argmax(_ v: [Float], shape: [Int]) -> [Int] {
        let (c, hw) = (shape[1], shape[2] * shape[3])
        return (0..<hw).map { p in (0..<c).max { v[$0 * hw + p] < v[$1 * hw + p] }! }
    }

    /// The pixels whose top-2 margin in `v` exceeds `margin`: an error below margin / 2 cannot move their
    /// argmax (a bilinearly upsampled map has pixels on every class boundary where two scores nearly tie).
    private func decided(_ v: [Float], shape: [Int], margin: Float) -> [Bool] {
        let (c, hw) = (shape[1], shape[2] * shape[3])
        return (0..<hw).map { p in
            let sorted = (0..<c).map { v[$0 * hw + p] }.sorted(by: >)
            return c == 1 || sorted[0] - sorted[1] > margin
        }
    }

    func testDeepLabV3MatchesONNXRuntime() throws {
        let (model, got, want) = try run("deeplabv3")
        XCTAssertEqual(model.outputs.map(\.name), ["out", "aux"])
        for name in ["out", "aux"] {
            let (g, w) = (got[name]!, want[name]!)
            XCTAssertEqual(g.0, w.0, "deeplabv3 \(name) shape")
            let worst = zip(g.1, w.1).map { abs($0 - $1) }.max()! / w.1.map(abs).max()!
            XCTAssertLessThanOrEqual(worst, 1e-4, "deeplabv3 \(name)")
            let (a, b) = (argmax(g.1, shape: g.0), argmax(w.1, shape: w.0))
            let sure = decided(w.1, shape: w.0, margin: 2e-4 * w.1.map(abs).max()!)
            let differing = a.indices.filter { a[$0] != b[$0] }
            XCTAssertEqual(differing.filter { sure[$0] }, [], "deeplabv3 \(name): argmax differs where onnxruntime's margin is > 2e-4 x max")
            print("onnx/deeplabv3 \(name) f32: max |LowBit - onnxruntime| / max |onnxruntime| = \(worst), argmax differs on "
                  + "\(differing.count) of \(a.count) pixels (\(sure.filter { !$0 }.count) with a top-2 margin <= 2e-4 x max)")
        }
    }

    /// The float64 reference (each op's definition in double) of the first output: onnxruntime's within
    /// 1e-4 x max |output|.
    func testDeepLabV3Float64ReferenceMatchesONNXRuntime() throws {
        let (model, _, want) = try run("deeplabv3")
        let image = try ImageReader.read(contentsOf: SeedFixture.root.appendingPathComponent("inputs/3c64x64-7.ppm"))
        let got = try ReferenceExecutor(model: model).classify(image)
        let nchw = NumPyArray.nchw(got.map(Float.init), shape: model.outputs[0].shape)
        let w = want["out"]!
        XCTAssertEqual(nchw.shape, w.0)
        let worst = zip(nchw.values, w.1).map { abs($0 - $1) }.max()! / w.1.map(abs).max()!
        XCTAssertLessThanOrEqual(worst, 1e-4, "deeplabv3 out, float64 reference")
        print("onnx/deeplabv3 out float64 reference: max |reference - onnxruntime| / max |onnxruntime| = \(worst)")
    }

    func testSegmentationOpsMatchONNXRuntime() throws {
        let (model, got, want) = try run("segops")
        let dump = model.graph.textDump()
        let pads = dump.split(separator: "\n").filter { $0.contains(": pad(") }
        XCTAssertEqual(pads.count, 3, "the zero pad before the conv is folded into it; the others stay:\n\(dump)")
        XCTAssertTrue(dump.contains("p=1,2,2,1 8->6"), "folded conv padding:\n\(dump)")
        // the float64 reference of every output (each value as the reference produces it)
        let image = try ImageReader.read(contentsOf: SeedFixture.root.appendingPathComponent("inputs/3c16x16-7.ppm"))
        let input = try Preprocessor.apply(model.info.preprocessing, to: image)
        var reference: [String: [Float]] = [:]
        let outputValues = Dictionary(uniqueKeysWithValues: zip(model.graph.outputs, model.outputs))
        _ = try ReferenceExecutor(model: model).run(input) { value, values in
            if let output = outputValues[value] { reference[output.name] = NumPyArray.nchw(values.map(Float.init), shape: output.shape).values }
        }
        for (name, w) in want.sorted(by: { $0.key < $1.key }) {
            let g = try XCTUnwrap(got[name], name)
            XCTAssertEqual(g.0, w.0, "segops \(name) shape")
            let worst = zip(g.1, w.1).map { abs($0 - $1) }.max()! / w.1.map(abs).max()!
            XCTAssertLessThanOrEqual(worst, 1e-5, "segops \(name)")
            let r = try XCTUnwrap(reference[name], name)
            let worstReference = zip(r, w.1).map { abs($0 - $1) }.max()! / w.1.map(abs).max()!
            XCTAssertLessThanOrEqual(worstReference, 1e-5, "segops \(name) float64 reference")
        }
    }
}
