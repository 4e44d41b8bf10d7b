// The DoReFa SVHN CNN of the Any-Precision code (svhnq; models/svhn_quan.py, from tensorpack's
// svhn-digit-dorefa), after the any-precision recipe has picked one bit width's BatchNorms.
import QCheckpoint
import QGraph

/// 40x40 RGB, e = expand (2 in svhnq), `layers.<i>` indices of the nn.Sequential:
///     0 conv 5x5 (6e, bias) -> 1 maxpool 2 -> 2 act
///     -> 3 conv 3x3 p1 (8e) -> 4 bn -> 5 act -> 6 conv 3x3 p1 (8e) -> 7 bn -> 8 maxpool 2 -> 9 act
///     -> 10 conv 3x3 p0 (16e) -> 11 bn -> 12 act -> 13 conv 3x3 p1 (16e) -> 14 bn -> 15 act
///     -> 16 conv 3x3 p0 (16e) -> 17 bn -> 18 act -> 19 dropout -> 20 conv 5x5 p0 (64e) -> 21 act -> fc
/// Activations are built as ReLU (the 32-bit Activate); `layers.21` is Activate(quantize=False), named
/// `layers.21.unquantized` so that the any-precision recipe makes it clamp(0, 1) rather than DoReFa.
struct SVHNDoReFa: ArchitectureFamily {
    let name = "svhn-dorefa"
    let aliases = ["svhnq"]
    private static let convs: [(index: Int, kernel: Int, padding: Int, channels: Int)] =
        [(3, 3, 1, 8), (6, 3, 1, 8), (10, 3, 0, 16), (13, 3, 1, 16), (16, 3, 0, 16), (20, 5, 0, 64)]

    func recognize(_ checkpoint: Checkpoint) -> Recognition {
        var k = KeyChecker(checkpoint)
        let stem = checkpoint.tensor("layers.0.weight")?.shape.first ?? 12
        let e = stem / 6
        k.expect("layers.0.weight", shape: [6 * e, 3, 5, 5])
        k.expect("layers.0.bias", shape: [6 * e])
        var cin = 6 * e
        for c in Self.convs {
            k.expect("layers.\(c.index).weight", shape: [c.channels * e, cin, c.kernel, c.kernel])
            cin = c.channels * e
        }
        k.expect("fc.weight", shape: [-1, 64 * e])
        guard k.problems.isEmpty, stem % 6 == 0 else { return .mismatch(reasons: k.problems) }
        return .match(arch: "svhnq", evidence: "layers.{0,3,6,10,13,16,20} convs of the DoReFa SVHN net (expand \(e)), fc [*,\(64 * e)]")
    }

    func build(_ checkpoint: Checkpoint, arch: String) throws -> FloatModel {
        var b = GraphBuilder(checkpoint: checkpoint, inputShape: [40, 40, 3])
        let pool = Op.maxPool(Pool(kernel: [2, 2], stride: [2, 2]))
        var x = try b.conv("layers.0", "input")
        x = try b.op(pool, [x], name: "layers.1")
        x = try b.relu(x, name: "layers.2")
        for c in Self.convs {
            x = try b.conv("layers.\(c.index)", x, padding: c.padding)
            if c.index == 20 { break }
            x = try b.batchNorm("layers.\(c.index + 1)", x)
            if c.index == 6 { x = try b.op(pool, [x], name: "layers.8") }
            x = try b.relu(x, name: "layers.\(c.index == 6 ? 9 : c.index + 2)")
        }
        x = try b.relu(x, name: "layers.21.unquantized")
        x = try b.op(.flatten, [x], name: "flatten")
        try b.linear("fc", x)
        let classes = checkpoint.tensor("fc.weight")!.shape[0]
        return try b.finish(arch: arch, preprocessing: Preprocessing(inputSize: [40, 40], channels: 3, mean: [0.5, 0.5, 0.5],
                                                                     std: [0.5, 0.5, 0.5]),
                            labels: classes == 10 ? (0..<10).map(String.init) : Labels.numbered(classes))
    }
}
