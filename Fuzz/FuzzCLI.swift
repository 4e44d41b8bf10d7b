// Fuzz target `cli`: qconvert's and qinfer's argument parsing and validation (ArgumentParser plus each
// command's validate()), and the error and help text they print. The input is a list of arguments
// separated by NUL bytes; its first byte picks the command. Nothing is run: a command that parses is
// only validated, so no files are read or written.
import ArgumentParser
@testable import qconvert
@testable import qinfer

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCLI(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size >= 1 else { return 0 }
    let rest = UnsafeBufferPointer(start: data + 1, count: size - 1)
    let arguments = rest.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    if data[0] & 1 == 0 {
        exercise(QConvertCommand.self, arguments)
    } else {
        exercise(QInfer.self, arguments)
    }
    return 0
}

/// Parses (which also validates) and renders the message a user would see for any failure.
private func exercise<Command: ParsableCommand>(_ command: Command.Type, _ arguments: [String]) {
    do {
        _ = try command.parseAsRoot(arguments)
    } catch {
        _ = command.fullMessage(for: error)
        _ = command.exitCode(for: error)
    }
}
