// Recognising which network a checkpoint holds, from its key names and shapes.
import QCheckpoint

/// The verdict of one architecture family on a checkpoint.
public enum Recognition: Sendable {
    /// The family fits: `arch` names the network found (e.g. "resnet56", "resnet10"), `evidence` says why.
    case match(arch: String, evidence: String)
    /// The family does not fit; `reasons` say what was missing or different.
    case mismatch(reasons: [String])
}

/// An architecture family: recognises its checkpoints at any depth and width it covers, reading both
/// from the keys and shapes, and builds the float graph.
public protocol ArchitectureFamily: Sendable {
    /// The family's `--arch` name ("resnet").
    var name: String { get }
    /// How the list of tried families names it in messages (defaults to `name`).
    var label: String { get }
    /// Other `--arch` names that force this family: earlier member and family names ("resnet18", ...).
    var aliases: [String] { get }
    func recognize(_ checkpoint: Checkpoint) -> Recognition
    /// Builds the network `recognize` matched as `arch`.
    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel
}

extension ArchitectureFamily {
    public var label: String { name }
}

/// All families LowBit knows, in the order they are tried.
public enum Architectures {
    public static let families: [ArchitectureFamily] = [ResNet(), PreActBottleneckResNet(), SequentialVGG(),
        BiRealResNet(), LowBitCNN(), MobileNetV2(), MnasNet(), PreActResNet(), SVHNDoReFa()]

    /// The family names `--arch` takes.
    public static var names: [String] { families.map(\.name) }

    /// Every name `--arch` accepts: the family names, then their aliases.
    public static var allNames: [String] { names + families.flatMap(\.aliases) }

    /// Recognises the architecture and builds the float model. `override` (a family name or an alias)
    /// restricts recognition to that family, which still reads depth and width from the checkpoint. An
    /// unrecognised layout gets an error listing, per family, what did not fit.
    public static func build(_ checkpoint: Checkpoint, override: String? = nil) throws -> (FloatModel, String) {
        if let forced = override, forced != "auto" {
            guard let family = families.first(where: { $0.name == forced || $0.aliases.contains(forced) }) else {
                throw ConvertError("unknown architecture '\(forced)'; families: \(names.joined(separator: ", "))"
                    + " (also accepted: \(families.flatMap(\.aliases).joined(separator: ", ")))")
            }
            switch family.recognize(checkpoint) {
            case .match(let arch, let evidence):
                return (try family.build(checkpoint, arch: arch), "forced by --arch \(forced) (family \(family.name)): \(evidence)")
            case .mismatch(let reasons):
                throw ConvertError("--arch \(forced) forces the \(family.name) family, which does not fit this checkpoint: "
                    + reasons.joined(separator: "; "))
            }
        }
        var report: [String] = []
        for family in families {
            switch family.recognize(checkpoint) {
            case .match(let arch, let evidence):
                return (try family.build(checkpoint, arch: arch), evidence)
            case .mismatch(let reasons):
                report.append("  \(family.label): " + reasons.joined(separator: "; "))
            }
        }
        throw ConvertError("unrecognised network layout (\(checkpoint.tensors.count) tensors, first: "
            + checkpoint.tensors.prefix(3).map(\.name).joined(separator: ", ")
            + "). Tried:\n" + report.joined(separator: "\n")
            + "\nUse --arch NAME to force one of the families: \(names.joined(separator: ", ")).")
    }
}

/// What a family found missing or different in a checkpoint: the reasons of a `.mismatch`.
struct LayoutMismatch: Error, CustomStringConvertible {
    var reasons: [String]
    init(_ reasons: [String]) { self.reasons = reasons }
    var description: String { reasons.joined(separator: "; ") }
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

    /// The checkpoint's tensors (BatchNorm batch counters aside) that are not among `bound`, sorted:
    /// a layout that leaves some unexplained belongs to another family.
    func unbound(_ bound: Set<String>) -> [String] {
        checkpoint.tensors.map(\.name).filter { !bound.contains($0) && !$0.hasSuffix("num_batches_tracked") }.sorted()
    }
}
