// The planner: turns a validated graph into a flat list of kernel steps over one preallocated arena.
// Everything that can fail happens here; the executor after it only calls kernels (DESIGN.md, "Data flow").
import QGraph
import QKernels

/// The quantization parameters of a u8 value: fixed in the graph, or measured at run time into a slot.
enum QuantRef {
    case fixed(scale: Float, zeroPoint: Int32)
    case dynamic(slot: Int)
}

/// One executor step.
enum Step {
    /// f32 -> u8; a dynamic `quant` measures the range first, unless `measured` (the conv that wrote src
    /// measured it into the slot's range, ConvStep.outputRange).
    case quantize(src: Int, dst: Int, count: Int, quant: QuantRef, measured: Bool)
    case dequantize(src: Int, dst: Int, count: Int, quant: QuantRef)
    case conv(ConvStep)
    case maxPool(src: Int, dst: Int, shape: (Int, Int, Int), out: (Int, Int), pool: Pool, u8: Bool)
    /// quantize -> max pool fused (ExecutionFusion.swift, 4): the codes of each window's float maximum, the
    /// quantization resolved as the quantize step does.
    case maxPoolCodes(src: Int, dst: Int, shape: (Int, Int, Int), pool: Pool, quant: QuantRef, measured: Bool)
    case avgPool(src: Int, dst: Int, shape: (Int, Int, Int), out: (Int, Int), pool: Pool, quant: QuantRef?)
    case globalAvgPool(src: Int, dst: Int, hw: Int, c: Int, quant: QuantRef?)
    case add(a: Int, b: Int, dst: Int, count: Int, quants: (QuantRef, QuantRef, QuantRef)?, clamp: (Float, Float))
    case shortcutA(src: Int, dst: Int, shape: (Int, Int, Int), pad: Int, quant: QuantRef?)
    case flatten(src: Int, dst: Int, shape: (Int, Int, Int), u8: Bool)
    /// y = x * scale[c] + shift[c] (inference BatchNorm).
    case affine(src: Int, dst: Int, count: Int, channels: Int, scale: UnsafePointer<Float>, shift: UnsafePointer<Float>)
    case clamp(src: Int, dst: Int, count: Int, lo: Float, hi: Float)
    /// Resize, pad, softmax (DefinedOpSteps.swift).
    case spatial(SpatialStep)
    case prelu(src: Int, dst: Int, count: Int, channels: Int, slopes: UnsafePointer<Float>, shared: Bool)
    /// y = sign(x), sign(0) = 0, as floats.
    case sign(src: Int, dst: Int, count: Int)
    /// y = sign(x) as the packed image of geometry `image` (qk_bconv_pack_image; plan-owned) at
    /// dst + packedImageHeader, and at dst one UInt64: 1 if any packed value is 0, else 0. Only binary
    /// convs read y.
    case packSigns(src: Int, dst: Int, image: UnsafePointer<qk_conv_geom>)
    /// y = clamp(floor(x / delta) * delta, lo, hi) (DeepShift round_to_fixed).
    case roundToFixed(src: Int, dst: Int, count: Int, delta: Float, lo: Float, hi: Float)
    /// y = round_half_even(clamp(x, 0, 1) * levels) / levels (DoReFa activations, levels = 2^k - 1).
    case doReFa(src: Int, dst: Int, count: Int, levels: Float)
    /// u8 codes of DoReFa(affine(x)): BatchNorm, DoReFa and quantize fused (qk_affine_dorefa_u8).
    case affineDoReFaCodes(src: Int, dst: Int, count: Int, channels: Int, scale: UnsafePointer<Float>,
                           shift: UnsafePointer<Float>, levels: Float)
    /// y = f(x), a pointwise activation of QGraph/Ops/ (DefinedOpSteps.swift).
    case pointwise(src: Int, dst: Int, count: Int, function: PointwiseFunction)
    /// y[i] = x[i] * scale[i % channels] (squeeze-excite; the scales are a run-time value).
    case channelMul(src: Int, scale: Int, dst: Int, count: Int, channels: Int)
    /// dst[i] = table[src[i]] on u8 codes (a dequantize -> activation -> quantize chain, ExecutionFusion.swift).
    case lookup(src: Int, dst: Int, count: Int, table: UnsafePointer<UInt8>)
    /// dst[i] = table[src[i]], u8 codes to floats (a dequantize -> activation chain).
    case lookupFloats(src: Int, dst: Int, count: Int, table: UnsafePointer<Float>)
    /// Channel concat / slice: each part's channel range copied into the output (`channels` per pixel).
    case copyChannels(dst: Int, pixels: Int, channels: Int, parts: [ChannelCopy])
}

/// Memory the plan owns (colsums, precomputed scales, zero biases), 64-byte aligned, freed with the plan.
final class OwnedMemory {
    private var blocks: [UnsafeMutableRawPointer] = []

    func floats(_ values: [Float]) -> UnsafePointer<Float> {
        let p = allocate(max(1, values.count) * 4).bindMemory(to: Float.self, capacity: max(1, values.count))
        for (i, v) in values.enumerated() { p[i] = v }
        return UnsafePointer(p)
    }

    /// A plan-owned copy of `value` (a trivial type: nothing to release).
    func store<T: BitwiseCopyable>(_ value: T) -> UnsafePointer<T> {
        let p = allocate(MemoryLayout<T>.stride).bindMemory(to: T.self, capacity: 1)
        p.initialize(to: value)
        return UnsafePointer(p)
    }

    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: max(bytes, 64))
        blocks.append(p)
        return p
    }

    deinit { for p in blocks { p.deallocate() } }
}

/// The immutable execution plan of a model.
final class Plan: @unchecked Sendable {
    let steps: [Step]
    /// Value names reported to a calibration observer after each step (nil for u8 outputs).
    /// `signsOf`: the step writes packed signs, so the observer gets sign() of the floats at `offset`.
    let observed: [(name: String, offset: Int, count: Int, signsOf: Bool)?]
    let arenaBytes: Int
    let inputOffset: Int
    let outputOffset: Int
    let outputCount: Int
    /// Every graph output's arena offset and element count (f32), `Graph.outputs` order.
    let outputs: [(offset: Int, count: Int)]
    let dynamicSlots: Int
    /// Largest OC of a layer reading a dynamically quantized input (size of the per-run scale scratch).
    let maxDynamicChannels: Int
    let memory: OwnedMemory

    /// (layer, member name) of every quantized layer, in execution order (GEMM or dwconv member).
    let layerKernels: [(layer: String, kernel: String)]
    /// What each step computes, for profiles (same order as `steps`).
    let layerInfo: [LayerInfo]

    /// Plans `graph`, validated over `tensors` (the weights its steps point into; the caller keeps them
    /// alive as long as the plan). `fusion`: the plan-time fusions of ExecutionFusion.swift (same bits;
    /// off only to test that).
    init(graph: Graph, tensors: TensorSource, kernel choice: KernelChoice = .auto, depthwise: DepthwisePath = .direct,
         fusion: Bool = true) throws {
        let memory = OwnedMemory()
        let graph = fusion ? graph.fusingDoReFaIntoEpilogues() : graph
        let affineChains = fusion ? graph.affineDoReFaChains() : [:]
        let lookupChains = fusion ? graph.lookupChains() : [:]
        let poolChains = fusion ? graph.poolChains() : [:]
        // the step a node runs in: its own, or the first step of its fused chain
        var stepOf = Array(graph.nodes.indices)
        for (b, chain) in affineChains { (stepOf[chain.doReFa], stepOf[chain.quantize]) = (b, b) }
        for (d, chain) in lookupChains {
            stepOf[chain.pointwise] = d
            if let q = chain.quantize { stepOf[q] = d }
        }
        for (q, pool) in poolChains { stepOf[pool] = q }
        let values = Dictionary(uniqueKeysWithValues: graph.values.enumerated().map { ($1.name, ($0, $1)) })

        // Packed signs (Larq's quantize op): a sign node read only by binary convs that share one padded
        // image geometry writes sign(x) as bit planes (qk_bconv_pack_image) instead of floats, and those
        // convs run from the packed image (qk_bconv2d_packed). Other sign nodes write floats, and a
        // binary conv reading them packs its own input.
        var packedSigns: [Int: qk_conv_geom] = [:]  // sign node index -> the image geometry of its readers
        for (p, node) in graph.nodes.enumerated() where node.op == .sign && node.output != graph.output
            && !values[node.output]!.1.quant.isUInt8 && !values[node.inputs[0]]!.1.quant.isUInt8 {
            let readers = graph.consumers(of: node.output)
            let images = readers.map { r -> qk_conv_geom? in
                guard case .conv2d(let c) = graph.nodes[r].op, graph.nodes[r].inputs[0] == node.output,
                      !(c.residual && graph.nodes[r].inputs[1] == node.output),
                      binaryConvScale(c, inputIsSign: true) != nil else { return nil }
                return convGeometry(c, inShape: values[node.output]!.1.shape)
            }
            guard let first = images.first, let image = first,
                  images.allSatisfy({ $0.map { sameImage($0, image) } ?? false }) else { continue }
            packedSigns[p] = image
        }
        let readsPackedSigns = { (s: Int) in graph.producer(of: graph.nodes[s].inputs[0]).map { packedSigns[$0] != nil } ?? false }

        // Lifetimes: value i lives from its producing step to its last reading step (input: from -1).
        var first = [Int](repeating: -1, count: graph.values.count)
        var last = [Int](repeating: -1, count: graph.values.count)
        for (s, node) in graph.nodes.enumerated() {
            first[values[node.output]!.0] = stepOf[s]
            for name in node.inputs {
                last[values[name]!.0] = max(last[values[name]!.0], stepOf[s])
            }
        }
        for output in graph.outputs { last[values[output]!.0] = graph.nodes.count }
        var requests = graph.values.enumerated().map { i, v in
            BufferRequest(bytes: v.elementCount * (v.quant.isUInt8 ? 1 : 4) + extraBytes, first: first[i], last: max(last[i], first[i]))
        }
        for (b, chain) in affineChains {   // never written: the fused step goes from BatchNorm input to codes
            for n in [b, chain.doReFa] { requests[values[graph.nodes[n].output]!.0].bytes = 0 }
        }
        for (d, chain) in lookupChains {   // never written: the lookup goes from codes to codes (or floats)
            for n in chain.quantize == nil ? [d] : [d, chain.pointwise] { requests[values[graph.nodes[n].output]!.0].bytes = 0 }
        }
        for (q, _) in poolChains {   // never written: the fused pool goes from floats to pooled codes
            requests[values[graph.nodes[q].output]!.0].bytes = 0
        }
        for (p, image) in packedSigns {
            var g = image
            requests[values[graph.nodes[p].output]!.0].bytes = packedImageHeader + qk_bconv_image_bytes(&g) + extraBytes
        }
        // Each conv's kernel path, decided once; its scratch (im2col rows, a sign image) is alive only
        // during its step.
        func inputIsSign(_ node: Node) -> Bool { graph.producer(of: node.inputs[0]).map { graph.nodes[$0].op == .sign } ?? false }
        var paths: [Int: ConvPath] = [:]
        var scratchRequest: [Int: Int] = [:]
        for (s, node) in graph.nodes.enumerated() {
            guard case .conv2d(let c) = node.op else { continue }
            let geometry = convGeometry(c, inShape: values[node.inputs[0]]!.1.shape)
            var path = ConvPath(c, geometry: geometry, inputIsU8: values[node.inputs[0]]!.1.quant.isUInt8,
                                inputIsSign: inputIsSign(node), inputIsPackedSigns: readsPackedSigns(s), depthwise: depthwise)
            // bit-serial where it runs exactly and is asked for, or (auto) measures faster on this CPU
            if path == .quantizedGemm, choice == .auto || choice == .bitSerial,
               let form = BitSerialForm(c, geometry: geometry, inputCodeBits: graph.doReFaCodeBits(of: node.inputs[0])),
               choice == .bitSerial || BitSerialTiming.isFaster(form, geometry: geometry) {
                path = .bitSerial(form)
            }
            paths[s] = path
            let bytes = path.workspaceBytes(geometry, weights: c.weight)
            if bytes > 0 {
                scratchRequest[s] = requests.count
                requests.append(BufferRequest(bytes: bytes, first: s, last: s))
            }
        }
        let (offsets, size) = planArena(requests)
        func offset(_ name: String) -> Int { offsets[values[name]!.0] }

        // Dynamic quantization slots.
        var slots: [String: Int] = [:], slotCount = 0
        for v in graph.values where v.quant == .dynamicUInt8 {
            // a pool of dynamic codes keeps its input's codes, so it reads the scale its input was given
            if let p = graph.producer(of: v.name), graph.nodes[p].op.keepsInputCodes, let slot = slots[graph.nodes[p].inputs[0]] {
                slots[v.name] = slot
            } else {
                slots[v.name] = slotCount
                slotCount += 1
            }
        }
        func quant(_ name: String) -> QuantRef? {
            switch values[name]!.1.quant {
            case .float32: return nil
            case .uint8(let s, let z): return .fixed(scale: s, zeroPoint: Int32(z))
            case .dynamicUInt8: return .dynamic(slot: slots[name]!)
            }
        }
        func floats(_ tensor: String) -> [Float] { Array(tensors.floats(tensor)) }

        var steps: [Step] = []
        var observed: [(String, Int, Int, Bool)?] = []
        var kernels: [(layer: String, kernel: String)] = []
        var infos: [LayerInfo] = []
        var maxDynamic = 0
        var convSteps: [Int: Int] = [:]   // conv node index -> its step
        for (s, node) in graph.nodes.enumerated() where stepOf[s] == s {
            let out = values[node.output]!.1
            let x = values[node.inputs[0]]!.1
            let src = offset(node.inputs[0]), dst = offset(node.output)
            func hwc(_ v: Value) -> (Int, Int, Int) { (v.shape[0], v.shape[1], v.shape[2]) }
            switch node.op {
            case .conv2d(let c):
                let step = try layerStep(
                    conv: c, path: paths[s]!, input: src, output: dst, inShape: x.shape,
                    workspace: scratchRequest[s].map { offsets[$0] } ?? 0, inputQuant: quant(node.inputs[0]),
                    residual: c.residual ? offset(node.inputs[1]) : nil,
                    residualQuant: c.residual ? quant(node.inputs[1]) : nil, outputQuant: quant(node.output),
                    choice: choice, tensors: tensors, memory: memory)
                if step.kernel.isQuantized { kernels.append((node.name, step.kernel.memberName)) }
                if case .dynamic? = step.kernel.u8Operands?.input { maxDynamic = max(maxDynamic, c.outChannels) }
                convSteps[s] = steps.count
                steps.append(.conv(step))
            case .linear(let l):
                let c = Conv2D(inChannels: l.inFeatures, outChannels: l.outFeatures, kernel: [1, 1],
                               weight: l.weight, bias: l.bias, activation: l.activation)
                // a 1x1 conv on [1, 1, in]: a GEMM on the input directly (no workspace)
                let path = ConvPath(c, geometry: convGeometry(c, inShape: [1, 1, l.inFeatures]), inputIsU8: x.quant.isUInt8,
                                    inputIsSign: false, inputIsPackedSigns: false, depthwise: depthwise)
                if path == .quantizedGemm && l.weight.isHalfStep {
                    throw RuntimeError("linear layer \(node.name): half-step 8-bit weights run on convs only")
                }
                let step = try layerStep(
                    conv: c, path: path, input: src, output: dst, inShape: [1, 1, l.inFeatures], workspace: 0,
                    inputQuant: quant(node.inputs[0]), residual: nil, residualQuant: nil, outputQuant: quant(node.output),
                    choice: choice, tensors: tensors, memory: memory)
                if step.kernel.isQuantized { kernels.append((node.name, step.kernel.memberName)) }
                if case .dynamic? = step.kernel.u8Operands?.input { maxDynamic = max(maxDynamic, l.outFeatures) }
                convSteps[s] = steps.count
                steps.append(.conv(step))
            case .batchNorm(let b):
                let gamma = floats(b.gamma), beta = floats(b.beta), mean = floats(b.mean), variance = floats(b.variance)
                var scale = [Float](repeating: 0, count: b.channels), shift = scale
                for c in 0..<b.channels {
                    // PyTorch's order (batch_norm_cpu_collect_linear_and_constant_terms): invstd first
                    let invstd = 1 / (variance[c] + b.eps).squareRoot()
                    scale[c] = invstd * gamma[c]
                    shift[c] = beta[c] - mean[c] * scale[c]
                }
                if let chain = affineChains[s] {
                    steps.append(.affineDoReFaCodes(src: src, dst: offset(graph.nodes[chain.quantize].output), count: out.elementCount,
                                                    channels: b.channels, scale: memory.floats(scale), shift: memory.floats(shift),
                                                    levels: Float((1 << chain.bits) - 1)))
                } else {
                    steps.append(.affine(src: src, dst: dst, count: out.elementCount, channels: b.channels,
                                         scale: memory.floats(scale), shift: memory.floats(shift)))
                }
            case .activation(let a):
                let r = a.clampRange
                steps.append(.clamp(src: src, dst: dst, count: out.elementCount, lo: r.lo, hi: r.hi))
            case .sign:
                if let image = packedSigns[s] {
                    steps.append(.packSigns(src: src, dst: dst, image: memory.store(image)))
                } else {
                    steps.append(.sign(src: src, dst: dst, count: out.elementCount))
                }
            case .roundToFixed(let i, let f):
                let bound = Float(sign: .plus, exponent: i - 1, significand: 1)
                steps.append(.roundToFixed(src: src, dst: dst, count: out.elementCount,
                                           delta: Float(sign: .plus, exponent: -f, significand: 1), lo: -bound, hi: bound - 1))
            case .doReFa(let bits):
                steps.append(.doReFa(src: src, dst: dst, count: out.elementCount, levels: Float((1 << bits) - 1)))
            case .prelu(let slopes):
                let values = floats(slopes)
                steps.append(.prelu(src: src, dst: dst, count: out.elementCount, channels: out.shape.last!,
                                    slopes: memory.floats(values), shared: values.count == 1))
            case .add(let a):
                let r = a.clampRange
                let qs = quant(node.inputs[0]).map { ($0, quant(node.inputs[1])!, quant(node.output)!) }
                steps.append(.add(a: src, b: offset(node.inputs[1]), dst: dst, count: out.elementCount, quants: qs, clamp: (r.lo, r.hi)))
            case .maxPool(let p):
                steps.append(.maxPool(src: src, dst: dst, shape: hwc(x), out: (out.shape[0], out.shape[1]), pool: p, u8: x.quant.isUInt8))
            case .avgPool(let p):
                steps.append(.avgPool(src: src, dst: dst, shape: hwc(x), out: (out.shape[0], out.shape[1]), pool: p, quant: quant(node.inputs[0])))
            case .globalAvgPool:
                steps.append(.globalAvgPool(src: src, dst: dst, hw: x.shape[0] * x.shape[1], c: x.shape[2], quant: quant(node.inputs[0])))
            case .flatten:
                if x.shape.count == 3 {
                    steps.append(.flatten(src: src, dst: dst, shape: hwc(x), u8: x.quant.isUInt8))
                } else {
                    steps.append(.flatten(src: src, dst: dst, shape: (1, 1, x.elementCount), u8: x.quant.isUInt8))
                }
            case .shortcutA(let pad):
                steps.append(.shortcutA(src: src, dst: dst, shape: hwc(x), pad: pad, quant: quant(node.inputs[0])))
            case .quantize:
                let q = quant(node.output)!
                var measured = false
                // a dynamic range taken by the conv that writes the floats, as it writes them
                if case .dynamic(let slot) = q, let p = graph.producer(of: node.inputs[0]), let c = convSteps[p],
                   case .conv(var step) = steps[c], step.output == src, step.kernel.measuresOutputRange {
                    step.outputRange = slot
                    steps[c] = .conv(step)
                    measured = true
                }
                if let pool = poolChains[s], case .maxPool(let p) = graph.nodes[pool].op {
                    steps.append(.maxPoolCodes(src: src, dst: offset(graph.nodes[pool].output), shape: hwc(x), pool: p,
                                               quant: q, measured: measured))
                } else {
                    steps.append(.quantize(src: src, dst: dst, count: out.elementCount, quant: q, measured: measured))
                }
            case .dequantize:
                if let chain = lookupChains[s], case .fixed(let si, let zi)? = quant(node.inputs[0]) {
                    if let q = chain.quantize, case .fixed(let so, let zo)? = quant(graph.nodes[q].output) {
                        steps.append(.lookup(src: src, dst: offset(graph.nodes[q].output), count: out.elementCount,
                                             table: lookupTable(input: (si, zi), function: chain.function, output: (so, zo), memory: memory)))
                    } else {
                        steps.append(.lookupFloats(src: src, dst: offset(graph.nodes[chain.pointwise].output), count: out.elementCount,
                                                   table: lookupTable(input: (si, zi), function: chain.function, memory: memory)))
                    }
                } else {
                    steps.append(.dequantize(src: src, dst: dst, count: out.elementCount, quant: quant(node.inputs[0])!))
                }
            case .defined(let op):
                steps.append(definedStep(op, inputs: node.inputs.map { (offset($0), values[$0]!.1.shape) }, output: dst, out: out))
            }
            if packedSigns[s] != nil {
                observed.append((node.output, src, out.elementCount, true))
            } else if let chain = lookupChains[s], chain.quantize == nil {
                let p = graph.nodes[chain.pointwise].output
                observed.append((p, offset(p), out.elementCount, false))   // the activation's floats
            } else if affineChains[s] != nil || lookupChains[s] != nil || poolChains[s] != nil {
                observed.append(nil)   // u8 codes
            } else {
                observed.append(out.quant.isUInt8 ? nil : (node.output, dst, out.elementCount, false))
            }
            var member: String?
            if case .conv(let c)? = steps.last, steps.count == infos.count + 1 { member = c.kernel.memberName }
            if case .packSigns? = steps.last { member = "qk_bconv_pack_image" }
            var info = LayerInfo.make(node: node, input: x.shape, output: out.shape, kernel: member)
            if let chain = affineChains[s] { info.op += "+dorefa\(chain.bits)+quantize" }
            if let pool = poolChains[s] {
                let pooled = values[graph.nodes[pool].output]!.1
                info = LayerInfo.make(node: node, input: x.shape, output: pooled.shape, kernel: nil)
                info.op = "quantize+maxpool"
            }
            if let chain = lookupChains[s] {
                info.op = "dequantize+\(graph.nodes[chain.pointwise].op.kind)" + (chain.quantize == nil ? "" : "+quantize")
            }
            infos.append(info)
        }
        self.steps = steps
        self.observed = observed
        self.arenaBytes = size
        self.inputOffset = offset(graph.input)
        self.outputOffset = offset(graph.output)
        self.outputCount = values[graph.output]!.1.elementCount
        self.outputs = graph.outputs.map { (offset($0), values[$0]!.1.elementCount) }
        self.dynamicSlots = slotCount
        self.maxDynamicChannels = maxDynamic
        self.memory = memory
        self.layerKernels = kernels
        self.layerInfo = infos
        if choice == .shift && !kernels.contains(where: { $0.kernel.hasPrefix("qk_sgemm_") }) {
            throw RuntimeError("--kernel shift: the model has no shift-coded layers running on u8 activations (convert with --scheme shift, or a shift method recipe with --activations u8)")
        }
    }
}

/// Bytes every arena buffer may be read past its end by a kernel (QK_EXTRA_BYTES).
let extraBytes = 64

/// Bytes in front of a packed sign image: its has-zero flag, padded to keep the image 64-byte aligned.
let packedImageHeader = 64

/// True if two conv geometries read the same packed input image (same input shape and paddings).
func sameImage(_ a: qk_conv_geom, _ b: qk_conv_geom) -> Bool {
    [a.in_h, a.in_w, a.in_c, a.pad_top, a.pad_left, a.pad_bottom, a.pad_right]
        == [b.in_h, b.in_w, b.in_c, b.pad_top, b.pad_left, b.pad_bottom, b.pad_right]
}
