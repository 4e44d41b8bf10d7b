// The graph's names and references: every value defined once (graph input, initializer or node output),
// every node input and graph output defined, and the nodes put in an order where each producer comes
// before its readers (Kahn's algorithm; a node left over sits on a cycle).

extension ONNXGraph {
    /// Checks names and references and sorts `nodes` into execution order (file order when it already is
    /// one). Throws on duplicate names, undefined values and cycles.
    mutating func validateAndOrder() throws {
        // Where each value comes from: -1 for graph inputs and initializers, else the producing node's index.
        var producer: [String: Int] = [:]
        func define(_ name: String, by source: Int, _ what: @autoclosure () -> String) throws {
            guard !name.isEmpty else { return }
            if let previous = producer.updateValue(source, forKey: name) {
                let first = previous < 0 ? "a graph input or initializer" : "node \(nodes[previous].label)"
                throw ReadFailure("value '\(name)' is defined twice: by \(first) and by \(what())")
            }
        }
        var seenInputs = Set<String>()
        for input in inputs where !seenInputs.insert(input.name).inserted {
            throw ReadFailure("graph input '\(input.name)' is listed twice")
        }
        for input in inputs { try define(input.name, by: -1, "graph input") }
        for (name, _) in initializers { try define(name, by: -1, "initializer '\(name)'") }
        for (i, node) in nodes.enumerated() {
            for output in node.outputs { try define(output, by: i, "node \(node.label)") }
        }
        for node in nodes {
            for input in node.inputs where !input.isEmpty && producer[input] == nil {
                throw ReadFailure("node \(node.label) reads '\(input)', which no graph input, initializer or node defines")
            }
        }
        for output in outputs where producer[output.name] == nil {
            throw ReadFailure("graph output '\(output.name)' is not defined by any input, initializer or node")
        }
        // Already in order (what exporters write)?
        let sources = nodes.map { node in Set(node.inputs.compactMap { producer[$0] }.filter { $0 >= 0 }) }
        if sources.enumerated().allSatisfy({ i, s in s.allSatisfy { $0 < i } }) { return }
        var waiting = sources.map(\.count)
        var readers = [[Int]](repeating: [], count: nodes.count)
        for (i, s) in sources.enumerated() { for p in s { readers[p].append(i) } }
        var ready = (0..<nodes.count).filter { waiting[$0] == 0 }
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        while let i = ready.popLast() {
            order.append(i)
            for r in readers[i] {
                waiting[r] -= 1
                if waiting[r] == 0 { ready.append(r) }
            }
        }
        guard order.count == nodes.count else {
            let stuck = (0..<nodes.count).filter { waiting[$0] > 0 }.map { nodes[$0] }
            if let loop = stuck.first(where: { n in n.inputs.contains { !$0.isEmpty && n.outputs.contains($0) } }) {
                throw ReadFailure("the graph has a cycle: node \(loop.label) reads its own output")
            }
            throw ReadFailure("the graph has a cycle: \(stuck.count) nodes wait on each other or on such nodes (the first: \(stuck[0].label))")
        }
        nodes = order.map { nodes[$0] }
    }
}
