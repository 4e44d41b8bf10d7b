// Recipes: one per training method (SEEDS.md), and plain post-training quantization as one more. A recipe
// recognises its checkpoints, says which tensors a plain PyTorch module would hold (the weights its layers
// compute from what the method stores), and is then a pass over the float graph the source built: it asks
// the graph for structure (the conv fed by the input, the convs on a shortcut branch), never the file order
// or key text, and returns that graph with the exact codes of its quantized layers and its activation rewrites.
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

    /// The weights these codes stand for, in the checkpoint's layout: channelScales[oc] * levels[code].
    var weights: [Float] {
        guard let channelScales else { return codes.map { levels[Int($0)] } }
        let per = codes.count / max(channelScales.count, 1)
        return codes.indices.map { channelScales[$0 / per] * levels[Int(codes[$0])] }
    }
}

/// How a recipe's graph runs its activations.
enum ActivationTyping: Sendable, Equatable {
    /// f32 everywhere: the method's own float inference (exact weights).
    case float
    /// u8 into every coded layer: static scales from --calibrate, else measured per tensor at run time.
    case uint8
    /// Any-Precision's DoReFa k-bit activations handed to the integer kernels as u8 P = x * n (exact).
    case doReFaIntegers
}

/// A recipe's result for one graph (Any-Precision makes one per run-time bit width).
struct RecipeGraph: Sendable {
    /// The run-time bit width this graph runs at; nil for a file with one graph.
    var bits: Int?
    /// The float graph with the recipe's activation rewrites and effective weights.
    var model: FloatModel
    /// Node name -> exact codes of the layers the method quantized.
    var codes: [String: MethodLayer] = [:]
    /// Fold BatchNorm into the preceding convs (false keeps it as its own step, as PyTorch runs it).
    var foldsBatchNorm = true
    var activations: ActivationTyping = .float
    /// Post-training quantization of the float layers left after exact codes (the plain recipe).
    var quantizeRest: PlainOptions?
    /// Look for layers whose weights are already on a value grid among those the recipe left float
    /// (Passes/KeepValueGrids.swift); off for a float (--bits 32) file.
    var findsValueGrids = true
    /// How the activations run, in words, when the recipe says it better than the converter's default text.
    var activationNote: String?
    /// What the recipe did, for the report (e.g. "259 weights underflowed to 0").
    var notes: [String] = []
}

/// One training method's recipe (or plain post-training quantization).
protocol Recipe: Sendable {
    /// `--recipe` name.
    var name: String { get }
    /// Why this checkpoint was saved by the method, or nil if its tensors do not say so.
    func detect(_ checkpoint: Checkpoint) -> String?
    /// The state dict a plain PyTorch module would hold: each layer's `<layer>.weight` as the method's
    /// module computes it from the parameters it stores instead (DeepShift's shift/sign, S3's sign/val/shift),
    /// the method-only tensors removed. The graph source binds this. Default: the checkpoint unchanged.
    func sourceCheckpoint(_ checkpoint: Checkpoint, options: ConversionOptions) throws -> Checkpoint
    /// The preprocessing the method trains `arch` with, given the architecture family's default.
    func preprocessing(arch: String, familyDefault: Preprocessing) -> Preprocessing
    /// The pass: the float graph built from `sourceCheckpoint` (nodes named after the layers' parameter
    /// prefixes) and the checkpoint's raw tensors -> one or more graphs with codes and activation rewrites.
    func apply(_ model: FloatModel, checkpoint: Checkpoint, options: ConversionOptions) throws -> [RecipeGraph]
    /// The file's one-line precision summary, from its main graph (`widths`: the run-time widths, if any).
    func precision(_ main: LoweredGraph, widths: [Int], options: ConversionOptions) -> String
    /// What the file records about the recipe (beside the source, its hash and the converter).
    func provenance(evidence: String, widths: [Int], notes: [String], options: ConversionOptions) -> [String: String]
}

extension Recipe {
    func sourceCheckpoint(_ checkpoint: Checkpoint, options: ConversionOptions) throws -> Checkpoint { checkpoint }
    func preprocessing(arch: String, familyDefault: Preprocessing) -> Preprocessing { familyDefault }

    /// A method's summary: how many layers are coded, in which formats, and the activations.
    func precision(_ main: LoweredGraph, widths: [Int], options: ConversionOptions) -> String {
        let quantized = main.layers.filter { $0.bits != 32 }
        return "\(name): \(quantized.count) of \(main.layers.count) layers coded ("
            + Set(quantized.map(\.format)).sorted().joined(separator: ", ") + "), a: " + main.activations
    }

    /// A method's provenance: its name, why it was chosen, the activations and its notes.
    func provenance(evidence: String, widths: [Int], notes: [String], options: ConversionOptions) -> [String: String] {
        ["recipe": name, "recipe_evidence": evidence, "activations": options.method.activations.rawValue,
         "notes": notes.joined(separator: "; ")]
    }
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

/// The known recipes.
public enum Recipes {
    /// Method recipes in detection order; a checkpoint none of them claims is converted by `plain`.
    static let methods: [Recipe] = [DGMSRecipe(), S3Recipe(), DeepShiftRecipe(), EqualBitsRecipe(), AnyPrecisionRecipe(),
                                    BinaryConnectRecipe()]

    /// Every `--recipe` name (plain first).
    public static var names: [String] { ["plain"] + methods.map(\.name) }

    /// The recipe `name` asks for, or the one whose tensors match (else plain), with the reason.
    static func resolve(_ name: String?, _ checkpoint: Checkpoint) throws -> (Recipe, String) {
        if let name, name != "auto" {
            if name == "plain" { return (PlainRecipe(), "forced by --recipe plain") }
            guard let recipe = methods.first(where: { $0.name == name }) else {
                throw ConvertError("unknown recipe '\(name)'; known: \(names.joined(separator: ", "))")
            }
            return (recipe, "forced by --recipe \(name)")
        }
        for recipe in methods {
            if let why = recipe.detect(checkpoint) { return (recipe, why) }
        }
        return (PlainRecipe(), "no method-specific keys (sub_distribution, weight_shift, shift/sign, ...): plain post-training quantization")
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
    /// A method's parameters are named by its module's own suffixes; this never decides structure.
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
