// Structure a recipe asks the float graph for (which conv is the stem, which convs sit on a shortcut
// branch), and a layer's weights in PyTorch's layout, so recipes never read file order or key text.
import QGraph

extension Graph {
    /// Indices of the conv and linear nodes, in graph order.
    var weightLayerIndices: [Int] {
        nodes.indices.filter {
            switch nodes[$0].op {
            case .conv2d, .linear: return true
            default: return false
            }
        }
    }

    /// Names of the convs that read the network input directly (the stem).
    var inputConvs: Set<String> {
        Set(nodes.filter { if case .conv2d = $0.op { return $0.inputs.first == input } else { return false } }.map(\.name))
    }

    /// Names of the convs that read a `sign` node (binary-activation layers).
    var signInputConvs: Set<String> {
        let signs = Set(nodes.filter { $0.op == .sign }.map(\.output))
        return Set(nodes.filter { if case .conv2d = $0.op { return signs.contains($0.inputs[0]) } else { return false } }.map(\.name))
    }

    /// Names of the convs on the shortcut side of a residual add: for add(a, b), a's branch is what a
    /// depends on and b does not (the nodes after the block input), and b's the other way round; the branch
    /// with fewer convs is the shortcut (identity, option A or a projection conv), and its convs are
    /// returned. Ties (e.g. two one-conv branches) name none.
    var shortcutConvs: Set<String> {
        var producer: [String: Int] = [:]
        for (i, node) in nodes.enumerated() { producer[node.output] = i }
        /// Indices of the nodes `value` depends on, transitively.
        func ancestors(_ value: String) -> Set<Int> {
            var seen = Set<Int>(), stack = [value]
            while let v = stack.popLast() {
                guard let p = producer[v], seen.insert(p).inserted else { continue }
                stack.append(contentsOf: nodes[p].inputs)
            }
            return seen
        }
        func convs(_ branch: Set<Int>) -> [String] {
            branch.filter { if case .conv2d = nodes[$0].op { return true } else { return false } }.map { nodes[$0].name }
        }
        var result = Set<String>()
        for node in nodes where node.inputs.count == 2 {
            guard case .add = node.op else { continue }
            let a = ancestors(node.inputs[0]), b = ancestors(node.inputs[1])
            let convsA = convs(a.subtracting(b)), convsB = convs(b.subtracting(a))
            if convsA.count < convsB.count { result.formUnion(convsA) }
            if convsB.count < convsA.count { result.formUnion(convsB) }
        }
        return result
    }
}

extension FloatModel {
    /// The node named `name`.
    func node(_ name: String) -> Node? { graph.nodes.first { $0.name == name } }

    /// A float conv or linear's weights in PyTorch's layout ([OC, Cin/g, kh, kw] or [out, in]), with that
    /// shape; nil for other nodes and coded layers. The graph stores conv weights as GEMM rows in
    /// (ky, kx, c) order.
    func pytorchWeights(of name: String) -> (values: [Float], shape: [Int])? {
        guard let node = node(name) else { return nil }
        switch node.op {
        case .conv2d(let c):
            guard let key = c.weight.values, let rows = tensors[key]?.floats else { return nil }
            let (oc, cg, kh, kw) = (c.outChannels, c.inChannels / c.groups, c.kernel[0], c.kernel[1])
            var w = [Float](repeating: 0, count: rows.count)
            for o in 0..<oc { for c in 0..<cg { for ky in 0..<kh { for kx in 0..<kw {
                w[((o * cg + c) * kh + ky) * kw + kx] = rows[o * kh * kw * cg + (ky * kw + kx) * cg + c]
            } } } }
            return (w, [oc, cg, kh, kw])
        case .linear(let l):
            guard let key = l.weight.values, let t = tensors[key] else { return nil }
            return (t.floats, t.shape)
        default: return nil
        }
    }

    /// Replaces a float conv or linear's weights with `values` given in PyTorch's layout.
    mutating func setPytorchWeights(of name: String, _ values: [Float]) throws {
        guard let node = node(name), let current = pytorchWeights(of: name), current.values.count == values.count else {
            throw ConvertError("layer \(name): cannot set \(values.count) weights")
        }
        switch node.op {
        case .conv2d(let c):
            let (oc, cg, kh, kw) = (c.outChannels, c.inChannels / c.groups, c.kernel[0], c.kernel[1])
            var rows = [Float](repeating: 0, count: values.count)
            for o in 0..<oc { for c in 0..<cg { for ky in 0..<kh { for kx in 0..<kw {
                rows[o * kh * kw * cg + (ky * kw + kx) * cg + c] = values[((o * cg + c) * kh + ky) * kw + kx]
            } } } }
            tensors.set(c.weight.values!, StoredTensor(floats: rows, shape: [oc, kh * kw * cg]))
        case .linear(let l):
            tensors.set(l.weight.values!, StoredTensor(floats: values, shape: current.shape))
        default: break
        }
    }

    /// Sets each coded layer's float weights to what its codes stand for (the method's effective weights).
    mutating func setWeights(from codes: [String: MethodLayer]) throws {
        for (name, layer) in codes.sorted(by: { $0.key < $1.key }) { try setPytorchWeights(of: name, layer.weights) }
    }
}
