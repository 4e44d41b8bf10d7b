// The method recipes on network depths their training code does not ship (Tests/Fixtures/seeds, written
// by gen_dgms.py, gen_s3.py, gen_equalbits.py): the method is detected, the depth read from the keys,
// and the logits match PyTorch within the tolerances MethodFixtureTests uses for the shipped depths.
import Foundation
import QCheckpoint
import QConvert
import QRuntime
import XCTest

final class MethodDepthFixtureTests: XCTestCase {
    /// DGMS (K = 16) on a CIFAR ResNet-14 (2 blocks per stage, option A), Saver's checkpoint with `network.`.
    func testDGMSResNet14() throws {
        let (model, fixture) = try convert("dgms", "resnet14", recipe: "dgms", arch: "resnet14")
        report(try compare(model, fixture, tolerance: 1e-3, "dgms/resnet14"), "dgms/resnet14")
    }

    /// S3 shift convs on a torchvision-layout ResNet-10 inside a PyTorch Lightning checkpoint (`model.` keys).
    func testS3ResNet10InLightningCheckpoint() throws {
        let checkpoint = try Checkpoint.load(contentsOf: SeedFixture.root.appendingPathComponent("s3/resnet10_lightning.ckpt"))
        XCTAssertEqual(checkpoint.wrapper, "lightning")
        XCTAssertEqual(checkpoint.strippedPrefix, "model.")
        let (model, fixture) = try convert("s3", "resnet10_lightning", recipe: "s3", arch: "resnet10")
        XCTAssertTrue(model.graph.nodes.contains { if case .conv2d(let c) = $0.op { return c.weight.label == "shift3" } else { return false } })
        report(try compare(model, fixture, tolerance: 1e-3, "s3/resnet10_lightning"), "s3/resnet10_lightning")
    }

    /// Equal Bits at prune rate 0.25 (from the file name model0.25.th) on a Bi-Real ResNet-10: its 8 block
    /// convs read sign(x) and run on the binary kernels.
    func testEqualBitsBiRealResNet10() throws {
        let (model, fixture) = try convert("equalbits", "model0.25", recipe: "equal-bits", arch: "bireal-resnet10")
        XCTAssertEqual(model.layerKernels.filter { $0.kernel.hasPrefix("qk_bgemm_") }.count, 8)
        report(try compare(model, fixture, tolerance: 1e-3, "equalbits/model0.25"), "equalbits/model0.25")
    }

    private func report(_ worst: Float, _ label: String) {
        print("\(label): worst |logit - PyTorch| / max |logit| = \(String(format: "%.1e", worst))")
    }
}
