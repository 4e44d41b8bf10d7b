// Planning one conv/linear layer: geometry, kernel choice, weight views, column sums and epilogue constants.
import QFormat
import QGraph
import QKernels

/// The C geometry of a conv on an [H, W, C] input.
func convGeometry(_ c: Conv2D, inShape: [Int]) -> qk_conv_geom {
    qk_conv_geom(in_h: Int32(inShape[0]), in_w: Int32(inShape[1]), in_c: Int32(inShape[2]),
                 out_c: Int32(c.outChannels), kernel_h: Int32(c.kernel[0]), kernel_w: Int32(c.kernel[1]),
                 stride_h: Int32(c.stride[0]), stride_w: Int32(c.stride[1]),
                 pad_top: Int32(c.padding[0]), pad_left: Int32(c.padding[1]),
                 pad_bottom: Int32(c.padding[2]), pad_right: Int32(c.padding[3]),
                 dilation_h: Int32(c.dilation[0]), dilation_w: Int32(c.dilation[1]), groups: Int32(c.groups))
}

/// True if a conv runs on a direct depthwise family (groups == in_c == out_c, dilation 1, stride 1 or
/// 2): u8 inputs with quantized weights, 3x3, on dwconv3x3 (qk_dwconv.h); f32 inputs (f32 weights, or
/// weights-only quantized ones decoded to exact f32), 3x3 or 5x5, on fdwconv (qk_fdwconv.h).
func runsDirectDepthwise(_ c: Conv2D, geometry: qk_conv_geom, inputIsU8: Bool) -> Bool {
    var g = geometry
    if inputIsU8 { return c.weight.scheme != .float32 && qk_dwconv3x3_supports(&g) == 1 }
    return qk_fdwconv_supports(&g) == 1
}

/// Sets the f32 depthwise path of a step whose f32 GEMM weights are `rows` ([C][K*K]) when the conv
/// qualifies: the rows are repacked once into fdwconv's [K*K][C] layout (plan-owned memory).
private func useDirectFloatDepthwise(_ step: inout ConvStep, _ c: Conv2D, rows: UnsafePointer<Float>,
                                     depthwise: DepthwisePath, memory: OwnedMemory) {
    guard depthwise == .direct, runsDirectDepthwise(c, geometry: step.geometry, inputIsU8: false) else { return }
    let oc = c.outChannels, taps = c.reductionSize, wStride = qk_fdwconv_weight_stride(Int32(oc))
    let w = memory.allocate(taps * wStride * 4).bindMemory(to: Float.self, capacity: taps * wStride)
    qk_fdwconv_pack(rows, taps, Int32(taps), Int32(oc), w, wStride)
    step.floatDepthwise = (UnsafePointer(w), wStride, qk_fdwconv_select_for(qk_isa_active(), Int32(oc))!)
}

/// An epilogue with no residual and f32 output; the caller fills the rest.
private func baseEpilogue(bias: UnsafePointer<Float>, activation: Activation) -> qk_epilogue {
    let r = activation.clampRange
    return qk_epilogue(scale: nil, bias: bias, clamp_lo: r.lo, clamp_hi: r.hi, residual_kind: QK_RESIDUAL_NONE,
                       residual: nil, ldr: 0, rscale: 0, rzero: 0, output_kind: QK_OUTPUT_F32, out: nil, ldc: 0,
                       out_inv_scale: 0, out_zero: 0)
}

/// Builds the step of a conv (a linear is passed as a 1x1 conv on a [1, 1, in] input).
func layerStep(conv c: Conv2D, input: Int, output: Int, inShape: [Int], outShape: [Int], workspace: Int,
               inputQuant: QuantRef?, residual: Int?, residualQuant: QuantRef?, outputQuant: QuantRef?,
               choice: KernelChoice = .auto, depthwise: DepthwisePath = .direct, file: LBMFile,
               memory: OwnedMemory, inputIsSign: Bool = false, inputIsPackedSigns: Bool = false) throws -> ConvStep {
    let geometry = convGeometry(c, inShape: inShape)
    let k = c.reductionSize
    let oc = c.outChannels
    guard k <= Int(QK_MAX_K) else {
        throw RuntimeError("layer with K = \(k) exceeds the int32-exact limit \(QK_MAX_K)")
    }
    let bias: UnsafePointer<Float> = c.bias.map {
        UnsafePointer(file.tensor($0)!.bytes.baseAddress!.assumingMemoryBound(to: Float.self))
    } ?? memory.floats([Float](repeating: 0, count: oc))
    var epilogue = baseEpilogue(bias: bias, activation: c.activation)
    epilogue.ldc = oc
    if let residual {
        _ = residual
        epilogue.residual_kind = residualQuant == nil ? QK_RESIDUAL_F32 : QK_RESIDUAL_U8
        epilogue.ldr = oc
    }
    var step = ConvStep(input: input, output: output, residual: residual, workspace: workspace, geometry: geometry,
                        quantized: nil, float: nil, inputQuant: inputQuant, residualQuant: residualQuant,
                        outputQuant: outputQuant, weightScales: nil)
    if c.weight.scheme == .float32 {
        let weights = file.tensor(c.weight.values!)!.bytes.baseAddress!.assumingMemoryBound(to: Float.self)
        let args = qk_fgemm_args(M: 0, N: 0, K: 0, a: nil, lda: 0, b: weights, ldb: k, epi: epilogue)
        step.float = (args, qk_fgemm_select(qk_isa_active()))
        useDirectFloatDepthwise(&step, c, rows: weights, depthwise: depthwise, memory: memory)
        return step
    }
    if inputQuant == nil, let unit = binaryConvScale(c, inputIsSign: inputIsSign) {
        step.binary = binaryConv(c, geometry: geometry, unit: unit, epilogue: epilogue, file: file, memory: memory)
        step.packedInput = inputIsPackedSigns
        step.kernelName = String(cString: step.binary!.kernel.pointee.name)
        return step
    }
    if inputQuant == nil {
        // Weights-only quantization: f32 activations, so the exact weights (scale[oc] * levels[code])
        // are decoded once here and the layer runs on the f32 GEMM (depthwise 3x3 / 5x5: on fdwconv).
        let weights = decodeExactWeights(c, file: file, memory: memory)
        let args = qk_fgemm_args(M: 0, N: 0, K: 0, a: nil, lda: 0, b: weights, ldb: k, epi: epilogue)
        step.float = (args, qk_fgemm_select(qk_isa_active()))
        useDirectFloatDepthwise(&step, c, rows: weights, depthwise: depthwise, memory: memory)
        return step
    }
    let bits = c.weight.bits
    // Shift-add only where asked for and the table allows it (KernelChoice).
    let shiftTable = c.weight.lut.map(WeightDescriptor.isShiftTable) ?? false
    let kind = choice == .shift && shiftTable && qk_qgemm_select_kind(Int32(bits), qk_isa_active(), QK_KIND_SHIFT) != nil
        ? QK_KIND_SHIFT : QK_KIND_LUT
    guard let kernel = qk_qgemm_select_kind(Int32(bits), qk_isa_active(), kind) else {
        throw RuntimeError("no kernel for \(bits)-bit weights")
    }
    step.kernelName = String(cString: kernel.pointee.name)
    let codes = file.tensor(c.weight.codes!)!
    let packed = codes.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    let rowBytes = codes.shape[1]
    var lut: UnsafePointer<Int8>?
    if let table = c.weight.lut {
        let p = memory.allocate(16).bindMemory(to: Int8.self, capacity: 16)
        for (i, v) in table.enumerated() { p[i] = Int8(v) }
        lut = UnsafePointer(p)
    }
    // Each conv group's rows are their own packed matrix (qk_pack.h): column sums per group.
    let colsums = memory.allocate(oc * 4).bindMemory(to: Int32.self, capacity: oc)
    let perGroup = oc / c.groups, groupBytes = qk_packed_bytes(perGroup, k, Int32(bits))
    for g in 0..<c.groups {
        qk_weight_colsums(packed + g * groupBytes, perGroup, k, Int32(bits), lut, colsums + g * perGroup)
    }
    let weightScales = file.tensor(c.weight.scale!)!.bytes.baseAddress!.assumingMemoryBound(to: Float.self)
    switch inputQuant {
    case .fixed(let scale, _)?:
        epilogue.scale = memory.floats((0..<oc).map { scale * weightScales[$0] })
    default:
        step.weightScales = weightScales   // scale = input scale * weight scale, made per run
    }
    switch outputQuant {
    case .fixed(let scale, let zero)?:
        epilogue.output_kind = QK_OUTPUT_U8
        epilogue.out_inv_scale = 1 / scale
        epilogue.out_zero = zero
    case .dynamic?:
        throw RuntimeError("a conv cannot write a dynamically quantized output")
    case nil:
        epilogue.output_kind = QK_OUTPUT_F32
    }
    let args = qk_qgemm_args(M: 0, N: 0, K: k, a: nil, lda: 0, a_zero: 0, w: packed, w_group_stride: Int(QK_ROW_GROUP) * rowBytes,
                             bits: Int32(bits), lut: lut, colsum: colsums, epi: epilogue)
    step.quantized = (args, kernel)
    if depthwise == .direct && runsDirectDepthwise(c, geometry: geometry, inputIsU8: true) {
        // Repack once: conv group g = channel g, one row of K = 9 codes in a 16-row group.
        let wStride = qk_dwconv3x3_weight_stride(Int32(oc))
        let w = memory.allocate(9 * wStride).bindMemory(to: Int8.self, capacity: 9 * wStride)
        let wsum = memory.allocate(oc * 4).bindMemory(to: Int32.self, capacity: oc)
        qk_dwconv3x3_pack(packed, args.w_group_stride, Int32(bits), lut, Int32(oc), w, wStride, wsum)
        let member = qk_dwconv_select(qk_isa_active())!
        step.depthwise = (UnsafePointer(w), wStride, UnsafePointer(wsum), member)
        step.kernelName = String(cString: member.pointee.name)
    }
    return step
}

/// The exact f32 weight rows [OC][K] of a quantized conv/linear: w[oc][k] = scale[oc] * value(code), with
/// value = the descriptor's exact level of the code (WeightDescriptor.exactValue). Plan-owned memory.
func decodeExactWeights(_ c: Conv2D, file: LBMFile, memory: OwnedMemory) -> UnsafePointer<Float> {
    let k = c.reductionSize, oc = c.outChannels, bits = c.weight.bits
    let packed = file.tensor(c.weight.codes!)!.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    let scale = file.tensor(c.weight.scale!)!.bytes.baseAddress!.assumingMemoryBound(to: Float.self)
    let table = (0..<(1 << bits)).map { c.weight.exactValue(code: $0) }
    let out = memory.allocate(oc * k * 4).bindMemory(to: Float.self, capacity: oc * k)
    let perGroup = oc / c.groups, groupBytes = qk_packed_bytes(perGroup, k, Int32(bits))
    var codes = [UInt8](repeating: 0, count: perGroup * k)
    for g in 0..<c.groups {
        qk_unpack_codes(packed + g * groupBytes, perGroup, k, Int32(bits), &codes)
        for r in 0..<perGroup {
            let row = g * perGroup + r
            for j in 0..<k { out[row * k + j] = scale[row] * table[Int(codes[r * k + j])] }
        }
    }
    return UnsafePointer(out)
}

/// For a conv whose input is sign(x) (values -1, 0, +1) and whose exact weight levels are all 0 or +-c
/// for one c: c (then w = scale[oc] * c * t with t in {-1, 0, +1}, and the conv runs exactly on the
/// binary kernels: acc = sum a * t in int32, y = acc * (scale[oc] * c) + bias). nil otherwise.
func binaryConvScale(_ c: Conv2D, inputIsSign: Bool) -> Float? {
    guard inputIsSign, c.groups == 1, c.weight.scheme != .float32, c.weight.bits <= 4 else { return nil }
    let values = (0..<(1 << c.weight.bits)).map { abs(c.weight.exactValue(code: $0)) }.filter { $0 != 0 }
    guard let unit = values.first, values.allSatisfy({ $0 == unit }) else { return nil }
    return unit
}

/// The packed binary layer of a conv accepted by binaryConvScale, with its row tables built for
/// `geometry` (plan-owned memory).
private func binaryConv(_ c: Conv2D, geometry: qk_conv_geom, unit: Float, epilogue: qk_epilogue, file: LBMFile,
                        memory: OwnedMemory) -> (layer: qk_bconv_layer, kernel: UnsafePointer<qk_bgemm_ukernel_desc>) {
    let k = c.reductionSize, oc = c.outChannels, bits = c.weight.bits
    let packed = file.tensor(c.weight.codes!)!.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    let scale = file.tensor(c.weight.scale!)!.bytes.baseAddress!.assumingMemoryBound(to: Float.self)
    let ternary = (0..<(1 << bits)).map { code -> Int8 in
        let v = c.weight.exactValue(code: code)
        return v > 0 ? 1 : v < 0 ? -1 : 0
    }
    var codes = [UInt8](repeating: 0, count: oc * k)
    qk_unpack_codes(packed, oc, k, Int32(bits), &codes)
    let weights = codes.map { ternary[Int($0)] }
    let seg = c.inChannels, taps = c.kernel[0] * c.kernel[1]
    let kw = qk_bgemm_kwords(k, seg), words = qk_bgemm_packed_words(oc, kw)
    let planes = memory.allocate(words * 8).bindMemory(to: UInt64.self, capacity: words)
    let hasZero = qk_bgemm_pack_weights(weights, oc, k, seg, planes)
    let tapSums = memory.allocate(taps * oc * 4).bindMemory(to: Int32.self, capacity: taps * oc)
    qk_bgemm_segment_sums(planes, oc, kw, kw / taps, tapSums)
    let nonzero = memory.allocate(oc * 4).bindMemory(to: Int32.self, capacity: oc)
    qk_bgemm_row_nonzeros(planes, oc, kw, nonzero)
    var epi = epilogue
    epi.scale = memory.floats((0..<oc).map { scale[$0] * unit })
    var layer = qk_bconv_layer(w: UnsafePointer(planes), w_has_zero: hasZero, tap_sums: UnsafePointer(tapSums),
                               w_nonzero: UnsafePointer(nonzero), epi: epi, tables: nil)
    var g = geometry
    let tables = memory.allocate(qk_bconv_tables_bytes(&g))
    qk_bconv_prepare(&g, &layer, tables)
    layer.tables = UnsafeRawPointer(tables)
    return (layer, qk_bgemm_select(qk_isa_active()))
}
