// The human-readable report on standard output: model, machine, per-point figures, the sweep table with
// speed-ups and slowdowns, the per-layer profile, and warnings.
import Foundation
import QRuntime

enum TextOutput {
    static func print(_ r: BenchResult) {
        let bitsText = r.weightBits.map { "\($0)-bit weights" } ?? "no weighted layers"
        Swift.print("model: \(r.model) (\(r.arch), \(r.precision); \(bitsText); file \(byteText(r.fileSizeBytes)))")
        let m = r.machine
        Swift.print("machine: \(m.cpuModel), \(m.logicalCPUs) logical CPUs, ISA \(m.isa)"
                    + (m.maxFrequencyMHz.map { String(format: ", max %.0f MHz", $0) } ?? ""))
        if let c = r.cores {
            let capacities = c.topology.map { "\($0.id):\(String(format: "%g", $0.capacity))" }.joined(separator: " ")
            let chosen = c.selections.sorted { $0.key < $1.key }.map { "\($0.key) = CPUs \(cpuListText($0.value))" }
            Swift.print("cores: \(chosen.joined(separator: ", ")) (capacity from \(c.source): \(capacities)"
                        + (c.heterogeneous ? ")" : "; all equal)"))
        }
        Swift.print("kernels: " + r.kernels.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", "))
        let rc = r.runControl
        Swift.print(String(format: "init: %.3f ms   runs: at least %d warm-up (%g s), at least %d timed (min %g s, max %g s), cooldown %g ms",
                           r.initMs, rc.warmup, rc.warmupSecs, rc.runs, rc.minSecs, rc.maxSecs, rc.cooldownMs))
        for p in r.points {
            Swift.print("\n\(pointTitle(p)):")
            Swift.print(String(format: "  first inference %.3f ms", p.firstInferenceMs)
                        + (p.warmupMeanMs.map { String(format: "   warm-up mean %.3f ms (%d runs)", $0, p.warmupRuns) } ?? ""))
            let l = p.latencyMs
            Swift.print(String(format: "  latency ms (%d runs): min %.3f  median %.3f  mean %.3f  p90 %.3f  p99 %.3f  max %.3f  std %.3f (%.1f %% of median)",
                               l.count, l.min, l.median, l.mean, l.p90, l.p99, l.max, l.std, p.relativeStd * 100))
        }
        if r.points.count > 1 { printSweep(r) }
        if let profile = r.profile { printProfile(profile) }
        Swift.print("\npeak memory (RSS): \(byteText(r.peakRSSBytes))   model file: \(byteText(r.fileSizeBytes))")
        if !r.noisyPoints.isEmpty {
            let listed = r.noisyPoints.map { String(format: "%@ (%.0f %%)", pointTitle($0), $0.relativeStd * 100) }
            Swift.print(String(format: "warning: the machine was noisy: std/median above %.0f %% for ", noisyRelativeStd * 100)
                        + listed.joined(separator: ", ") + "; close other programs, add --cooldown or more --runs")
        }
        for p in r.points where p.threads > (p.cpus?.count ?? r.machine.logicalCPUs) {
            Swift.print("note: \(pointTitle(p)) runs more threads than the \(p.cpus?.count ?? r.machine.logicalCPUs) CPUs it may use")
        }
    }

    /// One row per point: median and spread, speed-up over the fewest threads, in a bit sweep the speed-up
    /// over the 8-bit width, and a mark where adding threads made it slower.
    private static func printSweep(_ r: BenchResult) {
        let bitSpeedups = r.hasBitSpeedups
        Swift.print("\nsweep (speed-up = median of the fewest threads / median"
                    + (bitSpeedups ? "; vs 8-bit = median at 8 bits, same threads / median):" : "):"))
        var table = [["threads", "bits", "cores", "median ms", "mean ms", "p90 ms", "std %", "speed-up"]
                     + (bitSpeedups ? ["vs 8-bit"] : []) + [""]]
        for p in r.points {
            var mark = ""
            if let slower = p.slowerThanThreads, let slowdown = p.slowdown {
                mark = String(format: "<- SLOWER than %d thread%@%@ (+%.0f %%)", slower, slower == 1 ? "" : "s",
                              p.slowerThanCores.map { " on \($0.rawValue)" } ?? "", slowdown * 100)
            }
            if p.noisy { mark += mark.isEmpty ? "noisy" : ", noisy" }
            let bits: String = (p.bits ?? r.weightBits).map(String.init) ?? "-"
            let cores: String = p.cores.map { "\($0.rawValue) (\(cpuListText(p.cpus!)))" } ?? "any"
            let figures: [String] = [p.latencyMs.median, p.latencyMs.mean, p.latencyMs.p90].map { String(format: "%.3f", $0) }
            var row: [String] = [String(p.threads), bits, cores] + figures
            row += [String(format: "%.1f", p.relativeStd * 100), timesText(p.speedup)]
            if bitSpeedups { row.append(timesText(p.speedupOver8Bit)) }
            table.append(row + [mark])
        }
        printTable(table, leftAligned: [2, table[0].count - 1])
    }

    private static func printProfile(_ p: ProfileResult) {
        Swift.print(String(format: "\nper-layer profile (threads %d, mean of %d runs; int8 peak %.1f GOP/s per core x %d, %@, measured by the probe):",
                           p.threads, p.runs, p.peakGOPSPerCore, p.coresUsed, p.peakISA))
        var table = [["#", "layer", "op", "input", "output", "weights", "bits", "kernel", "isa", "ms", "%", "cum %", "GOP/s", "% peak"]]
        func shape(_ s: [Int]) -> String { s.map(String.init).joined(separator: "x") }
        for (i, row) in p.layers.enumerated() {
            table.append([String(i), row.name, row.op, shape(row.inputShape), shape(row.outputShape), row.weights ?? "-",
                          row.bits.map(String.init) ?? "-", row.kernel ?? "-", row.isa ?? "-", String(format: "%.3f", row.ms),
                          String(format: "%.1f", row.percent), String(format: "%.1f", row.cumulativePercent),
                          row.gops.map { String(format: "%.1f", $0) } ?? "-",
                          row.percentOfPeak.map { String(format: "%.0f", $0) } ?? "-"])
        }
        printTable(table, leftAligned: [1, 2, 3, 4, 5, 7, 8])
        Swift.print(String(format: "total of steps: %.3f ms", p.totalMs))
    }

    /// "3.10x", or "-" for no figure.
    static func timesText(_ x: Double?) -> String { x.map { String(format: "%.2fx", $0) } ?? "-" }

    /// Prints rows in columns two spaces apart; numbers right-aligned, `leftAligned` columns left-aligned.
    static func printTable(_ table: [[String]], leftAligned: Set<Int>) {
        let widths = table[0].indices.map { c in table.map { $0[c].count }.max()! }
        for row in table {
            let cells = row.enumerated().map { c, cell in
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return leftAligned.contains(c) ? cell + pad : pad + cell
            }
            Swift.print(cells.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression))
        }
    }
}
