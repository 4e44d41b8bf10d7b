// Turning logits into ranked classes, and labelled image sets for evaluation.
import Foundation

/// One ranked class.
public struct RankedClass: Codable, Equatable, Sendable {
    public var index: Int
    public var label: String
    public var prob: Double
}

public enum Classification {
    /// Softmax in Double (stable: shifted by the maximum).
    public static func softmax(_ logits: [Float]) -> [Double] {
        guard let m = logits.max() else { return [] }
        let e = logits.map { exp(Double($0 - m)) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// Softmax of float64 logits (the float64 reference's), shifted by the maximum.
    public static func softmax(float64Logits logits: [Double]) -> [Double] {
        guard let m = logits.max() else { return [] }
        let e = logits.map { exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// The `k` most probable classes, ties broken by lower index.
    public static func top(_ k: Int, logits: [Float], labels: [String]) -> [RankedClass] {
        ranked(softmax(logits), k, labels: labels)
    }

    /// The `k` most probable classes of float64 logits, ties broken by lower index.
    public static func top(_ k: Int, float64Logits logits: [Double], labels: [String]) -> [RankedClass] {
        ranked(softmax(float64Logits: logits), k, labels: labels)
    }

    /// The `k` largest probabilities with their labels.
    private static func ranked(_ p: [Double], _ k: Int, labels: [String]) -> [RankedClass] {
        let order = p.indices.sorted { p[$0] != p[$1] ? p[$0] > p[$1] : $0 < $1 }
        return order.prefix(k).map { RankedClass(index: $0, label: $0 < labels.count ? labels[$0] : "class \($0)", prob: p[$0]) }
    }
}

/// An image with its expected class (nil when unknown).
public struct LabelledImage: Sendable {
    public var url: URL
    public var label: Int?

    public init(url: URL, label: Int?) {
        self.url = url
        self.label = label
    }
}

public enum Dataset {
    /// File extensions a folder walk picks up (compared lower-cased).
    public static let imageExtensions: Set<String> = ["ppm", "pgm", "pnm", "jpg", "jpeg", "png"]

    /// Images to classify from a command-line argument: a file; a labels.csv (path,label — label an index
    /// or a class name); or a folder, which uses its labels.csv when present, else class subfolders named
    /// like the model's labels, else every image inside (`imageExtensions`) without labels.
    public static func images(from argument: String, labels: [String]) throws -> [LabelledImage] {
        let url = URL(fileURLWithPath: argument)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw RuntimeError("\(argument): no such file or folder")
        }
        if isDirectory.boolValue {
            let csv = url.appendingPathComponent("labels.csv")
            if FileManager.default.fileExists(atPath: csv.path) { return try readCSV(csv, labels: labels) }
            return try walk(url, labels: labels)
        }
        if url.pathExtension.lowercased() == "csv" { return try readCSV(url, labels: labels) }
        return [LabelledImage(url: url, label: nil)]
    }

    private static func label(_ text: String, labels: [String], file: String) throws -> Int {
        if let i = Int(text) {
            guard i >= 0, labels.isEmpty || i < labels.count else { throw RuntimeError("\(file): label \(i) out of range") }
            return i
        }
        guard let i = labels.firstIndex(where: { $0.caseInsensitiveCompare(text) == .orderedSame }) else {
            throw RuntimeError("\(file): label '\(text)' is not one of the model's labels")
        }
        return i
    }

    private static func readCSV(_ url: URL, labels: [String]) throws -> [LabelledImage] {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw RuntimeError("\(url.path): cannot read: \(error.localizedDescription)")
        }
        let base = url.deletingLastPathComponent()
        var result: [LabelledImage] = []
        for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            if n == 0 && (fields.first == "path" || fields.dropFirst().first == "label") { continue }
            guard fields.count >= 2, !fields[0].isEmpty else { throw RuntimeError("\(url.path):\(n + 1): expected 'path,label'") }
            let path = fields[0].hasPrefix("/") ? URL(fileURLWithPath: fields[0]) : base.appendingPathComponent(fields[0])
            result.append(LabelledImage(url: path, label: try label(fields[1], labels: labels, file: "\(url.path):\(n + 1)")))
        }
        guard !result.isEmpty else { throw RuntimeError("\(url.path): no images listed") }
        return result
    }

    private static func walk(_ dir: URL, labels: [String]) throws -> [LabelledImage] {
        guard let walker = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil) else {
            throw RuntimeError("\(dir.path): cannot list folder")
        }
        var result: [LabelledImage] = []
        for case let url as URL in walker where imageExtensions.contains(url.pathExtension.lowercased()) {
            let parent = url.deletingLastPathComponent().lastPathComponent
            let index = labels.firstIndex { $0.caseInsensitiveCompare(parent) == .orderedSame }
            result.append(LabelledImage(url: url, label: index))
        }
        guard !result.isEmpty else { throw RuntimeError("\(dir.path): no JPEG, PNG or PPM/PGM images found") }
        return result.sorted { $0.url.path < $1.url.path }
    }
}
