// Hostile and broken input: malicious pickles stay inert, malformed files give a clear error naming the
// file and offset; nothing runs, crashes or hangs.
import Foundation
import QCheckpoint
import XCTest
import _QTestSupport

final class MaliciousPickleTests: XCTestCase {
    let marker = "/tmp/lowbit-pwned-\(getpid())"

    override func tearDown() {
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "a payload ran")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/lowbit-pwned-by-fixture"), "the fixture payload ran")
    }

    private func inert(_ bytes: [UInt8], _ label: String, expect className: String) throws -> PickleValue {
        let v = try PickleValue(unpickling: bytes, name: label)
        XCTAssertTrue(PickleValue.summary(v, budget: 400).contains(className), "\(label): \(PickleValue.summary(v))")
        return v
    }

    func testReduceOsSystem() throws {
        let cmd = "touch \(marker)"
        let v = try inert(Array("cos\nsystem\n(S'\(cmd)'\ntR.".utf8), "reduce-os-system", expect: "os.system")
        guard case .opaque("os.system", let args, nil) = v else { return XCTFail("\(v)") }
        XCTAssertEqual(args.first?.stringValue, cmd)
    }

    func testReduceEvalAndSubprocess() throws {
        _ = try inert(P.proto2 + P.global("builtins", "eval") + P.s("__import__('os').system('touch \(marker)')")
                      + [0x85] + P.reduce + P.stop, "reduce-eval", expect: "builtins.eval")
        _ = try inert(P.proto2 + P.global("subprocess", "check_output") + P.mark + P.s("touch") + P.s(marker)
                      + [0x6C, 0x85] + P.reduce + P.stop, "reduce-subprocess", expect: "subprocess.check_output")
        // Python 2 names and protocol 4's STACK_GLOBAL.
        _ = try inert(Array("c__builtin__\neval\n(S'1'\ntR.".utf8), "py2-eval", expect: "builtins.eval")
        _ = try inert([0x80, 0x04, 0x8C, 0x02] + Array("os".utf8) + [0x8C, 0x06] + Array("system".utf8) + [0x93]
                      + [0x8C, 0x01, 0x78, 0x85] + P.reduce + P.stop, "stack-global", expect: "os.system")
        // Calling the result of a call stays inert too.
        _ = try inert(Array("cos\npopen\n(S'x'\ntR(tR.".utf8), "call-of-call", expect: "call of os.popen")
    }

    func testNewObjBuildInstObj() throws {
        _ = try inert(P.proto2 + P.global("builtins", "eval") + P.s("1+1") + [0x85, 0x81] + P.stop, "newobj", expect: "builtins.eval")
        let build = P.proto2 + P.global("subprocess", "Popen") + [0x29, 0x81] + P.emptyDict + P.s("args")
            + P.s("touch \(marker)") + P.setItem + [0x62] + P.stop
        let v = try inert(build, "build-setstate", expect: "subprocess.Popen")
        guard case .opaque("subprocess.Popen", _, let state?) = v else { return XCTFail("\(v)") }
        XCTAssertEqual(state["args"]?.stringValue, "touch \(marker)")
        _ = try inert(Array("(S'touch \(marker)'\nios\nsystem\n.".utf8), "inst", expect: "os.system")
        _ = try inert(Array("(cos\nsystem\nS'touch \(marker)'\no.".utf8), "obj", expect: "os.system")
        _ = try inert(P.proto2 + P.global("os", "system") + P.s("x") + [0x85] + P.emptyDict + [0x92] + P.stop,
                      "newobj-ex", expect: "os.system")
    }

    func testMaliciousCheckpointLoadsInert() throws {
        let c = try Checkpoint.load(contentsOf: Fixtures.url("evil_reduce.pt"))
        XCTAssertEqual(c.metadata("payload")?.opaqueClassName, "posix.system")
        XCTAssertEqual(c.opaqueClasses, ["posix.system"])
        XCTAssertEqual(c.tensors.count, 8)
        // The same payload beside a tensor in a hand-made archive, via BUILD on a module object.
        let pickle = P.proto2 + P.emptyDict + P.s("w") + P.tensor(numel: 2, size: [2], stride: [1]) + P.setItem
            + P.s("x") + P.global("subprocess", "Popen") + [0x29, 0x81] + P.emptyDict + P.s("args") + P.s("touch \(marker)")
            + P.setItem + [0x62] + P.setItem + P.stop
        let ckpt = try Checkpoint.load(bytes: makeTorchZip(pickle, storages: ["0": [0, 0, 128, 63, 0, 0, 0, 64]]),
                                       url: URL(fileURLWithPath: "/hostile/popen.pt"))
        XCTAssertEqual(ckpt.tensor("w")?.floatValues(), [1, 2])
        XCTAssertEqual(ckpt.opaqueClasses, ["subprocess.Popen"])
    }
}

final class MalformedPickleTests: XCTestCase {
    func testHugeLengthsAreCheckedAgainstWhatRemains() {
        for (label, bytes) in [("binunicode", [0x58, 0xFF, 0xFF, 0xFF, 0xFF, 0x61]), ("binbytes", [0x42, 0xFF, 0xFF, 0xFF, 0x7F]),
                               ("binbytes8", [0x8E] + P.le(UInt64.max, 8)), ("long4", [0x8B, 0xFF, 0xFF, 0xFF, 0x7F, 0x01]),
                               ("binunicode8", [0x8D] + P.le(1 << 62, 8)), ("frame", [0x80, 0x04, 0x95] + P.le(1 << 40, 8)),
                               ("bytearray8", [0x96] + P.le(1 << 33, 8))] as [(String, [UInt8])] {
            let e = unpickleError(bytes, label)
            XCTAssertNotNil(e?.offset, label)
            XCTAssertTrue(e?.message.contains("exceeds") ?? false, "\(label): \(String(describing: e))")
        }
    }

    func testMemoIndicesOutOfRange() {
        for (label, bytes) in [("binget", [0x80, 0x02, 0x68, 0x05, 0x2E]), ("longbinget", [0x6A, 0xFF, 0xFF, 0xFF, 0xFF, 0x2E]),
                               ("get", Array("g99\n.".utf8)), ("get-negative", Array("g-1\n.".utf8))] as [(String, [UInt8])] {
            let e = unpickleError(bytes, label)
            XCTAssertTrue(e?.message.contains("memo") ?? false, "\(label): \(String(describing: e))")
        }
        var limits = ReadLimits.default
        limits.maxMemoEntries = 10
        var many: [UInt8] = [0x4E]
        for i in 0..<20 { many += [0x71, UInt8(i)] }
        XCTAssertThrowsError(try PickleValue(unpickling: many + [0x2E], limits: limits))
    }

    func testDeepNesting() {
        let depth = 100_000
        // MARK towers, TUPLE1 chains, and list chains built by mutation after nesting (each step's depth looks small).
        XCTAssertNotNil(unpickleError([UInt8](repeating: 0x28, count: depth) + [0x4E, 0x2E], "marks"))
        XCTAssertNotNil(unpickleError([0x5D] + [UInt8](repeating: 0x85, count: depth) + [0x2E], "tuple1-chain"))
        var chain: [UInt8] = [0x5D, 0x72] + P.le(0, 4) + [0x30]
        for i in 1..<depth {
            chain += [0x6A] + P.le(UInt64(i - 1), 4) + [0x5D, 0x72] + P.le(UInt64(i), 4) + [0x61, 0x30]
        }
        chain += [0x6A] + P.le(0, 4) + [0x2E]
        let e = unpickleError(chain, "mutation-chain")
        XCTAssertTrue(e?.message.contains("nesting") ?? false, "\(String(describing: e))")
        // A list that contains itself is cut, not followed forever.
        let cyclic = try? PickleValue(unpickling: [0x5D, 0x71, 0x00, 0x68, 0x00, 0x61, 0x2E])
        XCTAssertEqual(cyclic?.elements?.first?.opaqueClassName, "<recursive reference>")
    }

    func testSharedReferencesCannotExplode() {
        // L(i+1) = [L(i), L(i)]: 2^60 values if expanded.
        var b: [UInt8] = [0x80, 0x02, 0x5D, 0x72] + P.le(0, 4)
        for i in 0..<60 {
            b += [0x28, 0x6A] + P.le(UInt64(i), 4) + [0x6A] + P.le(UInt64(i), 4) + [0x6C, 0x72] + P.le(UInt64(i + 1), 4)
        }
        b += [0x2E]
        let e = unpickleError(b, "billion-laughs")
        XCTAssertTrue(e?.message.contains("expands") ?? false, "\(String(describing: e))")
    }

    func testStackAndOpcodeErrors() {
        for (label, bytes) in [("empty", []), ("stop-only", [0x2E]), ("reduce-underflow", [0x52, 0x2E]),
                               ("append-underflow", [0x61]), ("setitems-no-mark", [0x7D, 0x75]), ("unknown-opcode", [0xFF]),
                               ("bad-proto", [0x80, 0x09]), ("no-stop", [0x4E]), ("append-to-int", [0x4B, 0x01, 0x4E, 0x61, 0x2E]),
                               ("setitem-odd", [0x7D, 0x28, 0x4E, 0x75, 0x2E]), ("text-persid", Array("Pxyz\n.".utf8)),
                               ("bad-persid", [0x80, 0x02, 0x4E, 0x51, 0x2E]), ("next-buffer", [0x80, 0x05, 0x97, 0x2E]),
                               ("float-line", Array("Fnope\n.".utf8)), ("int-line", Array("I12x\n.".utf8)), ("long-digits", Array(("L" + String(repeating: "9", count: 5000) + "\n.").utf8)),
                               ("unterminated-line", Array("cos\nsys".utf8))] as [(String, [UInt8])] {
            XCTAssertNotNil(unpickleError(bytes, label), label)
        }
    }

    func testBadTensorArguments() {
        XCTAssertNotNil(unpickleError(P.proto2 + P.global("torch._utils", "_rebuild_tensor_v2") + P.mark + P.int(1)
                                      + P.tuple + P.reduce + P.stop, "tensor-without-storage"))
    }
}

final class MalformedFileTests: XCTestCase {
    private let floats: [UInt8] = [0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64]  // 1, 2, 3, 4

    func testCraftedArchivesLoad() throws {
        let good = P.stateDict("w", P.tensor(numel: 4, offset: 1, size: [3], stride: [1]))
        let zip = try Checkpoint.load(bytes: makeTorchZip(good, storages: ["0": floats]), url: URL(fileURLWithPath: "/t/ok.pt"))
        XCTAssertEqual(zip.tensor("w")?.floatValues(), [2, 3, 4])
        XCTAssertEqual(zip.wrapper, "bare")
        let legacy = try Checkpoint.load(bytes: makeLegacy(good, keys: ["0"], storages: [(4, floats)]),
                                         url: URL(fileURLWithPath: "/t/ok.th"))
        XCTAssertEqual(legacy.tensor("w")?.floatValues(), [2, 3, 4])
        XCTAssertEqual(legacy.format, .legacy)
    }

    func testTensorsMayNotClaimMoreThanTheFileHolds() {
        let huge = P.stateDict("w", P.tensor(numel: 4, size: [1_000_000_000], stride: [1]))
        let e = loadError(makeTorchZip(huge, storages: ["0": floats]), "billion-elements.pt")
        XCTAssertTrue(e?.message.contains("storage '0' holds 4") ?? false, "\(String(describing: e))")
        XCTAssertNotNil(e?.offset)
        let overflow = P.stateDict("w", P.tensor(numel: 4, size: [2_000_000_000, 2_000_000_000, 2_000_000_000], stride: [1, 1, 1]))
        XCTAssertNotNil(loadError(makeTorchZip(overflow, storages: ["0": floats]), "overflow.pt"))
        let strided = P.stateDict("w", P.tensor(numel: 4, size: [2, 2], stride: [1_000_000, 1]))
        XCTAssertNotNil(loadError(makeTorchZip(strided, storages: ["0": floats]), "stride.pt"))
        let offset = P.stateDict("w", P.tensor(numel: 4, offset: 4, size: [1], stride: [1]))
        XCTAssertNotNil(loadError(makeTorchZip(offset, storages: ["0": floats]), "offset.pt"))
        let missing = P.stateDict("w", P.tensor(numel: 4, size: [4], stride: [1]))
        XCTAssertNotNil(loadError(makeTorchZip(missing), "missing-storage.pt"))
        // Legacy: the element count before a storage may not exceed what remains.
        let good = P.stateDict("w", P.tensor(numel: 4, size: [4], stride: [1]))
        let e2 = loadError(makeLegacy(good, keys: ["0"], storages: [(UInt64(Int64.max), floats)]), "legacy-count.th")
        XCTAssertTrue(e2?.message.contains("only 16 bytes remain") ?? false, "\(String(describing: e2))")
        XCTAssertNotNil(loadError(makeLegacy(good, keys: ["1"], storages: [(4, floats)]), "legacy-unknown-key.th"))
        // Shared storages copied too often hit the total budget.
        var limits = ReadLimits.default
        limits.maxTensorBytes = 8
        XCTAssertThrowsError(try Checkpoint.load(bytes: makeTorchZip(good, storages: ["0": floats]),
                                                 url: URL(fileURLWithPath: "/t/limit.pt"), limits: limits))
    }

    func testBrokenZipStructures() throws {
        let pickle = P.stateDict("w", P.tensor(numel: 4, size: [4], stride: [1]))
        let zip = makeTorchZip(pickle, storages: ["0": floats])
        let eocd = zip.count - 22
        let cd = Int(zip[eocd + 16]) | Int(zip[eocd + 17]) << 8
        var badSignature = zip
        badSignature[cd] ^= 0xFF
        XCTAssertEqual(loadError(badSignature, "cd-signature.pt")?.offset, cd)
        var badOffset = zip
        badOffset[eocd + 16] = 0xF0
        badOffset[eocd + 17] = 0xFF
        XCTAssertNotNil(loadError(badOffset, "cd-offset.pt"))
        var badCount = zip
        badCount[eocd + 10] = 0xFF
        XCTAssertNotNil(loadError(badCount, "cd-count.pt"))
        var badLocal = zip
        badLocal[cd + 42] = 0x07  // first entry's local header offset
        XCTAssertNotNil(loadError(badLocal, "local-offset.pt"))
        var noEOCD = zip
        noEOCD[eocd] = 0
        XCTAssertNotNil(loadError(noEOCD, "no-eocd.pt"))
        var badCRC = zip
        badCRC[cd - 1] ^= 1  // the last byte of the last entry's data
        XCTAssertTrue(loadError(badCRC, "crc.pt")?.message.contains("CRC") ?? false)
        // A deflated entry claiming 4 GiB from a few bytes, and non-zip junk.
        let bomb = makeZip([("archive/data.pkl", [0x03, 0x00])], declared: ["archive/data.pkl": (8, 0xFFFF_FFF0)])
        XCTAssertNotNil(loadError(bomb, "bomb.pt"))
        XCTAssertNotNil(loadError(makeZip([("other.txt", [1, 2, 3])]), "no-data-pkl.zip"))
        XCTAssertNotNil(loadError(Array("definitely not a checkpoint file".utf8), "junk.bin"))
    }

    /// A torch zip whose one storage ("0", four floats 1.0) is the deflate stream `stream`, declared to
    /// inflate to `size` bytes with the CRC-32 of the true contents unless `crc` says otherwise.
    private func deflatedStorageZip(_ stream: [UInt8], size: UInt32 = 16, crc: UInt32? = nil) -> [UInt8] {
        let name = "archive/data/0"
        return makeZip([("archive/data.pkl", P.stateDict("w", P.tensor(numel: 4, size: [4], stride: [1]))),
                        (name, stream)],
                       declared: [name: (8, size)], crcs: [name: crc ?? testCRC32(onesAsFloats)])
    }

    private let onesAsFloats: [UInt8] = [0, 0, 128, 63, 0, 0, 128, 63, 0, 0, 128, 63, 0, 0, 128, 63]

    /// Four floats 1.0 as a fixed-code block: four literals, matches of 8 and 4 bytes at distance 4, end of block.
    private var onesStream: [UInt8] {
        var s = DeflateBits()
        s.fixedBlock(final: true)
        for b in onesAsFloats[0..<4] { s.fixed(Int(b)) }
        s.match(length: 8, distance: 4)
        s.match(length: 4, distance: 4)
        s.fixed(256)
        return s.bytes
    }

    func testDeflatedEntries() throws {
        let url = URL(fileURLWithPath: "/t/deflated-storage.pt")
        // The good stream, and the same bytes as a stored block (BTYPE 00: LEN, NLEN, bytes).
        let stored: [UInt8] = [0x01, 16, 0, 0xEF, 0xFF] + onesAsFloats
        for stream in [onesStream, stored] {
            let tensor = try XCTUnwrap(Checkpoint.load(bytes: deflatedStorageZip(stream), url: url).tensor("w"))
            XCTAssertEqual(tensor.floatValues(), [1, 1, 1, 1])
        }
        func refused(_ zip: [UInt8], _ label: String, _ expected: String, line: UInt = #line) {
            let e = loadError(zip, label, line: line)
            XCTAssertTrue(e?.message.contains(expected) ?? false, "\(label): \(String(describing: e))", line: line)
        }
        // Declared sizes the stream does not meet: fewer bytes than it inflates to, more, a cut stream.
        refused(deflatedStorageZip(onesStream, size: 15), "short-declared.pt", "does not end within the 15 bytes")
        refused(deflatedStorageZip(onesStream, size: 17), "long-declared.pt", "inflated to 16 bytes, the directory declares 17")
        refused(deflatedStorageZip(Array(onesStream.dropLast(2))), "cut.pt", "compressed data ends early")
        refused(deflatedStorageZip(onesStream, crc: 0x1234_5678), "crc.pt", "CRC-32 mismatch")
        // Corrupt streams, in zlib's words: a match before the output start, block type 3, a stored
        // block whose NLEN is not LEN's complement, an over-subscribed code-length code.
        var tooFar = DeflateBits()
        tooFar.fixedBlock(final: true)
        tooFar.fixed(0)
        tooFar.match(length: 3, distance: 4)
        tooFar.fixed(256)
        refused(deflatedStorageZip(tooFar.bytes), "too-far.pt", "corrupt deflate data: invalid distance too far back")
        refused(deflatedStorageZip([0x07, 0, 0, 0]), "type3.pt", "invalid block type")
        refused(deflatedStorageZip([0x01, 16, 0, 0xEE, 0xFF] + onesAsFloats), "nlen.pt", "invalid stored block lengths")
        var oversubscribed = DeflateBits()
        oversubscribed.bits(1, 1)
        oversubscribed.bits(2, 2)  // dynamic codes
        oversubscribed.bits(0, 5)
        oversubscribed.bits(0, 5)
        oversubscribed.bits(15, 4)  // all 19 code-length codes, each 1 bit long
        for _ in 0..<19 { oversubscribed.bits(1, 3) }
        refused(deflatedStorageZip(oversubscribed.bytes), "oversubscribed.pt", "invalid code lengths set")
        // The error points at the entry's data.
        let zip = deflatedStorageZip([0x07, 0, 0, 0])
        let directory = Int(zip[zip.count - 6]) | Int(zip[zip.count - 5]) << 8  // the stream's 4 bytes end there
        XCTAssertEqual(loadError(zip, "offset.pt")?.offset, directory - 4)
    }

    func testTruncationAtEveryOffset() throws {
        for name in ["dataparallel_legacy.th", "dtypes_zip.pt", "deflated.pt", "tiny.safetensors", "scheduler_legacy.pth"] {
            let full = try Fixtures.bytes(name)
            let url = URL(fileURLWithPath: name)
            var failures = 0
            for length in stride(from: 0, to: full.count, by: max(1, full.count / 700)) {
                do {
                    _ = try Checkpoint.load(bytes: Array(full[0..<length]), url: url)
                    XCTFail("\(name) truncated to \(length) bytes loaded")
                } catch let e as CheckpointError {
                    XCTAssertEqual(e.file, url.path)
                    XCTAssertFalse(e.message.isEmpty)
                    failures += 1
                }
            }
            XCTAssertGreaterThan(failures, 100, name)
        }
    }

    func testRandomByteFlipsNeverCrash() throws {
        // QCHECKPOINT_FUZZ_TRIALS raises the count for a longer local run.
        let trials = Int(ProcessInfo.processInfo.environment["QCHECKPOINT_FUZZ_TRIALS"] ?? "") ?? 150
        var rng = SeededGenerator(seed: 0x5EED_C0DE)
        for name in ["dataparallel_legacy.th", "dataparallel_zip.pt", "deflated.pt", "lightning.ckpt", "tiny.safetensors",
                     "deepshift_proto4.pt", "module_object.pt"] {
            let full = try Fixtures.bytes(name)
            for trial in 0..<trials {
                var bytes = full
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(1 + rng.next() % 255)
                }
                do {
                    _ = try Checkpoint.load(bytes: bytes, url: URL(fileURLWithPath: "\(name)#\(trial)"))
                } catch let e as CheckpointError {
                    XCTAssertFalse(e.message.isEmpty)
                }
            }
        }
    }
}
