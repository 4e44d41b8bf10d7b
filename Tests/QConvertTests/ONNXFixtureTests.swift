// `qconvert model.onnx` against onnxruntime on the same files (Tests/Fixtures/seeds/onnx, written by
// toolchain/onnx/export.py): torchvision ResNet-18 (dynamo exporter, opset 18), MobileNetV2 (TorchScript
// exporter, opset 17), a small net with shape subgraphs, MatMul + Add and BatchNormalization nodes (opset
// 13) and an onnx.helper graph with the attributes torch does not write (opset 21). Float conversions match
// to 1e-4 x max |output|, w8a8 ones keep top-1; the preprocessing defaults and the flags that override it.
import Foundation
@testable import QConvert
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class ONNXFixtureTests: XCTestCase {
    private static let fixtures = ["resnet18", "mobilenetv2", "mobilenetv3", "efficientnet", "splitnet", "smallnet", "opsmix"]

    /// GPTQ (the default at 4 bits with --calibrate) on ONNX graphs, whose values are named after their
    /// nodes: every weight layer quantized once (a calibration node named after a layer's output value made
    /// GPTQ quantize that layer twice and crash), and the model keeps the float network's top-1.
    func testGPTQOnONNXGraphs() throws {
        for name in ["mobilenetv2", "resnet18"] {
            let (model, fixture, report) = try convertWithReport("onnx", name, recipe: "plain", arch: "onnx") {
                $0.plain.bits = 4
                $0.calibration = SeedFixture.root.appendingPathComponent("inputs")
                $0.calibrationCount = 8
                $0.method.activations = nil
            }
            XCTAssertTrue(report.layers.contains { $0.clip == "hessian" }, "onnx/\(name): \(report.layers.map { $0.clip ?? "-" })")
            let session = Session(model: model)
            var agree = 0
            for image in fixture.images {
                let logits = try session.classify(try ImageReader.read(contentsOf: SeedFixture.root.appendingPathComponent(image.path)))
                XCTAssertTrue(logits.allSatisfy(\.isFinite), "onnx/\(name) \(image.path)")
                if RelativeDifference(logits.map(Double.init), image.logits).sameTop1 { agree += 1 }
            }
            XCTAssertGreaterThan(agree, fixture.images.count / 2, "onnx/\(name): 4-bit GPTQ top-1 agreement")
        }
    }

    func testFloatMatchesONNXRuntime() throws {
        for name in Self.fixtures {
            let (model, fixture) = try convert("onnx", name, recipe: "plain", arch: "onnx") {
                $0.plain.bits = 32
                $0.plain.firstLastBits = 32
            }
            let worst = try compare(model, fixture, tolerance: 1e-4, "onnx/\(name) f32")
            print("onnx/\(name) f32: max |LowBit - onnxruntime| / max |onnxruntime| = \(worst)")
        }
    }

    /// The float64 reference (each op's definition in double, QGraph/Ops/ for the mobile ops) on the
    /// networks with hardswish, sigmoid, SiLU, squeeze-excite, concat and slice: onnxruntime's float32
    /// outputs within 1e-4 x max |output|, the same top-1.
    func testFloat64ReferenceMatchesONNXRuntime() throws {
        for name in ["mobilenetv3", "efficientnet", "splitnet"] {
            let (model, fixture) = try convert("onnx", name, recipe: "plain", arch: "onnx") {
                $0.plain.bits = 32
                $0.plain.firstLastBits = 32
            }
            let reference = try ReferenceExecutor(model: model)
            for image in fixture.images {
                let got = try reference.classify(try ImageReader.read(contentsOf: SeedFixture.root.appendingPathComponent(image.path)))
                let difference = RelativeDifference(got, image.logits)
                XCTAssertLessThanOrEqual(difference.relative, 1e-4, "onnx/\(name) \(image.path) float64 reference: \(difference)")
                XCTAssertTrue(difference.sameTop1, "onnx/\(name) \(image.path) float64 reference: \(difference)")
            }
        }
    }

    func testW8A8KeepsTop1() throws {
        for name in Self.fixtures {
            let (model, fixture) = try convert("onnx", name, recipe: "plain", arch: "onnx") { $0.plain.bits = 8 }
            try compare(model, fixture, tolerance: nil, "onnx/\(name) w8a8")
        }
    }

    /// ONNX carries no preprocessing: ImageNet mean/std at the graph's H, W, plain bilinear, unless
    /// --input-size, --mean, --std, --resize, --antialias and --labels say otherwise (the network,
    /// global-pooled, runs at the new size).
    func testPreprocessingDefaultsAndOverrides() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = SeedFixture.root.appendingPathComponent("onnx/resnet18.onnx")
        var options = ConversionOptions()
        options.plain.bits = 32
        options.plain.firstLastBits = 32
        let plain = try Converter.convert(checkpoint: url, to: dir.appendingPathComponent("default.lbm"), options: options)
        XCTAssertEqual(plain.preprocessing, Preprocessing(inputSize: [64, 64], channels: 3, mean: [0.485, 0.456, 0.406],
                                                          std: [0.229, 0.224, 0.225]))
        XCTAssertEqual(plain.sourceFormat, "onnx")
        XCTAssertEqual(plain.labels, 0)
        let labels = dir.appendingPathComponent("labels.txt")
        try (0..<10).map { "class \($0)" }.joined(separator: "\n").write(to: labels, atomically: true, encoding: .utf8)
        options.inputSize = [96, 80]
        options.mean = [0.5, 0.5, 0.5]
        options.std = [0.25, 0.25, 0.25]
        options.resize = 120
        options.labels = labels
        let out = dir.appendingPathComponent("custom.lbm")
        let custom = try Converter.convert(checkpoint: url, to: out, options: options)
        XCTAssertEqual(custom.preprocessing, Preprocessing(inputSize: [96, 80], channels: 3, mean: [0.5, 0.5, 0.5],
                                                           std: [0.25, 0.25, 0.25], resize: 120))
        XCTAssertEqual(custom.labels, 10)
        let model = try Model(contentsOf: out)
        XCTAssertEqual(model.graph.value(model.graph.input)?.shape, [96, 80, 3])
        let image = try ImageReader.read(contentsOf: SeedFixture.root.appendingPathComponent("inputs/3c64x64-1.ppm"))
        XCTAssertEqual(try Session(model: model).classify(image).count, 10)
        XCTAssertNil(custom.preprocessing.antialias)
        for antialias in [true, false] {
            options.antialias = antialias
            let report = try Converter.convert(checkpoint: url, to: dir.appendingPathComponent("aa.lbm"), options: options)
            XCTAssertEqual(report.preprocessing.antialias, antialias)
            XCTAssertEqual(try Model(contentsOf: dir.appendingPathComponent("aa.lbm")).info.preprocessing.antialias, antialias)
        }
    }
}
