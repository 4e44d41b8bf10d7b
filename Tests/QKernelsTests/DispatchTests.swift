// The registries and dispatch: names follow the grammar, every bit width has a member, QK_ISA
// overrides detection.
import Foundation
import QKernels
import _QTestSupport
import XCTest

final class DispatchTests: XCTestCase {
    /// qk_<family>[_<variant>]_ukernel_<MR>x<NR>c<KR>__<isa>, matching the descriptor's fields.
    func testNamesFollowTheGrammar() throws {
        let regex = try NSRegularExpression(
            pattern: "^qk_(lgemm|qgemm|sgemm|fgemm)(_w[0-9]+)?_ukernel_([0-9]+)x([0-9]+)c([0-9]+)__([a-z0-9]+)$")
        var seen = Set<String>()
        let rows: [(String, Int32, Int32, Int32, qk_isa, Int32)] =
            qgemmMembers.map { ($0.nameString, $0.mr, $0.nr, $0.kr, $0.isa, $0.bits) }
            + fgemmMembers.map { ($0.nameString, $0.mr, $0.nr, $0.kr, $0.isa, $0.bits) }
        for (name, mr, nr, kr, isa, bits) in rows {
            XCTAssertTrue(seen.insert(name).inserted, "duplicate \(name)")
            let r = NSRange(name.startIndex..., in: name)
            guard let m = regex.firstMatch(in: name, range: r) else { XCTFail("bad name \(name)"); continue }
            func group(_ i: Int) -> String {
                guard let rr = Range(m.range(at: i), in: name) else { return "" }
                return String(name[rr])
            }
            XCTAssertEqual(group(3), "\(mr)", name)
            XCTAssertEqual(group(4), "\(nr)", name)
            XCTAssertEqual(group(5), "\(kr)", name)
            XCTAssertEqual(group(6), String(cString: qk_isa_name(isa)), name)
            if group(1) == "fgemm" { XCTAssertEqual(bits, 32, name) } else {
                XCTAssertEqual(group(2), "_w\(bits)", name)
                XCTAssertEqual(kr % Int32(QK_PACK_BLOCK), 0, "\(name): KR must be whole packing blocks")
            }
        }
    }

    /// sgemm members are exactly the QK_KIND_SHIFT ones; every ISA has one for 2, 3 and 4 bits;
    /// plain dispatch never picks them, and the shift-table check accepts 0 / +-2^e / -128 only.
    func testShiftMembersAndTables() {
        for uk in qgemmMembers {
            XCTAssertEqual(uk.nameString.hasPrefix("qk_sgemm_"), uk.kind == QK_KIND_SHIFT, uk.nameString)
        }
        for isa in [QK_ISA_SCALAR, qk_isa_active()] {
            XCTAssertEqual(qk_qgemm_select(4, isa)?.pointee.kind, QK_KIND_LUT)
            for bits: Int32 in [2, 3, 4] {
                let d = qk_qgemm_select_kind(bits, isa, QK_KIND_SHIFT)?.pointee
                XCTAssertEqual(d?.kind, QK_KIND_SHIFT, "w\(bits)")
                XCTAssertEqual(d?.bits, bits)
                let best = bestMember(qgemmMembers.filter { $0.bits == bits && $0.kind == QK_KIND_SHIFT }, under: isa) { $0.isa }
                XCTAssertEqual(d?.nameString, best?.nameString, "w\(bits): the best shift-add member this CPU has")
            }
            XCTAssertNil(qk_qgemm_select_kind(8, isa, QK_KIND_SHIFT))
        }
        var shift: [Int8] = [0, 1, -1, 2, -2, 4, -4, 8, -8, 16, -16, 32, -32, 64, -64, -128]
        XCTAssertEqual(qk_lut_is_shift(shift, 4), 1)
        shift[3] = 3
        XCTAssertEqual(qk_lut_is_shift(shift, 4), 0)
        XCTAssertEqual(qk_lut_is_shift([0, 127], 1), 0)
        XCTAssertEqual(qk_lut_is_shift(nil, 4), 0)
    }

    func testSelectFindsAMemberForEveryWidth() {
        for isa in [QK_ISA_SCALAR, qk_isa_detect(), qk_isa_active()] {
            for bits: Int32 in [1, 2, 3, 4, 8] {
                guard let d = qk_qgemm_select(bits, isa) else { XCTFail("no member for w\(bits)"); continue }
                XCTAssertEqual(d.pointee.bits, bits)
                XCTAssertEqual(qk_isa_supported(d.pointee.isa), 1)
            }
            XCTAssertNotNil(qk_fgemm_select(isa))
        }
        XCTAssertEqual(qk_qgemm_select(1, QK_ISA_SCALAR)?.pointee.isa, QK_ISA_SCALAR)
        XCTAssertNil(qk_qgemm_select(5, QK_ISA_SCALAR))
        XCTAssertNil(qk_qgemm_ukernel_at(qk_qgemm_ukernel_count))
    }

    func testIsaNamesAndOverride() {
        for i in 0..<UInt32(QK_ISA_COUNT) {
            let isa = qk_isa(rawValue: i)
            var parsed = QK_ISA_SCALAR
            XCTAssertEqual(qk_isa_parse(qk_isa_name(isa), &parsed), 1)
            XCTAssertEqual(parsed, isa)
        }
        XCTAssertEqual(qk_isa_supported(QK_ISA_SCALAR), 1)
        XCTAssertEqual(qk_isa_supported(qk_isa_detect()), 1)
        #if arch(x86_64)
        XCTAssertEqual(qk_isa_supported(QK_ISA_NEONDOT), 0)
        #elseif arch(arm64)
        XCTAssertEqual(qk_isa_supported(QK_ISA_AVX2), 0)
        #endif
        let saved = getenv("QK_ISA").map { String(cString: $0) }
        defer { if let saved { setenv("QK_ISA", saved, 1) } else { unsetenv("QK_ISA") } }
        setenv("QK_ISA", "scalar", 1)
        XCTAssertEqual(qk_isa_active(), QK_ISA_SCALAR)
        setenv("QK_ISA", "no-such-isa", 1)
        XCTAssertEqual(qk_isa_active(), qk_isa_detect())
        #if arch(x86_64)
        setenv("QK_ISA", "neondot", 1)  // the other architecture clips to scalar
        XCTAssertEqual(qk_isa_active(), QK_ISA_SCALAR)
        #endif
        unsetenv("QK_ISA")
        XCTAssertEqual(qk_isa_active(), qk_isa_detect())
        print("QKernels: detected ISA \(String(cString: qk_isa_name(qk_isa_detect())))")
    }
}

/// The generated member files, prototypes and registries are what toolchain/generate_ukernel_members.py
/// writes from toolchain/kernels.toml today (STYLE.md 12).
final class GeneratedMembersTests: XCTestCase {
    func testRegeneratingChangesNothing() throws {
        let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let python else { throw XCTSkip("python3 not installed: cannot run the member generator") }
        let r = try ProcessRunner.run(URL(fileURLWithPath: python), ["toolchain/generate_ukernel_members.py", "--check"],
                                      currentDirectory: TestPaths.repositoryRoot)
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
    }
}
