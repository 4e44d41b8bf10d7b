// Wrapper prefixes stripped from state-dict keys (StateDict.swift, docs/CHECKPOINTS.md).
@testable import QCheckpoint
import XCTest

final class PrefixTests: XCTestCase {
    private let t = CheckpointTensor(shape: [1], floats: [0])

    /// A `torch.compile`d module inside a Lightning checkpoint saves `model._orig_mod.<name>`: both go.
    func testCompiledModulePrefixIsStripped() {
        let (names, prefix) = StateDict.stripPrefixes([("model._orig_mod.conv1.weight", t), ("model._orig_mod.fc.bias", t)])
        XCTAssertEqual(names.map(\.name), ["conv1.weight", "fc.bias"])
        XCTAssertEqual(prefix, "model._orig_mod.")
    }

    /// A prefix only some names have stays (it is part of the names).
    func testPartialPrefixStays() {
        let (names, prefix) = StateDict.stripPrefixes([("model.conv1.weight", t), ("fc.bias", t)])
        XCTAssertEqual(names.map(\.name), ["model.conv1.weight", "fc.bias"])
        XCTAssertNil(prefix)
    }
}
