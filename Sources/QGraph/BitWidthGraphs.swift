// Models whose weight and activation bit width is chosen at run time (Any-Precision): one graph per bit
// width over one shared set of tensors, all in one .lbm file.

/// The graphs of a model with run-time bit widths (metadata key `lowbit.graphs`). `lowbit.graph` holds the
/// default width's graph, so readers that know nothing of bit widths still see a complete model.
///
/// Every graph reads the same input and writes the same number of outputs; tensors that are identical for
/// all widths (full-precision stem, skip convs, classifier) are stored once and named by every graph,
/// the others once per width (the converter names them `bits<K>.<name>`).
public struct BitWidthGraphs: Codable, Equatable, Sendable {
    /// The width a model runs at unless told otherwise.
    public var defaultBits: Int
    /// Bit width (decimal text, as JSON object keys must be strings) -> its graph.
    public var graphs: [String: Graph]

    public init(defaultBits: Int, graphs: [Int: Graph]) {
        self.defaultBits = defaultBits
        self.graphs = Dictionary(uniqueKeysWithValues: graphs.map { (String($0.key), $0.value) })
    }

    /// The stored widths, ascending.
    public var bits: [Int] { graphs.keys.compactMap { Int($0) }.sorted() }

    /// The graph of width `bits`, if stored.
    public func graph(bits: Int) -> Graph? { graphs[String(bits)] }

    /// Checks the widths are well formed, the default's graph is `main`, and every graph is valid over
    /// `tensors` with `main`'s input shape and output size.
    public func validate(main: Graph, tensors: TensorCatalog) throws {
        guard !graphs.isEmpty, graphs.keys.allSatisfy({ key in Int(key).map { (1...32).contains($0) && String($0) == key } ?? false }) else {
            throw GraphError("bit-width graphs must be keyed by widths 1...32, got \(graphs.keys.sorted())")
        }
        guard graph(bits: defaultBits) == main else {
            throw GraphError("the default bit width \(defaultBits) has no graph or it differs from the main graph")
        }
        let inputShape = main.value(main.input)?.shape, outputShape = main.value(main.output)?.shape
        for bits in self.bits {
            let g = graph(bits: bits)!
            do { try g.validate(tensors: tensors) } catch let error as GraphError {
                throw GraphError("\(bits)-bit graph: \(error.description)")
            }
            guard g.value(g.input)?.shape == inputShape, g.value(g.output)?.shape == outputShape else {
                throw GraphError("\(bits)-bit graph: input or output shape differs from the default graph's")
            }
        }
    }
}

extension Graph {
    /// The same graph with every tensor name its ops refer to passed through `rename`.
    public func renamingTensors(_ rename: (String) -> String) -> Graph {
        func weight(_ w: WeightDescriptor) -> WeightDescriptor {
            var w = w
            w.values = w.values.map(rename)
            w.codes = w.codes.map(rename)
            w.scale = w.scale.map(rename)
            return w
        }
        var g = self
        for i in g.nodes.indices {
            switch g.nodes[i].op {
            case .conv2d(var c):
                c.weight = weight(c.weight)
                c.bias = c.bias.map(rename)
                g.nodes[i].op = .conv2d(c)
            case .linear(var l):
                l.weight = weight(l.weight)
                l.bias = l.bias.map(rename)
                g.nodes[i].op = .linear(l)
            case .batchNorm(var b):
                (b.gamma, b.beta, b.mean, b.variance) = (rename(b.gamma), rename(b.beta), rename(b.mean), rename(b.variance))
                g.nodes[i].op = .batchNorm(b)
            case .prelu(let slopes):
                g.nodes[i].op = .prelu(slopes: rename(slopes))
            // no tensors (listed, not defaulted, so that a new op with tensors must be handled here)
            case .activation, .roundToFixed, .doReFa, .sign, .add, .maxPool, .avgPool, .globalAvgPool, .flatten, .shortcutA,
                 .quantize, .dequantize:
                break
            // the defined ops name no tensors yet (the first that does adds a rename to OpDefinition)
            case .defined:
                break
            }
        }
        return g
    }
}
