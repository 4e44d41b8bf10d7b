// Ground-truth files for evaluating a folder of images, ImageNet style: one "NAME LABEL" line per image, and
// an optional synset list that gives class indices to synset IDs.
//
//   Ground truth: one image per line, NAME then LABEL, separated by whitespace or a comma; lines starting
//     with "#" and a header line ("ImageId,..." / "path,label") are skipped. NAME is matched against each
//     image's file name with or without its extension. LABEL is the first word of the second field:
//       - a class index (0-based, the model's output order), e.g. Caffe's val.txt "ILSVRC2012_val_00000001.JPEG 65";
//       - a synset ID (n01440764), looked up in the synset list, e.g. Kaggle's LOC_val_solution.csv
//         "ILSVRC2012_val_00000001,n01751748 48 1 375 500";
//       - a class name from the model's labels (case-insensitive).
//   Synsets: line i holds the synset ID of class i as its first word, e.g. LOC_synset_mapping.txt
//     "n01440764 tench, Tinca tinca". Without a synset list, model labels that start with a synset ID are used.
import Foundation

/// Expected classes for image files, by file name.
public struct GroundTruth: Sendable {
    /// Class index by file name, and by file name without its extension.
    public private(set) var labels: [String: Int] = [:]

    /// Reads a ground-truth file; `classLabels` are the model's labels, `synsets` the synset ID of each class.
    public init(contentsOf url: URL, classLabels: [String], synsets: [String]? = nil) throws {
        let text = try Self.text(url)
        let synsetIDs = synsets ?? classLabels.map { String($0.prefix { !$0.isWhitespace && $0 != "," }) }
        let synsetIndex = Dictionary(synsetIDs.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields: [Substring]
            if trimmed.contains(",") {
                fields = trimmed.split(separator: ",", maxSplits: 1).map {
                    $0.split(whereSeparator: \.isWhitespace).first ?? ""
                }
            } else {
                fields = trimmed.split(whereSeparator: \.isWhitespace)
            }
            let place = "\(url.path):\(n + 1)"
            guard fields.count >= 2, !fields[0].isEmpty, !fields[1].isEmpty else {
                if n == 0 { continue }  // a header such as "ImageId,PredictionString"
                throw RuntimeError("\(place): expected 'NAME LABEL'")
            }
            let (name, token) = (String(fields[0]), String(fields[1]))
            let index: Int
            if let i = Int(token) {
                guard i >= 0, classLabels.isEmpty || i < classLabels.count else {
                    throw RuntimeError("\(place): class index \(i) is outside 0..<\(classLabels.count)")
                }
                index = i
            } else if let i = synsetIndex[token] {
                index = i
            } else if let i = classLabels.firstIndex(where: { $0.caseInsensitiveCompare(token) == .orderedSame }) {
                index = i
            } else if n == 0 {
                continue  // a header such as "path,label"
            } else {
                throw RuntimeError("\(place): label '\(token)' is neither a class index, a known synset ID "
                                   + "(give the synset list with --synsets) nor one of the model's labels")
            }
            let file = (name as NSString).lastPathComponent
            labels[file] = index
            labels[(file as NSString).deletingPathExtension] = index
        }
        guard !labels.isEmpty else { throw RuntimeError("\(url.path): no labelled images listed") }
    }

    /// The expected class of an image file, or nil when the file is not listed.
    public func label(for url: URL) -> Int? {
        labels[url.lastPathComponent] ?? labels[url.deletingPathExtension().lastPathComponent]
    }

    /// The synset ID of each class: the first word of each non-empty line of `url`.
    public static func synsets(contentsOf url: URL) throws -> [String] {
        let ids = try text(url).split(whereSeparator: \.isNewline).compactMap { line in
            line.split(whereSeparator: { $0.isWhitespace || $0 == "," }).first.map(String.init)
        }
        guard !ids.isEmpty else { throw RuntimeError("\(url.path): no synset IDs listed") }
        return ids
    }

    private static func text(_ url: URL) throws -> String {
        do { return try String(contentsOf: url, encoding: .utf8) } catch {
            throw RuntimeError("\(url.path): cannot read: \(error.localizedDescription)")
        }
    }
}
