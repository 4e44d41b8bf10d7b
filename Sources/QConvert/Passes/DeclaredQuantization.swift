// What a quantized source file fixed (ONNX QDQ, Sources/ONNXQuantized.swift): layers whose weights keep the
// file's integer codes and scales, and activation values with the file's u8 scale and zero point. The
// value-grid pass keeps the weights exactly (KeepValueGrids.swift) and activation typing uses the
// quantization as a static range, as --calibrate would set it (AssignActivationTypes.swift).
import QGraph

/// The quantization a source file declares for its float graph.
struct DeclaredQuantization: Sendable {
    /// LowBit layer name -> the file's codes (never re-quantized) and how they are described in the report.
    var weights: [String: ValueGrid] = [:]
    /// LowBit value name -> its static u8 quantization from the file.
    var activations: [String: ActivationQuant] = [:]

    var isEmpty: Bool { weights.isEmpty && activations.isEmpty }
}
