// The depthwise ImageNet architectures (torchvision MobileNetV2, MNASNet) against their PyTorch
// references (Tests/Fixtures/seeds, written by toolchain/seeds/gen_archs.py): alone in float, under DGMS
// and DeepShift, and MobileNetV2 at u8 on the direct depthwise kernels.
import Foundation
@testable import QConvert
import QCheckpoint
import QGraph
import QRuntime
import _QTestSupport
import XCTest

final class ArchitectureFixtureTests: XCTestCase {
    private static let root = SeedFixture.root

    func testMobileNetV2Float() throws {
        let (model, fixture) = try convert("plain", "mobilenetv2", recipe: "plain", arch: "mobilenet_v2") {
            $0.plain.bits = 32
            $0.plain.firstLastBits = 32
        }
        // 17 inverted residual blocks: 11 keep their shape at width 0.25 (features.1 too: 8 -> 8) and add
        // their input, fused into the projection conv
        XCTAssertEqual(model.graph.nodes.filter { if case .conv2d(let c) = $0.op { return c.residual } else { return false } }.count, 11)
        try compare(model, fixture, tolerance: 1e-3, "plain/mobilenetv2 f32")
    }

    /// w8a8 (dynamic u8 activations): the 17 depthwise 3x3 convs run on the direct dwconv kernels, whose
    /// logits equal the grouped-GEMM path's (exact integer sums, the same epilogue), and top-1 is PyTorch's
    /// (the fixture's inputs have top-2 margins >= 0.15 for this; gen_archs.py).
    func testMobileNetV2U8RunsDepthwiseKernels() throws {
        let fixture = try fixture("plain", "mobilenetv2")
        var options = ConversionOptions()
        options.inputSize = [fixture.input.height, fixture.input.width]
        options.resize = 0
        options.plain.bits = 8
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("mobilenetv2-w8.lbm")
        _ = try Converter.convert(checkpoint: Self.root.appendingPathComponent("plain/\(fixture.checkpoint)"), to: out, options: options)
        let direct = try Model(contentsOf: out), gemm = try Model(contentsOf: out, depthwise: .gemm)
        XCTAssertEqual(direct.layerKernels.filter { $0.kernel.hasPrefix("qk_dwconv_") }.count, 17, "\(direct.layerKernels)")
        XCTAssertFalse(gemm.layerKernels.contains { $0.kernel.hasPrefix("qk_dwconv_") })
        try compare(direct, fixture, tolerance: nil, "plain/mobilenetv2 w8a8")
        let a = Session(model: direct), b = Session(model: gemm)
        for image in fixture.images {
            let img = try ImageReader.read(contentsOf: Self.root.appendingPathComponent(image.path))
            XCTAssertEqual(try a.classify(img), try b.classify(img), image.path)
        }
    }

    /// Every conv but layers.0 is coded (codebook, K = 16) with f32 activations, depthwise 3x3 and 5x5
    /// included: the coded depthwise convs, 3x3 and 5x5, run on the direct fdwconv kernels (no im2col;
    /// the planner once skipped the workspace for every coded depthwise 3x3 conv, u8 input or not,
    /// while they still ran on the GEMM).
    func testDGMSMnasNet() throws {
        let (model, fixture) = try convert("dgms", "mnasnet", recipe: "dgms", arch: "mnasnet")
        try compare(model, fixture, tolerance: 1e-3, "dgms/mnasnet")
    }

    /// DeepShift PS at its default round_to_fixed(16, 16), applied as in PyTorch.
    func testDeepShiftMobileNetV2() throws {
        let (model, fixture) = try convert("deepshift", "mobilenetv2", recipe: "deepshift", arch: "mobilenet_v2") {
            $0.method.fixedPoint = (16, 16)
        }
        try compare(model, fixture, tolerance: 1e-3, "deepshift/mobilenetv2")
    }

    /// Reduced-width layouts are recognised from the keys, and strides come from torchvision's setting.
    func testRecognitionAndStrides() throws {
        XCTAssertEqual(MobileNetV2.blockStrides, [1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1])
        let checkpoint = try Checkpoint.load(contentsOf: Self.root.appendingPathComponent("dgms/mnasnet.pth"))
        guard case .match = MnasNet().recognize(checkpoint) else { return XCTFail("MNASNet not recognised") }
        guard case .mismatch(let reasons) = MobileNetV2().recognize(checkpoint) else { return XCTFail("MNASNet taken for MobileNetV2") }
        XCTAssertTrue(reasons.contains { $0.contains("features.0.0.weight") }, "\(reasons)")
    }
}
