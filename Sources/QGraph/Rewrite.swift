// Small graph-editing helpers used by the converter's passes.

extension Graph {
    /// Indices of the nodes that read `value` (each graph output counts as a reader, index -1).
    public func consumers(of value: String) -> [Int] {
        var result = nodes.indices.filter { nodes[$0].inputs.contains(value) }
        result += outputs.filter { $0 == value }.map { _ in -1 }
        return result
    }

    /// Index of the node writing `value`.
    public func producer(of value: String) -> Int? { nodes.firstIndex { $0.output == value } }

    /// Removes a value no node writes or reads any more.
    public mutating func removeValue(_ name: String) {
        values.removeAll { $0.name == name }
    }

    /// Renames every read of `old` to `new`.
    public mutating func replaceUses(of old: String, with new: String) {
        for i in nodes.indices {
            nodes[i].inputs = nodes[i].inputs.map { $0 == old ? new : $0 }
        }
        setOutputs(outputs.map { $0 == old ? new : $0 })
    }

    /// Sets a value's quantization.
    public mutating func setQuant(_ name: String, _ quant: ActivationQuant) {
        if let i = valueIndex(name) { values[i].quant = quant }
    }
}
