// Shape ops and constant folding. Flatten / Reshape / Squeeze / Unsqueeze compute the new ONNX shape and
// either reshape a constant or, on a run-time tensor, become nothing (the layout already matches) or a
// LowBit flatten (a feature map into a vector); anything else is refused. The shape subgraphs exporters
// write (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as torch.onnx writes x.view(x.size(0), -1);
// ConstantOfShape -> Concat -> Reshape -> Slice (step -1) -> Transpose -> Reshape -> Cast, as the TorchScript
// exporter writes F.pad's pads) fold to constants: shapes are static once the batch is 1 and H, W are fixed.
import QCheckpoint
import QGraph
import QONNX

/// Most elements of one folded constant (shape computations are tiny; this stops a chain of Concats
/// doubling a constant into gigabytes).
private let maxFoldedElements = 1 << 20

extension ONNXGraphBuilder {
    // MARK: reshapes

    mutating func flatten(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let shape = try shapeOf(node, 0)
        var axis = try a.int("axis", default: 1)
        if axis < 0 { axis += shape.count }
        guard (0...shape.count).contains(axis) else { throw a.unsupported("axis", "= \(axis) is outside the input's \(shape.count) dims") }
        try reshapeInput(node, to: [shape[..<axis].reduce(1, *), shape[axis...].reduce(1, *)])
    }

    mutating func reshape(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let shape = try shapeOf(node, 0)
        let allowZero = try a.int("allowzero", default: 0) != 0
        let request = try constant(node, 1, "shape").int64Values()
        let count = shape.reduce(1, *)
        var target = try request.enumerated().map { i, d -> Int in
            if d == 0 && !allowZero {
                guard i < shape.count else { throw ConvertError("node \(node.label): shape \(request) copies dim \(i) of \(shape)") }
                return shape[i]
            }
            guard d >= -1, d <= Int64(count) else { throw ConvertError("node \(node.label): shape \(request) has dim \(d)") }
            return Int(d)
        }
        if let unknown = target.firstIndex(of: -1), target.filter({ $0 == -1 }).count == 1,
           let known = checkedProduct(target.enumerated().filter { $0.offset != unknown }.map(\.element)), known > 0,
           count % known == 0 {
            target[unknown] = count / known
        }
        guard target.allSatisfy({ $0 >= 0 }), checkedProduct(target) == count else {
            throw ConvertError("node \(node.label): cannot reshape \(shape) (\(count) elements) to \(request)")
        }
        try reshapeInput(node, to: target)
    }

    /// Squeeze of the given axes (each of size 1), or of every size-1 axis.
    mutating func squeeze(_ node: ONNXNode) throws {
        let shape = try shapeOf(node, 0)
        let axes = try optionalInput(node, 1) == nil ? shape.indices.filter { shape[$0] == 1 } : try axesInput(node, 1, rank: shape.count)
        for axis in axes where shape[axis] != 1 {
            throw ConvertError("node \(node.label): squeezes axis \(axis) of \(shape), which is not 1")
        }
        try reshapeInput(node, to: shape.indices.filter { !axes.contains($0) }.map { shape[$0] })
    }

    mutating func unsqueeze(_ node: ONNXNode) throws {
        let shape = try shapeOf(node, 0)
        let axes = Set(try axesInput(node, 1, rank: shape.count + (try constant(node, 1, "axes").elementCount)))
        var out: [Int] = [], rest = shape.makeIterator()
        for i in 0..<(shape.count + axes.count) { out.append(axes.contains(i) ? 1 : rest.next()!) }
        try reshapeInput(node, to: out)
    }

    /// Axes from constant input `i`, made non-negative for `rank` dims and checked.
    private func axesInput(_ node: ONNXNode, _ i: Int, rank: Int) throws -> [Int] {
        let axes = try constant(node, i, "axes").int64Values().map { Int($0) < 0 ? Int($0) + rank : Int($0) }
        guard axes.allSatisfy({ (0..<rank).contains($0) }), Set(axes).count == axes.count else {
            throw ConvertError("node \(node.label): axes \(axes) do not fit \(rank) dims")
        }
        return axes
    }

    /// The ONNX shape of input `i` (a run-time tensor's or a constant's).
    func shapeOf(_ node: ONNXNode, _ i: Int) throws -> [Int] {
        switch try input(node, i) {
        case .tensor(_, let shape): return shape
        case .constant(let t): return t.shape
        }
    }

    /// Input 0 viewed with ONNX shape `target` (same element count): a constant keeps its bytes; a run-time
    /// tensor is unchanged where LowBit's layout already matches (the same shape, or a vector to another
    /// vector shape: [1, C, 1, 1] -> [1, C]) and is flattened where a feature map becomes a vector
    /// ([1, C, H, W] -> [1, C*H*W], LowBit's flatten keeps PyTorch's C, H, W order). Others are refused.
    private mutating func reshapeInput(_ node: ONNXNode, to target: [Int]) throws {
        switch try input(node, 0) {
        case .constant(let t):
            define(node.outputs[0], .constant(CheckpointTensor(dtype: t.dtype, shape: target, bytes: t.bytes)))
        case .tensor(let value, let shape):
            if target == shape { return define(node.outputs[0], .tensor(value, shape: shape)) }
            let vector = target.count >= 2 && target[0] == 1 && target.dropFirst().filter({ $0 != 1 }).count <= 1
            guard vector else {
                throw ConvertError("node \(node.label): reshapes \(shape) to \(target); LowBit runs only reshapes that flatten "
                    + "a [1, C, H, W] feature map into a [1, N] vector (before the classifier)")
            }
            if graph.value(value)!.shape.count == 1 { return define(node.outputs[0], .tensor(value, shape: target)) }
            define(node.outputs[0], .tensor(try appendOp(.flatten, inputs: [value], for: node), shape: target))
        }
    }

    // MARK: constants

    /// Constant: `value` (a tensor), `value_float(s)` or `value_int(s)`.
    mutating func constantNode(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        a.ignore("value", "value_float", "value_floats", "value_int", "value_ints")
        guard node.attributes.count == 1, let (name, attribute) = node.attributes.first else {
            throw ConvertError("node \(node.label): a Constant needs exactly one value attribute")
        }
        let tensor: CheckpointTensor
        switch (name, attribute) {
        case ("value", .tensor(let t)): tensor = t
        case ("value_float", .float(let v)): tensor = CheckpointTensor(shape: [], floats: [v])
        case ("value_floats", .floats(let v)): tensor = CheckpointTensor(shape: [v.count], floats: v)
        case ("value_int", .int(let v)): tensor = int64Tensor([v], shape: [])
        case ("value_ints", .ints(let v)): tensor = int64Tensor(v, shape: [v.count])
        default: throw a.unsupported(name, "(\(attribute.typeName)) is not a Constant value LowBit reads")
        }
        define(node.outputs[0], .constant(tensor))
    }

    /// Shape (with opset 15's start / end): the input's ONNX shape as an INT64 vector.
    mutating func shape(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let shape = try shapeOf(node, 0)
        func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + shape.count : v, 0), shape.count) }
        let start = clamp(try a.int("start", default: 0)), end = clamp(try a.int("end", default: shape.count))
        let dims = start < end ? Array(shape[start..<end]) : []
        define(node.outputs[0], .constant(int64Tensor(dims.map { Int64($0) }, shape: [dims.count])))
    }

    /// Gather of constant indices from a constant vector (what picks dims out of a shape).
    mutating func gather(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let data = try constant(node, 0, "data"), indices = try constant(node, 1, "indices")
        let axis = try a.int("axis", default: 0)
        guard data.shape.count == 1, axis == 0 || axis == -1, !indices.dtype.isFloatingPoint else {
            throw ConvertError("node \(node.label): LowBit folds Gather only of integer indices from a constant vector (axis 0)")
        }
        let n = data.shape[0]
        let picked = try indices.int64Values().map { i -> Int in
            let j = Int(i) < 0 ? Int(i) + n : Int(i)
            guard (0..<n).contains(j) else { throw ConvertError("node \(node.label): index \(i) is outside \(n) elements") }
            return j
        }
        let size = data.dtype.byteSize
        let bytes = picked.flatMap { data.bytes[($0 * size)..<(($0 + 1) * size)] }
        define(node.outputs[0], .constant(CheckpointTensor(dtype: data.dtype, shape: indices.shape, bytes: bytes)))
    }

    /// Concat of constant vectors (axis 0) of one type.
    mutating func concat(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let axis = try a.int("axis", default: 0)
        let parts = try node.inputs.indices.map { i -> CheckpointTensor in
            guard case .constant(let t) = try input(node, i) else {
                throw ConvertError("node \(node.label): concatenates run-time tensors; LowBit folds Concat only of constants (shape computations)")
            }
            return t
        }
        guard let first = parts.first, axis == 0 || axis == -1,
              parts.allSatisfy({ $0.shape.count == 1 && $0.dtype == first.dtype }) else {
            throw ConvertError("node \(node.label): LowBit folds Concat only of constant vectors of one type")
        }
        let count = parts.reduce(0) { $0 + $1.elementCount }
        guard count <= maxFoldedElements else { throw ConvertError("node \(node.label): folded Concat of \(count) elements is too large") }
        define(node.outputs[0], .constant(CheckpointTensor(dtype: first.dtype, shape: [count], bytes: parts.flatMap(\.bytes))))
    }

    /// Cast of a constant to FLOAT, DOUBLE, INT32 or INT64; a cast of a run-time tensor to FLOAT is an identity.
    mutating func cast(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        let to = try a.int("to", default: 0)
        a.ignore("saturate", "round_mode")
        guard let type = ONNXDataType(rawValue: Int32(clamping: to)) else { throw a.unsupported("to", "= \(to) is not an ONNX type") }
        switch try input(node, 0) {
        case .tensor:
            guard type == .float else { throw a.unsupported("to", "= \(type.name): LowBit computes in FLOAT") }
            define(node.outputs[0], try input(node, 0))
        case .constant(let t):
            switch type {
            case .float: define(node.outputs[0], .constant(CheckpointTensor(shape: t.shape, floats: t.floatValues())))
            case .int64: define(node.outputs[0], .constant(int64Tensor(t.int64Values(), shape: t.shape)))
            default: throw a.unsupported("to", "= \(type.name): LowBit folds casts only to FLOAT and INT64")
            }
        }
    }

    /// Slice of a constant along one axis (constant starts, ends, axes, steps; any step but 0), ONNX's
    /// clamping rules.
    mutating func slice(_ node: ONNXNode) throws {
        let data = try constant(node, 0, "data")
        func scalar(_ i: Int, _ role: String, _ fallback: Int64) throws -> Int64 {
            guard try optionalInput(node, i) != nil else { return fallback }
            let v = try constant(node, i, role).int64Values()
            guard v.count == 1 else { throw ConvertError("node \(node.label): LowBit folds Slice only along one axis") }
            return v[0]
        }
        let rank = Int64(data.shape.count)
        var axis = try scalar(3, "axes", 0)
        if axis < 0 { axis += rank }
        let step = try scalar(4, "steps", 1)
        guard (0..<rank).contains(axis), step != 0 else {
            throw ConvertError("node \(node.label): LowBit folds Slice of a constant along one of its \(rank) axes with a step other than 0")
        }
        let a = Int(axis), n = Int64(data.shape[a])
        let (start, end) = (try scalar(1, "starts", 0), try scalar(2, "ends", n))
        func clamp(_ v: Int64, _ lo: Int64, _ hi: Int64) -> Int64 { min(max(v < 0 ? v + n : v, lo), hi) }
        let (s, e) = step > 0 ? (clamp(start, 0, n), clamp(end, 0, n)) : (clamp(start, 0, n - 1), clamp(end, -1, n - 1))
        let picked = stride(from: s, to: e, by: Int(step)).map { Int($0) }
        // The data as [outer, n, inner] elements; the picked indices of the middle axis, in order.
        let inner: Int = data.shape[(a + 1)...].reduce(1, *) * data.dtype.byteSize
        let outer: Int = data.shape[..<a].reduce(1, *), rows = Int(n) * inner
        var bytes: [UInt8] = []
        bytes.reserveCapacity(outer * picked.count * inner)
        for o in 0..<outer {
            for i in picked { bytes += data.bytes[(o * rows + i * inner)..<(o * rows + (i + 1) * inner)] }
        }
        var shape = data.shape
        shape[a] = picked.count
        define(node.outputs[0], .constant(CheckpointTensor(dtype: data.dtype, shape: shape, bytes: bytes)))
    }

    /// ConstantOfShape: a constant of the given (constant) shape filled with `value` (one element; default
    /// FLOAT 0).
    mutating func constantOfShape(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        a.ignore("value")
        let dims = try constant(node, 0, "input").int64Values()
        guard dims.count <= 8, dims.allSatisfy({ $0 >= 0 && $0 <= Int64(maxFoldedElements) }),
              let count = checkedProduct(dims.map(Int.init)), count <= maxFoldedElements else {
            throw ConvertError("node \(node.label): ConstantOfShape of shape \(dims): LowBit folds it only up to \(maxFoldedElements) elements")
        }
        var fill = CheckpointTensor(shape: [1], floats: [0])
        switch node.attributes["value"] {
        case nil: break
        case .tensor(let t)? where t.elementCount == 1: fill = t
        case let other?: throw a.unsupported("value", "(\(other.typeName)) is not a one-element tensor")
        }
        let bytes = Array([[UInt8]](repeating: fill.bytes, count: count).joined())
        define(node.outputs[0], .constant(CheckpointTensor(dtype: fill.dtype, shape: dims.map(Int.init), bytes: bytes)))
    }

    /// Transpose of a constant (`perm`, default the reversed axes); run-time tensors are refused.
    mutating func transpose(_ node: ONNXNode, _ a: inout ONNXAttributes) throws {
        guard case .constant(let data) = try input(node, 0) else {
            throw ConvertError("node \(node.label): transposes a run-time tensor; LowBit folds Transpose only of constants (shape computations)")
        }
        let rank = data.shape.count
        let perm = try a.ints("perm") ?? Array((0..<rank).reversed())
        guard perm.sorted() == Array(0..<rank) else { throw a.unsupported("perm", "= \(perm) is not a permutation of \(rank) axes") }
        let shape = perm.map { data.shape[$0] }
        var strides = [Int](repeating: 1, count: rank)   // of the input, in elements
        for i in stride(from: rank - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * data.shape[i + 1] }
        let size = data.dtype.byteSize
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.bytes.count)
        var index = [Int](repeating: 0, count: rank)      // output index, row-major
        for _ in 0..<data.elementCount {
            let source = zip(perm, index).reduce(0) { $0 + strides[$1.0] * $1.1 }
            bytes += data.bytes[(source * size)..<((source + 1) * size)]
            for d in stride(from: rank - 1, through: 0, by: -1) {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
            }
        }
        define(node.outputs[0], .constant(CheckpointTensor(dtype: data.dtype, shape: shape, bytes: bytes)))
    }

    /// Add / Sub / Mul / Div of two constants of one shape, or of a constant and a one-element constant:
    /// INT64 when both are integers (Div truncates), else FLOAT.
    mutating func arithmetic(_ node: ONNXNode) throws {
        guard case .constant(let x) = try input(node, 0), case .constant(let y) = try input(node, 1) else {
            throw ConvertError("node \(node.label): \(node.opType) of run-time tensors is not supported; LowBit folds it only on constants")
        }
        let shape = x.elementCount >= y.elementCount ? x.shape : y.shape
        let count = shape.reduce(1, *)
        guard x.shape == y.shape || min(x.elementCount, y.elementCount) == 1, count <= maxFoldedElements else {
            throw ConvertError("node \(node.label): LowBit folds \(node.opType) only of constants of one shape or with a scalar")
        }
        func at<T>(_ v: [T], _ i: Int) -> T { v.count == 1 ? v[0] : v[i] }
        if !x.dtype.isFloatingPoint && !y.dtype.isFloatingPoint {
            let (a, b) = (x.int64Values(), y.int64Values())
            let out = try (0..<count).map { i -> Int64 in
                let (p, q) = (at(a, i), at(b, i))
                let (value, overflow): (Int64, Bool) = switch node.opType {
                case "Add": p.addingReportingOverflow(q)
                case "Sub": p.subtractingReportingOverflow(q)
                case "Mul": p.multipliedReportingOverflow(by: q)
                default: q == 0 ? (0, true) : p.dividedReportingOverflow(by: q)
                }
                guard !overflow else { throw ConvertError("node \(node.label): integer \(node.opType) of \(p) and \(q) overflows or divides by 0") }
                return value
            }
            return define(node.outputs[0], .constant(int64Tensor(out, shape: shape)))
        }
        let (a, b) = (x.floatValues(), y.floatValues())
        let out = (0..<count).map { i -> Float in
            let (p, q) = (at(a, i), at(b, i))
            switch node.opType {
            case "Add": return p + q
            case "Sub": return p - q
            case "Mul": return p * q
            default: return p / q
            }
        }
        define(node.outputs[0], .constant(CheckpointTensor(shape: shape, floats: out)))
    }
}

/// The product of `dims`, nil on overflow.
private func checkedProduct(_ dims: [Int]) -> Int? {
    var p = 1
    for d in dims {
        let (q, overflow) = p.multipliedReportingOverflow(by: d)
        if overflow { return nil }
        p = q
    }
    return p
}

/// An INT64 tensor from values.
func int64Tensor(_ values: [Int64], shape: [Int]) -> CheckpointTensor {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(values.count * 8)
    for v in values { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    return CheckpointTensor(dtype: .int64, shape: shape, bytes: bytes)
}
