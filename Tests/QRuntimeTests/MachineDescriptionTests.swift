// MachineDescription.cpuModel on /proc/cpuinfo texts of x86 and aarch64 Linux (aarch64 lists no model name).
import QRuntime
import XCTest

final class MachineDescriptionTests: XCTestCase {
    /// A /proc/cpuinfo text with one block per (implementer, part).
    private func aarch64CPUInfo(_ cores: [(String, String)]) -> String {
        cores.enumerated().map { i, core in
            "processor\t: \(i)\nBogoMIPS\t: 38.40\nFeatures\t: fp asimd asimddp\nCPU implementer\t: \(core.0)\n"
                + "CPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: \(core.1)\nCPU revision\t: 0\n"
        }.joined(separator: "\n")
    }

    func testModelNameWins() {
        let x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 17\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu\n"
        XCTAssertEqual(MachineDescription.cpuModel(cpuinfo: x86), "AMD EPYC 9B14")
    }

    func testArmCoresByName() {
        let phone = aarch64CPUInfo([("0x41", "0xd05"), ("0x41", "0xd05"), ("0x41", "0xd41"), ("0x41", "0xd44")])
        XCTAssertEqual(MachineDescription.cpuModel(cpuinfo: phone), "Arm Cortex-A55 + Cortex-A78 + Cortex-X1")
        XCTAssertEqual(MachineDescription.cpuModel(cpuinfo: aarch64CPUInfo([("0x41", "0xD0B")])), "Arm Cortex-A76")
        XCTAssertEqual(MachineDescription.cpuModel(cpuinfo: aarch64CPUInfo([("0x41", "0xfff")])), "Arm part 0xfff")
    }

    func testOtherImplementersByNumber() {
        XCTAssertEqual(MachineDescription.cpuModel(cpuinfo: aarch64CPUInfo([("0x51", "0x804")])), "implementer 0x51 part 0x804")
    }

    func testHardwareThenUnknown() {
        XCTAssertEqual(MachineDescription.cpuModel(cpuinfo: "processor\t: 0\nHardware\t: BCM2835\n"), "BCM2835")
        XCTAssertEqual(MachineDescription.cpuModel(cpuinfo: ""), "unknown")
    }
}
