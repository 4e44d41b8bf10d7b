// The executor: a loop of kernel calls over a session's arena. It never allocates, throws or validates;
// the planner has already checked everything (DESIGN.md, "the Plan is the watershed").
import QGraph
import QKernels

/// A session's mutable memory: the arena, run-time quantization parameters and per-run scale scratch.
final class ExecutionState {
    let arena: UnsafeMutableRawPointer
    let dynamicScales: UnsafeMutablePointer<Float>
    let dynamicZeros: UnsafeMutablePointer<Int32>
    /// [2 * slot], [2 * slot + 1]: the range a conv measured for a dynamic slot (ConvStep.outputRange).
    let dynamicRanges: UnsafeMutablePointer<Float>
    let epilogueScratch: UnsafeMutablePointer<Float>
    /// Where the running plan's input lives (set when a session switches plans).
    var inputOffset: Int
    private let counts: (Int, Int)

    convenience init(plan: Plan) { self.init(plans: [plan]) }

    /// State that can run any of `plans` (one at a time): every buffer sized for the largest.
    init(plans: [Plan]) {
        let plan = plans[0]
        let arenaBytes = max(plans.map(\.arenaBytes).max()!, 64)
        arena = UnsafeMutableRawPointer.allocate(byteCount: arenaBytes, alignment: 64)
        arena.initializeMemory(as: UInt8.self, repeating: 0, count: arenaBytes)
        counts = (max(plans.map(\.dynamicSlots).max()!, 1), max(plans.map(\.maxDynamicChannels).max()!, 1))
        dynamicScales = .allocate(capacity: counts.0)
        dynamicScales.initialize(repeating: 1, count: counts.0)
        dynamicZeros = .allocate(capacity: counts.0)
        dynamicZeros.initialize(repeating: 0, count: counts.0)
        dynamicRanges = .allocate(capacity: 2 * counts.0)
        dynamicRanges.initialize(repeating: 0, count: 2 * counts.0)
        epilogueScratch = .allocate(capacity: counts.1)
        epilogueScratch.initialize(repeating: 0, count: counts.1)
        inputOffset = plan.inputOffset
    }

    /// The arena slot of the network input, for writing a preprocessed image in place.
    func inputBuffer(count: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: (arena + inputOffset).assumingMemoryBound(to: Float.self), count: count)
    }

    /// The quantization a quantize step applies to `count` floats: fixed, or (dynamic) fitted to their range,
    /// measured here unless the conv that wrote them `measured` it, and kept in the slot for the readers.
    @inline(__always) func resolveQuantize(_ quant: QuantRef, count: Int, _ floats: UnsafePointer<Float>,
                                           measured: Bool) -> (scale: Float, zero: Int32) {
        guard case .dynamic(let slot) = quant else { return resolve(quant) }
        var lo = dynamicRanges[2 * slot], hi = dynamicRanges[2 * slot + 1]
        if !measured { qk_minmax_f32(count, floats, &lo, &hi) }
        let fit = ActivationQuant.fit(min: lo, max: hi)
        dynamicScales[slot] = fit.scale
        dynamicZeros[slot] = Int32(fit.zeroPoint)
        return (fit.scale, Int32(fit.zeroPoint))
    }

    @inline(__always) func resolve(_ q: QuantRef) -> (scale: Float, zero: Int32) {
        switch q {
        case .fixed(let s, let z): return (s, z)
        case .dynamic(let slot): return (dynamicScales[slot], dynamicZeros[slot])
        }
    }

    deinit {
        arena.deallocate()
        dynamicScales.deallocate()
        dynamicZeros.deallocate()
        dynamicRanges.deallocate()
        epilogueScratch.deallocate()
    }
}

enum Executor {
    /// Runs every step; returns a view of the f32 output in the arena (valid until the next run).
    static func run(_ plan: Plan, state: ExecutionState, input: UnsafeBufferPointer<Float>, threads: Int,
                    observer: ((String, UnsafeBufferPointer<Float>) -> Void)?,
                    timer: StepTimer? = nil) -> UnsafeBufferPointer<Float> {
        let base = state.arena
        let inputSlot = state.inputBuffer(count: input.count)
        if input.baseAddress != UnsafePointer(inputSlot.baseAddress) {
            _ = inputSlot.initialize(from: input)
        }
        qk_set_num_threads(Int32(threads))
        func f32(_ offset: Int) -> UnsafeMutablePointer<Float> { (base + offset).assumingMemoryBound(to: Float.self) }
        func u8(_ offset: Int) -> UnsafeMutablePointer<UInt8> { (base + offset).assumingMemoryBound(to: UInt8.self) }

        var clock = timer != nil ? StepTimer.now() : 0
        for (index, step) in plan.steps.enumerated() {
            switch step {
            case .quantize(let src, let dst, let count, let quant, let measured):
                let q = state.resolveQuantize(quant, count: count, f32(src), measured: measured)
                qk_quantize_u8(count, f32(src), 1 / q.scale, q.zero, u8(dst))
            case .maxPoolCodes(let src, let dst, let shape, let pool, let quant, let measured):
                let q = state.resolveQuantize(quant, count: shape.0 * shape.1 * shape.2, f32(src), measured: measured)
                var g = poolGeometry(shape, pool)
                qk_maxpool_f32_u8(&g, f32(src), 1 / q.scale, q.zero, u8(dst))
            case .dequantize(let src, let dst, let count, let quant):
                let q = state.resolve(quant)
                qk_dequantize_u8(count, u8(src), q.scale, q.zero, f32(dst))
            case .conv(let c):
                runConv(c, state: state, base: base)
            case .maxPool(let src, let dst, let shape, _, let pool, let isU8):
                var g = poolGeometry(shape, pool)
                if isU8 { qk_maxpool_u8(&g, u8(src), u8(dst)) } else { qk_maxpool_f32(&g, f32(src), f32(dst)) }
            case .avgPool(let src, let dst, let shape, _, let pool, let quant):
                var g = poolGeometry(shape, pool)
                if let quant { qk_avgpool_u8(&g, u8(src), state.resolve(quant).zero, u8(dst)) } else { qk_avgpool_f32(&g, f32(src), f32(dst)) }
            case .globalAvgPool(let src, let dst, let hw, let c, let quant):
                if let quant {
                    let q = state.resolve(quant)
                    qk_global_avgpool_u8(u8(src), hw, c, q.scale, q.zero, f32(dst))
                } else {
                    qk_global_avgpool_f32(f32(src), hw, c, f32(dst))
                }
            case .add(let a, let b, let dst, let count, let quants, let clamp):
                if let (qa, qb, qo) = quants {
                    let (x, y, o) = (state.resolve(qa), state.resolve(qb), state.resolve(qo))
                    qk_add_u8(count, u8(a), x.scale, x.zero, u8(b), y.scale, y.zero, clamp.0, clamp.1, 1 / o.scale, o.zero, u8(dst))
                } else {
                    qk_add_f32(count, f32(a), f32(b), clamp.0, clamp.1, f32(dst))
                }
            case .shortcutA(let src, let dst, let shape, let pad, let quant):
                let outC = Int32(shape.2 + 2 * pad)
                if let quant {
                    qk_shortcut_a_u8(u8(src), Int32(shape.0), Int32(shape.1), Int32(shape.2), Int32(pad), outC,
                                     UInt8(state.resolve(quant).zero), u8(dst))
                } else {
                    qk_shortcut_a_f32(f32(src), Int32(shape.0), Int32(shape.1), Int32(shape.2), Int32(pad), outC, 0, f32(dst))
                }
            case .flatten(let src, let dst, let shape, let isU8):
                // [H, W, C] -> PyTorch's (C, H, W) order.
                let (h, w, c) = shape
                if isU8 { qk_hwc_to_chw_u8(h * w, c, u8(src), u8(dst)) } else { qk_hwc_to_chw_f32(h * w, c, f32(src), f32(dst)) }
            case .affine(let src, let dst, let count, let channels, let scale, let shift):
                qk_affine_f32(count, channels, f32(src), scale, shift, f32(dst))
            case .clamp(let src, let dst, let count, let lo, let hi):
                qk_clamp_f32(count, f32(src), lo, hi, f32(dst))
            case .sign(let src, let dst, let count):
                qk_sign_f32(count, f32(src), f32(dst))
            case .packSigns(let src, let dst, let image):
                let flag = (base + dst).assumingMemoryBound(to: UInt64.self)
                flag.pointee = UInt64(qk_bconv_pack_image(image, f32(src), (base + dst + packedImageHeader).assumingMemoryBound(to: UInt64.self)))
            case .roundToFixed(let src, let dst, let count, let delta, let lo, let hi):
                qk_round_to_fixed_f32(count, f32(src), delta, lo, hi, f32(dst))
            case .doReFa(let src, let dst, let count, let levels):
                qk_dorefa_f32(count, f32(src), levels, f32(dst))
            case .affineDoReFaCodes(let src, let dst, let count, let channels, let scale, let shift, let levels):
                qk_affine_dorefa_u8(count, channels, f32(src), scale, shift, levels, u8(dst))
            case .prelu(let src, let dst, let count, let channels, let slopes, let shared):
                qk_prelu_f32(count, shared ? 1 : channels, f32(src), slopes, f32(dst))
            case .pointwise(let src, let dst, let count, let function):
                function.run(count, f32(src), f32(dst))
            case .channelMul(let src, let scale, let dst, let count, let channels):
                qk_channel_mul_f32(count, channels, f32(src), f32(scale), f32(dst))
            case .lookup(let src, let dst, let count, let table):
                qk_lookup_u8(count, u8(src), table, u8(dst))
            case .lookupFloats(let src, let dst, let count, let table):
                qk_lookup_f32(count, u8(src), table, f32(dst))
            case .spatial(let step):
                step.run(base)
            case .copyChannels(let dst, let pixels, let channels, let parts):
                for p in parts { qk_copy_channels_f32(pixels, p.count, f32(p.src), p.channels, p.from, f32(dst), channels, p.to) }
            }
            if let timer {
                let t = StepTimer.now()
                timer.nanoseconds[index] &+= t &- clock
                clock = t
            }
            if let observer, let o = plan.observed[index] {
                if o.signsOf {
                    // the floats a packing step stands for (calibration only: it allocates)
                    var signs = [Float](repeating: 0, count: o.count)
                    qk_sign_f32(o.count, f32(o.offset), &signs)
                    signs.withUnsafeBufferPointer { observer(o.name, $0) }
                } else {
                    observer(o.name, UnsafeBufferPointer(start: f32(o.offset), count: o.count))
                }
            }
        }
        return UnsafeBufferPointer(start: f32(plan.outputOffset), count: plan.outputCount)
    }

    private static func poolGeometry(_ shape: (Int, Int, Int), _ p: Pool) -> qk_pool_geom {
        qk_pool_geom(in_h: Int32(shape.0), in_w: Int32(shape.1), channels: Int32(shape.2),
                     kernel_h: Int32(p.kernel[0]), kernel_w: Int32(p.kernel[1]),
                     stride_h: Int32(p.stride[0]), stride_w: Int32(p.stride[1]),
                     pad_top: Int32(p.padding[0]), pad_left: Int32(p.padding[1]),
                     pad_bottom: Int32(p.padding[2]), pad_right: Int32(p.padding[3]))
    }

    /// Runs a conv on its one kernel path: the plan-owned template plus this run's arena pointers (and,
    /// on u8 paths, the run-time quantization of its operands).
    private static func runConv(_ c: ConvStep, state: ExecutionState, base: UnsafeMutableRawPointer) {
        let input = UnsafeRawPointer(base + c.input)
        switch c.kernel {
        case .floatGemm(let conv, let workspace):
            var args = conv.pointee.args
            place(&args.epi, c, base: base, state: state)
            var geometry = conv.pointee.geometry
            let (x, scratch) = (input.assumingMemoryBound(to: Float.self), (base + workspace).assumingMemoryBound(to: Float.self))
            switch conv.pointee.member {
            case .rows(let member): qk_conv2d_f32(member, &geometry, x, &args, scratch)
            case .panels(let member): qk_conv2d_pf32(member, &geometry, x, &args, scratch)
            }
        case .floatDepthwise(let conv):
            var args = conv.pointee.args
            place(&args.epi, c, base: base, state: state)
            args.in = input.assumingMemoryBound(to: Float.self)
            qk_fdwconv(conv.pointee.member, &args)
        case .quantizedGemm(let conv, let workspace):
            var args = conv.pointee.args
            place(&args.epi, c, base: base, state: state)
            args.a_zero = resolve(conv.pointee.operands, into: &args.epi, state: state)
            var geometry = conv.pointee.geometry
            qk_conv2d_u8(conv.pointee.member, &geometry, input.assumingMemoryBound(to: UInt8.self), &args,
                         (base + workspace).assumingMemoryBound(to: UInt8.self))
        case .quantizedDepthwise(let conv):
            var args = conv.pointee.args
            place(&args.epi, c, base: base, state: state)
            args.a_zero = resolve(conv.pointee.operands, into: &args.epi, state: state)
            args.in = input.assumingMemoryBound(to: UInt8.self)
            qk_dwconv(conv.pointee.member, &args)
        case .binary(let conv, let workspace):
            var layer = conv.pointee.layer
            place(&layer.epi, c, base: base, state: state)
            var geometry = conv.pointee.geometry
            qk_bconv2d_f32(conv.pointee.member, &geometry, input.assumingMemoryBound(to: Float.self), &layer, base + workspace)
        case .bitSerial(let conv, let workspace):
            var layer = conv.pointee.layer
            place(&layer.epi, c, base: base, state: state)
            _ = resolve(conv.pointee.operands, into: &layer.epi, state: state)   // zero point 0 (BitSerialForm)
            var geometry = conv.pointee.geometry
            qk_bsconv2d_u8(conv.pointee.member, &geometry, input.assumingMemoryBound(to: UInt8.self), &layer, base + workspace)
        case .binaryPacked(let conv):
            var layer = conv.pointee.layer
            place(&layer.epi, c, base: base, state: state)
            var geometry = conv.pointee.geometry
            let flag = input.assumingMemoryBound(to: UInt64.self).pointee
            qk_bconv2d_packed(conv.pointee.member, &geometry, (input + packedImageHeader).assumingMemoryBound(to: UInt64.self),
                              Int32(flag), &layer)
        }
    }

    /// Points an epilogue template at this run's output and residual (and the range it measures).
    @inline(__always) private static func place(_ epi: inout qk_epilogue, _ c: ConvStep, base: UnsafeMutableRawPointer,
                                                state: ExecutionState) {
        if let residual = c.residual { epi.residual = UnsafeRawPointer(base + residual) }
        epi.out = base + c.output
        if let slot = c.outputRange {
            state.dynamicRanges[2 * slot] = .infinity
            state.dynamicRanges[2 * slot + 1] = -.infinity
            epi.out_range = state.dynamicRanges + 2 * slot
        }
    }

    /// Fills the run-time quantization of a u8 layer into its epilogue (the per-channel scale when the
    /// input is dynamically quantized, the u8 residual's scale and zero) and returns the input zero point.
    @inline(__always) private static func resolve(_ operands: U8Operands, into epi: inout qk_epilogue,
                                                  state: ExecutionState) -> Int32 {
        let (scale, zero) = state.resolve(operands.input)
        if let weightScales = operands.weightScales {
            for n in 0..<Int(epi.ldc) { state.epilogueScratch[n] = scale * weightScales[n] }
            epi.scale = UnsafePointer(state.epilogueScratch)
        }
        if let residual = operands.residual {
            let r = state.resolve(residual)
            epi.rscale = r.scale
            epi.rzero = r.zero
        }
        return zero
    }
}
