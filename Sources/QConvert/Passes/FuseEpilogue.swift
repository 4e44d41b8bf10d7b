// Passes: fuse a residual add and a following activation into the conv/linear/add epilogue.
import QGraph

/// add(conv(x), r) -> conv(x) with residual r, placed where the add was (so r is available).
/// Applies when the conv's output feeds only the add and the conv has no epilogue yet.
func fuseResidualAdd(_ graph: inout Graph) {
    var i = 0
    while i < graph.nodes.count {
        let node = graph.nodes[i]
        guard case .add(let act) = node.op, act == .none else { i += 1; continue }
        var fused = false
        for (operand, other) in [(0, 1), (1, 0)] {
            let value = node.inputs[operand]
            guard let p = graph.producer(of: value), case .conv2d(var conv) = graph.nodes[p].op,
                  !conv.residual, conv.activation == .none, graph.consumers(of: value) == [i],
                  value != node.inputs[other] else { continue }
            conv.residual = true
            var convNode = graph.nodes[p]
            convNode.op = .conv2d(conv)
            convNode.inputs.append(node.inputs[other])
            convNode.output = node.output
            graph.nodes[i] = convNode
            graph.nodes.remove(at: p)
            graph.removeValue(value)
            fused = true
            break
        }
        if !fused { i += 1 }
    }
}

/// conv/linear/add followed by relu/relu6/hardtanh (as its only reader) takes the activation in its epilogue.
func fuseActivation(_ graph: inout Graph) {
    var i = 0
    while i < graph.nodes.count {
        let node = graph.nodes[i]
        guard case .activation(let act) = node.op, let p = graph.producer(of: node.inputs[0]),
              graph.consumers(of: node.inputs[0]) == [i] else { i += 1; continue }
        var op = graph.nodes[p].op
        switch op {
        case .conv2d(var c) where c.activation == .none: c.activation = act; op = .conv2d(c)
        case .linear(var l) where l.activation == .none: l.activation = act; op = .linear(l)
        case .add(.none): op = .add(act)
        default: i += 1; continue
        }
        let old = graph.nodes[p].output
        graph.nodes[p].op = op
        graph.nodes[p].output = node.output
        graph.nodes.remove(at: i)
        graph.removeValue(old)
    }
}
