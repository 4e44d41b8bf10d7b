// The operators of the graph IR and their attributes.

/// A pointwise activation, standalone or fused into a conv/linear/add epilogue.
public enum Activation: Codable, Equatable, Sendable {
    case none
    case relu
    case relu6
    case hardtanh(min: Float, max: Float)

    /// The clamp interval the activation applies.
    public var clampRange: (lo: Float, hi: Float) {
        switch self {
        case .none: return (-.infinity, .infinity)
        case .relu: return (0, .infinity)
        case .relu6: return (0, 6)
        case .hardtanh(let lo, let hi): return (lo, hi)
        }
    }

    public var label: String {
        switch self {
        case .none: return "none"
        case .relu: return "relu"
        case .relu6: return "relu6"
        case .hardtanh(let lo, let hi): return "hardtanh(\(lo),\(hi))"
        }
    }
}

/// 2-D convolution (PyTorch Conv2d semantics), with an optional fused residual add and activation:
/// y = act(conv(x) + bias + residual). Linear layers are `Linear` below.
public struct Conv2D: Codable, Equatable, Sendable {
    public var inChannels: Int
    public var outChannels: Int
    public var kernel: [Int]        // [kh, kw]
    public var stride: [Int]        // [sh, sw]
    public var padding: [Int]       // [top, left, bottom, right]
    public var dilation: [Int]      // [dh, dw]
    public var groups: Int
    public var weight: WeightDescriptor
    public var bias: String?        // F32 [OC]
    public var activation: Activation
    /// When true, the node's second input is added before the activation.
    public var residual: Bool

    public init(inChannels: Int, outChannels: Int, kernel: [Int], stride: [Int] = [1, 1],
                padding: [Int] = [0, 0, 0, 0], dilation: [Int] = [1, 1], groups: Int = 1,
                weight: WeightDescriptor, bias: String? = nil, activation: Activation = .none,
                residual: Bool = false) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        self.weight = weight
        self.bias = bias
        self.activation = activation
        self.residual = residual
    }

    /// GEMM depth: kh * kw * (Cin / groups).
    public var reductionSize: Int { kernel[0] * kernel[1] * (inChannels / groups) }
}

/// Fully connected layer on a vector: y = act(W x + bias), W is [out, in].
public struct Linear: Codable, Equatable, Sendable {
    public var inFeatures: Int
    public var outFeatures: Int
    public var weight: WeightDescriptor
    public var bias: String?
    public var activation: Activation

    public init(inFeatures: Int, outFeatures: Int, weight: WeightDescriptor, bias: String? = nil,
                activation: Activation = .none) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.weight = weight
        self.bias = bias
        self.activation = activation
    }
}

/// Inference BatchNorm: y = (x - mean) / sqrt(var + eps) * gamma + beta. Folded away by the converter.
public struct BatchNorm: Codable, Equatable, Sendable {
    public var channels: Int
    public var gamma: String
    public var beta: String
    public var mean: String
    public var variance: String
    public var eps: Float

    public init(channels: Int, gamma: String, beta: String, mean: String, variance: String, eps: Float = 1e-5) {
        self.channels = channels
        self.gamma = gamma
        self.beta = beta
        self.mean = mean
        self.variance = variance
        self.eps = eps
    }
}

/// Max or average pooling window (PyTorch semantics; average counts padding, like count_include_pad).
public struct Pool: Codable, Equatable, Sendable {
    public var kernel: [Int]
    public var stride: [Int]
    public var padding: [Int]   // [top, left, bottom, right]

    public init(kernel: [Int], stride: [Int], padding: [Int] = [0, 0, 0, 0]) {
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }
}

/// Every operator of the IR.
public enum Op: Codable, Equatable, Sendable {
    case conv2d(Conv2D)
    case linear(Linear)
    case batchNorm(BatchNorm)
    case activation(Activation)
    /// PReLU with per-channel slopes (F32 [C]); a single slope is stored as [1].
    case prelu(slopes: String)
    /// Binary activation: y = sign(x) with sign(0) = 0 (torch.sign), values in {-1, 0, +1}.
    case sign
    /// DeepShift's fixed-point rounding of activations: y = clamp(floor(x / 2^-F) * 2^-F, -2^(I-1),
    /// 2^(I-1) - 1) with I integer bits and F fraction bits (round_to_fixed, float32 as PyTorch does it).
    case roundToFixed(integerBits: Int, fractionBits: Int)
    /// DoReFa activation quantization (Any-Precision's activation at k < 32 bits), float32 as PyTorch:
    /// y = round_half_even(clamp(x, 0, 1) * n) / n with n = 2^bits - 1, so y = P / n for P in 0...n.
    case doReFa(bits: Int)
    /// Elementwise sum of two inputs, then the activation.
    case add(Activation)
    case maxPool(Pool)
    case avgPool(Pool)
    /// Mean over H and W: [H, W, C] -> [C].
    case globalAvgPool
    /// [H, W, C] -> [H*W*C] in PyTorch's (C, H, W) flattening order.
    case flatten
    /// CIFAR ResNet option-A shortcut: x[:, :, ::2, ::2] zero-padded with `padChannels` on each side.
    case shortcutA(padChannels: Int)
    /// f32 -> u8 with the output value's quantization (static or dynamic).
    case quantize
    /// u8 -> f32.
    case dequantize
    /// An op defined in one place (QGraph/Ops/: shape rule, validation, dump, typing, reference math).
    case defined(DefinedOp)

    /// Ops whose u8 output keeps the input's quantization (the same codes, or a selection or average of
    /// them); Validation requires it.
    public var keepsInputCodes: Bool {
        switch self {
        case .maxPool, .avgPool, .flatten, .shortcutA: return true
        default: return false
        }
    }

    /// The op's name in dumps and profiles.
    public var kind: String {
        switch self {
        case .conv2d: return "conv2d"
        case .linear: return "linear"
        case .batchNorm: return "batchnorm"
        case .activation(let a): return a.label
        case .prelu: return "prelu"
        case .roundToFixed: return "round_to_fixed"
        case .sign: return "sign"
        case .doReFa(let bits): return "dorefa\(bits)"
        case .add: return "add"
        case .maxPool: return "maxpool"
        case .avgPool: return "avgpool"
        case .globalAvgPool: return "globalavgpool"
        case .flatten: return "flatten"
        case .shortcutA: return "shortcutA"
        case .quantize: return "quantize"
        case .dequantize: return "dequantize"
        case .defined(let op): return op.definition.kind
        }
    }
}

/// One operation: reads `inputs` (value names), writes `output`.
public struct Node: Codable, Equatable, Sendable {
    public var name: String
    public var op: Op
    public var inputs: [String]
    public var output: String

    public init(name: String, op: Op, inputs: [String], output: String) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.output = output
    }
}
