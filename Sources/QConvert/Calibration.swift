// Calibration: runs the float network on sample images and records what quantization needs.
import Foundation
import QGraph
import QRuntime

/// Per-value activation ranges and, per weight layer, sampled input patches (im2col rows) for choosing
/// clipping by layer-output error.
struct CalibrationData {
    var imageCount = 0
    var ranges: [String: (min: Float, max: Float)] = [:]
    /// Layer name -> sampled input rows of length K (conv patches in (ky, kx, c) order, or linear inputs).
    var patches: [String: [[Float]]] = [:]
    /// Layer name -> its statistics in the float network (`statisticsLayers`): the mean input row over every
    /// position of every image and the moments of each output channel over sampled rows.
    var inputStatistics: [String: LayerInputStatistics] = [:]
}

/// Images for calibration: a folder (searched recursively for `Dataset.imageExtensions`: PPM/PGM/PNM, JPEG,
/// PNG) or a labels.csv (path,label).
/// `count` images are taken evenly across the sorted set (not the first N: class-sorted folders).
func calibrationImages(_ source: URL, count: Int) throws -> [URL] {
    var all: [URL] = []
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory) else {
        throw ConvertError("calibration source \(source.path) does not exist")
    }
    if isDirectory.boolValue {
        guard let walker = FileManager.default.enumerator(at: source, includingPropertiesForKeys: nil) else {
            throw ConvertError("cannot list \(source.path)")
        }
        for case let url as URL in walker where Dataset.imageExtensions.contains(url.pathExtension.lowercased()) {
            all.append(url)
        }
        all.sort { $0.path < $1.path }
    } else {
        let text = try String(contentsOf: source, encoding: .utf8)
        let base = source.deletingLastPathComponent()
        for line in text.split(whereSeparator: \.isNewline) {
            let path = line.split(separator: ",").first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
            guard !path.isEmpty, path != "path" else { continue }
            all.append(path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path))
        }
    }
    guard !all.isEmpty else { throw ConvertError("no calibration images found in \(source.path)") }
    let n = min(count, all.count)
    return (0..<n).map { all[$0 * all.count / n] }
}

/// Runs `graph` (float32, fused) on the images and records value ranges, input patches of the weight
/// layers in `sampledLayers` (up to `patchesPerLayer` rows each, from the first images) and the statistics
/// of those in `statisticsLayers` (every image, sampled rows as for GPTQ's H).
func calibrate(graph: Graph, tensors: TensorStore, preprocessing: Preprocessing, images: [URL],
               sampledLayers: Set<String>, statisticsLayers: Set<String> = [], patchesPerLayer: Int = 512,
               progress: (Int, Int) -> Void) throws -> CalibrationData {
    let model = try inMemoryModel(graph: graph, tensors: tensors, preprocessing: preprocessing)
    let session = Session(model: model)

    // Which layers read which value, with their geometry for patch sampling.
    var readers: [String: [Node]] = [:]
    for node in graph.nodes where sampledLayers.contains(node.name) { readers[node.inputs[0], default: []].append(node) }
    let shapes = Dictionary(uniqueKeysWithValues: graph.values.map { ($0.name, $0.shape) })
    var statistics: [String: [(String, LayerInputAccumulator)]] = [:]
    for node in graph.nodes where statisticsLayers.contains(node.name) {
        guard let weights = node.op.weightDescriptor?.values.flatMap({ tensors[$0]?.floats }) else { continue }
        let shape = shapes[node.inputs[0]]!
        let k = LayerInputAccumulator.reductionSize(node.op, inputShape: shape)
        let accumulator = LayerInputAccumulator(op: node.op, inputShape: shape,
                                                rowsPerImage: hessianRowsPerImage(k: k, images: images.count),
                                                seed: statisticsSeed(layer: node.name), weights: weights)
        statistics[node.inputs[0], default: []].append((node.name, accumulator))
    }
    let sampledImages = min(images.count, 16)
    let perImage = max(1, patchesPerLayer / max(1, sampledImages))

    var data = CalibrationData()
    var rng = SplitMix(seed: 0x10b17)
    for (index, url) in images.enumerated() {
        let image = try ImageReader.read(contentsOf: url)
        let input = try Preprocessor.apply(preprocessing, to: image)
        let record = { (name: String, values: UnsafeBufferPointer<Float>) in

            var lo = Float.infinity, hi = -Float.infinity
            for v in values { lo = min(lo, v); hi = max(hi, v) }
            let old = data.ranges[name] ?? (Float.infinity, -Float.infinity)
            data.ranges[name] = (min(old.min, lo), max(old.max, hi))
            for (_, accumulator) in statistics[name] ?? [] { accumulator.add(values) }
            guard index < sampledImages, let layers = readers[name], let shape = shapes[name] else { return }
            for node in layers {
                for _ in 0..<perImage {
                    data.patches[node.name, default: []].append(samplePatch(node.op, values, shape, &rng))
                }
            }
        }
        input.withUnsafeBufferPointer { record(graph.input, $0) }
        try session.run(input: input) { name, values in record(name, values) }
        data.imageCount += 1
        progress(index + 1, images.count)
    }
    for (layer, accumulator) in statistics.values.joined() { data.inputStatistics[layer] = accumulator.finish() }
    return data
}

/// One im2col row of a conv at a random output position (zero padding), or the whole input of a linear.
private func samplePatch(_ op: Op, _ x: UnsafeBufferPointer<Float>, _ shape: [Int], _ rng: inout SplitMix) -> [Float] {
    guard case .conv2d(let c) = op else { return Array(x) }
    let (h, w, cin) = (shape[0], shape[1], shape[2])
    let oh = (h + c.padding[0] + c.padding[2] - c.dilation[0] * (c.kernel[0] - 1) - 1) / c.stride[0] + 1
    let ow = (w + c.padding[1] + c.padding[3] - c.dilation[1] * (c.kernel[1] - 1) - 1) / c.stride[1] + 1
    let oy = Int(rng.next() % UInt64(oh)), ox = Int(rng.next() % UInt64(ow))
    let cg = cin / c.groups
    let g = Int(rng.next() % UInt64(c.groups))
    var row = [Float](repeating: 0, count: c.reductionSize)
    for ky in 0..<c.kernel[0] {
        let y = oy * c.stride[0] - c.padding[0] + ky * c.dilation[0]
        guard y >= 0, y < h else { continue }
        for kx in 0..<c.kernel[1] {
            let xx = ox * c.stride[1] - c.padding[1] + kx * c.dilation[1]
            guard xx >= 0, xx < w else { continue }
            for ch in 0..<cg { row[(ky * c.kernel[1] + kx) * cg + ch] = x[(y * w + xx) * cin + g * cg + ch] }
        }
    }
    return row
}


/// A runnable Model of an in-memory graph and tensors, validated as a model file is when read (no .lbm
/// bytes are made).
func inMemoryModel(graph: Graph, tensors: TensorStore, preprocessing: Preprocessing) throws -> Model {
    let info = ModelInfo(name: "in-memory", arch: "", recipe: "", precision: "", labels: [], preprocessing: preprocessing)
    return try Model(graph: graph, tensors: tensors, info: info)
}
