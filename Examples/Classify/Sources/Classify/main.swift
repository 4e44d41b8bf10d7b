// Classify [--model FILE] [--threads N] [--top K] [IMAGE...]
// Loads a LowBit model (default: the bundled Fashion-MNIST model), classifies each image (default: the first
// three bundled samples), and runs a tensor directly.
import Foundation
import LowBit

struct ExampleError: Error, CustomStringConvertible { let description: String }

/// Removes `--name VALUE` from `arguments` and returns VALUE.
func take(_ name: String, from arguments: inout [String]) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    defer { arguments.removeSubrange(i...(i + 1)) }
    return arguments[i + 1]
}

func classify(_ commandLine: [String]) throws {
    var arguments = commandLine
    let modelPath = take("--model", from: &arguments)
    let threads = Int(take("--threads", from: &arguments) ?? "1") ?? 1
    let top = Int(take("--top", from: &arguments) ?? "3") ?? 3
    let model = try modelPath.map { try Model(contentsOf: URL(fileURLWithPath: $0)) } ?? Model.bundledDefault()
    print("model: \(model.summary), input \(model.inputShape), \(model.labels.count) classes, "
          + "bits \(model.availableBits), \(threads) thread(s)")
    let session = model.makeSession(threads: threads)

    var images = arguments.map { URL(fileURLWithPath: $0) }
    if images.isEmpty {
        let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../../models/fashion-mnist/samples").standardizedFileURL
        images = try FileManager.default.contentsOfDirectory(at: samples, includingPropertiesForKeys: nil)
            .filter { ["pgm", "ppm", "png", "jpg"].contains($0.pathExtension) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
            .prefix(3).map { $0 }
    }
    for url in images {
        print(url.lastPathComponent)
        for p in try session.classify(contentsOf: url, top: top) {
            print(String(format: "  %6.2f%%  %3d  %@", p.probability * 100, p.index, p.label))
        }
    }

    // The tensor path: an all-zero input of the model's shape (the normalised mean), run directly.
    let logits = try session.run([Float](repeating: 0, count: model.inputShape.reduce(1, *)))
    guard logits.count == model.outputCount else {
        throw ExampleError(description: "\(logits.count) logits for \(model.outputCount) classes")
    }
    print("zero tensor -> \(session.top(1, logits: logits)[0].label)")
}

do {
    try classify(Array(CommandLine.arguments.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("Classify: error: \(error)\n".utf8))
    exit(1)
}
