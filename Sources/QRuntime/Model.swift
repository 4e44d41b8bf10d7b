// The public API: a loaded, immutable Model and per-thread Sessions that run it.
import Foundation
import QFormat
import QGraph

/// Which quantized GEMM family runs the layers whose weights allow a choice (`qinfer --kernel`).
public enum KernelChoice: String, CaseIterable, Sendable {
    /// The planner's pick. Table lookup + integer dot products everywhere: on every CPU measured so far
    /// it beats shift-add on the same weights (docs/PERFORMANCE.md), so auto == lut.
    case auto
    /// Table lookup + dot products (every quantized layer can run this way).
    case lut
    /// Shift-add, no multiplications, for 4-bit shift-coded layers; other layers use table lookup. A
    /// model without such layers is refused.
    case shift
}

/// A loaded LowBit model: the validated graph, its info, and the execution plan. Immutable after init and
/// safe to share between threads; each thread runs it through its own `Session`.
public final class Model: @unchecked Sendable {
    public let graph: Graph
    public let info: ModelInfo
    /// Size of the model file in bytes.
    public let fileSize: Int
    let file: LBMFile
    let plan: Plan

    /// Maps and validates the file, then plans execution (shapes, arena, kernels). All errors surface here,
    /// including a plan whose activation arena exceeds `limits`.
    public convenience init(contentsOf url: URL, kernel: KernelChoice = .auto, limits: ModelLimits = .default) throws {
        try self.init(loaded: ModelArchive.read(contentsOf: url), kernel: kernel, limits: limits)
    }

    /// Plans an already decoded model.
    public init(loaded: LoadedModel, kernel: KernelChoice = .auto, limits: ModelLimits = .default) throws {
        graph = loaded.graph
        info = loaded.info
        file = loaded.file
        fileSize = loaded.file.fileSize
        plan = try Plan(graph: loaded.graph, file: loaded.file, kernel: kernel)
        try limits.checkArena(plan.arenaBytes, model: loaded.file.name)
    }

    /// The GEMM member each quantized layer runs with, in execution order (layer name, member).
    public var layerKernels: [(layer: String, kernel: String)] { plan.layerKernels }

    /// What each executor step computes (name, op, shapes, weight format, kernel, operations).
    public var layers: [LayerInfo] { plan.layerInfo }

    /// Elements of the network input ([H, W, C]).
    public var inputShape: [Int] { graph.value(graph.input)!.shape }
    public var inputElementCount: Int { inputShape.reduce(1, *) }
    /// Number of network outputs (classes).
    public var outputCount: Int { graph.value(graph.output)!.elementCount }
    /// Bytes of activation memory one session allocates.
    public var arenaBytes: Int { plan.arenaBytes }
}

/// Per-thread execution state of a `Model`: the activation arena and run-time quantization parameters.
/// Not thread-safe: use one Session per thread. `run` never allocates except for the returned array.
public final class Session {
    public let model: Model
    public let threads: Int
    let state: ExecutionState

    public init(model: Model, threads: Int = 1) {
        self.model = model
        self.threads = max(1, threads)
        state = ExecutionState(plan: model.plan)
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
        let timer = StepTimer(steps: model.plan.steps.count)
        input.withUnsafeBufferPointer { buffer in
            for _ in 0..<runs {
                _ = Executor.run(model.plan, state: state, input: buffer, threads: threads, observer: nil, timer: timer)
            }
        }
        let ms = (0..<timer.count).map { Double(timer.nanoseconds[$0]) / 1e6 / Double(runs) }
        return LayerProfile(layers: model.plan.layerInfo, milliseconds: ms, runs: runs)
    }

    private func execute(input: UnsafeBufferPointer<Float>,
                         observer: ((String, UnsafeBufferPointer<Float>) -> Void)?) -> UnsafeBufferPointer<Float> {
        Executor.run(model.plan, state: state, input: input, threads: threads, observer: observer)
    }
}
