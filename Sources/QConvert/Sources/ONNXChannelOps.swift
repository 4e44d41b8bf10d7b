// ONNX Concat, Split and Slice of run-time tensors along channels (axis 1 of [1, C, H, W] maps or of [1, C]
// vectors): QGraph/Ops/ ChannelConcat and ChannelSlice. Of constants they fold (ONNXShapeOps.swift).
import QCheckpoint
import QGraph
import QONNX

extension ONNXGraphBuilder {
    /// Concat: of constants folded; of run-time tensors along channels a concat node.
    mutating func concatAny(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let inputs = try node.inputs.indices.map { try input(node, $0) }
        guard inputs.contains(where: { if case .tensor = $0 { true } else { false } }) else { return try concat(node, &a) }
        let parts = try node.inputs.indices.map { i -> (value: String, shape: [Int]) in
            guard case .tensor(let v, let shape) = inputs[i] else {
                throw ConvertError("node \(node.label): concatenates the constant '\(node.inputs[i])' with run-time tensors; LowBit concatenates run-time tensors only")
            }
            return (v, shape)
        }
        let shape = parts[0].shape
        try requireChannelAxis(try a.int("axis", default: 0), rank: shape.count, "axis", &a)
        var total = 0
        for part in parts {
            guard part.shape.count == shape.count, part.shape.enumerated().allSatisfy({ $0.offset == 1 || $0.element == shape[$0.offset] }) else {
                throw ConvertError("node \(node.label): inputs of shapes \(parts.map(\.shape)) differ in more than their channels")
            }
            total += part.shape[1]
        }
        let out = parts.count == 1 ? parts[0].value
            : try appendOp(.defined(.concat(ChannelConcat())), inputs: parts.map(\.value), for: node)
        var outShape = shape
        outShape[1] = total
        define(node.outputs[0], .tensor(out, shape: outShape))
    }

    /// Split along channels into the `split` sizes (input since opset 13), `num_outputs` parts (opset 18;
    /// the last one smaller when C does not divide), or as many equal parts as outputs.
    mutating func split(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let x = try tensor(node, 0)
        try requireChannelAxis(try a.int("axis", default: 0), rank: x.shape.count, "axis", &a)
        let c = x.shape[1], n = node.outputs.count
        let parts = try a.int("num_outputs", default: 0)
        var sizes: [Int]
        if try optionalInput(node, 1) != nil {
            sizes = try constant(node, 1, "split").int64Values().map { Int($0) }
        } else if parts > 0 {
            let chunk = (c + parts - 1) / parts
            sizes = (0..<parts).map { min(chunk, max(0, c - $0 * chunk)) }
        } else {
            sizes = [Int](repeating: c / max(n, 1), count: n)
        }
        guard sizes.count == n, sizes.allSatisfy({ $0 >= 1 }), sizes.reduce(0, +) == c else {
            throw ConvertError("node \(node.label): splits \(c) channels into \(sizes) for \(n) outputs; LowBit needs parts >= 1 that add up to the channels")
        }
        var start = 0
        for (output, size) in zip(node.outputs, sizes) {
            defer { start += size }
            guard !output.isEmpty, readerCount(output) > 0 else { continue }
            try defineSlice(output, of: x, start: start, count: size, node)
        }
    }

    /// Slice: of a constant folded; of a run-time tensor one step-1 range of channels (axes [1]).
    mutating func sliceAny(_ node: ONNXNode) throws {
        guard case .tensor(let v, let shape) = try input(node, 0) else { return try slice(node) }
        func values(_ i: Int, _ role: String) throws -> [Int64]? {
            try optionalInput(node, i) == nil ? nil : try constant(node, i, role).int64Values()
        }
        let (starts, ends) = (try values(1, "starts") ?? [], try values(2, "ends") ?? [])
        let axes = try values(3, "axes") ?? [0], steps = try values(4, "steps") ?? [1]
        guard starts.count == 1, ends.count == 1, axes.count == 1, steps == [1],
              axes[0] == 1 || axes[0] == 1 - Int64(shape.count), shape.count >= 2 else {
            throw ConvertError("node \(node.label): Slice of a run-time tensor with starts \(starts), ends \(ends), axes \(axes), steps \(steps); "
                + "LowBit slices run-time tensors only along channels (axes [1]) with step 1")
        }
        let c = Int64(shape[1])
        func clamp(_ i: Int64) -> Int { Int(min(max(i < 0 ? i + c : i, 0), c)) }
        let (start, end) = (clamp(starts[0]), clamp(ends[0]))
        guard end > start else { throw ConvertError("node \(node.label): Slice of channels \(starts[0])..<\(ends[0]) of \(c) is empty") }
        try defineSlice(node.outputs[0], of: (v, shape), start: start, count: end - start, node)
    }

    /// Defines ONNX value `output` as channels start ..< start + count of `x` (x itself when that is all).
    private mutating func defineSlice(_ output: String, of x: (value: String, shape: [Int]), start: Int, count: Int, _ node: ONNXNode) throws {
        var shape = x.shape
        shape[1] = count
        if start == 0 && count == x.shape[1] { return define(output, .tensor(x.value, shape: shape)) }
        let slice = ChannelSlice(start: start, count: count)
        define(output, .tensor(try appendOp(.defined(.slice(slice)), inputs: [x.value], for: node), shape: shape))
    }

    /// Throws unless `axis` is the channel axis (1) of a rank-2 or rank-4 tensor.
    private func requireChannelAxis(_ axis: Int, rank: Int, _ name: String, _ a: inout ONNXAttributes) throws {
        guard rank == 2 || rank == 4, axis == 1 || axis == 1 - rank else {
            throw a.unsupported(name, "= \(axis) on a rank-\(rank) tensor: LowBit concatenates and splits run-time tensors only along channels (axis 1)")
        }
    }
}
