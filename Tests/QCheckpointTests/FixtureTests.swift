// Every committed fixture (written by toolchain/fixtures/make_checkpoint_fixtures.py) reads back what torch.load read.
import Foundation
import QCheckpoint
import XCTest

final class FixtureTests: XCTestCase {
    func testEveryFixtureMatchesTorch() throws {
        let expected = try Fixtures.json("expected.json")
        XCTAssertGreaterThanOrEqual(expected.count, 11)
        for name in expected.keys.sorted() {
            let spec = try XCTUnwrap(expected[name] as? [String: Any])
            let ckpt = try Checkpoint.load(contentsOf: Fixtures.url(name))
            XCTAssertEqual(ckpt.format.rawValue, spec["format"] as? String, name)
            XCTAssertEqual(ckpt.wrapper, spec["wrapper"] as? String, name)
            XCTAssertEqual(ckpt.strippedPrefix, spec["stripped_prefix"] as? String, name)
            let tensors = try XCTUnwrap(spec["tensors"] as? [[Any]])
            let names = tensors.map { $0[0] as? String ?? "" }
            if ckpt.format == .safetensors {  // safetensors orders data by alignment, then name
                XCTAssertEqual(ckpt.tensors.map(\.name).sorted(), names.sorted(), name)
            } else {
                XCTAssertEqual(ckpt.tensors.map(\.name), names, "\(name) tensor order")
            }
            for entry in tensors {
                let key = entry[0] as? String ?? ""
                assertTensor(ckpt.tensor(key), matches: entry[1], "\(name) \(key)")
            }
            for (key, value) in try XCTUnwrap(spec["metadata"] as? [String: Any]) {
                let got = try XCTUnwrap(ckpt.metadata(key), "\(name): metadata \(key)")
                if let s = value as? String {
                    XCTAssertEqual(got.stringValue, s, "\(name) \(key)")
                } else if let n = value as? NSNumber {
                    XCTAssertEqual(got.doubleValue, n.doubleValue, "\(name) \(key)")
                }
            }
            for cls in try XCTUnwrap(spec["opaque_classes"] as? [String]) {
                XCTAssertTrue(ckpt.opaqueClasses.contains(cls), "\(name): \(cls) not in \(ckpt.opaqueClasses)")
            }
        }
    }

    func testMetadataAccessors() throws {
        let dp = try Checkpoint.load(contentsOf: Fixtures.url("dataparallel_legacy.th"))
        XCTAssertEqual(dp.epoch, 7)
        XCTAssertEqual(dp.bestAccuracy, 91.25)
        XCTAssertEqual(dp.arch, "tiny")
        XCTAssertNotNil(dp.metadata("optimizer")?["param_groups"])
        let sched = try Checkpoint.load(contentsOf: Fixtures.url("scheduler_legacy.pth"))
        XCTAssertEqual(sched.bits, 4)
        XCTAssertEqual(sched.bestAccuracy, 70.5)
        XCTAssertEqual(sched.metadata("lr_scheduler")?.opaqueClassName, "torch.optim.lr_scheduler.StepLR")
        let ds = try Checkpoint.load(contentsOf: Fixtures.url("deepshift_proto4.pt"))
        XCTAssertEqual(ds.bestAccuracy, 55.5)  // a 0-d tensor in the file
        XCTAssertNotNil(ds.tensor("features.0.weight"))
        XCTAssertNotNil(ds.tensor("classifier.1.weight"))
    }

    func testSharedStoragesAndViews() throws {
        for name in ["dtypes_zip.pt", "dtypes_legacy.pt"] {
            let c = try Checkpoint.load(contentsOf: Fixtures.url(name))
            let base = try XCTUnwrap(c.tensor("base")).floatValues()
            let t = try XCTUnwrap(c.tensor("transposed"))
            XCTAssertEqual(t.shape, [6, 4])
            let tv = t.floatValues()
            for i in 0..<4 { for j in 0..<6 { XCTAssertEqual(tv[j * 4 + i], base[i * 6 + j]) } }
            XCTAssertEqual(c.tensor("row_slice")?.floatValues(), Array(base[6..<18]), name)
            XCTAssertEqual(c.tensor("shared_again")?.floatValues(), base, name)
            XCTAssertEqual(c.tensor("empty")?.shape, [0, 3])
            XCTAssertEqual(c.tensor("scalar")?.shape, [])
            XCTAssertEqual(c.tensor("scalar")?.floatValues(), [2.5])
        }
    }

    func testPlainPicklesOfEveryProtocol() throws {
        for proto in 0...5 {
            let v = try PickleValue(unpickling: Fixtures.bytes("plain_proto\(proto).pkl"), name: "proto\(proto)")
            let label = "protocol \(proto)"
            XCTAssertEqual(v["int"]?.intValue, 5, label)
            XCTAssertEqual(v["neg"]?.intValue, -70000, label)
            XCTAssertEqual(v["float"]?.doubleValue, 1.5, label)
            XCTAssertEqual(v["str"]?.stringValue, "héllo ✓", label)
            XCTAssertEqual(v["t"]?.intValue, 1, label)
            XCTAssertEqual(v["f"]?.intValue, 0, label)
            if case .none? = v["none"] {} else { XCTFail("\(label): none") }
            if case .bytes(let b)? = v["bytes"] { XCTAssertEqual(b, [0, 255, 97, 98], label) } else { XCTFail("\(label): bytes \(String(describing: v["bytes"]))") }
            if case .bigInt(let b)? = v["big"] {
                XCTAssertEqual(b, [0, 0, 0, 0, 0, 0, 0, 0, 0x40], label)  // 2**70
            } else { XCTFail("\(label): big \(String(describing: v["big"]))") }
            XCTAssertEqual(v["tuple"]?.elements?.count, 2, label)
            XCTAssertEqual(v["list"]?.elements?[1].elements?[1].elements?[0].intValue, 3, label)
            XCTAssertEqual(v["set"]?.elements?.first?.intValue, 7, label)
            XCTAssertEqual(v["frozen"]?.elements?.first?.intValue, 8, label)
            XCTAssertEqual(v["od"]?["a"]?.intValue, 1, label)
        }
    }
}
