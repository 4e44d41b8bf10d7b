// Graph sources: where the converter's float graph comes from.
import QCheckpoint

/// A source of float networks: builds the float graph, its nodes named after the source's parameters
/// (PyTorch's `layer1.0.conv1`), with its tensors, the preprocessing and labels it was trained with.
/// State dicts are one source (the architecture families); ONNX models are another (ONNXSource.swift);
/// ConverterInput.swift picks one from the file.
protocol GraphSource {
    /// The float network and why it was recognised as what it is; `arch` forces an architecture family.
    func floatModel(arch: String?) throws -> (FloatModel, evidence: String)
}

/// A PyTorch state dict: the architecture families read depth and width from its keys and shapes.
struct StateDictSource: GraphSource {
    /// The state dict as a plain PyTorch module holds it (a recipe's `sourceCheckpoint`).
    let checkpoint: Checkpoint

    func floatModel(arch: String?) throws -> (FloatModel, evidence: String) {
        try Architectures.build(checkpoint, override: arch)
    }
}
