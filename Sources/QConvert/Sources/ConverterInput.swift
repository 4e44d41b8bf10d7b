// What the converter reads: a PyTorch / safetensors checkpoint or an ONNX model, told apart by the
// `.onnx` extension or the file's first bytes, and the graph source each one gets.
import Foundation
import QCheckpoint
import QONNX

/// A converter input: a PyTorch / safetensors checkpoint, or an ONNX model (by its `.onnx` extension or
/// its first bytes).
enum ConverterInput {
    case stateDict(Checkpoint)
    case onnx(ONNXModel, initializers: Checkpoint)

    /// Reads `url`, an ONNX model or a checkpoint.
    static func open(_ url: URL) throws -> ConverterInput {
        guard isONNX(url) else { return .stateDict(try Checkpoint.load(contentsOf: url)) }
        let model = try ONNXModel.load(contentsOf: url)
        return .onnx(model, initializers: Checkpoint(url: url, format: .onnx, wrapper: "initializers",
                                                     tensors: model.graph.initializers))
    }

    /// The `.onnx` extension, or a regular file whose first bytes are a ModelProto's.
    static func isONNX(_ url: URL) -> Bool {
        if url.pathExtension.lowercased() == "onnx" { return true }
        guard (try? FileManager.default.attributesOfItem(atPath: url.path)[.type] as? FileAttributeType) == .typeRegular,
              let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        return ONNXModel.looksLikeONNX((try? handle.read(upToCount: 3)) ?? Data())
    }

    /// The tensors recipes detect their method from and view (`Recipe.sourceCheckpoint`): the state dict, or
    /// the ONNX initializers as one (format `onnx`).
    var checkpoint: Checkpoint {
        switch self {
        case .stateDict(let c), .onnx(_, let c): return c
        }
    }

    /// The graph source over `sourceCheckpoint`, the recipe's view of `checkpoint`.
    func graphSource(_ sourceCheckpoint: Checkpoint, options: ConversionOptions) -> GraphSource {
        switch self {
        case .stateDict: return StateDictSource(checkpoint: sourceCheckpoint)
        case .onnx(let model, _): return ONNXSource(model: model, initializers: sourceCheckpoint, inputSize: options.inputSize)
        }
    }
}
