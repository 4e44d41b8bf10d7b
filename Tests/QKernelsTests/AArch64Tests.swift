// The NEON members on aarch64 without ARM hardware: QKernels cross-compiled with gcc and run under
// qemu-user (toolchain/aarch64/run-tests.sh: cortex-a76 with dotprod, cortex-a53 without, where
// the base-NEON members run and the dot-product families fall back to scalar), and SwiftPM's own cross build of the target. .ci/run installs
// the cross compiler and qemu; where they are missing these tests skip and say what to install.
import Foundation
import _QTestSupport
import XCTest

final class AArch64Tests: XCTestCase {
    private func requireTools() throws {
        for tool in ["/usr/bin/aarch64-linux-gnu-gcc", "/usr/bin/qemu-aarch64-static"]
        where !FileManager.default.isExecutableFile(atPath: tool) {
            throw XCTSkip("\(tool) missing: apt-get install gcc-aarch64-linux-gnu qemu-user-static")
        }
    }

    /// Runs a command in the repository root; returns its exit status and combined output.
    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = TestPaths.repositoryRoot
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Every NEON member equals the reference and its scalar twin on the tail cases under
    /// qemu cortex-a76; under cortex-a53 (no dotprod) the base-NEON members run and dispatch picks them.
    func testNEONMembersUnderQemu() throws {
        try requireTools()
        let result = try run(["sh", "toolchain/aarch64/run-tests.sh"])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.output.contains("detected ISA: neondot"), result.output)
        XCTAssertTrue(result.output.contains("detected ISA: neon,"), result.output)
        XCTAssertTrue(result.output.range(of: #"\d+ members run, 0 skipped, \d+ cases, 0 failures"#,
                                          options: .regularExpression) != nil, result.output)
    }

    /// `swift build --triple aarch64-unknown-linux-gnu --target QKernels` compiles.
    func testSwiftPMCrossBuildsQKernels() throws {
        try requireTools()
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("lowbit-aarch64-spm").path
        let result = try run(["swift", "build", "--triple", "aarch64-unknown-linux-gnu", "--target", "QKernels",
                              "--scratch-path", scratch])
        XCTAssertEqual(result.status, 0, result.output)
    }
}
