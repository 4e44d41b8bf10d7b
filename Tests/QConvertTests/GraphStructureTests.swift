// The structure recipes ask the float graph for (GraphStructure.swift), on the fixtures' real layouts:
// the stem, the convs on shortcut branches, the convs that read sign activations.
import Foundation
@testable import QConvert
import QCheckpoint
import QGraph
import _QTestSupport
import XCTest

final class GraphStructureTests: XCTestCase {
    /// The float graph of a fixture checkpoint as the converter builds it (the recipe's source view).
    private func graph(_ path: String) throws -> Graph {
        let checkpoint = try Checkpoint.load(contentsOf: SeedFixture.root.appendingPathComponent(path))
        let (recipe, _) = try Recipes.resolve(nil, checkpoint)
        let source = try recipe.sourceCheckpoint(checkpoint, options: ConversionOptions())
        return try StateDictSource(checkpoint: source).floatModel(arch: nil).0.graph
    }

    private func convs(_ graph: Graph) -> [String] {
        graph.nodes.filter { if case .conv2d = $0.op { return true } else { return false } }.map(\.name)
    }

    /// torchvision-style projection shortcuts (`downsample.0`) on a Bottleneck net; every other conv is on
    /// the residual branch.
    func testProjectionShortcutsOfABottleneckNet() throws {
        let g = try graph("anyprec/resnet50q.pth.tar")
        XCTAssertEqual(g.inputConvs, ["conv1"])
        let expected = Set(convs(g).filter { $0.hasSuffix("downsample.0") })
        XCTAssertFalse(expected.isEmpty)
        XCTAssertEqual(g.shortcutConvs, expected)
    }

    /// Pre-activation CIFAR blocks with `skip_conv` where the shape changes.
    func testSkipConvsOfAPreActivationNet() throws {
        let g = try graph("anyprec/resnet20q.pth.tar")
        let expected = Set(convs(g).filter { $0.contains("skip_conv") })
        XCTAssertEqual(expected.count, 2)
        XCTAssertEqual(g.shortcutConvs, expected)
        XCTAssertEqual(g.inputConvs.count, 1)
    }

    /// Identity and option-A shortcuts have no convs; MobileNetV2's inverted residuals neither.
    func testIdentityShortcutsNameNoConv() throws {
        XCTAssertEqual(try graph("deepshift/resnet20_q.pth.tar").shortcutConvs, [])
        let mobile = try graph("plain/mobilenetv2.pth")
        XCTAssertEqual(mobile.shortcutConvs, [])
        XCTAssertEqual(mobile.inputConvs, ["features.0.0"])
    }

    /// Bi-Real: the block convs read sign(x); the stem and the downsample convs do not.
    func testSignInputConvsOfBiReal() throws {
        let g = try graph("equalbits/model0.0.th")
        let blockConvs = Set(convs(g).filter { $0.hasPrefix("layer") && ($0.hasSuffix(".conv1") || $0.hasSuffix(".conv2")) })
        XCTAssertFalse(blockConvs.isEmpty)
        XCTAssertEqual(g.signInputConvs, blockConvs)
    }

    /// A layer's weights read back in PyTorch's layout are the checkpoint's, and setting them round-trips.
    func testPytorchWeightLayoutRoundTrips() throws {
        let url = SeedFixture.root.appendingPathComponent("deepshift/resnet20_q.pth.tar")
        let checkpoint = try Checkpoint.load(contentsOf: url)
        var (model, _) = try StateDictSource(checkpoint: checkpoint).floatModel(arch: nil)
        let stored = checkpoint.tensor("layer2.0.conv1.weight")!
        let read = try XCTUnwrap(model.pytorchWeights(of: "layer2.0.conv1"))
        XCTAssertEqual(read.shape, stored.shape)
        XCTAssertEqual(read.values, stored.floatValues())
        let changed = read.values.map { $0 * 2 }
        try model.setPytorchWeights(of: "layer2.0.conv1", changed)
        XCTAssertEqual(model.pytorchWeights(of: "layer2.0.conv1")?.values, changed)
        XCTAssertThrowsError(try model.setPytorchWeights(of: "layer2.0.conv1", [1, 2, 3]))
    }
}
