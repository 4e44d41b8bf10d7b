// qinfer: classify images with a LowBit model (top-k labels, probabilities, latency), or evaluate a labelled set.
import ArgumentParser
import Foundation
import QRuntime

@main
struct QInfer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qinfer",
        abstract: "Classify images with a LowBit model.",
        discussion: """
            IMAGE may be a JPEG, PNG or PPM/PGM file (P2, P3, P5, P6), a folder, or a labels.csv (path,label). A
            folder with a labels.csv, or with class subfolders named like the model's labels, a labels.csv, and
            images given a ground-truth file with --labels are evaluated: top-1, top-5, images/s and mean latency.
            With no IMAGE, the bundled default model classifies its first bundled sample image.

            Examples:
              qinfer                                   # bundled model, bundled sample
              qinfer cat.ppm --model resnet20-w4.lbm --top 3
              qinfer ../shared/data/cifar10-test/labels.csv --model resnet20-w8.lbm
              qinfer a.pgm b.pgm --json
              qinfer imagenet-val/ --model resnet18-w4.lbm --labels LOC_val_solution.csv --synsets LOC_synset_mapping.txt
              qinfer a.ppm --model anyprec.lbm --bits 8 --reference --json   # float64 reference logits
              qinfer street.jpg --model deeplabv3.lbm --save-outputs out/ --mask street-mask.png

            Models with several outputs, or whose output is a map (segmentation), print each output's name and
            shape instead of classes. --save-outputs DIR writes every output of each image as
            DIR/<image stem>.<output name>.npy (float32; NCHW as in the source graph: [1, C, H, W] maps, [1, N]
            vectors; characters other than letters, digits, '.', '_' and '-' in names become '_'). --mask
            FILE.png writes the per-pixel argmax over channels of the first [1, C, H, W] output as a paletted PNG
            (pixel value = class index, PASCAL VOC colours); with several images each gets
            <FILE without .png>.<image stem>.png. Files are written whole or not at all (a temporary file
            renamed into place).

            --reference runs the float64 reference instead of the engine: every op in double with plain loops
            (slow by design), the weights decoded exactly; for checking a conversion against float64 PyTorch.
            Models converted with --activations u8 are refused.
            """)

    @Argument(help: "Images, folders or labels.csv files.")
    var images: [String] = []

    @Option(name: .shortAndLong, help: "The .lbm model (default: the bundled Fashion-MNIST model).")
    var model: String?

    @Option(help: "How many classes to print per image.")
    var top: Int = 5

    @Option(help: ArgumentHelp(stringLiteral: KernelChoice.optionHelp))
    var kernel: String = "auto"

    @Option(help: "Threads for the network.")
    var threads: Int = 1

    @Option(help: "Bit width to run at, for models converted with run-time bit widths (Any-Precision); default: the model's default width.")
    var bits: Int?

    @Option(help: ArgumentHelp("Ground truth for the images: 'NAME LABEL' lines (whitespace or comma separated); LABEL a class index, synset ID or label.", valueName: "file"))
    var labels: String?

    @Option(help: ArgumentHelp("Synset ID of each class, one per line in class order (ImageNet's LOC_synset_mapping.txt), for synset labels.", valueName: "file"))
    var synsets: String?

    @Option(help: ArgumentHelp("Write each preprocessed network input to this folder as NAME.f32 (HWC float32, little-endian).", valueName: "folder"))
    var saveInputs: String?

    @Option(help: ArgumentHelp("Write every output of each image to this folder as <image stem>.<output name>.npy (float32, NCHW).", valueName: "folder"))
    var saveOutputs: String?

    @Option(help: ArgumentHelp("Write the per-pixel argmax over channels of the first [1, C, H, W] output as a paletted PNG (several images: <FILE stem>.<image stem>.png).", valueName: "file.png"))
    var mask: String?

    @Flag(help: "Run the float64 reference (every op in double, plain loops; slow) instead of the engine; logits in double.")
    var reference = false

    @Flag(help: "One JSON object per image (and one summary object when evaluating).")
    var json = false

    @Flag(name: .shortAndLong, help: "Say which preprocessing was applied to each image.")
    var verbose = false

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
        guard KernelChoice(rawValue: kernel) != nil else { throw ValidationError(KernelChoice.invalidMessage) }
        if let mask, !mask.lowercased().hasSuffix(".png") || mask.hasSuffix("/") {
            throw ValidationError("--mask must name a .png file, not '\(mask)'")
        }
        if reference, saveOutputs != nil || mask != nil {
            throw ValidationError("--save-outputs and --mask run the engine; they do not combine with --reference")
        }
    }

    func run() throws {
        do {
            try classify()
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("qinfer: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func classify() throws {
        let modelURL = try model.map { URL(fileURLWithPath: $0) } ?? DefaultModel.modelURL()
        let loaded = try Model(contentsOf: modelURL, kernel: KernelChoice(rawValue: kernel)!)
        let session = Session(model: loaded, threads: threads)
        if let bits { try session.setBits(bits) }
        let referenceExecutor = reference ? try ReferenceExecutor(model: loaded, bits: bits) : nil
        let labels = loaded.info.labels
        let truth = try self.labels.map { file in
            try GroundTruth(contentsOf: URL(fileURLWithPath: file), classLabels: labels,
                            synsets: try synsets.map { try GroundTruth.synsets(contentsOf: URL(fileURLWithPath: $0)) })
        }
        var items: [LabelledImage] = []
        if images.isEmpty {
            guard let first = try DefaultModel.sampleImages().first else {
                throw RuntimeError("no IMAGE given and no bundled sample images found")
            }
            items = [LabelledImage(url: first, label: nil)]
        } else {
            for argument in images { items += try Dataset.images(from: argument, labels: labels) }
        }
        if let truth { items = items.map { LabelledImage(url: $0.url, label: truth.label(for: $0.url) ?? $0.label) } }
        let inputsFolder = saveInputs.map { URL(fileURLWithPath: $0) }
        if let inputsFolder { try FileManager.default.createDirectory(at: inputsFolder, withIntermediateDirectories: true) }
        let writer = try OutputWriter(model: loaded, folder: saveOutputs, mask: mask, images: items.map(\.url))
        let classifier = loaded.outputs.count == 1 && loaded.outputs[0].shape.count == 1
        let evaluating = items.contains { $0.label != nil }
        if reference && !classifier {
            throw RuntimeError("--reference computes the first output as class scores; this model's outputs ("
                + loaded.outputs.map { "\($0.name) \($0.shape)" }.joined(separator: ", ") + ") are not one vector of them")
        }
        if evaluating && !classifier {
            throw RuntimeError("the model's outputs (\(loaded.outputs.map { "\($0.name) \($0.shape)" }.joined(separator: ", "))) are not one "
                + "vector of class scores; labelled images are evaluated only with classifiers")
        }
        let quiet = evaluating && items.count > 20 && !json
        var top1 = 0, top5 = 0, labelled = 0
        var totalMs = 0.0
        let start = Date()
        for item in items {
            let image = try ImageReader.read(contentsOf: item.url)
            if verbose { FileHandle.standardError.write(Data("\(item.url.path): \(Preprocessor.describe(loaded.info.preprocessing, image: image))\n".utf8)) }
            if let inputsFolder {
                let input = try Preprocessor.apply(loaded.info.preprocessing, to: image)
                let name = item.url.deletingPathExtension().lastPathComponent + ".f32"
                try input.withUnsafeBytes { Data($0) }.write(to: inputsFolder.appendingPathComponent(name))
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            var outputs: [[Float]]?
            let logits: Logits
            if !classifier || writer.writes {
                outputs = try session.runOutputs(image)
                logits = .float32(outputs![0])
            } else {
                logits = try referenceExecutor.map { .float64(try $0.classify(image)) } ?? .float32(try session.classify(image))
            }
            let ms = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
            totalMs += ms
            let files = try outputs.map { try writer.write($0, image: item.url) } ?? WrittenFiles()
            if !classifier {
                if json {
                    print(try encodeJSON(OutputsResult(image: item.url.path, outputs: files.outputs, mask: files.mask, ms: ms, bits: session.bits)))
                } else {
                    print("\(item.url.path)  (\(String(format: "%.3f", ms)) ms\(session.bits.map { ", \($0) bits" } ?? ""))")
                    print(files.describe(), terminator: "")
                }
                continue
            }
            let ranked = logits.top(max(top, 5), labels: labels)
            if let label = item.label {
                labelled += 1
                if ranked.first?.index == label { top1 += 1 }
                if ranked.prefix(5).contains(where: { $0.index == label }) { top5 += 1 }
            }
            if json {
                let object = ImageResult(image: item.url.path, top: Array(ranked.prefix(top)), logits: logits, ms: ms,
                                         bits: session.bits, reference: reference ? true : nil,
                                         outputs: writer.folder == nil ? nil : files.outputs, mask: files.mask)
                print(try encodeJSON(object))
            } else if !quiet {
                print("\(item.url.path)  (\(String(format: "%.3f", ms)) ms\(session.bits.map { ", \($0) bits" } ?? "")\(reference ? ", float64 reference" : ""))")
                for r in ranked.prefix(top) {
                    print(String(format: "  %6.2f%%  %3d  %@", r.prob * 100, r.index, r.label))
                }
                if writer.writes { print(files.describe(), terminator: "") }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        if evaluating {
            let summary = EvaluationSummary(images: items.count, labelled: labelled,
                                            top1: labelled > 0 ? Double(top1) / Double(labelled) * 100 : 0,
                                            top5: labelled > 0 ? Double(top5) / Double(labelled) * 100 : 0,
                                            imagesPerSecond: Double(items.count) / seconds,
                                            meanMs: totalMs / Double(items.count), threads: threads, model: modelURL.path,
                                            reference: reference ? true : nil)
            if json {
                print(try encodeJSON(summary))
            } else {
                let what = reference ? "float64 reference" : "\(threads) thread\(threads == 1 ? "" : "s")"
                print(String(format: "%d images (%d labelled): top-1 %.2f%%  top-5 %.2f%%  %.1f images/s  mean latency %.3f ms (%@)",
                             summary.images, labelled, summary.top1, summary.top5, summary.imagesPerSecond,
                             summary.meanMs, what))
            }
        }
    }
}

private struct ImageResult: Encodable {
    var image: String
    var top: [RankedClass]
    var logits: Logits
    var ms: Double
    /// The run-time bit width (Any-Precision models only).
    var bits: Int?
    /// true when the float64 reference computed the logits (--reference); absent otherwise.
    var reference: Bool?
    /// --save-outputs: every output and its file.
    var outputs: [WrittenOutput]?
    /// --mask: the mask file.
    var mask: String?
}

/// One image's result for a model that is not a classifier (several outputs, or a map).
private struct OutputsResult: Encodable {
    var image: String
    var outputs: [WrittenOutput]
    var mask: String?
    var ms: Double
    var bits: Int?
}

/// The logits of one image: the engine's float32 or the reference's float64 (encoded as a JSON array of
/// numbers either way, each with the digits its type needs).
private enum Logits: Encodable {
    case float32([Float])
    case float64([Double])

    func top(_ k: Int, labels: [String]) -> [RankedClass] {
        switch self {
        case .float32(let v): return Classification.top(k, logits: v, labels: labels)
        case .float64(let v): return Classification.top(k, float64Logits: v, labels: labels)
        }
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .float32(let v): try container.encode(v)
        case .float64(let v): try container.encode(v)
        }
    }
}

private struct EvaluationSummary: Encodable {
    var images: Int
    var labelled: Int
    var top1: Double
    var top5: Double
    var imagesPerSecond: Double
    var meanMs: Double
    var threads: Int
    var model: String
    /// true when the float64 reference computed the logits (--reference); absent otherwise.
    var reference: Bool?
}

private func encodeJSON<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}
