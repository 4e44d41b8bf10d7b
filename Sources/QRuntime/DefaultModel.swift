// Finding the bundled default model (models/ in the repository, or beside a release bundle's binaries).
import Foundation

/// The bundled Fashion-MNIST model and its sample images.
public enum DefaultModel {
    /// Model file name inside the models folder.
    public static let relativeModelPath = "fashion-mnist/fmnist-cnn-w4.lbm"
    /// Sample images folder inside the models folder.
    public static let relativeSamplesPath = "fashion-mnist/samples"

    /// The models folder: $LOWBIT_MODELS, else `models` beside the executable or two/three levels up
    /// (a `swift build` tree), else the repository this binary was built from.
    public static func modelsDirectory(sourceFile: String = #filePath) -> URL? {
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["LOWBIT_MODELS"] { candidates.append(URL(fileURLWithPath: env)) }
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        var up = exe
        for _ in 0..<4 {
            candidates.append(up.appendingPathComponent("models"))
            up.deleteLastPathComponent()
        }
        // Sources/QRuntime/DefaultModel.swift -> repository root.
        let root = URL(fileURLWithPath: sourceFile).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        candidates.append(root.appendingPathComponent("models"))
        return candidates.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent(relativeModelPath).path) }
    }

    /// The default model file, or an error saying where it was looked for.
    public static func modelURL() throws -> URL {
        guard let dir = modelsDirectory() else {
            throw RuntimeError("no --model given and the bundled default (models/\(relativeModelPath)) was not found; set LOWBIT_MODELS to the models folder")
        }
        return dir.appendingPathComponent(relativeModelPath)
    }

    /// The bundled sample images, sorted by name.
    public static func sampleImages() throws -> [URL] {
        guard let dir = modelsDirectory()?.appendingPathComponent(relativeSamplesPath) else { return [] }
        let files = (try? FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)) ?? []
        return files.filter { ["pgm", "ppm"].contains($0.pathExtension) }.sorted { $0.lastPathComponent < $1.lastPathComponent }
    }
}

/// A run-time error with a message for the user.
public struct RuntimeError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ message: String) { description = message }
}
