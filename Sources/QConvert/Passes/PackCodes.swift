// Pass: the exact codes of each coded layer packed, with BatchNorm folded into the per-channel scale.
import QGraph

/// Replaces the f32 weights of every layer in `layers` by its codes: levels become a table in units of
/// u (the layer's own `unit` when it has one; else u = max|level| / 64 when every level is 0 or +-2^e, so
/// the table is shift-coded, else levelTableUnit: the step in max|level| / 127...96 that rounds the
/// levels its weights take with the least error), the int8 table is the rounding of levels / u, and the exact levels / u are kept so f32
/// activations use the exact weights: w = scale[oc] * levels[code] / u with scale[oc] = u * s[oc], s the
/// folded BatchNorm factor. Layers with more than 16 levels keep exact f32 weights.
func applyMethodLayers(_ model: inout FloatModel, layers: [String: MethodLayer],
                       foldFactors: [String: [Float]]) throws -> [LayerReport] {
    var reports: [LayerReport] = []
    for i in model.graph.nodes.indices {
        let node = model.graph.nodes[i]
        var descriptor: WeightDescriptor, groups = 1, kernel = [1, 1]
        switch node.op {
        case .conv2d(let c): descriptor = c.weight; groups = c.groups; kernel = c.kernel
        case .linear(let l): descriptor = l.weight
        default: continue
        }
        guard let wName = descriptor.values, let w = model.tensors[wName] else { continue }
        let (rows, k) = (w.shape[0], w.shape[1])
        var report = LayerReport(name: node.name, op: node.op.kind, shape: w.shape, format: "f32", bits: 32,
                                 bytes: w.bytes.count, floatBytes: w.bytes.count, sqnrDB: nil, clip: nil)
        if let bias = node.op.biasName, let b = model.tensors[bias] { report.bytes += b.bytes.count; report.floatBytes += b.bytes.count }
        guard let layer = layers[node.name] else { reports.append(report); continue }
        guard layer.codes.count == rows * k else {
            throw ConvertError("layer \(node.name): \(layer.codes.count) codes for a \(rows)x\(k) weight")
        }
        // 256 levels with a unit (levels[code] / unit within half a step of code - 128): 8-bit codes,
        // stored as the byte code ^ 0x80, which is the int8 value the 8-bit kernels read
        let eightBit = layer.levels.count == 256 && layer.unit != nil
        guard layer.levels.count <= 16 || eightBit else {
            report.format = "f32 (\(layer.levels.count) levels)"
            reports.append(report)
            continue
        }
        let bits = layer.levels.count <= 2 ? 1 : layer.levels.count <= 4 ? 2 : layer.levels.count <= 8 ? 3 : eightBit ? 8 : 4
        var levels = layer.levels + [Float](repeating: 0, count: (1 << bits) - layer.levels.count), codes = layer.codes
        if eightBit { levels = (0..<256).map { layer.levels[$0 ^ 0x80] }; codes = codes.map { $0 ^ 0x80 } }
        let top = levels.reduce(Float(0)) { max($0, abs($1)) }
        let powersOfTwo = levels.allSatisfy { $0 == 0 || ($0.significandBitPattern == 0 && $0.isNormal) }
        var counts = [Int](repeating: 0, count: levels.count)
        for c in codes { counts[Int(c)] += 1 }
        let unit: Float = layer.unit ?? (top == 0 ? 1 : powersOfTwo ? top / 64 : levelTableUnit(levels: levels, counts: counts))
        let exact = levels.map { $0 / unit }
        let lut = eightBit ? (0..<256).map { Int(Int8(bitPattern: UInt8($0))) }
            : exact.map { Int(min(max($0.rounded(.toNearestOrEven), -128), 127)) }
        // codes in GEMM order: (ky, kx, c) per row, as GraphBuilder lays out the weights
        let cg = k / (kernel[0] * kernel[1])
        var gemmCodes = [UInt8](repeating: 0, count: rows * k)
        for o in 0..<rows {
            for c in 0..<cg {
                for ky in 0..<kernel[0] {
                    for kx in 0..<kernel[1] {
                        gemmCodes[o * k + (ky * kernel[1] + kx) * cg + c] =
                            codes[((o * cg + c) * kernel[0] + ky) * kernel[1] + kx]
                    }
                }
            }
        }
        let fold = foldFactors[node.name] ?? [Float](repeating: 1, count: rows)
        let scales = (0..<rows).map { fold[$0] * unit * (layer.channelScales?[$0] ?? 1) }
        let packed = packCodes(gemmCodes, rows: rows, k: k, bits: bits, groups: groups)
        let packedRows = WeightDescriptor.packedRows(rows: rows, groups: groups)
        model.tensors.remove(wName)
        model.tensors.set("\(node.name).codes", StoredTensor(dtype: .u8, shape: [packedRows, packed.count / packedRows], bytes: packed))
        model.tensors.set("\(node.name).scale", StoredTensor(floats: scales, shape: [rows]))
        let scheme: WeightScheme = !eightBit && powersOfTwo && WeightDescriptor.isShiftTable(lut) ? .shift : .codebook
        descriptor = WeightDescriptor(scheme: scheme, bits: bits, codes: "\(node.name).codes", lut: eightBit ? nil : lut,
                                      scale: "\(node.name).scale", levels: exact)
        switch node.op {
        case .conv2d(var c): c.weight = descriptor; model.graph.nodes[i].op = .conv2d(c)
        case .linear(var l): l.weight = descriptor; model.graph.nodes[i].op = .linear(l)
        default: break
        }
        // the int8 table against the exact weights: what the u8 kernels lose (infinite when exact)
        let folded = w.floats
        var approx = [Float](repeating: 0, count: rows * k)
        for o in 0..<rows { for j in 0..<k { approx[o * k + j] = scales[o] * Float(lut[Int(gemmCodes[o * k + j])]) } }
        report.format = descriptor.label
        report.bits = bits
        report.bytes = report.bytes - w.bytes.count + packed.count + rows * 4 + (eightBit ? 0 : lut.count)
        report.sqnrDB = sqnr(folded, approx)
        reports.append(report)
    }
    return reports
}
