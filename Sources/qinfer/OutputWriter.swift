// qinfer --save-outputs and --mask: every graph output of an image as DIR/<image stem>.<output name>.npy
// (float32, NCHW) and the argmax mask of the first map output as a paletted PNG. Each file is written to a
// temporary file and renamed into place, so a file is whole or absent.
import Foundation
import QRuntime

/// One output of one image: its name, NCHW shape and the file it went to (nil without --save-outputs).
struct WrittenOutput: Encodable {
    var name: String
    var shape: [Int]
    var file: String?
}

/// What was written for one image.
struct WrittenFiles {
    var outputs: [WrittenOutput] = []
    var mask: String?

    /// One indented line per output (and the mask).
    func describe() -> String {
        outputs.map { "  \($0.name) \($0.shape)" + ($0.file.map { " -> \($0)" } ?? "") + "\n" }.joined()
            + (mask.map { "  mask -> \($0)\n" } ?? "")
    }
}

/// Writes the outputs a run asks for; checks the flags against the model and the image names up front.
struct OutputWriter {
    let model: Model
    let folder: URL?
    let mask: URL?
    /// Index (in Model.outputs) of the output the mask is made from.
    let maskOutput: Int?
    let severalImages: Bool

    /// True when anything is written per image.
    var writes: Bool { folder != nil || mask != nil }

    init(model: Model, folder: String?, mask: String?, images: [URL]) throws {
        self.model = model
        self.folder = folder.map { URL(fileURLWithPath: $0) }
        self.mask = mask.map { URL(fileURLWithPath: $0) }
        severalImages = images.count > 1
        if mask != nil {
            guard let index = model.outputs.firstIndex(where: { $0.shape.count == 3 }) else {
                throw RuntimeError("--mask: the model has no [1, C, H, W] output (outputs: "
                    + model.outputs.map { "\($0.name) \($0.shape)" }.joined(separator: ", ") + ")")
            }
            guard model.outputs[index].shape[2] <= 256 else {
                throw RuntimeError("--mask: output '\(model.outputs[index].name)' has \(model.outputs[index].shape[2]) channels; a paletted PNG holds at most 256 classes")
            }
            maskOutput = index
        } else {
            maskOutput = nil
        }
        if writes {
            let stems = images.map(Self.stem)
            if let repeated = Dictionary(grouping: stems, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
                throw RuntimeError("two images share the name '\(repeated)'; --save-outputs and --mask name files after the image, so they would overwrite each other")
            }
        }
        if let folder = self.folder { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
    }

    /// An image's file name without folder and extension, made safe for file names.
    static func stem(_ url: URL) -> String { safe(url.deletingPathExtension().lastPathComponent) }

    /// `name` with every character other than letters, digits, '.', '_' and '-' replaced by '_'.
    static func safe(_ name: String) -> String {
        String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
    }

    /// Writes `outputs` (Session.runOutputs) of the image at `image` as the flags ask.
    func write(_ outputs: [[Float]], image: URL) throws -> WrittenFiles {
        var files = WrittenFiles()
        let stem = Self.stem(image)
        for (output, values) in zip(model.outputs, outputs) {
            let (shape, nchw) = NumPyArray.nchw(values, shape: output.shape)
            var file: String?
            if let folder {
                let url = folder.appendingPathComponent("\(stem).\(Self.safe(output.name)).npy")
                try save(NumPyArray.encode(nchw, shape: shape), to: url)
                file = url.path
            }
            files.outputs.append(WrittenOutput(name: output.name, shape: shape, file: file))
        }
        if let mask, let maskOutput {
            let shape = model.outputs[maskOutput].shape
            let url = severalImages ? mask.deletingPathExtension().appendingPathExtension("\(stem).png") : mask
            let classes = SegmentationMask.argmax(outputs[maskOutput], shape: shape)
            try save(SegmentationMask.png(classes, height: shape[0], width: shape[1], classes: shape[2]), to: url)
            files.mask = url.path
        }
        return files
    }

    private func save(_ data: Data, to url: URL) throws {
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw RuntimeError("cannot write \(url.path): \(error.localizedDescription)")
        }
    }
}
