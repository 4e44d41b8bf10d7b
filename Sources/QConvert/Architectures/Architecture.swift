// Recognising which network a checkpoint holds, from its key names and shapes.
import QCheckpoint

/// The verdict of one architecture family on a checkpoint.
public enum Recognition: Sendable {
    /// The family fits: `arch` is the specific member (e.g. "resnet56"), `evidence` says why.
    case match(arch: String, evidence: String)
    /// The family does not fit; `reasons` say what was missing or different.
    case mismatch(reasons: [String])
}

/// An architecture family: recognises its checkpoints and builds the float graph.
public protocol ArchitectureFamily: Sendable {
    /// Family name used in messages.
    var family: String { get }
    /// Member names accepted by `--arch`.
    var members: [String] { get }
    func recognize(_ checkpoint: Checkpoint) -> Recognition
    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel
}

/// All families LowBit knows, in the order they are tried.
public enum Architectures {
    public static let families: [ArchitectureFamily] = [CIFARResNet(), PreActBottleneckResNet(), TorchvisionResNet(), SequentialVGG(),
        BiRealResNet(), LowBitCNN(), MobileNetV2(), MnasNet(), PreActResNet(), SVHNDoReFa()]

    /// Every `--arch` name.
    public static var allNames: [String] { families.flatMap(\.members) }

    /// Recognises the architecture (or uses `override`) and builds the float model. An unrecognised layout
    /// gets an error listing, per family, what matched and what did not.
    public static func build(_ checkpoint: Checkpoint, override: String? = nil) throws -> (FloatModel, String) {
        if let name = override, name != "auto" {
            guard let family = families.first(where: { $0.members.contains(name) }) else {
                throw ConvertError("unknown architecture '\(name)'; known: \(allNames.joined(separator: ", "))")
            }
            return (try family.build(checkpoint, arch: name), "forced by --arch \(name)")
        }
        var report: [String] = []
        for family in families {
            switch family.recognize(checkpoint) {
            case .match(let arch, let evidence):
                return (try family.build(checkpoint, arch: arch), evidence)
            case .mismatch(let reasons):
                report.append("  \(family.family): " + reasons.joined(separator: "; "))
            }
        }
        throw ConvertError("unrecognised network layout (\(checkpoint.tensors.count) tensors, first: "
            + checkpoint.tensors.prefix(3).map(\.name).joined(separator: ", ")
            + "). Tried:\n" + report.joined(separator: "\n")
            + "\nUse --arch NAME to force one of: \(allNames.joined(separator: ", ")).")
    }
}

/// Shape checks shared by the families' recognisers.
struct KeyChecker {
    let checkpoint: Checkpoint
    var problems: [String] = []
    var found: [String] = []

    init(_ checkpoint: Checkpoint) { self.checkpoint = checkpoint }

    /// Records whether `key` exists (and has `shape`, if given; -1 matches any size).
    @discardableResult
    mutating func expect(_ key: String, shape: [Int]? = nil) -> Bool {
        guard let t = checkpoint.tensor(key) else {
            problems.append("no '\(key)'")
            return false
        }
        if let shape, t.shape.count != shape.count || !zip(t.shape, shape).allSatisfy({ $1 == -1 || $0 == $1 }) {
            problems.append("'\(key)' is \(t.shape), expected \(shape.map { $0 == -1 ? "*" : String($0) })")
            return false
        }
        found.append(key)
        return true
    }

    func has(_ key: String) -> Bool { checkpoint.tensor(key) != nil }

    /// Number of consecutive blocks `prefix.0`, `prefix.1`, ... that have `<prefix>.<i>.<probe>`.
    func blockCount(_ prefix: String, probe: String) -> Int {
        var n = 0
        while has("\(prefix).\(n).\(probe)") { n += 1 }
        return n
    }
}
