// The weight bit widths a model can run at. Today every LowBit file stores one width per layer, so a model
// runs at its own width only; any-precision files (several widths in one file, chosen per session) will
// list theirs in `runtimeBitWidths`, and qbench's `--bits` sweep uses them unchanged.
extension Model {
    /// The weight bits that most of the work runs at: the width with the largest share of the weighted
    /// layers' operations, the smaller width on a tie (4 for a "w4, first/last w8" model; 32 for a float
    /// model); nil for a model without weighted layers.
    public var weightBits: Int? {
        var work: [Int: Double] = [:]
        for layer in layers { if let bits = layer.weightBits { work[bits, default: 0] += max(layer.ops, 1) } }
        return work.max { $0.value != $1.value ? $0.value < $1.value : $0.key > $1.key }?.key
    }

    /// Bit widths a session may select at run time, ascending; empty for a fixed-precision model (every
    /// file the current format version stores).
    public var runtimeBitWidths: [Int] { [] }

    /// Whether the model can run with `bits`-bit weights: one of `runtimeBitWidths`, or, for a
    /// fixed-precision model, its own width.
    public func canRun(bits: Int) -> Bool {
        runtimeBitWidths.isEmpty ? bits == weightBits : runtimeBitWidths.contains(bits)
    }
}
