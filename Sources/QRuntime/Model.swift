// The public API: a loaded, immutable Model and per-thread Sessions that run it.
import Foundation
import QFormat
import QGraph

/// Which quantized GEMM family runs the layers whose weights allow a choice (`qinfer --kernel`).
public enum KernelChoice: String, CaseIterable, Sendable {
    /// The planner's pick: table lookup + integer dot products (on every CPU measured so far it beats
    /// shift-add on the same weights, docs/PERFORMANCE.md), except that a conv of 1-2-bit weight codes on
    /// 1-2-bit activation codes (Any-Precision at 1 and 2 bits) runs bit-serially, and a conv of 1-4-bit
    /// table-coded weights runs on the int8 member with its weights expanded at load, where a one-time
    /// measurement of its shape on this CPU finds that faster (same bits either way).
    case auto
    /// Table lookup + dot products (every quantized layer can run this way).
    case lut
    /// Shift-add, no multiplications, for 2-4-bit shift-coded layers; other layers use table lookup. A
    /// model without such layers is refused.
    case shift
    /// Bit-serial (AND + popcount, qk_bsgemm.h) for every conv it can run (1-2-bit weight codes x 1-2-bit
    /// activation codes); other layers, and the widths of a model that have none, use table lookup.
    case bitSerial = "bit-serial"
    /// 1-4-bit table-coded conv weights expanded once at load to their int8 values and run on the int8
    /// member (same sums as table lookup; four to eight times the weight memory at run time).
    case int8

    /// The `--kernel` option's help, for the command-line tools.
    public static let optionHelp = "Quantized GEMM family: auto (the planner's pick: table lookup; bit-serial, or int8 for "
        + "1-4-bit table weights, where measured faster), lut (table lookup + dot products), shift (shift-add for 2-, 3- and "
        + "4-bit shift-coded layers), bit-serial (AND + popcount for 1-2-bit weights on 1-2-bit activation codes) or int8 "
        + "(1-4-bit table weights expanded to int8 at load, int8 dot products)."
    /// The message for a `--kernel` value that names no family.
    public static let invalidMessage = "--kernel must be " + allCases.map(\.rawValue).joined(separator: ", ")
}

/// How the planner runs depthwise convs (groups == in_c == out_c, dilation 1, stride 1 or 2, 3x3 or 5x5).
/// On u8 activations both give identical bits (the direct kernels reuse the GEMM epilogue); on f32
/// activations they agree to rounding (the direct kernels sum the taps as one FMA chain).
public enum DepthwisePath: String, CaseIterable, Sendable {
    /// The direct kernels, 3x3 and 5x5: dwconv (qk_dwconv.h) for u8 inputs, fdwconv (qk_fdwconv.h) for
    /// f32 inputs; about 30-100x faster than grouped GEMMs.
    case direct
    /// One GEMM per channel through qk_conv2d_u8 / qk_conv2d_f32 (the general conv path; for
    /// comparisons and tests).
    case gemm
}

/// A loaded LowBit model: the validated graph, its info, and the execution plan. Immutable after init and
/// safe to share between threads; each thread runs it through its own `Session`.
///
/// Load one from an .lbm file (`init(contentsOf:)`: tensors read zero-copy from the mapped file), or build
/// one from an in-memory graph and tensors (`init(graph:tensors:info:bitWidths:)`: the converter's
/// calibration, tests), which is validated as a file's would be and plans and runs identically.
public final class Model: @unchecked Sendable {
    public let graph: Graph
    public let info: ModelInfo
    /// Size of the model file in bytes (0 for a model built in memory).
    public let fileSize: Int
    /// The weights the plans point into (the mapped file, or the in-memory copy); alive as long as the model.
    let tensors: TensorSource
    /// The plan of the default bit width (of the only graph, for models without run-time bit widths).
    let plan: Plan
    /// Run-time bit width -> its plan, all built at load (empty for models without run-time widths).
    let plansByBits: [Int: Plan]
    /// The width a new Session runs at (nil: the model has no run-time bit widths).
    public let defaultBits: Int?
    /// The graph of every run-time bit width (nil for models without them); read by the float64 reference.
    let bitWidthGraphs: BitWidthGraphs?

    /// Maps and validates the file, then plans execution (shapes, arena, kernels). All errors surface here,
    /// including a plan whose activation arena exceeds `limits`.
    public convenience init(contentsOf url: URL, kernel: KernelChoice = .auto, depthwise: DepthwisePath = .direct,
                            limits: ModelLimits = .default) throws {
        try self.init(loaded: ModelArchive.read(contentsOf: url), kernel: kernel, depthwise: depthwise, limits: limits)
    }

    /// Plans an already decoded model.
    public convenience init(loaded: LoadedModel, kernel: KernelChoice = .auto, depthwise: DepthwisePath = .direct,
                            limits: ModelLimits = .default) throws {
        try self.init(graph: loaded.graph, info: loaded.info, bitWidths: loaded.bitWidths, tensors: loaded.file,
                      fileSize: loaded.file.fileSize, name: loaded.file.name, kernel: kernel, depthwise: depthwise,
                      limits: limits)
    }

    /// Builds a model from an in-memory graph and tensors, without an .lbm file. It is validated as a file
    /// is when read (`ModelArchive.validate`: preprocessing, graph, every referenced tensor, bit-width
    /// graphs; and each tensor's byte count against its dtype and shape), then planned; errors name
    /// `info.name`. The tensors are copied once, into memory the model owns.
    public convenience init(graph: Graph, tensors: TensorStore, info: ModelInfo, bitWidths: BitWidthGraphs? = nil,
                            kernel: KernelChoice = .auto, depthwise: DepthwisePath = .direct,
                            limits: ModelLimits = .default) throws {
        let resident: ResidentTensors
        do {
            resident = try ResidentTensors(tensors)
            try ModelArchive.validate(graph: graph, info: info, bitWidths: bitWidths, tensors: resident)
        } catch {
            throw RuntimeError("\(info.name): \(error)")
        }
        try self.init(graph: graph, info: info, bitWidths: bitWidths, tensors: resident, fileSize: 0, name: info.name,
                      kernel: kernel, depthwise: depthwise, limits: limits)
    }

    /// Plans a validated model whose tensors are `tensors`; `name` labels errors.
    private init(graph: Graph, info: ModelInfo, bitWidths: BitWidthGraphs?, tensors: TensorSource, fileSize: Int,
                 name: String, kernel: KernelChoice, depthwise: DepthwisePath, limits: ModelLimits) throws {
        self.graph = graph
        self.info = info
        self.fileSize = fileSize
        self.tensors = tensors
        bitWidthGraphs = bitWidths
        plan = try Plan(graph: graph, tensors: tensors, kernel: kernel, depthwise: depthwise)
        (plansByBits, defaultBits) = try Self.bitWidthPlans(bitWidths, tensors: tensors, defaultPlan: plan, kernel: kernel,
                                                            depthwise: depthwise)
        try limits.checkArena(([plan] + plansByBits.values).map(\.arenaBytes).max()!, model: name)
    }

    /// The member each quantized layer runs with (a GEMM member, or a dwconv member for direct
    /// depthwise layers), in execution order (layer name, member).
    public var layerKernels: [(layer: String, kernel: String)] { plan.layerKernels }

    /// What each executor step computes (name, op, shapes, weight format, kernel, operations).
    public var layers: [LayerInfo] { plan.layerInfo }

    /// Elements of the network input ([H, W, C]).
    public var inputShape: [Int] { graph.value(graph.input)!.shape }
    public var inputElementCount: Int { inputShape.reduce(1, *) }
    /// Number of values of the (first) network output (classes).
    public var outputCount: Int { graph.value(graph.output)!.elementCount }
    /// Every graph output's name (the source's, `ModelInfo.outputNames`, else the value's) and LowBit shape
    /// ([H, W, C] maps, [N] vectors), in the order `Session.runOutputs` returns them.
    public var outputs: [(name: String, shape: [Int])] {
        graph.outputs.enumerated().map { i, value in (info.outputNames?[i] ?? value, graph.value(value)!.shape) }
    }
    /// Bytes of activation memory one session allocates (the largest over the bit widths).
    public var arenaBytes: Int { ([plan] + plansByBits.values).map(\.arenaBytes).max()! }
}

/// Per-thread execution state of a `Model`: the activation arena and run-time quantization parameters.
/// Not thread-safe: use one Session per thread. `run` never allocates except for the returned array.
public final class Session {
    public let model: Model
    public let threads: Int
    let state: ExecutionState
    /// The plan `run` executes: the model's, or the one of the selected bit width.
    var plan: Plan
    /// The bit width this session runs at (nil for models without run-time bit widths); see `setBits`.
    public internal(set) var bits: Int?

    /// A session at the model's default bit width. Its memory fits every width, so `setBits` never allocates.
    public init(model: Model, threads: Int = 1) {
        self.model = model
        self.threads = max(1, threads)
        plan = model.plan
        bits = model.defaultBits
        state = ExecutionState(plans: [model.plan] + model.plansByBits.values)
    }

    /// Runs the network on a preprocessed input ([H, W, C] floats, `Model.inputElementCount` of them) and
    /// returns the output logits.
    public func run(_ input: [Float]) -> [Float] {
        precondition(input.count == model.inputElementCount, "input has \(input.count) values, the model needs \(model.inputElementCount)")
        return input.withUnsafeBufferPointer { Array(execute(input: $0, observer: nil)) }
    }

    /// Preprocesses an image with the model's stored preprocessing, then runs it.
    public func classify(_ image: Image) throws -> [Float] {
        let input = state.inputBuffer(count: model.inputElementCount)
        try Preprocessor.apply(model.info.preprocessing, to: image, into: input)
        return Array(execute(input: UnsafeBufferPointer(input), observer: nil))
    }

    /// Runs the network on a preprocessed input and returns every graph output (`Model.outputs` order;
    /// LowBit's layout: [H, W, C] maps as HWC floats).
    public func runOutputs(_ input: [Float]) -> [[Float]] {
        precondition(input.count == model.inputElementCount, "input has \(input.count) values, the model needs \(model.inputElementCount)")
        input.withUnsafeBufferPointer { _ = execute(input: $0, observer: nil) }
        return copyOutputs()
    }

    /// Preprocesses an image with the model's stored preprocessing, runs it and returns every graph output.
    public func runOutputs(_ image: Image) throws -> [[Float]] {
        let input = state.inputBuffer(count: model.inputElementCount)
        try Preprocessor.apply(model.info.preprocessing, to: image, into: input)
        _ = execute(input: UnsafeBufferPointer(input), observer: nil)
        return copyOutputs()
    }

    /// The outputs of the last run, copied out of the arena.
    private func copyOutputs() -> [[Float]] {
        plan.outputs.map { Array(UnsafeBufferPointer(start: (state.arena + $0.offset).assumingMemoryBound(to: Float.self), count: $0.count)) }
    }

    /// Runs and reports every f32 value the graph produces to `observer` (value name, contents); used by
    /// calibration. u8 values are not reported.
    public func run(input: [Float], observer: (String, UnsafeBufferPointer<Float>) throws -> Void) throws {
        precondition(input.count == model.inputElementCount)
        var failure: Error?
        withoutActuallyEscaping(observer) { observer in
            input.withUnsafeBufferPointer { buffer in
                _ = execute(input: buffer) { name, values in
                    if failure == nil { do { try observer(name, values) } catch { failure = error } }
                }
            }
        }
        if let failure { throw failure }
    }

    /// Runs `input` `runs` times with a clock around every step and returns each step's mean time.
    public func profile(_ input: [Float], runs: Int) -> LayerProfile {
        precondition(input.count == model.inputElementCount && runs > 0)
        let timer = StepTimer(steps: plan.steps.count)
        input.withUnsafeBufferPointer { buffer in
            for _ in 0..<runs {
                _ = Executor.run(plan, state: state, input: buffer, threads: threads, observer: nil, timer: timer)
            }
        }
        let ms = (0..<timer.count).map { Double(timer.nanoseconds[$0]) / 1e6 / Double(runs) }
        return LayerProfile(layers: plan.layerInfo, milliseconds: ms, runs: runs)
    }

    private func execute(input: UnsafeBufferPointer<Float>,
                         observer: ((String, UnsafeBufferPointer<Float>) -> Void)?) -> UnsafeBufferPointer<Float> {
        Executor.run(plan, state: state, input: input, threads: threads, observer: observer)
    }
}
