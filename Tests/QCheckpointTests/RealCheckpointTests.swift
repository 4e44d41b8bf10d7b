// The four trained CIFAR-10 ResNets in ../shared (legacy format, cuda:0 storages) read bit-exactly.
import Foundation
import QCheckpoint
import XCTest
import _QTestSupport

final class RealCheckpointTests: XCTestCase {
    func testCIFARResNetsMatchTorchLoad() throws {
        let expected = try Fixtures.json("cifar10_resnets.json")
        let counts = ["resnet20-12fca82f.th": 20, "resnet32-d509ac18.th": 32, "resnet44-014dd654.th": 44,
                      "resnet56-4bfd9763.th": 56]
        for name in counts.keys.sorted() {
            let relative = "cifar10-resnets/\(name)"
            guard let url = TestPaths.shared(relative) else { throw XCTSkip(TestPaths.missingSharedMessage(relative)) }
            let ckpt = try Checkpoint.load(contentsOf: url)
            let spec = try XCTUnwrap(expected[name] as? [String: Any])
            XCTAssertEqual(ckpt.format, .legacy)
            XCTAssertEqual(ckpt.wrapper, "state_dict")
            XCTAssertEqual(ckpt.strippedPrefix, "module.")
            XCTAssertEqual(ckpt.tensors.count, spec["tensor_count"] as? Int, name)
            XCTAssertEqual(ckpt.bestAccuracy, (spec["best_prec1"] as? NSNumber)?.doubleValue, name)
            XCTAssertTrue(ckpt.opaqueClasses.isEmpty, "\(ckpt.opaqueClasses)")
            for (key, record) in try XCTUnwrap(spec["tensors"] as? [String: Any]) {
                assertTensor(ckpt.tensor(key), matches: record, "\(name) \(key)")
            }
            XCTAssertEqual(ckpt.tensor("linear.weight")?.shape, [10, 64])
        }
    }
}
