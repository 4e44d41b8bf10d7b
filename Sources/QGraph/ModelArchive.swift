// Reading and writing a whole model (graph + info + tensors) as one .lbm file.
import Foundation
import QFormat

/// A model read from an .lbm file: validated graph and info; tensors are views into the mapped file.
public struct LoadedModel: Sendable {
    public let graph: Graph
    public let info: ModelInfo
    public let file: LBMFile
    /// One graph per bit width, for models whose width is chosen at run time (nil for the others).
    public var bitWidths: BitWidthGraphs? = nil
}

/// The .lbm metadata keys this layer owns (docs/FORMAT.md, "The graph").
public enum ModelArchive {
    public static let graphKey = "lowbit.graph"
    public static let infoKey = "lowbit.model"
    public static let bitWidthsKey = "lowbit.graphs"

    /// Validates and writes atomically (the writer renames a finished temporary file into place).
    /// `bitWidths`: the graph of every run-time bit width (its default's must be `graph`).
    public static func write(graph: Graph, info: ModelInfo, tensors: TensorStore, bitWidths: BitWidthGraphs? = nil,
                             to url: URL) throws {
        try validate(graph: graph, info: info, bitWidths: bitWidths, tensors: tensors)
        var writer = LBMWriter()
        writer.metadata[graphKey] = try encode(graph)
        writer.metadata[infoKey] = try encode(info)
        if let bitWidths { writer.metadata[bitWidthsKey] = try encode(bitWidths) }
        for name in tensors.names {
            let t = tensors[name]!
            try writer.addTensor(name, dtype: t.dtype, shape: t.shape, bytes: t.bytes)
        }
        try writer.write(to: url)
    }

    /// Maps, checks (container, checksum, graph, every tensor reference) and returns the model.
    public static func read(contentsOf url: URL) throws -> LoadedModel {
        try decode(LBMFile(contentsOf: url), name: url.path)
    }

    /// The same from an already opened file.
    public static func decode(_ file: LBMFile, name: String) throws -> LoadedModel {
        guard let graphText = file.metadata[graphKey], let infoText = file.metadata[infoKey] else {
            throw GraphError("\(name): not a LowBit model (metadata '\(graphKey)' or '\(infoKey)' missing)")
        }
        let graph: Graph, info: ModelInfo, bitWidths: BitWidthGraphs?
        do {
            graph = try JSONDecoder().decode(Graph.self, from: Data(graphText.utf8))
            info = try JSONDecoder().decode(ModelInfo.self, from: Data(infoText.utf8))
            bitWidths = try file.metadata[bitWidthsKey].map { try JSONDecoder().decode(BitWidthGraphs.self, from: Data($0.utf8)) }
        } catch {
            throw GraphError("\(name): model description is malformed: \(error)")
        }
        do {
            try validate(graph: graph, info: info, bitWidths: bitWidths, tensors: file)
        } catch let error as GraphError {
            throw GraphError("\(name): \(error.description)")
        }
        return LoadedModel(graph: graph, info: info, file: file, bitWidths: bitWidths)
    }

    /// The model-level checks a model passes when written, when read (after the container's byte-level
    /// ones) and when planned from memory: its preprocessing, its graph over `tensors` (every referenced
    /// tensor present with its dtype and shape) and its bit-width graphs.
    public static func validate(graph: Graph, info: ModelInfo, bitWidths: BitWidthGraphs?, tensors: TensorCatalog) throws {
        try info.preprocessing.validate()
        try graph.validate(tensors: tensors)
        if let names = info.outputNames {
            guard names.count == graph.outputs.count, Set(names).count == names.count,
                  names.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 256 }) else {
                throw GraphError("output names \(names) are not one unique, non-empty name (<= 256 bytes) per graph output (\(graph.outputs.count))")
            }
        }
        try bitWidths?.validate(main: graph, tensors: tensors)
    }

    private static func encode<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
