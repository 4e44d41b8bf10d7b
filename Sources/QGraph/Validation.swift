// Whole-graph validation: structure, shapes, activation types and every referenced tensor.
import QFormat

extension WeightDescriptor {
    /// Bytes of one packed row of K codes at `bits` bits: rows are padded to a multiple of 32 codes and
    /// each group of 32 codes takes bits * 4 bytes (docs/KERNELS.md, "Packed codes").
    public static func packedRowBytes(k: Int, bits: Int) -> Int { (k + 31) / 32 * bits * 4 }
    /// Rows of a packed codes tensor: each conv group's rows rounded up to a row group of 16
    /// (qk_pack.h; docs/FORMAT.md).
    public static func packedRows(rows: Int, groups: Int = 1) -> Int { groups * ((rows / groups + 15) / 16 * 16) }
}

extension Graph {
    /// Checks everything the runtime relies on, so that nothing after planning can fail: names are unique,
    /// every input is produced earlier, stored shapes equal inferred ones, activation types fit each op,
    /// and every tensor a node names exists in `tensors` with the right dtype and shape.
    public func validate(tensors: TensorCatalog) throws {
        var defined: [String: Value] = [:]
        for v in values {
            guard defined.updateValue(v, forKey: v.name) == nil else { throw GraphError("duplicate value '\(v.name)'") }
            guard v.shape.allSatisfy({ $0 > 0 && $0 <= 1 << 24 }), !v.shape.isEmpty, v.shape.count <= 3 else {
                throw GraphError("value '\(v.name)' has unsupported shape \(v.shape)")
            }
            guard v.shape.reduce(1, { $0.multipliedReportingOverflow(by: $1).partialValue }) <= 1 << 28 else {
                throw GraphError("value '\(v.name)' is too large: \(v.shape)")
            }
            if case .uint8(let s, let z) = v.quant {
                guard s.isFinite, s > 0, (0...255).contains(z) else {
                    throw GraphError("value '\(v.name)' has invalid u8 quantization scale=\(s) zero=\(z)")
                }
            }
        }
        guard let inputValue = defined[input] else { throw GraphError("graph input '\(input)' is not a value") }
        guard inputValue.quant == .float32, inputValue.shape.count == 3 else {
            throw GraphError("graph input must be an f32 [H, W, C] value")
        }
        for output in outputs {
            guard defined[output] != nil else { throw GraphError("graph output '\(output)' is not a value") }
        }
        guard Set(outputs).count == outputs.count, extraOutputs?.isEmpty != true, outputs.count <= 64 else {
            throw GraphError("graph outputs \(outputs) repeat a value, or list none / more than 64 extra")
        }
        var available: Set<String> = [input]
        var produced: Set<String> = []
        for node in nodes {
            for name in node.inputs where !available.contains(name) {
                throw GraphError("node '\(node.name)' reads '\(name)' before it is produced")
            }
            guard let out = defined[node.output] else { throw GraphError("node '\(node.name)' writes unknown value '\(node.output)'") }
            guard produced.insert(node.output).inserted, node.output != input else {
                throw GraphError("value '\(node.output)' is written twice")
            }
            let ins = node.inputs.map { defined[$0]! }
            let shape = try Graph.inferShape(node.op, inputs: ins.map(\.shape), node: node.name)
            guard shape == out.shape else {
                throw GraphError("node '\(node.name)': stored shape \(out.shape) differs from inferred \(shape)")
            }
            try checkTypes(node, ins.map(\.quant), out.quant)
            try checkTensors(node, tensors)
            available.insert(node.output)
        }
        for output in outputs {
            guard available.contains(output) else { throw GraphError("graph output '\(output)' is never produced") }
            guard defined[output]!.quant == .float32 else { throw GraphError("graph output '\(output)' must be f32") }
        }
    }

    private func checkTypes(_ node: Node, _ ins: [ActivationQuant], _ out: ActivationQuant) throws {
        func fail(_ why: String) -> GraphError { GraphError("node '\(node.name)' (\(node.op.kind)): \(why)") }
        let u8In = ins.map(\.isUInt8)
        switch node.op {
        // Quantized weights run on u8 inputs (integer kernels) or, weights only, on f32 inputs (the
        // planner decodes them to exact f32 values); f32 weights need f32 inputs.
        case .conv2d(let c):
            if c.weight.scheme == .float32, u8In[0] { throw fail("f32 weights need an f32 input") }
            // a u8 output adds a u8 residual; an f32 output an f32 one, or a u8 one on the integer kernels
            if c.residual, out.isUInt8 ? !u8In[1] : u8In[1] && !u8In[0] {
                throw fail(out.isUInt8 ? "a u8 output needs a u8 residual" : "a u8 residual needs a u8 input")
            }
            if !u8In[0], out.isUInt8 { throw fail("a conv on f32 values must produce f32") }
            if out == .dynamicUInt8 { throw fail("a conv output cannot be dynamically quantized") }
        case .linear(let l):
            if l.weight.scheme == .float32, u8In[0] { throw fail("f32 weights need an f32 input") }
            if out.isUInt8 && (!u8In[0] || out == .dynamicUInt8) { throw fail("linear output must be f32 or static u8") }
        case .batchNorm, .activation, .prelu, .roundToFixed, .sign, .doReFa:
            guard !u8In[0], !out.isUInt8 else { throw fail("runs on f32 values only (fold or fuse it first)") }
        case .add:
            guard u8In[0] == u8In[1], u8In[0] == out.isUInt8, out != .dynamicUInt8 else {
                throw fail("inputs and output must all be f32 or all static u8")
            }
        case .maxPool, .avgPool, .flatten, .shortcutA:
            guard ins[0].isUInt8 == out.isUInt8 else { throw fail("input and output types differ") }
            if out.isUInt8, out != ins[0] { throw fail("u8 output must keep the input's quantization") }
        case .globalAvgPool, .dequantize:
            guard out == .float32 else { throw fail("output must be f32") }
            if case .dequantize = node.op, !u8In[0] { throw fail("input must be u8") }
        case .quantize:
            guard !u8In[0], out.isUInt8 else { throw fail("converts f32 to u8") }
        case .defined(let d):
            switch d.definition.typing {
            case .float32:
                guard !u8In.contains(true), !out.isUInt8 else { throw fail("runs on f32 values only") }
            }
        }
    }

    private func checkTensors(_ node: Node, _ tensors: TensorCatalog) throws {
        func require(_ name: String?, _ dtype: LBMDType, _ shape: [Int], _ role: String) throws {
            guard let name else { throw GraphError("node '\(node.name)': \(role) tensor missing") }
            guard let info = tensors.tensorInfo(name) else {
                throw GraphError("node '\(node.name)': \(role) tensor '\(name)' is not in the file")
            }
            guard info.dtype == dtype, info.shape == shape else {
                throw GraphError("node '\(node.name)': \(role) tensor '\(name)' is \(info.dtype.rawValue)\(info.shape), expected \(dtype.rawValue)\(shape)")
            }
        }
        func weights(_ w: WeightDescriptor, rows: Int, k: Int, groups: Int = 1) throws {
            switch w.scheme {
            case .float32:
                try require(w.values, .f32, [rows, k], "weight")
            case .uniform, .codebook, .shift:
                guard WeightDescriptor.packedBits.contains(w.bits) else {
                    throw GraphError("node '\(node.name)': unsupported weight bits \(w.bits)")
                }
                try require(w.codes, .u8, [WeightDescriptor.packedRows(rows: rows, groups: groups),
                                           WeightDescriptor.packedRowBytes(k: k, bits: w.bits)], "codes")
                try require(w.scale, .f32, [rows], "weight scale")
                if w.bits < 8 {
                    guard let lut = w.lut, lut.count == 1 << w.bits, lut.allSatisfy({ (-128...127).contains($0) }) else {
                        throw GraphError("node '\(node.name)': lookup table must have \(1 << w.bits) int8 entries")
                    }
                }
                if w.scheme == .shift {
                    guard w.bits <= 4, let lut = w.lut, WeightDescriptor.isShiftTable(lut) else {
                        throw GraphError("node '\(node.name)': shift weights need a table of 0 and +-2^e entries (at most 4 bits)")
                    }
                }
                if let levels = w.levels, levels.count != 1 << w.bits || !levels.allSatisfy(\.isFinite) {
                    throw GraphError("node '\(node.name)': levels must be \(1 << w.bits) finite values")
                }
            }
        }
        switch node.op {
        case .defined(let d):
            do { try d.definition.validate(tensors: tensors) } catch {
                throw GraphError("node '\(node.name)' (\(node.op.kind)): \(error.reason)")
            }
        case .conv2d(let c):
            try weights(c.weight, rows: c.outChannels, k: c.reductionSize, groups: c.groups)
            if let b = c.bias { try require(b, .f32, [c.outChannels], "bias") }
        case .linear(let l):
            try weights(l.weight, rows: l.outFeatures, k: l.inFeatures)
            if let b = l.bias { try require(b, .f32, [l.outFeatures], "bias") }
        case .batchNorm(let b):
            for (t, role) in [(b.gamma, "gamma"), (b.beta, "beta"), (b.mean, "mean"), (b.variance, "variance")] {
                try require(t, .f32, [b.channels], role)
            }
        case .roundToFixed(let i, let f):
            guard (1...32).contains(i), (0...32).contains(f) else {
                throw GraphError("node '\(node.name)': round_to_fixed bits must be I in 1...32, F in 0...32")
            }
        case .doReFa(let bits):
            guard (1...16).contains(bits) else { throw GraphError("node '\(node.name)': DoReFa bits must be in 1...16") }
        case .prelu(let slopes):
            let c = value(node.inputs[0])!.shape.last!
            guard let info = tensors.tensorInfo(slopes), info.dtype == .f32, info.shape == [1] || info.shape == [c] else {
                throw GraphError("node '\(node.name)': prelu slopes '\(slopes)' must be F32 [1] or [\(c)]")
            }
        default:
            break
        }
    }
}
