// What a model file says about itself besides the graph: preprocessing, labels, provenance.

/// How an image becomes the network input (applied by the runtime, stored by the converter).
///
/// pixels/255 -> resize (shorter side to `resize`, bilinear) -> center crop to `inputSize`
/// -> (x - mean[c]) / std[c]. With `resize` nil the image is resized straight to `inputSize`.
public struct Preprocessing: Codable, Equatable, Sendable {
    public var inputSize: [Int]      // [H, W]
    public var channels: Int         // 1 (gray) or 3 (RGB)
    public var mean: [Float]
    public var std: [Float]
    public var resize: Int?
    /// true: resample like PIL's bilinear filter (antialiased when downscaling, as torchvision's Resize does on
    /// PIL images; 8-bit images byte for byte as Pillow); nil or false: plain bilinear interpolation (F.interpolate, antialias=False). Stored in
    /// the graph JSON only when set, so older files read unchanged.
    public var antialias: Bool?

    public init(inputSize: [Int], channels: Int, mean: [Float], std: [Float], resize: Int? = nil,
                antialias: Bool? = nil) {
        self.inputSize = inputSize
        self.channels = channels
        self.mean = mean
        self.std = std
        self.resize = resize
        self.antialias = antialias
    }

    /// Checks sizes and values are usable.
    public func validate() throws {
        guard inputSize.count == 2, inputSize.allSatisfy({ (1...16384).contains($0) }) else {
            throw GraphError("preprocessing input size \(inputSize) is not [H, W] within 1...16384")
        }
        guard channels == 1 || channels == 3 else { throw GraphError("preprocessing channels must be 1 or 3, not \(channels)") }
        guard mean.count == channels, std.count == channels, std.allSatisfy({ $0.isFinite && $0 > 0 }),
              mean.allSatisfy(\.isFinite) else {
            throw GraphError("preprocessing mean/std must have \(channels) finite values (std > 0)")
        }
        if let r = resize, !(1...16384).contains(r) || r < inputSize.min()! {
            throw GraphError("preprocessing resize \(r) must be >= the crop size \(inputSize)")
        }
    }
}

/// Descriptive data stored with the graph.
public struct ModelInfo: Codable, Equatable, Sendable {
    public var name: String
    public var arch: String
    public var recipe: String
    /// Human-readable precision summary, e.g. "w4 (first/last w8), a8 static".
    public var precision: String
    public var labels: [String]
    public var preprocessing: Preprocessing
    /// Source file name and its SHA-256, the converter version, options used.
    public var provenance: [String: String]
    /// The source's name of each graph output, in `Graph.outputs` order (an ONNX file's output names); nil
    /// (and absent from the JSON, as in older files) when the source names none.
    public var outputNames: [String]?

    public init(name: String, arch: String, recipe: String, precision: String, labels: [String],
                preprocessing: Preprocessing, provenance: [String: String] = [:], outputNames: [String]? = nil) {
        self.name = name
        self.arch = arch
        self.recipe = recipe
        self.precision = precision
        self.labels = labels
        self.preprocessing = preprocessing
        self.provenance = provenance
        self.outputNames = outputNames
    }
}
