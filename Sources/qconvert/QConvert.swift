// qconvert: PyTorch/safetensors checkpoints -> LowBit .lbm model files. `--inspect` lists a checkpoint.
// The logic lives in QCheckpoint and QConvert where tests reach it; this file parses flags and prints.
import ArgumentParser
import Foundation
import QCheckpoint
import QConvert
import QGraph

@main
struct QConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qconvert",
        abstract: "Convert a PyTorch checkpoint (.ckpt/.pt/.pth/.th/.pth.tar, zip or legacy), .safetensors or an ONNX model to LowBit's .lbm.",
        discussion: """
            Checkpoints are read with a restricted unpickler that never executes code from the file. The
            architecture is recognised from key names and shapes (--arch overrides); BatchNorm is folded into the
            convs, ReLU and residual adds are fused, and weights are quantized per output channel (plain recipe).
            Activations are u8: static scales from --calibrate images; without them, static scales from the
            BatchNorm statistics where those describe a value and run-time ranges elsewhere (--activation-ranges
            dynamic: every range at run time).
            An ONNX model's graph is translated op by op (docs/ONNX.md); it carries no preprocessing, so ImageNet
            mean/std at the graph's input size apply unless --mean, --std, --input-size or --resize say otherwise.

            Examples:
              qconvert resnet20.th --bits 4 --calibrate cifar10-test/labels.csv -o resnet20-w4.lbm   # GPTQ
              qconvert resnet20.th --bits 3 --calibrate cifar10-test/labels.csv --ptq round
              qconvert resnet20.th --bits 2 --scheme codebook
              qconvert model.pt --bits 32                # float model file
              qconvert model.pt --inspect                # list tensors, metadata, skipped classes
              qconvert resnet18.onnx --bits 4            # ONNX (opsets 13-21, the CNN ops in docs/ONNX.md)
              qconvert resnet18_int8_qdq.onnx            # quantized ONNX (QDQ): the file's codes and scales kept
            """)

    @Argument(help: "The checkpoint file, or an ONNX model (.onnx).")
    var checkpoint: String

    @Flag(help: "List the format, wrapper, tensors, metadata and stubbed classes, then exit (checkpoints only).")
    var inspect = false

    @Flag(help: "Report the time taken to read the checkpoint (with --inspect) or to convert.")
    var time = false

    @Option(name: .shortAndLong, help: "Output .lbm file (default: next to the input, extension .lbm).")
    var output: String?

    @Option(help: "Weight bits of the body layers: 2, 3, 4, 8 or 32 (float).")
    var bits: Int = 4

    @Option(help: "Weight scheme: uniform (per-channel symmetric), codebook (per-layer k-means, one level 0) or shift (per-channel powers of two: 0, +-1 ... +-64 steps at 4 bits; 2-4 bits).")
    var scheme: String = "uniform"

    @Option(help: "Bits of the first conv and the last linear: 8 or 32.")
    var firstLastBits: Int = 8

    @Option(help: "Per-channel clipping: max (default), mse, or auto (per layer, lower output error on calibration patches). With --ptq round only.")
    var clip: String?

    @Option(help: "Weight rounding: gptq (Hessian-aware, layer by layer through the partially quantized network; needs --calibrate) or round (to nearest). Default: gptq with --calibrate and --bits <= 4, else round.")
    var ptq: String?

    @Option(help: "With --calibrate: a layer whose weight rounding alone moves the network's output (measured on up to 32 calibration images) more than this factor x the median layer's stays float (f32 weights, f32 input; the table's note says so); 0 (the default): none. 100 catches layers that stand out by two orders of magnitude.")
    var floatFallback: Double = 0

    @Option(help: "Architecture family to force (auto, \(Architectures.names.joined(separator: ", "))); depth and width are still read from the checkpoint. Older member names (resnet18, resnet20, ...) are accepted.")
    var arch: String = "auto"

    @Option(help: "Conversion recipe: auto (detect the training method from the checkpoint), plain (post-training quantization), dgms, s3, deepshift, equal-bits, binaryconnect or any-precision (one file, bit width chosen at run time: qinfer --bits).")
    var recipe: String = "auto"

    @Option(help: "Method recipes: activations f32 (the method's float inference, exact weights) or u8 (integer kernels). Default: u8 for Any-Precision (exact DoReFa integers), DGMS, S3, DeepShift and BinaryConnect; f32 for Equal Bits (binary kernels) and plain.")
    var activations: String?

    @Option(help: "DeepShift: weight bits of the shift codes (the checkpoint does not store them).")
    var shiftBits: Int = 5

    @Option(help: "DeepShift: round_to_fixed of shift-layer inputs and biases as I,F (integer, fraction bits), or none.")
    var fixedPoint: String = "16,16"

    @Option(help: "DeepShift: mode ps (shift/sign tensors) or q (plain weights); default: from the keys.")
    var deepshiftMode: String?

    @Flag(help: "BinaryConnect: scale each output channel's sign(w) by its mean |w|.")
    var binaryChannelScale = false

    @Option(help: "Equal Bits: prune rate k in [0, 1) (0: binary; e.g. 0.5: ternary); default: from a model<k>.th file name, else 0.")
    var pruneRate: Double?

    @Option(help: "Calibration images: a folder of images (PPM/PGM, JPEG, PNG; searched recursively) or a labels.csv (path,label).")
    var calibrate: String?

    @Option(help: "How many calibration images, taken evenly across the set.")
    var calibrationCount: Int = 256

    @Option(help: "Without --calibrate (plain recipe): u8 activation ranges data-free (static, from the BatchNorm statistics; the input's from the preprocessing; values without a BatchNorm before them at run time): as fast as calibrated, about as accurate as calibrated ranges (docs/PTQ.md); or dynamic (every range measured at run time: 10-13 % slower). Default: data-free.")
    var activationRanges: String?

    @Option(help: "Data-free ranges: a channel's mean +- this many standard deviations.")
    var rangeSigmas: Double = ConversionOptions().rangeSigmas

    @Flag(inversion: .prefixedNo, help: "Without --calibrate: correct each rounded layer's bias by its mean error on the input means the BatchNorm statistics give (data-free bias correction).")
    var dataFreeBiasCorrection = true

    @Option(help: "Network input size: N or H,W.")
    var inputSize: String?

    @Option(help: "Per-channel mean after pixel/255, comma-separated.")
    var mean: String?

    @Option(help: "Per-channel std after pixel/255, comma-separated.")
    var std: String?

    @Option(help: "Resize the shorter side to N before the center crop (0: resize straight to the input size).")
    var resize: Int?

    @Flag(inversion: .prefixedNo, help: "Resize like PIL's bilinear filter, antialiased when downscaling (torchvision's Resize on PIL images), or plain bilinear without antialias (F.interpolate). Default: antialiased for the ImageNet families, plain for ONNX graphs and the others.")
    var antialias: Bool?

    @Option(help: "Labels file, one class name per line.")
    var labels: String?

    @Flag(help: "Print the summary as JSON instead of a table.")
    var json = false

    @Flag(help: "Also print the converted graph (the stable text dump).")
    var dump = false

    func validate() throws {
        guard [2, 3, 4, 8, 32].contains(bits) else { throw ValidationError("--bits must be 2, 3, 4, 8 or 32") }
        guard WeightScheme(rawValue: scheme) != nil, scheme != "float32" else {
            throw ValidationError("--scheme must be uniform, codebook or shift")
        }
        if scheme == "shift" && !(2...4).contains(bits) {
            throw ValidationError("--scheme shift needs --bits 2, 3 or 4")
        }
        guard [8, 32].contains(firstLastBits) else { throw ValidationError("--first-last-bits must be 8 or 32") }
        if let clip, ClipMode(rawValue: clip) == nil { throw ValidationError("--clip must be max, mse or auto") }
        if let ptq, PTQMethod(rawValue: ptq) == nil { throw ValidationError("--ptq must be gptq or round") }
        if ptq == "gptq" && calibrate == nil { throw ValidationError("--ptq gptq needs calibration images: --calibrate DIR|labels.csv") }
        if clip != nil && (ptq ?? (calibrate != nil && bits <= 4 ? "gptq" : "round")) == "gptq" {
            throw ValidationError("--clip applies to --ptq round; GPTQ chooses each channel's clip by the calibration output error")
        }
        guard (["auto"] + Recipes.names).contains(recipe) else {
            throw ValidationError("--recipe must be auto, " + Recipes.names.joined(separator: ", "))
        }
        guard activations.map({ ActivationMode(rawValue: $0) != nil }) ?? true else { throw ValidationError("--activations must be f32 or u8") }
        guard (2...8).contains(shiftBits) else { throw ValidationError("--shift-bits must be 2...8") }
        _ = try parsedFixedPoint()
        if let deepshiftMode, !["ps", "q"].contains(deepshiftMode) { throw ValidationError("--deepshift-mode must be ps or q") }
        if let pruneRate, !(0..<1).contains(pruneRate) { throw ValidationError("--prune-rate must be in [0, 1)") }
        if let activationRanges {
            guard UncalibratedRanges(rawValue: activationRanges) != nil else {
                throw ValidationError("--activation-ranges must be data-free or dynamic")
            }
            if calibrate != nil { throw ValidationError("--activation-ranges applies without --calibrate (calibration measures the ranges)") }
        }
        guard rangeSigmas.isFinite, rangeSigmas > 0 else { throw ValidationError("--range-sigmas must be a positive number") }
        guard floatFallback >= 0, floatFallback.isFinite else { throw ValidationError("--float-fallback must be a factor >= 0 (0: off)") }
        guard calibrationCount >= 1 else { throw ValidationError("--calibration-count must be at least 1") }
        _ = try parsedInputSize()
        _ = try floats(mean, "--mean")
        _ = try floats(std, "--std")
    }

    func run() throws {
        do {
            if inspect { try runInspect() } else { try runConvert() }
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("qconvert: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func runInspect() throws {
        if URL(fileURLWithPath: checkpoint).pathExtension.lowercased() == "onnx" {
            throw ValidationError("--inspect lists checkpoints; an ONNX model's layers are listed when it is converted")
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let loaded = try Checkpoint.load(contentsOf: URL(fileURLWithPath: checkpoint))
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        print(loaded.inspectionReport())
        if time { print(String(format: "read time: %.2f ms", elapsed)) }
    }

    private func runConvert() throws {
        let input = URL(fileURLWithPath: checkpoint)
        var options = ConversionOptions()
        options.plain.bits = bits
        options.plain.scheme = WeightScheme(rawValue: scheme)!
        options.plain.firstLastBits = bits == 32 ? 32 : firstLastBits
        options.plain.clip = clip.flatMap(ClipMode.init(rawValue:))
        options.plain.ptq = ptq.flatMap(PTQMethod.init(rawValue:))
        options.plain.floatFallback = floatFallback
        options.arch = arch
        options.recipe = recipe
        options.method.activations = activations.flatMap(ActivationMode.init(rawValue:))
        options.method.weightBits = shiftBits
        options.method.fixedPoint = try parsedFixedPoint()
        options.method.deepShiftMode = deepshiftMode
        options.method.pruneRate = pruneRate
        options.method.binaryChannelScale = binaryChannelScale
        options.calibration = calibrate.map { URL(fileURLWithPath: $0) }
        options.calibrationCount = calibrationCount
        if let ranges = activationRanges.flatMap(UncalibratedRanges.init(rawValue:)) { options.uncalibratedRanges = ranges }
        options.rangeSigmas = rangeSigmas
        options.dataFreeBiasCorrection = dataFreeBiasCorrection
        options.inputSize = try parsedInputSize()
        options.mean = try floats(mean, "--mean")
        options.std = try floats(std, "--std")
        options.resize = resize
        options.antialias = antialias
        options.labels = labels.map { URL(fileURLWithPath: $0) }
        let destination = output.map { URL(fileURLWithPath: $0) } ?? Self.defaultOutput(for: input)
        let bar = ProgressBar(enabled: !json && isatty(STDERR_FILENO) != 0)
        let report = try Converter.convert(checkpoint: input, to: destination, options: options) { stage, fraction in
            bar.update(stage, fraction)
        }
        bar.finish()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            // an exact layer's SQNR is infinite, which JSON numbers cannot hold
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity",
                                                                          negativeInfinity: "-Infinity", nan: "NaN")
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(SummaryTable.render(report))
            if time { print(String(format: "conversion time: %.3f s", report.seconds)) }
        }
        if dump { print(try ModelArchive.read(contentsOf: destination).graph.textDump(), terminator: "") }
    }

    /// `model.th` -> `model.lbm`; `model.pth.tar` -> `model.lbm`.
    static func defaultOutput(for input: URL) -> URL {
        var base = input.deletingPathExtension()
        if base.pathExtension == "pth" { base = base.deletingPathExtension() }
        return base.appendingPathExtension("lbm")
    }

    private func parsedFixedPoint() throws -> (Int, Int)? {
        if fixedPoint == "none" { return nil }
        let parts = fixedPoint.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let i = parts[0], let f = parts[1], (1...32).contains(i), (0...32).contains(f) else {
            throw ValidationError("--fixed-point must be I,F (I in 1...32, F in 0...32) or none")
        }
        return (i, f)
    }

    private func parsedInputSize() throws -> [Int]? {
        guard let inputSize else { return nil }
        let parts = inputSize.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, parts.count <= 2, parts.allSatisfy({ $0 != nil && $0! > 0 }) else {
            throw ValidationError("--input-size must be N or H,W with positive integers")
        }
        return parts.count == 1 ? [parts[0]!, parts[0]!] : parts.map { $0! }
    }

    private func floats(_ text: String?, _ flag: String) throws -> [Float]? {
        guard let text else { return nil }
        let values = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0?.isFinite == true }) else {
            throw ValidationError("\(flag) must be comma-separated numbers")
        }
        return values.map { $0! }
    }
}

/// A one-line progress bar on standard error, drawn only on a terminal.
final class ProgressBar {
    private let enabled: Bool
    private var last = ""

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ stage: String, _ fraction: Double) {
        guard enabled else { return }
        let width = 30
        let filled = Int((fraction * Double(width)).rounded())
        let line = "\r[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
            + "] " + String(format: "%3d%% ", Int(fraction * 100)) + stage.padding(toLength: 20, withPad: " ", startingAt: 0)
        guard line != last else { return }
        last = line
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        guard enabled, !last.isEmpty else { return }
        FileHandle.standardError.write(Data(("\r" + String(repeating: " ", count: last.count) + "\r").utf8))
    }
}
