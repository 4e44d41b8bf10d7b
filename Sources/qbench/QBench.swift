// qbench: latency benchmark of a LowBit model, in the conventions of TFLite's benchmark_model.
import ArgumentParser
import Foundation
import QRuntime

@main
struct QBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qbench",
        abstract: "Measure a LowBit model's inference latency.",
        discussion: """
            Loads the model (init time), runs one first inference, WARMUP warm-up runs, then RUNS timed runs on a
            fixed pseudo-random input, and prints min / median / mean / p90 / p99 / max / std in milliseconds.

            Examples:
              qbench                                  # the bundled default model
              qbench --model resnet20-w4.lbm --threads 2 --runs 200
              qbench --model resnet20-w4.lbm --json
            """)

    @Option(name: .shortAndLong, help: "The .lbm model (default: the bundled Fashion-MNIST model).")
    var model: String?

    @Option(help: "Quantized GEMM family: auto (the planner's pick), lut (table lookup + dot products) or shift (shift-add for 4-bit shift-coded layers).")
    var kernel: String = "auto"

    @Option(help: "Threads for the network.")
    var threads: Int = 1

    @Option(help: "Untimed runs after the first inference.")
    var warmup: Int = 5

    @Option(help: "Timed runs.")
    var runs: Int = 50

    @Flag(help: "Print the result as one JSON object.")
    var json = false

    @Flag(help: "Per-layer profile: op, shape, weight format, kernel and ISA, ms, %, cumulative %, GOP/s and share of the measured int8 peak.")
    var profile = false

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256") }
        guard KernelChoice(rawValue: kernel) != nil else { throw ValidationError("--kernel must be auto, lut or shift") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard (1...1_000_000).contains(runs) else { throw ValidationError("--runs must be in 1...1000000") }
    }

    func run() throws {
        do {
            try benchmark()
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("qbench: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    private func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e6 }

    private func benchmark() throws {
        let url = try model.map { URL(fileURLWithPath: $0) } ?? DefaultModel.modelURL()
        let t0 = now()
        let loaded = try Model(contentsOf: url, kernel: KernelChoice(rawValue: kernel)!)
        let session = Session(model: loaded, threads: threads)
        let initMs = now() - t0
        var rng: UInt64 = 0x5eed
        let input: [Float] = (0..<loaded.inputElementCount).map { _ in
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: rng >> 11) % 2001 - 1000) / 1000
        }
        var t = now()
        _ = session.run(input)
        let firstMs = now() - t
        for _ in 0..<warmup { _ = session.run(input) }
        var samples: [Double] = []
        samples.reserveCapacity(runs)
        for _ in 0..<runs {
            t = now()
            _ = session.run(input)
            samples.append(now() - t)
        }
        let layerProfile = profile ? session.profile(input, runs: runs) : nil
        let peak = profile ? MachinePeak.cached() : nil
        let stats = LatencyStats(samples)
        let result = BenchResult(model: url.path, arch: loaded.info.arch, precision: loaded.info.precision,
                                 kernels: Dictionary(loaded.layerKernels.map { ($0.kernel, 1) }, uniquingKeysWith: +),
                                 threads: threads, warmup: warmup, runs: runs, initMs: initMs,
                                 firstInferenceMs: firstMs, latencyMs: stats,
                                 peakGOPS: peak.map { $0.opsPerSecond / 1e9 },
                                 layers: layerProfile.map(ProfileRow.rows))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print("model: \(url.path) (\(loaded.info.arch), \(loaded.info.precision))")
            print("threads: \(threads)  warm-up runs: \(warmup)  timed runs: \(runs)")
            let counts = Dictionary(loaded.layerKernels.map { ($0.kernel, 1) }, uniquingKeysWith: +)
            print("kernels: " + counts.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", "))
            print(String(format: "init: %.3f ms  first inference: %.3f ms", initMs, firstMs))
            print(String(format: "latency ms: min %.3f  median %.3f  mean %.3f  p90 %.3f  p99 %.3f  max %.3f  std %.3f",
                         stats.min, stats.median, stats.mean, stats.p90, stats.p99, stats.max, stats.std))
            if let layerProfile, let peak { printProfile(layerProfile, peak: peak) }
        }
    }
}

/// The per-layer table of `--profile`.
private func printProfile(_ profile: LayerProfile, peak: MachinePeak) {
    let rows = ProfileRow.rows(profile)
    print(String(format: "\nper-layer profile (mean of %d runs; int8 peak %.1f GOP/s, %@, measured by the probe):",
                 profile.runs, peak.opsPerSecond / 1e9, peak.isa))
    let header = ["#", "layer", "op", "output", "weights", "kernel", "ms", "%", "cum %", "GOP/s", "% peak"]
    var table = [header]
    for (i, r) in rows.enumerated() {
        table.append([String(i), r.name, r.op, r.outputShape.map(String.init).joined(separator: "x"),
                      r.weights ?? "-", r.kernel ?? "-", String(format: "%.3f", r.ms), String(format: "%.1f", r.percent),
                      String(format: "%.1f", r.cumulativePercent), r.gops.map { String(format: "%.1f", $0) } ?? "-",
                      r.gops.map { String(format: "%.0f", $0 * 1e9 / peak.opsPerSecond * 100) } ?? "-"])
    }
    let widths = header.indices.map { c in table.map { $0[c].count }.max()! }
    for row in table {
        print(row.enumerated().map { c, cell in c >= 6 || c == 0 ? String(repeating: " ", count: widths[c] - cell.count) + cell
                                                               : cell + String(repeating: " ", count: widths[c] - cell.count) }
            .joined(separator: "  "))
    }
    print(String(format: "total of steps: %.3f ms", profile.totalMilliseconds))
}

/// One layer of the profile, as printed and as written to JSON.
private struct ProfileRow: Encodable {
    var name: String
    var op: String
    var inputShape: [Int]
    var outputShape: [Int]
    var weights: String?
    var kernel: String?
    var isa: String?
    var ms: Double
    var percent: Double
    var cumulativePercent: Double
    var gops: Double?

    static func rows(_ profile: LayerProfile) -> [ProfileRow] {
        let total = max(profile.totalMilliseconds, 1e-12)
        var cumulative = 0.0
        return zip(profile.layers, profile.milliseconds).map { info, ms in
            cumulative += ms
            return ProfileRow(name: info.name, op: info.op, inputShape: info.inputShape, outputShape: info.outputShape,
                              weights: info.weightFormat, kernel: info.kernel, isa: info.isa, ms: ms,
                              percent: ms / total * 100, cumulativePercent: cumulative / total * 100,
                              gops: info.ops > 0 && ms > 0 ? info.ops / (ms * 1e6) : nil)
        }
    }
}

private struct BenchResult: Encodable {
    var model: String
    var arch: String
    var precision: String
    /// GEMM member -> number of layers it runs.
    var kernels: [String: Int]
    var threads: Int
    var warmup: Int
    var runs: Int
    var initMs: Double
    var firstInferenceMs: Double
    var latencyMs: LatencyStats
    /// --profile: the measured int8 peak (GOP/s) and the per-layer rows.
    var peakGOPS: Double?
    var layers: [ProfileRow]?
}
