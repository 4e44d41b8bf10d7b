// The LowBit library: load a converted model (.lbm), make sessions, classify tensors or image files, read the
// top-k. A small facade over QRuntime (the executor, planner and preprocessing it uses); see LowBit.docc.
import Foundation
import QRuntime

/// A decoded image (JPEG, PNG, PPM or PGM, or made from pixels in memory): HWC samples in [0, 1].
public typealias Image = QRuntime.Image

/// Why an image file could not be read (the file and what was wrong with it).
public typealias ImageError = QRuntime.ImageError

/// An error from loading a model or running it: what went wrong, in words.
public struct LowBitError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// One class of a classification, ranked by probability.
public struct Prediction: Equatable, Sendable {
    /// The class index (the model's output order).
    public let index: Int
    /// The class name stored in the model ("class N" when the model has no name for it).
    public let label: String
    /// Softmax probability, 0...1.
    public let probability: Double
}

/// A converted LowBit network, loaded and planned. Immutable and safe to share between threads; run it
/// through one ``Session`` per thread.
public final class Model: Sendable {
    let runtime: QRuntime.Model
    /// The width new sessions run at (nil: the model's default).
    let selectedBits: Int?

    /// Loads and validates a `.lbm` file (written by `qconvert`) and plans its execution.
    ///
    /// - Parameters:
    ///   - url: the `.lbm` file.
    ///   - bits: the weight bit width new sessions run at; nil runs the model at its own (default) width.
    ///     A width the file cannot run at (see ``Model/availableBits``) throws. Any-Precision files hold
    ///     several widths; a session can switch with ``Session/setBits(_:)``.
    public init(contentsOf url: URL, bits: Int? = nil) throws {
        runtime = try QRuntime.Model(contentsOf: url)
        selectedBits = bits
        if let bits, !runtime.canRun(bits: bits) {
            throw LowBitError("\(url.path) runs with \(availableBits.map(String.init).joined(separator: ", "))-bit "
                              + "weights, not \(bits)")
        }
    }

    /// The bundled Fashion-MNIST example model (found beside the executables, via $LOWBIT_MODELS, or in the
    /// source checkout).
    public static func bundledDefault() throws -> Model {
        try Model(contentsOf: DefaultModel.modelURL())
    }

    /// Class names, in output order.
    public var labels: [String] { runtime.info.labels }
    /// The network input a tensor must have: [height, width, channels].
    public var inputShape: [Int] { runtime.inputShape }
    /// How many values ``Session/run(_:)-([Float])`` returns (classes).
    public var outputCount: Int { runtime.outputCount }
    /// The weight bits most of the work runs at (4 for a "w4, first/last w8" model; 32 for float).
    public var bits: Int? { runtime.weightBits }
    /// The weight bit widths the model can run at: every stored width of an Any-Precision file, else its own.
    public var availableBits: [Int] {
        runtime.runtimeBitWidths.isEmpty ? runtime.weightBits.map { [$0] } ?? [] : runtime.runtimeBitWidths
    }
    /// The model's name and precision, e.g. "fmnist-cnn (w4 (first/last w8), a8 static)".
    public var summary: String { "\(runtime.info.name) (\(runtime.info.precision))" }

    /// A new session running this model on `threads` threads (at least 1).
    public func makeSession(threads: Int = 1) -> Session { Session(model: self, threads: threads) }

    /// The logits of the float64 reference for an image: the model's graph evaluated in double with plain
    /// loops and no kernels (no summation-order dependence; slow by design), at the model's selected
    /// width. For checking a conversion against PyTorch; models with u8 activations throw.
    public func referenceLogits(_ image: Image) throws -> [Double] {
        try runtime.referenceClassify(image, bits: selectedBits ?? runtime.defaultBits)
    }
}

/// The per-thread state that runs a ``Model``: its activation memory. Not thread-safe; make one per thread.
public final class Session {
    /// The model this session runs.
    public let model: Model
    /// Threads each inference uses.
    public var threads: Int { runtime.threads }
    let runtime: QRuntime.Session

    /// A session for `model` on `threads` threads (clamped to at least 1), at the model's selected width.
    public init(model: Model, threads: Int = 1) {
        self.model = model
        runtime = QRuntime.Session(model: model.runtime, threads: threads)
        // validated by Model.init: a run-time width the file has
        if let bits = model.selectedBits, !model.runtime.runtimeBitWidths.isEmpty { try? runtime.setBits(bits) }
    }

    /// Switches the weight bit width of an Any-Precision model (a plan built at load: no reload, no
    /// allocation). Throws for a width the model does not have.
    public func setBits(_ bits: Int) throws {
        guard !model.runtime.runtimeBitWidths.isEmpty else {
            guard model.runtime.canRun(bits: bits) else {
                throw LowBitError("the model has fixed \(model.bits.map(String.init) ?? "?")-bit weights, not \(bits)")
            }
            return
        }
        try runtime.setBits(bits)
    }

    /// Runs the network on an already preprocessed tensor: HWC floats, ``Model/inputShape`` of them.
    /// - Returns: the logits (``Model/outputCount`` values).
    public func run(_ tensor: [Float]) throws -> [Float] {
        let needed = model.runtime.inputElementCount
        guard tensor.count == needed else {
            throw LowBitError("the tensor has \(tensor.count) values; the model needs \(model.inputShape) = \(needed)")
        }
        return runtime.run(tensor)
    }

    /// Preprocesses `image` the way the model stores (resize, crop, normalise) and runs it; returns the logits.
    public func run(_ image: Image) throws -> [Float] { try runtime.classify(image) }

    /// Reads an image file (JPEG, PNG, PPM or PGM), runs it, and returns the `k` most probable classes.
    public func classify(contentsOf url: URL, top k: Int = 5) throws -> [Prediction] {
        top(k, logits: try run(ImageReader.read(contentsOf: url)))
    }

    /// Runs `image` and returns the `k` most probable classes.
    public func classify(_ image: Image, top k: Int = 5) throws -> [Prediction] { top(k, logits: try run(image)) }

    /// The `k` most probable classes for `logits` (softmax; ties to the lower index).
    public func top(_ k: Int, logits: [Float]) -> [Prediction] {
        Classification.top(k, logits: logits, labels: model.labels).map {
            Prediction(index: $0.index, label: $0.label, probability: $0.prob)
        }
    }
}

extension Image {
    /// Reads a JPEG, PNG, PPM or PGM file (chosen by its contents; JPEG EXIF orientation applied).
    public init(contentsOf url: URL) throws { self = try ImageReader.read(contentsOf: url) }
}
