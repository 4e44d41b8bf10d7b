// `qconvert model.onnx` against onnxruntime on the same files (Tests/Fixtures/seeds/onnx, written by
// toolchain/onnx/export.py): torchvision ResNet-18 (dynamo exporter, opset 18), MobileNetV2 (TorchScript
// exporter, opset 17) and a small net with shape subgraphs, MatMul + Add and BatchNormalization nodes
// (opset 13). Float conversions match to 1e-4 x max |output|, w8a8 ones keep top-1.
import Foundation
@testable import QConvert
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class ONNXFixtureTests: XCTestCase {
    private static let fixtures = ["resnet18", "mobilenetv2", "smallnet"]

    func testFloatMatchesONNXRuntime() throws {
        for name in Self.fixtures {
            let (model, fixture) = try convert("onnx", name, recipe: "plain", arch: "onnx") {
                $0.plain.bits = 32
                $0.plain.firstLastBits = 32
            }
            try compare(model, fixture, tolerance: 1e-4, "onnx/\(name) f32")
        }
    }

    func testW8A8KeepsTop1() throws {
        for name in Self.fixtures {
            let (model, fixture) = try convert("onnx", name, recipe: "plain", arch: "onnx") { $0.plain.bits = 8 }
            try compare(model, fixture, tolerance: nil, "onnx/\(name) w8a8")
        }
    }
}
