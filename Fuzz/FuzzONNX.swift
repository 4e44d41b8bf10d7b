// Fuzz target `onnx`: the ONNX reader (protobuf decoding, tensor and attribute checks, name and cycle
// validation) and, for every model it accepts, the ONNX graph source (op translation, constant folding,
// shape inference). Either may refuse the input with an error; neither may trap, hang or allocate beyond
// the limits.
import Foundation
import QCheckpoint
@testable import QConvert
import QONNX

private let fuzzURL = URL(fileURLWithPath: "/fuzz/input.onnx")
private let fuzzLimits = ONNXReadLimits(maxTensorBytes: 1 << 26)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let model = try? ONNXModel.load(bytes: Data(bytes: data, count: size), name: fuzzURL.path, limits: fuzzLimits) else {
        return 0
    }
    let initializers = Checkpoint(url: fuzzURL, format: .onnx, wrapper: "initializers", tensors: model.graph.initializers)
    _ = try? ONNXSource(model: model, initializers: initializers, inputSize: nil).floatModel(arch: nil)
    return 0
}
