// What qbench measured, as one value that the text, JSON, CSV and HTML outputs all read.
import Foundation
import QRuntime

/// std/median above which a point's measurement is flagged as noisy.
let noisyRelativeStd = 0.10

/// The results of one sweep point.
struct PointResult: Encodable {
    var threads: Int
    /// Weight bits the point asked for; nil: the model's own.
    var bits: Int?
    /// The --cores selection and the CPUs the threads were pinned to; nil when not pinned.
    var cores: CoreSelection?
    var cpus: [Int]?
    var firstInferenceMs: Double
    var warmupRuns: Int
    /// Mean of the warm-up runs; nil without warm-up runs.
    var warmupMeanMs: Double?
    var latencyMs: LatencyStats
    /// std / median of the timed runs.
    var relativeStd: Double
    /// relativeStd > 10 %: the machine was noisy, the figures are doubtful.
    var noisy: Bool
    /// median(fewest threads at the same bits) / median(this point); nil until compared.
    var speedup: Double?
    /// The thread count `speedup` is relative to.
    var speedupBaselineThreads: Int?
    /// A bit sweep: median of the 8-bit point at the same threads and cores / median(this point); nil
    /// without such a point (a sweep that leaves out 8 bits, or a fixed-precision model).
    var speedupOver8Bit: Double?
    /// A point at the same bits with fewer threads (any core selection) whose median was lower than this
    /// point's: the fastest such, its thread count and core selection.
    var slowerThanThreads: Int?
    var slowerThanCores: CoreSelection?
    /// This point's median over that faster point's median, minus 1 (0.2 = 20 % slower).
    var slowdown: Double?

    init(point: SweepPoint, cpus: [Int]?, measured: Measured) {
        threads = point.threads
        bits = point.bits
        cores = point.cores
        self.cpus = cpus
        firstInferenceMs = measured.firstMs
        warmupRuns = measured.warmupMs.count
        warmupMeanMs = measured.warmupMs.isEmpty ? nil : measured.warmupMs.reduce(0, +) / Double(measured.warmupMs.count)
        latencyMs = LatencyStats(measured.timedMs)
        relativeStd = latencyMs.median > 0 ? latencyMs.std / latencyMs.median : 0
        noisy = relativeStd > noisyRelativeStd
    }

    /// Fills the speed-up and slowdown fields, comparing points of the same bit width.
    static func compareThreadCounts(_ points: inout [PointResult]) {
        for i in points.indices {
            let peers = points.filter { $0.bits == points[i].bits }
            let baseline = peers.min { $0.threads < $1.threads }!
            points[i].speedup = baseline.latencyMs.median / points[i].latencyMs.median
            points[i].speedupBaselineThreads = baseline.threads
            if let faster = peers.filter({ $0.threads < points[i].threads }).min(by: { $0.latencyMs.median < $1.latencyMs.median }),
               faster.latencyMs.median < points[i].latencyMs.median {
                points[i].slowerThanThreads = faster.threads
                points[i].slowerThanCores = faster.cores
                points[i].slowdown = points[i].latencyMs.median / faster.latencyMs.median - 1
            }
        }
    }
}

extension PointResult {
    /// The width `speedupOver8Bit` compares with: Any-Precision's 8-bit width, the widest integer one.
    static let speedupBaselineBits = 8

    /// Fills `speedupOver8Bit` for every point that has an 8-bit point with the same threads and cores.
    static func compareBitWidths(_ points: inout [PointResult]) {
        for i in points.indices {
            let baseline = points.first {
                $0.bits == speedupBaselineBits && $0.threads == points[i].threads && $0.cores == points[i].cores
            }
            points[i].speedupOver8Bit = baseline.map { $0.latencyMs.median / points[i].latencyMs.median }
        }
    }
}

/// --cores: the CPUs each requested selection chose and the capacities it chose from.
struct CoreSelectionReport: Encodable {
    /// Selection name -> CPU ids.
    var selections: [String: [Int]]
    /// Where capacities came from: cpu_capacity, cpufreq or uniform.
    var source: String
    var topology: [CoreTopology.CPU]
    var heterogeneous: Bool

    init(selections: [CoreSelection], topology: CoreTopology) {
        self.selections = Dictionary(uniqueKeysWithValues: selections.map { ($0.rawValue, topology.cpuIDs($0)) })
        source = topology.source.rawValue
        self.topology = topology.cpus
        heterogeneous = topology.isHeterogeneous
    }

    func cpus(_ selection: CoreSelection) -> [Int] { selections[selection.rawValue]! }
}

/// One layer of the profile, as printed and as written to JSON.
struct ProfileRow: Encodable {
    var name: String
    var op: String
    var inputShape: [Int]
    var outputShape: [Int]
    var weights: String?
    var bits: Int?
    var kernel: String?
    var isa: String?
    var ms: Double
    var percent: Double
    var cumulativePercent: Double
    var gops: Double?
    /// GOP/s over the measured int8 peak of the cores used, in percent.
    var percentOfPeak: Double?
}

/// --profile: per-layer rows of the first sweep point and the peak they are compared with.
struct ProfileResult: Encodable {
    var threads: Int
    var runs: Int
    /// The measured one-core int8 peak (GOP/s) and its ISA; the share of peak uses it times `coresUsed`.
    var peakGOPSPerCore: Double
    var peakISA: String
    var coresUsed: Int
    var totalMs: Double
    var layers: [ProfileRow]

    init(profile: LayerProfile, threads: Int, peak: MachinePeak, coresUsed: Int) {
        self.threads = threads
        runs = profile.runs
        peakGOPSPerCore = peak.opsPerSecond / 1e9
        peakISA = peak.isa
        self.coresUsed = coresUsed
        totalMs = profile.totalMilliseconds
        let total = max(profile.totalMilliseconds, 1e-12)
        let peakGOPS = peakGOPSPerCore * Double(coresUsed)
        var cumulative = 0.0
        layers = zip(profile.layers, profile.milliseconds).map { info, ms in
            cumulative += ms
            let gops = info.ops > 0 && ms > 0 ? info.ops / (ms * 1e6) : nil
            var kernel = info.kernel
            if let name = kernel, let range = name.range(of: "__") { kernel = String(name[..<range.lowerBound]) }
            return ProfileRow(name: info.name, op: info.op, inputShape: info.inputShape, outputShape: info.outputShape,
                              weights: info.weightFormat, bits: info.weightBits, kernel: kernel, isa: info.isa, ms: ms,
                              percent: ms / total * 100, cumulativePercent: cumulative / total * 100, gops: gops,
                              percentOfPeak: gops.map { $0 / peakGOPS * 100 })
        }
    }
}

/// Everything one qbench invocation measured.
struct BenchResult: Encodable {
    var model: String
    var arch: String
    var precision: String
    /// The model's own weight bits (most layers); nil without weighted layers.
    var weightBits: Int?
    var runtimeBitWidths: [Int]
    var fileSizeBytes: Int
    /// GEMM member -> number of layers it runs.
    var kernels: [String: Int]
    /// Loading, validating and planning the model.
    var initMs: Double
    var machine: MachineDescription
    var cores: CoreSelectionReport?
    var runControl: RunControl
    var points: [PointResult]
    /// getrusage ru_maxrss after all runs.
    var peakRSSBytes: Int
    var profile: ProfileResult?

    init(model: String, loaded: Model, initMs: Double, machine: MachineDescription, cores: CoreSelectionReport?,
         control: RunControl, points: [PointResult], peakRSSBytes: Int) {
        self.model = model
        arch = loaded.info.arch
        precision = loaded.info.precision
        weightBits = loaded.weightBits
        runtimeBitWidths = loaded.runtimeBitWidths
        fileSizeBytes = loaded.fileSize
        kernels = Dictionary(loaded.layerKernels.map { ($0.kernel, 1) }, uniquingKeysWith: +)
        self.initMs = initMs
        self.machine = machine
        self.cores = cores
        runControl = control
        self.points = points
        self.peakRSSBytes = peakRSSBytes
    }

    var noisyPoints: [PointResult] { points.filter(\.noisy) }
    var isThreadSweep: Bool { Set(points.map(\.threads)).count > 1 }
    var isBitSweep: Bool { Set(points.map(\.bits)).count > 1 }
    /// Some point has a speed-up over the 8-bit width (a bit sweep that includes 8 bits).
    var hasBitSpeedups: Bool { points.contains { $0.speedupOver8Bit != nil } }

    func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }

    /// One header line and one row per sweep point.
    func csvText() -> String {
        let header = ["model", "threads", "bits", "cores", "cpus", "runs", "init_ms", "first_inference_ms", "warmup_mean_ms",
                      "min_ms", "median_ms", "mean_ms", "p90_ms", "p99_ms", "max_ms", "std_ms", "relative_std", "noisy",
                      "speedup", "speedup_baseline_threads", "speedup_over_8bit", "slower_than_threads", "slower_than_cores", "peak_rss_bytes", "file_size_bytes"]
        func number(_ x: Double?) -> String { x.map { String(format: "%.6g", $0) } ?? "" }
        func quoted(_ s: String) -> String {
            s.contains(where: { ",\"\n".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        var lines = [header.joined(separator: ",")]
        for p in points {
            let l = p.latencyMs
            let bits: String = p.bits.map(String.init) ?? weightBits.map(String.init) ?? ""
            let cpus: String = p.cpus.map { $0.map(String.init).joined(separator: " ") } ?? ""
            let run: [String] = [quoted(model), String(p.threads), bits, p.cores?.rawValue ?? "", cpus, String(l.count)]
            let times: [String] = [initMs, p.firstInferenceMs, p.warmupMeanMs, l.min, l.median, l.mean, l.p90, l.p99,
                                   l.max, l.std, p.relativeStd].map(number)
            let comparison: [String] = [String(p.noisy), number(p.speedup), p.speedupBaselineThreads.map(String.init) ?? "",
                                        number(p.speedupOver8Bit), p.slowerThanThreads.map(String.init) ?? "", p.slowerThanCores?.rawValue ?? "",
                                        String(peakRSSBytes), String(fileSizeBytes)]
            lines.append((run + times + comparison).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// How a point is named in text: "4 threads", "8 threads, 2-bit, on all cores (CPUs 0-7)".
func pointTitle(_ p: PointResult) -> String {
    var title = "\(p.threads) thread" + (p.threads == 1 ? "" : "s")
    if let bits = p.bits { title += ", \(bits)-bit" }
    if let cores = p.cores, let cpus = p.cpus { title += " on \(cores.rawValue) cores (CPUs \(cpuListText(cpus)))" }
    return title
}

/// "0-3,6" for [0, 1, 2, 3, 6].
func cpuListText(_ cpus: [Int]) -> String {
    var parts: [String] = []
    var i = 0
    let sorted = cpus.sorted()
    while i < sorted.count {
        var j = i
        while j + 1 < sorted.count && sorted[j + 1] == sorted[j] + 1 { j += 1 }
        parts.append(j > i ? "\(sorted[i])-\(sorted[j])" : "\(sorted[i])")
        i = j + 1
    }
    return parts.joined(separator: ",")
}

/// "1.2 MB" style sizes (powers of 1024).
func byteText(_ bytes: Int) -> String {
    let units = ["B", "KiB", "MiB", "GiB"]
    var value = Double(bytes), unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}
