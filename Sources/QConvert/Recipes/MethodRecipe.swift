// Method recipes: one per training method (SEEDS.md). A recipe recognises the method's checkpoints by
// their key names and turns the method's stored parameters into the exact weights its inference uses,
// as codes into a small set of levels; the shared driver then builds the graph, folds BatchNorm into the
// per-channel scales and packs the codes.
import QCheckpoint
import QGraph

/// The weights of one quantized layer, exactly as the method's inference computes them.
struct MethodLayer: Sendable {
    /// One code per weight, in the checkpoint's layout ([OC, Cin/g, kh, kw] or [out, in]).
    var codes: [UInt8]
    /// The real value of each code (float32, exactly what the method multiplies with).
    var levels: [Float]
    /// When set, every level is an integer multiple of this (e.g. Any-Precision: E / n, levels E * (2Q - n)
    /// / n), and it becomes the layer's table unit so the int8 table holds those integers exactly.
    var unit: Float? = nil
    /// A per-output-channel factor of the weights (BinaryConnect with a scale: W = alpha[oc] * level):
    /// multiplied into the channel's scale; nil = 1.
    var channelScales: [Float]? = nil
}

/// A checkpoint rewritten for the architecture builders: every quantized layer's `<layer>.weight` holds
/// its exact effective weights and the method's own tensors are gone; plus the codes of those layers.
struct PreparedCheckpoint: Sendable {
    var checkpoint: Checkpoint
    /// Layer name (the weight key without `.weight`) -> its codes and levels.
    var layers: [String: MethodLayer]
    /// Layers whose inputs pass DeepShift's round_to_fixed (integer bits, fraction bits).
    var roundInputs: [String: (Int, Int)] = [:]
    /// What the recipe did, for the report (e.g. "259 weights underflowed to 0").
    var notes: [String] = []
}

/// Options the command line passes to method recipes.
public struct MethodOptions: Sendable {
    /// Activations: f32 (the method's own float inference; weights-only quantization, exact) or u8
    /// (the integer kernels, approximate, faster).
    public var activations: ActivationMode = .f32
    /// DeepShift weight bits (the checkpoint does not store them); nil: the recipe's default.
    public var weightBits: Int?
    /// DeepShift round_to_fixed of activations and biases: (integer bits, fraction bits); nil: none.
    public var fixedPoint: (Int, Int)?
    /// DeepShift mode when it cannot be read from the keys: "ps" or "q".
    public var deepShiftMode: String?
    /// Equal Bits prune rate k in [0, 1) (not saved in checkpoints); nil: from the file name, else 0.
    public var pruneRate: Double?
    /// BinaryConnect: scale each output channel's sign(w) by alpha = mean |w| of the channel.
    public var binaryChannelScale = false

    public init() {}
}

/// How a method-recipe model runs its activations.
public enum ActivationMode: String, Sendable, CaseIterable {
    case f32
    case u8
}

/// One training method's recipe.
protocol MethodRecipe: Sendable {
    /// `--recipe` name.
    var name: String { get }
    /// Why this checkpoint was saved by the method, or nil if its keys do not say so.
    func detect(_ checkpoint: Checkpoint) -> String?
    /// The checkpoint with exact effective weights (see PreparedCheckpoint).
    func prepare(_ checkpoint: Checkpoint, options: MethodOptions) throws -> PreparedCheckpoint
    /// The preprocessing the method trains `arch` with, given the architecture family's default.
    func preprocessing(arch: String, familyDefault: Preprocessing) -> Preprocessing
    /// Whether BatchNorm folds into the weights on the f32 activation path (the u8 path always folds).
    /// False keeps each BatchNorm as its own step after the conv, as PyTorch runs it: for methods whose
    /// exact weights are powers of two, folding would turn every exact product into a rounded one.
    var foldsBatchNormOnFloatPath: Bool { get }
}

extension MethodRecipe {
    func preprocessing(arch: String, familyDefault: Preprocessing) -> Preprocessing { familyDefault }
    var foldsBatchNormOnFloatPath: Bool { true }
}

/// The known method recipes, in detection order.
public enum MethodRecipes {
    static let all: [MethodRecipe] = [DGMSRecipe(), S3Recipe(), DeepShiftRecipe(), EqualBitsRecipe(), AnyPrecisionRecipe(),
                                      BinaryConnectRecipe()]

    /// Every `--recipe` name (plain first).
    public static var names: [String] { ["plain"] + all.map(\.name) }

    /// The recipe `name` asks for, or the one whose keys match (nil = plain), with the reason.
    static func resolve(_ name: String?, _ checkpoint: Checkpoint) throws -> (MethodRecipe?, String) {
        if let name, name != "auto" {
            if name == "plain" { return (nil, "forced by --recipe plain") }
            guard let recipe = all.first(where: { $0.name == name }) else {
                throw ConvertError("unknown recipe '\(name)'; known: \(names.joined(separator: ", "))")
            }
            return (recipe, "forced by --recipe \(name)")
        }
        for recipe in all {
            if let why = recipe.detect(checkpoint) { return (recipe, why) }
        }
        return (nil, "no method-specific keys (sub_distribution, weight_shift, shift/sign, ...): plain post-training quantization")
    }
}

extension Checkpoint {
    /// The same checkpoint with tensors replaced, added (`set`) and removed.
    func replacing(_ set: [String: CheckpointTensor], removing: Set<String> = []) -> Checkpoint {
        var out: [(name: String, tensor: CheckpointTensor)] = []
        var done = Set<String>()
        for (name, tensor) in tensors where !removing.contains(name) {
            if let t = set[name] { out.append((name, t)); done.insert(name) } else { out.append((name, tensor)) }
        }
        for (name, t) in set.sorted(by: { $0.key < $1.key }) where !done.contains(name) { out.append((name, t)) }
        return Checkpoint(url: url, format: format, wrapper: wrapper, strippedPrefix: strippedPrefix, tensors: out,
                          metadata: metadata, opaqueClasses: opaqueClasses, root: root)
    }

    /// Names of layers that have every one of `suffixes` (e.g. [".shift", ".sign"] -> "layer1.0.conv1").
    func layers(having suffixes: [String]) -> [String] {
        guard let first = suffixes.first else { return [] }
        return tensors.map(\.name).filter { $0.hasSuffix(first) }.map { String($0.dropLast(first.count)) }
            .filter { layer in suffixes.allSatisfy { tensor(layer + $0) != nil } }
    }
}

/// Codes for exact values: the distinct values of `weights` (sorted, 0 first when present) and each
/// weight's index into them. Fails when there are more than `maxLevels`.
func codesForValues(_ weights: [Float], maxLevels: Int = 256) -> MethodLayer? {
    var distinct = Array(Set(weights.map { $0 == 0 ? Float(0) : $0 })).sorted()
    guard distinct.count <= maxLevels else { return nil }
    if let z = distinct.firstIndex(of: 0) { distinct.remove(at: z); distinct.insert(0, at: 0) }
    let index = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, UInt8($0)) })
    return MethodLayer(codes: weights.map { index[$0 == 0 ? 0 : $0]! }, levels: distinct)
}
