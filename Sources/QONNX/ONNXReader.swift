// Reading an ONNX file: the protobuf decoded by SwiftProtobuf (Generated/onnx.pb.swift) with a message
// depth limit, then turned into the typed ONNXModel: tensors checked (TensorDecoding.swift), attributes
// typed, names and references validated and nodes put in execution order (GraphValidation.swift).
import Foundation
import QCheckpoint
import SwiftProtobuf

/// A failure inside the reader; `ONNXModel.load` adds the file name.
struct ReadFailure: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

extension ONNXModel {
    /// Whether `bytes` (the file's first bytes, three are enough) look like a serialized ModelProto: field 1
    /// (`ir_version`, a varint below 128) then another top-level field of ModelProto.
    public static func looksLikeONNX(_ bytes: some Collection<UInt8>) -> Bool {
        let b = Array(bytes.prefix(3))
        guard b.count == 3, b[0] == 0x08, (1...0x7f).contains(b[1]) else { return false }
        // producer_name, producer_version, domain, model_version, doc_string, graph, opset_import
        return [0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42].contains(b[2])
    }

    /// Reads and validates an ONNX model file. Throws `ONNXError` naming the file and the problem; the file
    /// size is checked before it is read, and no tensor is allocated beyond the bytes the file holds.
    public static func load(contentsOf url: URL, limits: ONNXReadLimits = .default) throws -> ONNXModel {
        let bytes: Data
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
            guard attributes[.type] as? FileAttributeType == .typeRegular else {
                throw ONNXError(file: url.path, message: "not a regular file")
            }
            let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
            guard size <= limits.maxFileBytes else {
                throw ONNXError(file: url.path, message: "file of \(size) bytes is larger than the \(limits.maxFileBytes)-byte limit")
            }
            bytes = try Data(contentsOf: url)
        } catch let error as ONNXError {
            throw error
        } catch {
            throw ONNXError(file: url.path, message: "cannot read: \(error.localizedDescription)")
        }
        return try load(bytes: bytes, name: url.path, limits: limits)
    }

    /// Reads and validates a serialized ModelProto already in memory (`name` names it in messages).
    public static func load(bytes: Data, name: String, limits: ONNXReadLimits = .default) throws -> ONNXModel {
        do {
            guard bytes.count <= limits.maxFileBytes else {
                throw ReadFailure("\(bytes.count) bytes is larger than the \(limits.maxFileBytes)-byte limit")
            }
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = limits.maxMessageDepth
            options.discardUnknownFields = true
            let proto: Onnx_ModelProto
            do {
                proto = try Onnx_ModelProto(serializedBytes: bytes, partial: true, options: options)
            } catch let error as BinaryDecodingError {
                throw ReadFailure(describe(error, limits: limits))
            }
            return try ONNXModel(proto, limits: limits)
        } catch let failure as ReadFailure {
            throw ONNXError(file: name, message: failure.message)
        }
    }

    private static func describe(_ error: BinaryDecodingError, limits: ONNXReadLimits) -> String {
        switch error {
        case .truncated: return "not a complete ONNX model: the protobuf ends inside a field (truncated file?)"
        case .malformedProtobuf: return "not an ONNX model: malformed protobuf (corrupt file, or another format)"
        case .invalidUTF8: return "not an ONNX model: a string field is not valid UTF-8 (corrupt file?)"
        case .messageDepthLimit: return "protobuf messages nested deeper than \(limits.maxMessageDepth)"
        default: return "not an ONNX model: protobuf decoding failed (\(error))"
        }
    }

    /// The typed model of a decoded ModelProto.
    init(_ proto: Onnx_ModelProto, limits: ONNXReadLimits) throws {
        guard proto.irVersion > 0, proto.hasGraph else {
            throw ReadFailure("not an ONNX model: no ir_version or no graph")
        }
        var opsets: [String: Int64] = [:]
        for set in proto.opsetImport {
            guard opsets.updateValue(set.version, forKey: set.domain) == nil else {
                throw ReadFailure("operator set domain '\(set.domain)' is imported twice")
            }
        }
        guard !opsets.isEmpty else { throw ReadFailure("the model imports no operator set (opset_import is empty)") }
        irVersion = proto.irVersion
        self.opsets = opsets
        producer = [proto.producerName, proto.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")
        graph = try ONNXGraph(proto.graph, limits: limits)
    }
}

extension ONNXGraph {
    /// The typed, validated main graph.
    init(_ proto: Onnx_GraphProto, limits: ONNXReadLimits) throws {
        guard proto.sparseInitializer.isEmpty else {
            throw ReadFailure("sparse initializers are not supported ('\(proto.sparseInitializer[0].values.name)')")
        }
        guard proto.node.count <= limits.maxNodes else {
            throw ReadFailure("\(proto.node.count) nodes is more than the \(limits.maxNodes)-node limit")
        }
        name = proto.name
        initializers = try proto.initializer.map { t in
            guard !t.name.isEmpty else { throw ReadFailure("an initializer has no name") }
            return (t.name, try t.checkpointTensor(limits: limits, what: "initializer '\(t.name)'"))
        }
        for t in proto.initializer {
            if let type = ONNXDataType(rawValue: t.dataType), FourBitType(type) != nil { fourBitInitializers[t.name] = type }
        }
        let initialized = Set(initializers.map(\.name))
        inputs = try proto.input.filter { !initialized.contains($0.name) }.map { try ONNXValueInfo($0, limits: limits) }
        outputs = try proto.output.map { try ONNXValueInfo($0, limits: limits) }
        let nodes = try proto.node.enumerated().map { try ONNXNode($1, index: $0, limits: limits) }
        self.nodes = nodes
        try validateAndOrder()
    }
}

extension ONNXValueInfo {
    init(_ proto: Onnx_ValueInfoProto, limits: ONNXReadLimits) throws {
        guard !proto.name.isEmpty else { throw ReadFailure("a graph input or output has no name") }
        name = proto.name
        guard proto.hasType, case .tensorType(let tensor)? = proto.type.value else {
            elementType = nil
            shape = nil
            return
        }
        elementType = ONNXDataType(rawValue: tensor.elemType)
        guard tensor.hasShape else {
            shape = nil
            return
        }
        let dims = tensor.shape.dim
        guard dims.count <= limits.maxRank else {
            throw ReadFailure("value '\(name)' has \(dims.count) dimensions, more than \(limits.maxRank)")
        }
        shape = try dims.map { dim in
            switch dim.value {
            case .dimValue(let v)?:
                guard v >= 0, v <= limits.maxDimension else {
                    throw ReadFailure("value '\(proto.name)' has dimension \(v), outside 0...\(limits.maxDimension)")
                }
                return .value(Int(v))
            case .dimParam(let p)?: return .parameter(p)
            case nil: return .unknown
            }
        }
    }
}

extension ONNXNode {
    init(_ proto: Onnx_NodeProto, index: Int, limits: ONNXReadLimits) throws {
        name = proto.name
        opType = proto.opType
        domain = proto.domain
        inputs = proto.input
        outputs = proto.output
        self.index = index
        attributes = [:]
        guard !opType.isEmpty else { throw ReadFailure("node #\(index) '\(name)' has no op_type") }
        for attribute in proto.attribute {
            let what = "node \(label): attribute '\(attribute.name)'"
            guard !attribute.name.isEmpty else { throw ReadFailure("node \(label) has an attribute without a name") }
            guard attributes[attribute.name] == nil else { throw ReadFailure("\(what) is given twice") }
            attributes[attribute.name] = try ONNXAttribute(attribute, limits: limits, what: what)
        }
    }
}

extension ONNXAttribute {
    init(_ proto: Onnx_AttributeProto, limits: ONNXReadLimits, what: String) throws {
        guard proto.refAttrName.isEmpty else {
            throw ReadFailure("\(what) refers to a function attribute ('\(proto.refAttrName)'): functions are not supported")
        }
        switch proto.type {
        case .float: self = .float(proto.f)
        case .int: self = .int(proto.i)
        case .string: self = .string(String(decoding: proto.s, as: UTF8.self))
        case .tensor: self = .tensor(try proto.t.checkpointTensor(limits: limits, what: "\(what) tensor"))
        case .floats: self = .floats(proto.floats)
        case .ints: self = .ints(proto.ints)
        case .strings: self = .strings(proto.strings.map { String(decoding: $0, as: UTF8.self) })
        case .tensors:
            self = .tensors(try proto.tensors.map { try $0.checkpointTensor(limits: limits, what: "\(what) tensor") })
        case .graph, .graphs:
            throw ReadFailure("\(what) is a subgraph: control flow (If, Loop, Scan) is not supported")
        case .sparseTensor, .sparseTensors:
            throw ReadFailure("\(what) is a sparse tensor: sparse tensors are not supported")
        case .typeProto, .typeProtos:
            throw ReadFailure("\(what) is a type: type attributes are not supported")
        case .undefined:
            throw ReadFailure("\(what) has no type")
        }
    }
}
