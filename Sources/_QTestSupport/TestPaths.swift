// Locations that tests share: the repository root, committed fixtures, and the optional ../shared data.
import Foundation

/// Paths used by LowBit's tests; computed from this source file's location, so they work from any cwd.
public enum TestPaths {
    /// The repository root (the folder holding Package.swift).
    public static let repositoryRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // _QTestSupport, Sources, root
        return url
    }()

    /// `../shared/data` beside the repository, or `LOWBIT_SHARED_DATA` when set; nil when absent.
    public static let sharedData: URL? = {
        if let env = ProcessInfo.processInfo.environment["LOWBIT_SHARED_DATA"] {
            let url = URL(fileURLWithPath: env)
            return FileManager.default.fileExists(atPath: url.path) ? url : nil
        }
        let url = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/data")
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }()

    /// A file under the shared data folder, or nil (with the reason) when it is missing.
    public static func shared(_ relative: String) -> URL? {
        guard let base = sharedData else { return nil }
        let url = base.appendingPathComponent(relative)
        return FileManager.default.fileExists(atPath: url.path) ? url : nil
    }

    /// The message tests print when skipping for lack of ../shared/data.
    public static func missingSharedMessage(_ relative: String) -> String {
        "../shared/data/\(relative) is not present (set LOWBIT_SHARED_DATA to its folder); skipping"
    }

    /// A fresh empty temporary directory, unique per call.
    public static func makeTemporaryDirectory(prefix: String = "lowbit-test") throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// SplitMix64: a small deterministic generator so failing generated cases can be replayed from their seed.
public struct SeededGenerator: RandomNumberGenerator {
    public private(set) var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
