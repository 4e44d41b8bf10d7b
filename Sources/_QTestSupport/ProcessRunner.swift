// Runs the package's own executables (qconvert, qinfer, qbench) from tests and captures their output.
import Foundation

/// The result of running a command: exit status and captured output.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

public enum ProcessRunner {
    /// The folder holding the built products (the same one the test bundle was built into).
    public static var productsDirectory: URL {
        #if os(macOS)
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent()
        }
        #endif
        return Bundle.main.bundleURL
    }

    /// Runs a built product by name with arguments; stdin is empty. Times out after `timeout` seconds.
    public static func runProduct(_ name: String, _ arguments: [String], timeout: TimeInterval = 300,
                                  environment: [String: String]? = nil,
                                  currentDirectory: URL? = nil) throws -> CommandResult {
        try run(productsDirectory.appendingPathComponent(name), arguments, timeout: timeout,
                environment: environment, currentDirectory: currentDirectory)
    }

    /// Runs an executable and captures stdout and stderr (read concurrently so neither pipe can fill).
    public static func run(_ executable: URL, _ arguments: [String], timeout: TimeInterval = 300,
                           environment: [String: String]? = nil,
                           currentDirectory: URL? = nil) throws -> CommandResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = currentDirectory }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        group.wait()
        return CommandResult(status: process.terminationStatus,
                             stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }
}
