// Planning one conv/linear layer: geometry, kernel choice, weight views, column sums and epilogue constants.
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
/// 2, 3x3 or 5x5): u8 inputs with quantized weights on dwconv (qk_dwconv.h); f32 inputs (f32 weights, or
/// weights-only quantized ones decoded to exact f32) on fdwconv (qk_fdwconv.h).
func runsDirectDepthwise(_ c: Conv2D, geometry: qk_conv_geom, inputIsU8: Bool) -> Bool {
    var g = geometry
    if inputIsU8 { return c.weight.scheme != .float32 && qk_dwconv_supports(&g) == 1 }
    return qk_fdwconv_supports(&g) == 1
}

/// The kernel path of a conv, decided once from its weights, its input's type and the options; the
/// arena plan (the path's workspace) and the step (`layerStep`) both follow it.
enum ConvPath: Equatable {
    case floatGemm, floatDepthwise, quantizedGemm, quantizedDepthwise, binary, binaryPacked
    /// 1-2-bit weight codes x 1-2-bit activation codes on a bsgemm member (the planner's choice).
    case bitSerial(BitSerialForm)

    /// The path of conv `c` on an input of geometry `geometry`: binary kernels for sign inputs with
    /// binary/ternary weights (from the packed image when a packSigns step wrote it); else direct
    /// depthwise when asked for and supported; else the GEMM of the input's type.
    init(_ c: Conv2D, geometry: qk_conv_geom, inputIsU8: Bool, inputIsSign: Bool, inputIsPackedSigns: Bool,
         depthwise: DepthwisePath) {
        if !inputIsU8 && binaryConvScale(c, inputIsSign: inputIsSign) != nil {
            self = inputIsPackedSigns ? .binaryPacked : .binary
            return
        }
        let direct = depthwise == .direct && runsDirectDepthwise(c, geometry: geometry, inputIsU8: inputIsU8)
        self = inputIsU8 ? (direct ? .quantizedDepthwise : .quantizedGemm) : (direct ? .floatDepthwise : .floatGemm)
    }

    /// Bytes of arena scratch the path needs while the step runs (0: none); half-step weights add the
    /// conv driver's row sums.
    func workspaceBytes(_ geometry: qk_conv_geom, weights: WeightDescriptor) -> Int {
        var g = geometry
        switch self {
        case .floatGemm: return qk_conv_workspace_bytes(&g, 4)
        case .quantizedGemm:
            return qk_conv_workspace_bytes(&g, 1) + (weights.isHalfStep ? qk_conv_half_step_bytes(&g) : 0)
        case .binary: return qk_bconv_workspace_bytes(&g)
        case .bitSerial(let form): return qk_bsconv_image_bytes(&g, Int32(form.abits))
        case .floatDepthwise, .quantizedDepthwise, .binaryPacked: return 0
        }
    }
}

/// An epilogue with no residual and f32 output; the caller fills the rest.
private func baseEpilogue(bias: UnsafePointer<Float>, activation: Activation) -> qk_epilogue {
    let r = activation.clampRange
    return qk_epilogue(scale: nil, bias: bias, clamp_lo: r.lo, clamp_hi: r.hi, residual_kind: QK_RESIDUAL_NONE,
                       residual: nil, ldr: 0, rscale: 0, rzero: 0, output_kind: QK_OUTPUT_F32, out: nil, ldc: 0,
                       out_inv_scale: 0, out_zero: 0, half_rows: nil, out_range: nil)
}

/// Builds the step of a conv (a linear is passed as a 1x1 conv on a [1, 1, in] input) on `path`;
/// `workspace` is the arena offset of the path's scratch.
func layerStep(conv c: Conv2D, path: ConvPath, input: Int, output: Int, inShape: [Int], workspace: Int,
               inputQuant: QuantRef?, residual: Int?, residualQuant: QuantRef?, outputQuant: QuantRef?,
               choice: KernelChoice = .auto, tensors: TensorSource, memory: OwnedMemory) throws -> ConvStep {
    let geometry = convGeometry(c, inShape: inShape)
    let k = c.reductionSize
    let oc = c.outChannels
    guard k <= Int(QK_MAX_K) else {
        throw RuntimeError("layer with K = \(k) exceeds the int32-exact limit \(QK_MAX_K)")
    }
    let bias = c.bias.map { tensors.floats($0).baseAddress! } ?? memory.floats([Float](repeating: 0, count: oc))
    var epilogue = baseEpilogue(bias: bias, activation: c.activation)
    epilogue.ldc = oc
    if residual != nil {
        epilogue.residual_kind = residualQuant == nil ? QK_RESIDUAL_F32 : QK_RESIDUAL_U8
        epilogue.ldr = oc
    }
    let kernel: ConvKernel
    switch path {
    case .floatGemm, .floatDepthwise:
        // f32 weights as stored, or weights-only quantization (f32 activations): the exact weights
        // (scale[oc] * levels[code]) decoded once here.
        let weights = c.weight.scheme == .float32
            ? tensors.floats(c.weight.values!).baseAddress! : decodeExactWeights(c, tensors: tensors, memory: memory)
        if path == .floatGemm {
            var args = qk_fgemm_args(M: 0, N: 0, K: 0, a: nil, lda: 0, b: weights, ldb: k, epi: epilogue)
            var member = FloatGemmMember.rows(qk_fgemm_select(qk_isa_active()))
            // convs with a row tile of pixels run on the packed-panel members where one is SIMD (a
            // network's stem: 7x faster at K = 27; 1.8-3x at K = 147...2304); linear layers (M = 1)
            // and CPUs with only the scalar pfgemm keep fgemm
            var g = geometry
            let pixels = Int(qk_conv_out_h(&g)) * Int(qk_conv_out_w(&g))
            if let panels = qk_pfgemm_select(qk_isa_active()), panels.pointee.isa != QK_ISA_SCALAR, pixels >= Int(panels.pointee.mr) {
                let nr = Int(panels.pointee.nr), groups = c.groups, perGroup = oc / groups
                let groupFloats = qk_pfgemm_packed_floats(perGroup, k, nr)
                let packed = memory.allocate(groups * groupFloats * 4).bindMemory(to: Float.self, capacity: groups * groupFloats)
                for gi in 0..<groups {
                    qk_pfgemm_pack(weights + gi * perGroup * k, perGroup, k, k, nr, packed + gi * groupFloats)
                }
                args.b = UnsafePointer(packed)
                member = .panels(panels)
            }
            kernel = .floatGemm(memory.store(FloatGemmConv(geometry: geometry, args: args, member: member)), workspace: workspace)
        } else {
            // Repacked once from the [C][K*K] rows into fdwconv's [K*K][C] layout.
            let wStride = qk_fdwconv_weight_stride(Int32(oc))
            let w = memory.allocate(k * wStride * 4).bindMemory(to: Float.self, capacity: k * wStride)
            qk_fdwconv_pack(weights, k, Int32(k), Int32(oc), w, wStride)
            let args = qk_fdwconv_args(geom: geometry, in: nil, w: w, w_stride: wStride, epi: epilogue)
            kernel = .floatDepthwise(memory.store(FloatDepthwiseConv(args: args, member: qk_fdwconv_select_for(qk_isa_active(), Int32(oc))!)))
        }
    case .binary, .binaryPacked:
        let layer = memory.store(binaryConv(c, geometry: geometry, unit: binaryConvScale(c, inputIsSign: true)!,
                                            epilogue: epilogue, tensors: tensors, memory: memory))
        kernel = path == .binary ? .binary(layer, workspace: workspace) : .binaryPacked(layer)
    case .bitSerial(let form):
        kernel = try bitSerialKernel(c, form: form, geometry: geometry, epilogue: epilogue, workspace: workspace,
                                     inputQuant: inputQuant!, residualQuant: residualQuant, outputQuant: outputQuant,
                                     tensors: tensors, memory: memory)
    case .quantizedGemm, .quantizedDepthwise:
        kernel = try quantizedKernel(c, path: path, geometry: geometry, epilogue: epilogue, workspace: workspace,
                                     inputQuant: inputQuant!, residualQuant: residualQuant, outputQuant: outputQuant,
                                     choice: choice, tensors: tensors, memory: memory)
    }
    return ConvStep(input: input, output: output, residual: residual, kernel: kernel)
}

/// The epilogue of a layer on u8 input: per-channel scale = input scale * weight scale * `weightFactor`
/// (made per run for a dynamic input: the operands then hold the weight scales), the output's u8
/// quantization or f32.
private func u8Epilogue(_ c: Conv2D, epilogue: qk_epilogue, inputQuant: QuantRef, residualQuant: QuantRef?,
                        outputQuant: QuantRef?, weightFactor: Float, tensors: TensorSource,
                        memory: OwnedMemory) throws -> (qk_epilogue, U8Operands) {
    let oc = c.outChannels
    var epilogue = epilogue
    var operands = U8Operands(input: inputQuant, residual: residualQuant, weightScales: nil)
    var weightScales = tensors.floats(c.weight.scale!).baseAddress!
    if weightFactor != 1 { weightScales = memory.floats((0..<oc).map { weightScales[$0] * weightFactor }) }
    switch inputQuant {
    case .fixed(let scale, _):
        epilogue.scale = memory.floats((0..<oc).map { scale * weightScales[$0] })
    case .dynamic:
        operands.weightScales = weightScales   // scale = input scale * weight scale, made per run
    }
    switch outputQuant {
    case .fixed(let scale, let zero)?:
        epilogue.output_kind = QK_OUTPUT_U8
        epilogue.out_inv_scale = inverseScale(scale)
        epilogue.out_zero = zero
    case .dynamic?:
        throw RuntimeError("a conv cannot write a dynamically quantized output")
    case nil:
        epilogue.output_kind = QK_OUTPUT_F32
    }
    return (epilogue, operands)
}

/// The bit-serial path: the weight codes repacked once into bit planes (qk_bsgemm_pack_weights), the u8
/// epilogue, the bsgemm member for the form's widths.
private func bitSerialKernel(_ c: Conv2D, form: BitSerialForm, geometry: qk_conv_geom, epilogue: qk_epilogue, workspace: Int,
                             inputQuant: QuantRef, residualQuant: QuantRef?, outputQuant: QuantRef?,
                             tensors: TensorSource, memory: OwnedMemory) throws -> ConvKernel {
    let k = c.reductionSize, oc = c.outChannels
    let (epi, operands) = try u8Epilogue(c, epilogue: epilogue, inputQuant: inputQuant, residualQuant: residualQuant,
                                         outputQuant: outputQuant, weightFactor: 1, tensors: tensors, memory: memory)
    guard let member = qk_bsgemm_select(Int32(form.wbits), Int32(form.abits), qk_isa_active()) else {
        throw RuntimeError("no bit-serial kernel for \(form.wbits)-bit weights x \(form.abits)-bit activations")
    }
    var codes = [UInt8](repeating: 0, count: oc * k)
    qk_unpack_codes(tensors.pointer(c.weight.codes!).assumingMemoryBound(to: UInt8.self), oc, k, Int32(form.wbits), &codes)
    let kw = qk_bsgemm_kwords(k, c.inChannels), words = qk_bsgemm_packed_words(oc, kw, Int32(form.wbits))
    let planes = memory.allocate(words * 8).bindMemory(to: UInt64.self, capacity: words)
    qk_bsgemm_pack_weights(codes, oc, k, c.inChannels, Int32(form.wbits), planes)
    let layer = qk_bsconv_layer(w: UnsafePointer(planes), w_mul: form.wMul, w_offset: form.wOffset, epi: epi)
    return .bitSerial(memory.store(BitSerialConv(geometry: geometry, layer: layer, member: member, operands: operands)),
                      workspace: workspace)
}

/// The u8 paths: the epilogue's scales and output quantization, then the qgemm member with the
/// layer's table and column sums, or the weights repacked for dwconv.
private func quantizedKernel(_ c: Conv2D, path: ConvPath, geometry: qk_conv_geom, epilogue: qk_epilogue, workspace: Int,
                             inputQuant: QuantRef, residualQuant: QuantRef?, outputQuant: QuantRef?, choice: KernelChoice,
                             tensors: TensorSource, memory: OwnedMemory) throws -> ConvKernel {
    let k = c.reductionSize, oc = c.outChannels, bits = c.weight.bits
    // half-step weights: the kernels sum in half units (acc = 2 sum a q + sum a), so the scale halves
    let halfStep = c.weight.isHalfStep && path == .quantizedGemm
    guard !halfStep || k <= Int(QK_MAX_K) / 2 else {
        throw RuntimeError("layer with half-step weights and K = \(k) exceeds the int32-exact limit \(QK_MAX_K / 2)")
    }
    var (epilogue, operands) = try u8Epilogue(c, epilogue: epilogue, inputQuant: inputQuant, residualQuant: residualQuant,
                                              outputQuant: outputQuant, weightFactor: halfStep ? 0.5 : 1,
                                              tensors: tensors, memory: memory)
    let packed = tensors.pointer(c.weight.codes!).assumingMemoryBound(to: UInt8.self)
    let groupStride = Int(QK_ROW_GROUP) * WeightDescriptor.packedRowBytes(k: k, bits: bits)
    var lut: UnsafePointer<Int8>?
    if let table = c.weight.lut {
        let p = memory.allocate(16).bindMemory(to: Int8.self, capacity: 16)
        for (i, v) in table.enumerated() { p[i] = Int8(v) }
        lut = UnsafePointer(p)
    }
    if path == .quantizedDepthwise {
        // Repack once: conv group g = channel g, one row of K = kernel^2 codes in a 16-row group.
        let wStride = qk_dwconv_weight_stride(Int32(oc)), taps = k
        let w = memory.allocate(taps * wStride).bindMemory(to: Int8.self, capacity: taps * wStride)
        let wsum = memory.allocate(oc * 4).bindMemory(to: Int32.self, capacity: oc)
        qk_dwconv_pack(packed, groupStride, Int32(bits), lut, Int32(c.kernel[0]), Int32(oc), w, wStride, wsum)
        let args = qk_dwconv_args(geom: geometry, in: nil, a_zero: 0, w: w, w_stride: wStride, wsum: wsum, epi: epilogue)
        return .quantizedDepthwise(memory.store(QuantizedDepthwiseConv(args: args, member: qk_dwconv_select(qk_isa_active())!,
                                                                       operands: operands)))
    }
    // Shift-add only where asked for and the table allows it (KernelChoice).
    let shiftTable = c.weight.lut.map(WeightDescriptor.isShiftTable) ?? false
    let kind = choice == .shift && shiftTable && qk_qgemm_select_kind(Int32(bits), qk_isa_active(), QK_KIND_SHIFT) != nil
        ? QK_KIND_SHIFT : QK_KIND_LUT
    // Table weights run on the int8 member instead, expanded once, where asked for or measured faster.
    var (runBits, weights, runLut) = (bits, UnsafePointer(packed), lut)
    if kind == QK_KIND_LUT, let table = lut, Int8Expansion.isAvailable(bits: bits),
       choice == .int8 || (choice == .auto && Int8Expansion.isFaster(bits: bits, geometry: geometry)) {
        let values = Array(UnsafeBufferPointer(start: table, count: 1 << bits))
        weights = Int8Expansion.expand(packed, outChannels: oc, reduction: k, groups: c.groups, bits: bits,
                                       table: values, memory: memory)
        (runBits, runLut) = (8, nil)
    }
    guard let member = qk_qgemm_select_kind(Int32(runBits), qk_isa_active(), runBits == 8 ? QK_KIND_LUT : kind) else {
        throw RuntimeError("no kernel for \(bits)-bit weights")
    }
    // Each conv group's rows are their own packed matrix (qk_pack.h): column sums per group.
    let colsums = memory.allocate(oc * 4).bindMemory(to: Int32.self, capacity: oc)
    let perGroup = oc / c.groups, groupBytes = qk_packed_bytes(perGroup, k, Int32(runBits))
    for g in 0..<c.groups {
        qk_weight_colsums(weights + g * groupBytes, perGroup, k, Int32(runBits), runLut, colsums + g * perGroup)
    }
    // qk_conv2d_u8 reads half_rows only as the request and points it at the row sums it computes
    if halfStep { epilogue.half_rows = UnsafePointer(colsums) }
    let args = qk_qgemm_args(M: 0, N: 0, K: k, a: nil, lda: 0, a_zero: 0, w: weights,
                             w_group_stride: Int(QK_ROW_GROUP) * WeightDescriptor.packedRowBytes(k: k, bits: runBits),
                             bits: Int32(runBits), lut: runLut, colsum: colsums, prefetch_rows: 0, epi: epilogue,
                             a_width: 0, a_row_step: 0, a_col_step: 0, a_seg_len: 0, a_seg_step: 0)
    return .quantizedGemm(memory.store(QuantizedGemmConv(geometry: geometry, args: args, member: member, operands: operands)),
                          workspace: workspace)
}

/// The exact f32 weight rows [OC][K] of a quantized conv/linear: w[oc][k] = scale[oc] * value(code), with
/// value = the descriptor's exact level of the code (WeightDescriptor.exactValue). Plan-owned memory.
func decodeExactWeights(_ c: Conv2D, tensors: TensorSource, memory: OwnedMemory) -> UnsafePointer<Float> {
    let k = c.reductionSize, oc = c.outChannels, bits = c.weight.bits
    let packed = tensors.pointer(c.weight.codes!).assumingMemoryBound(to: UInt8.self)
    let scale = tensors.floats(c.weight.scale!)
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
private func binaryConv(_ c: Conv2D, geometry: qk_conv_geom, unit: Float, epilogue: qk_epilogue, tensors: TensorSource,
                        memory: OwnedMemory) -> BinaryConv {
    let k = c.reductionSize, oc = c.outChannels, bits = c.weight.bits
    let packed = tensors.pointer(c.weight.codes!).assumingMemoryBound(to: UInt8.self)
    let scale = tensors.floats(c.weight.scale!)
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
    return BinaryConv(geometry: geometry, layer: layer, member: qk_bgemm_select(qk_isa_active()))
}
