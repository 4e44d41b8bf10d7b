// Run-time bit widths (Any-Precision models): one plan per width, built at load; a Session switches
// between them without reloading or allocating.
import QGraph

extension Model {
    /// The bit widths the model can run at, ascending; empty for a model without run-time bit widths.
    public var availableBits: [Int] { plansByBits.keys.sorted() }

    /// What each executor step computes at width `bits`.
    public func layers(bits: Int) throws -> [LayerInfo] { try plan(bits: bits).layerInfo }

    /// The prebuilt plan of width `bits`; fails with the widths there are.
    func plan(bits: Int) throws -> Plan {
        guard !plansByBits.isEmpty else {
            throw RuntimeError("this model has no run-time bit widths (it was not converted from an Any-Precision checkpoint); run it without --bits")
        }
        guard let plan = plansByBits[bits] else {
            throw RuntimeError("this model has no \(bits)-bit variant; it has \(availableBits.map(String.init).joined(separator: ", "))")
        }
        return plan
    }

    /// One plan per stored bit width (the default's is `defaultPlan`), and the default width.
    static func bitWidthPlans(_ widths: BitWidthGraphs?, tensors: TensorSource, defaultPlan: Plan, kernel: KernelChoice,
                              depthwise: DepthwisePath) throws -> ([Int: Plan], Int?) {
        guard let widths else { return ([:], nil) }
        var plans: [Int: Plan] = [:]
        for bits in widths.bits {
            plans[bits] = bits == widths.defaultBits
                ? defaultPlan : try Plan(graph: widths.graph(bits: bits)!, tensors: tensors, kernel: kernel, depthwise: depthwise)
        }
        return (plans, widths.defaultBits)
    }
}

extension Session {
    /// A session running at width `bits` (see `setBits`).
    public convenience init(model: Model, threads: Int = 1, bits: Int) throws {
        self.init(model: model, threads: threads)
        try setBits(bits)
    }

    /// Switches the width the next `run`/`classify` uses: picks the prebuilt plan (no allocation, no
    /// reload; the session's memory already fits every width). Fails for a model without run-time widths
    /// or a width it lacks.
    public func setBits(_ bits: Int) throws {
        let plan = try model.plan(bits: bits)
        self.plan = plan
        self.bits = bits
        state.inputOffset = plan.inputOffset
    }
}

extension Model {
    /// The weight bits that most of the work runs at: the width with the largest share of the weighted
    /// layers' operations, the smaller width on a tie (4 for a "w4, first/last w8" model; 32 for a float
    /// model); nil for a model without weighted layers.
    public var weightBits: Int? {
        var work: [Int: Double] = [:]
        for layer in layers { if let bits = layer.weightBits { work[bits, default: 0] += max(layer.ops, 1) } }
        return work.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key
    }

    /// Bit widths a session may select at run time, ascending (`availableBits`); empty for a
    /// fixed-precision model.
    public var runtimeBitWidths: [Int] { availableBits }

    /// Whether the model can run with `bits`-bit weights: one of `runtimeBitWidths`, or, for a
    /// fixed-precision model, its own width.
    public func canRun(bits: Int) -> Bool {
        runtimeBitWidths.isEmpty ? bits == weightBits : runtimeBitWidths.contains(bits)
    }
}
