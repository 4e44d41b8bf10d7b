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
            Loads the model (init time); then, for every sweep point (each --bits width x each --threads count),
            runs one first inference, warm-up runs (at least WARMUP and at least WARMUP-SECS seconds) and the timed runs, and reports min / median / mean /
            p90 / p99 / max / std in milliseconds. Timed runs: at least RUNS and at least MIN-SECS seconds, but
            no new run starts after MAX-SECS seconds. A warning says when std/median exceeds 10 % (a noisy
            machine). A thread sweep prints each point's speed-up over the fewest threads and marks points
            that were slower than a point with fewer threads. A --bits sweep of a model with run-time widths
            (Any-Precision) prints each width's speed-up over its 8-bit width (same threads), and --report
            draws median latency against bits.

            FILE arguments take `-` for standard output (then nothing else is printed there).
            Exit status: 0 on success, 1 when the model cannot be loaded or run or a file cannot be written,
            64 for bad flags.

            Examples:
              qbench                                            # the bundled default model
              qbench --model resnet20-w4.lbm --threads 2 --runs 200
              qbench --model resnet20-w4.lbm --threads 1,2,4,8 --cores big
              qbench --model resnet20-w4.lbm --profile --report resnet20.html
              qbench --model resnet20-w4.lbm --runs 10 --min-secs 5 --cooldown 20 --json result.json
              qbench --model resnet20-w4.lbm --threads 1,2 --csv - > sweep.csv
              qbench --model resnet20q.lbm --bits 1,2,4,8,32 --report bits.html   # any-precision widths
            """)

    @Option(name: .shortAndLong, help: "The .lbm model (default: the bundled Fashion-MNIST model).")
    var model: String?

    @Option(help: ArgumentHelp(stringLiteral: KernelChoice.optionHelp))
    var kernel: String = "auto"

    @Option(help: "Depthwise convs: direct (the dwconv / fdwconv kernels, 3x3 and 5x5) or gemm (one GEMM per channel, for comparison).")
    var depthwise: String = "direct"

    @Option(help: ArgumentHelp("Threads, or a comma-separated list to sweep (e.g. 1,2,4,8).", valueName: "N[,N...]"))
    var threads: String = "1"

    @Option(help: ArgumentHelp("Weight bit widths to sweep (e.g. 1,2,4,8,32); needs an any-precision model, except the model's own width. Default: the model's own width.", valueName: "BITS[,BITS...]"))
    var bits: String?

    @Option(help: ArgumentHelp("Pin the threads to the big cores, the little cores or all cores (capacity from sysfs cpu_capacity, else cpufreq maximum frequency); a comma-separated list sweeps. Default: no pinning.", valueName: "big|little|all[,...]"))
    var cores: String?

    @Option(help: ArgumentHelp("The sysfs root to read CPU capacities from (for tests; default /sys, or $QBENCH_SYSFS_ROOT).", valueName: "DIR"))
    var sysfsRoot: String?

    @Option(help: "Untimed runs after the first inference (at least; see --warmup-secs).")
    var warmup: Int = 5

    @Option(help: "Keep warming up for at least this many seconds, so clock frequency and caches settle.")
    var warmupSecs: Double = 0.5

    @Option(help: "Timed runs (at least; see --min-secs and --max-secs).")
    var runs: Int = 50

    @Option(help: "Keep running until at least this many seconds of timed runs.")
    var minSecs: Double = 0

    @Option(help: "Start no new timed run after this many seconds.")
    var maxSecs: Double = 150

    @Option(help: ArgumentHelp("Pause between runs and before each sweep point, in milliseconds.", valueName: "MS"))
    var cooldown: Double = 0

    @Option(help: ArgumentHelp("Write the result as one JSON object to FILE (- for standard output).", valueName: "FILE"))
    var json: String?

    @Option(help: ArgumentHelp("Write one CSV row per sweep point to FILE (- for standard output).", valueName: "FILE"))
    var csv: String?

    @Option(help: ArgumentHelp("Write a self-contained HTML report (charts, per-layer profile, machine) to FILE; implies --profile.", valueName: "FILE"))
    var report: String?

    @Flag(help: "Per-layer profile of the first sweep point: op, shapes, weight format and bits, kernel and ISA, ms, %, cumulative %, GOP/s and share of the measured int8 peak.")
    var profile = false

    func validate() throws {
        let threadList = try parseList(threads, flag: "--threads")
        guard threadList.allSatisfy({ (1...256).contains($0) }) else { throw ValidationError("--threads values must be in 1...256") }
        if let bits {
            guard try parseList(bits, flag: "--bits").allSatisfy([1, 2, 3, 4, 8, 32].contains) else {
                throw ValidationError("--bits values must be 1, 2, 3, 4, 8 or 32")
            }
        }
        if let cores { _ = try parseSelections(cores) }
        guard KernelChoice(rawValue: kernel) != nil else { throw ValidationError(KernelChoice.invalidMessage) }
        guard DepthwisePath(rawValue: depthwise) != nil else { throw ValidationError("--depthwise must be direct or gemm") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard warmupSecs >= 0, warmupSecs.isFinite else { throw ValidationError("--warmup-secs must not be negative") }
        guard (1...1_000_000).contains(runs) else { throw ValidationError("--runs must be in 1...1000000") }
        guard minSecs >= 0, minSecs.isFinite else { throw ValidationError("--min-secs must not be negative") }
        guard maxSecs > 0, maxSecs.isFinite, maxSecs >= minSecs else { throw ValidationError("--max-secs must be positive and at least --min-secs") }
        guard (0...60_000).contains(cooldown) else { throw ValidationError("--cooldown must be in 0...60000 ms") }
        if json == "-" && csv == "-" { throw ValidationError("--json and --csv cannot both write to standard output") }
        if report == "-" { throw ValidationError("--report needs a file name") }
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

    private func benchmark() throws {
        let url = try model.map { URL(fileURLWithPath: $0) } ?? DefaultModel.modelURL()
        let clock = Stopwatch()
        let loaded = try Model(contentsOf: url, kernel: KernelChoice(rawValue: kernel)!,
                               depthwise: DepthwisePath(rawValue: depthwise)!)
        let initMs = clock.elapsedMs

        let bitList = try bits.map { try parseList($0, flag: "--bits") }
        if let bitList, let bad = bitList.first(where: { !loaded.canRun(bits: $0) }) {
            throw BenchError.unsupportedBits(bad, model: loaded)
        }
        let coreList = try cores.map(parseSelections)
        let points = SweepPoint.grid(threads: try parseList(threads, flag: "--threads"), bits: bitList, cores: coreList)

        let machine = MachineDescription.current
        var coreReport: CoreSelectionReport?
        if let coreList {
            let root = sysfsRoot ?? ProcessInfo.processInfo.environment["QBENCH_SYSFS_ROOT"] ?? "/sys"
            let topology = try CoreTopology(sysfsRoot: root, allowed: root == "/sys" ? ThreadAffinity.allowedCPUs() : nil)
            coreReport = CoreSelectionReport(selections: coreList, topology: topology)
        }

        let control = RunControl(warmup: warmup, warmupSecs: warmupSecs, runs: runs, minSecs: minSecs, maxSecs: maxSecs, cooldownMs: cooldown)
        let input = benchmarkInput(count: loaded.inputElementCount)
        let wantProfile = profile || report != nil
        // Measured (or read from the cache) before any pinning, so a little core never sets the peak.
        let peak = wantProfile ? MachinePeak.cached() : nil
        var results: [PointResult] = []
        var layerProfile: LayerProfile?
        for point in points {
            let cpus = point.cores.map { coreReport!.cpus($0) }
            if let cpus { try ThreadAffinity.pin(threads: point.threads, to: cpus) }
            // A fixed-precision model runs at its own width (checked above); an any-precision model
            // switches its session to `point.bits` (a prebuilt plan, no reload).
            let session = Session(model: loaded, threads: point.threads)
            if let bits = point.bits, !loaded.runtimeBitWidths.isEmpty { try session.setBits(bits) }
            let measured = measure(session: session, input: input, control: control)
            results.append(PointResult(point: point, cpus: cpus, measured: measured))
            if wantProfile && layerProfile == nil { layerProfile = session.profile(input, runs: runs) }
        }
        PointResult.compareThreadCounts(&results)
        PointResult.compareBitWidths(&results)

        var result = BenchResult(model: url.path, loaded: loaded, initMs: initMs, machine: machine,
                                 cores: coreReport, control: control, points: results,
                                 peakRSSBytes: peakResidentBytes())
        if let layerProfile, let peak {
            let coresUsed = min(results[0].threads, results[0].cpus?.count ?? machine.logicalCPUs)
            result.profile = ProfileResult(profile: layerProfile, threads: results[0].threads, peak: peak,
                                           coresUsed: coresUsed)
        }

        if json != "-" && csv != "-" { TextOutput.print(result) }
        if let json { try write(result.jsonText(), to: json) }
        if let csv { try write(result.csvText(), to: csv) }
        if let report { try write(HTMLReport(result).page(), to: report) }
    }

    private func write(_ text: String, to path: String) throws {
        if path == "-" {
            FileHandle.standardOutput.write(Data(text.utf8))
        } else {
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw BenchError.cannotWrite(path, error.localizedDescription)
            }
        }
    }
}

/// Parses "1,2,4" into [1, 2, 4] (duplicates removed, order kept); a ValidationError names the flag.
func parseList(_ text: String, flag: String) throws -> [Int] {
    var values: [Int] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        guard let value = Int(part.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("\(flag) takes a number or a comma-separated list of numbers, not '\(text)'")
        }
        if !values.contains(value) { values.append(value) }
    }
    return values
}

/// Parses "big,all" into core selections (duplicates removed, order kept).
func parseSelections(_ text: String) throws -> [CoreSelection] {
    var selections: [CoreSelection] = []
    for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        guard let selection = CoreSelection(rawValue: part.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError("--cores takes big, little or all, or a comma-separated list of them, not '\(text)'")
        }
        if !selections.contains(selection) { selections.append(selection) }
    }
    return selections
}

/// The fixed pseudo-random input every run uses (values in [-1, 1]).
func benchmarkInput(count: Int) -> [Float] {
    var rng: UInt64 = 0x5eed
    return (0..<count).map { _ in
        rng = rng &* 6364136223846793005 &+ 1442695040888963407
        return Float(Int64(bitPattern: rng >> 11) % 2001 - 1000) / 1000
    }
}

/// The process's peak resident set size in bytes (getrusage ru_maxrss).
func peakResidentBytes() -> Int {
    var usage = rusage()
    #if os(Linux)
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Int(usage.ru_maxrss) * 1024   // KiB on Linux
    #else
    getrusage(RUSAGE_SELF, &usage)
    return Int(usage.ru_maxrss)          // bytes on macOS
    #endif
}

enum BenchError: Error, CustomStringConvertible {
    case unsupportedBits(Int, model: Model)
    case cannotWrite(String, String)

    var description: String {
        switch self {
        case .unsupportedBits(let bits, let model):
            if model.runtimeBitWidths.isEmpty {
                let own = model.weightBits.map { "fixed \($0)-bit weights" } ?? "no weighted layers"
                return "model has \(own), so it cannot run at --bits \(bits); --bits sweeps need an any-precision model"
            }
            return "model runs at \(model.runtimeBitWidths.map(String.init).joined(separator: ", ")) bits, not \(bits)"
        case .cannotWrite(let path, let reason):
            return "cannot write \(path): \(reason)"
        }
    }
}
