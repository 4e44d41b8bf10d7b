// A planned conv or linear layer: its arena offsets and the one kernel path it runs, with exactly what
// that path needs. Chosen once by the planner (LayerStep.swift); the executor switches on it.
import QGraph
import QKernels

/// A conv or linear layer, ready to run. Trivially copyable and a few words long: the weight-side
/// arguments of its path live in plan-owned memory (the executor copies steps in its loop).
struct ConvStep {
    /// Arena offsets of the input (a packed sign image for `.binaryPacked`) and the output.
    var input: Int, output: Int
    /// Arena offset of the value added before the activation (nil: none).
    var residual: Int?
    var kernel: ConvKernel
    /// The dynamic quantization slot whose range the conv measures in its f32 output (nil: none).
    var outputRange: Int? = nil
}

/// The one kernel path of a conv. Each payload is a plan-owned (`OwnedMemory`) template of the C
/// arguments with every weight-side field filled; the executor adds the arena pointers. `workspace` is
/// the arena offset of the path's scratch (im2col rows, or the sign image a binary conv packs).
enum ConvKernel {
    /// f32 input x f32 weights (stored, or weights-only quantized ones decoded exactly) on an fgemm
    /// member through qk_conv2d_f32, or on a pfgemm member (weights packed once) through qk_conv2d_pf32.
    case floatGemm(UnsafePointer<FloatGemmConv>, workspace: Int)
    /// f32 depthwise 3x3 / 5x5 run directly on an fdwconv member.
    case floatDepthwise(UnsafePointer<FloatDepthwiseConv>)
    /// u8 input x packed k-bit weights on a qgemm member through qk_conv2d_u8: table lookup (lgemm,
    /// 1-4 bits), int8 (8 bits) or shift-add (sgemm, shift-coded tables), as the member says.
    case quantizedGemm(UnsafePointer<QuantizedGemmConv>, workspace: Int)
    /// u8 depthwise 3x3 / 5x5 run directly on a dwconv member.
    case quantizedDepthwise(UnsafePointer<QuantizedDepthwiseConv>)
    /// sign(x) as f32 x binary/ternary weights: the conv packs its input (qk_bconv2d_f32).
    case binary(UnsafePointer<BinaryConv>, workspace: Int)
    /// The same from the packed sign image a packSigns step wrote (qk_bconv2d_packed).
    case binaryPacked(UnsafePointer<BinaryConv>)
    /// u8 activation codes (1-2 bits) x 1-2-bit weight codes on a bsgemm member: the conv packs its input
    /// into bit planes in the workspace (qk_bsconv2d_u8).
    case bitSerial(UnsafePointer<BitSerialConv>, workspace: Int)

    /// The member's name, for profiles.
    var memberName: String {
        switch self {
        case .floatGemm(let c, _): c.pointee.member.name
        case .floatDepthwise(let c): String(cString: c.pointee.member.pointee.name)
        case .quantizedGemm(let c, _): String(cString: c.pointee.member.pointee.name)
        case .quantizedDepthwise(let c): String(cString: c.pointee.member.pointee.name)
        case .binary(let c, _), .binaryPacked(let c): String(cString: c.pointee.member.pointee.name)
        case .bitSerial(let c, _): String(cString: c.pointee.member.pointee.name)
        }
    }

    /// Whether the path's driver measures its f32 output's range (qk_epilogue.out_range).
    var measuresOutputRange: Bool {
        switch self {
        case .floatGemm, .quantizedGemm, .quantizedDepthwise: true
        case .floatDepthwise, .binary, .binaryPacked, .bitSerial: false
        }
    }

    /// Whether the layer runs on integer or binary kernels (the layers `Model.layerKernels` lists).
    var isQuantized: Bool {
        switch self {
        case .floatGemm, .floatDepthwise: false
        case .quantizedGemm, .quantizedDepthwise, .binary, .binaryPacked, .bitSerial: true
        }
    }

    /// The u8 operands, for the paths on u8 activations.
    var u8Operands: U8Operands? {
        switch self {
        case .quantizedGemm(let c, _): c.pointee.operands
        case .quantizedDepthwise(let c): c.pointee.operands
        case .bitSerial(let c, _): c.pointee.operands
        case .floatGemm, .floatDepthwise, .binary, .binaryPacked: nil
        }
    }
}

/// What an f32 GEMM conv needs: geometry, the fgemm arguments (weights `b`, as the member reads them;
/// epilogue) and the member.
struct FloatGemmConv {
    var geometry: qk_conv_geom
    var args: qk_fgemm_args
    var member: FloatGemmMember
}

/// The f32 GEMM member of a conv: lanes along K on [N][K] weights (fgemm: every architecture, and the
/// linear layers' M = 1), or lanes along N on packed panels (pfgemm: SIMD members, convs).
enum FloatGemmMember {
    case rows(UnsafePointer<qk_fgemm_ukernel_desc>)
    case panels(UnsafePointer<qk_pfgemm_ukernel_desc>)

    var name: String {
        switch self {
        case .rows(let d): String(cString: d.pointee.name)
        case .panels(let d): String(cString: d.pointee.name)
        }
    }
}

/// What an f32 direct depthwise conv needs: the fdwconv arguments (geometry, repacked weights,
/// epilogue) and the member.
struct FloatDepthwiseConv {
    var args: qk_fdwconv_args
    var member: UnsafePointer<qk_fdwconv_ukernel_desc>
}

/// The quantization of a u8 layer's operands, resolved per run (a dynamic input is measured then).
struct U8Operands {
    var input: QuantRef
    /// The u8 residual's quantization (nil: no residual, or an f32 one).
    var residual: QuantRef?
    /// Per-channel weight scales when the input scale is only known at run time (the epilogue scale is
    /// then input scale * weight scale, made per run); nil when the epilogue holds the product.
    var weightScales: UnsafePointer<Float>?
}

/// What a u8 GEMM conv needs: geometry, the qgemm arguments (packed weights, table, column sums,
/// epilogue), the member and the operands' quantization.
struct QuantizedGemmConv {
    var geometry: qk_conv_geom
    var args: qk_qgemm_args
    var member: UnsafePointer<qk_qgemm_ukernel_desc>
    var operands: U8Operands
}

/// What a u8 direct depthwise conv needs: the dwconv arguments (geometry, repacked weights, weight
/// sums, epilogue), the member and the operands' quantization.
struct QuantizedDepthwiseConv {
    var args: qk_dwconv_args
    var member: UnsafePointer<qk_dwconv_ukernel_desc>
    var operands: U8Operands
}

/// What a binary conv needs: geometry, the packed layer (bit-plane weights, corrections, row tables,
/// epilogue) and the bgemm member.
struct BinaryConv {
    var geometry: qk_conv_geom
    var layer: qk_bconv_layer
    var member: UnsafePointer<qk_bgemm_ukernel_desc>
}

/// What a bit-serial conv needs: geometry, the packed layer (bit-plane weights, level map, epilogue), the
/// bsgemm member and the operands' quantization (a fixed input scale with zero point 0).
struct BitSerialConv {
    var geometry: qk_conv_geom
    var layer: qk_bsconv_layer
    var member: UnsafePointer<qk_bsgemm_ukernel_desc>
    var operands: U8Operands
}
