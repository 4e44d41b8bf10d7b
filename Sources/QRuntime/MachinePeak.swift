// The measured int8 peak of this machine's active ISA (one thread), cached per machine so qbench can
// state each layer's speed as a share of what the core can do.
import Foundation
import QKernels

/// The int8 dot-product peak of one core, measured by QKernels' probe (independent vpdpbusd / sdot
/// chains), in operations per second (2 per multiply-accumulate).
public struct MachinePeak: Codable, Sendable {
    public var isa: String
    public var cpu: String
    public var opsPerSecond: Double

    /// The ISA dispatch uses now (honours QK_ISA).
    public static var activeISA: String { String(cString: qk_isa_name(qk_isa_active())) }

    /// Measures the probe for ~`seconds` (best of 5 rounds).
    public static func measure(seconds: Double = 0.2) -> MachinePeak {
        let isa = qk_isa_active()
        var iterations: UInt64 = 1 << 12
        var best = 0.0
        // Grow the round until it lasts ~seconds/5, then keep the best of 5 rounds.
        while true {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let ops = qk_peak_int8_ops(isa, iterations)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if dt >= seconds / 5 || iterations >= 1 << 40 {
                best = Double(ops) / dt
                for _ in 0..<4 {
                    let t1 = DispatchTime.now().uptimeNanoseconds
                    let ops = qk_peak_int8_ops(isa, iterations)
                    best = max(best, Double(ops) / (Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9))
                }
                break
            }
            iterations *= 2
        }
        return MachinePeak(isa: String(cString: qk_isa_name(isa)), cpu: MachineDescription.current.cpuModel,
                           opsPerSecond: best)
    }

    /// The cached figure for this CPU model and ISA, measured and stored on first use. The cache lives
    /// in $XDG_CACHE_HOME/lowbit (else ~/.cache/lowbit); failure to write it is not an error.
    public static func cached() -> MachinePeak {
        let env = ProcessInfo.processInfo.environment
        let base = env["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        let file = base.appendingPathComponent("lowbit/peak.json")
        let cpu = MachineDescription.current.cpuModel, isa = activeISA
        if let data = try? Data(contentsOf: file),
           let entries = try? JSONDecoder().decode([MachinePeak].self, from: data),
           let hit = entries.first(where: { $0.cpu == cpu && $0.isa == isa && $0.opsPerSecond > 0 }) {
            return hit
        }
        let peak = measure()
        var entries = ((try? Data(contentsOf: file)).flatMap { try? JSONDecoder().decode([MachinePeak].self, from: $0) }) ?? []
        entries.removeAll { $0.cpu == cpu && $0.isa == isa }
        entries.append(peak)
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        if let data = try? JSONEncoder().encode(entries) { try? data.write(to: file, options: .atomic) }
        return peak
    }
}

/// What qbench reports about the machine: CPU model, logical CPUs, the ISA dispatch uses.
public struct MachineDescription: Codable, Sendable {
    public var cpuModel: String
    public var logicalCPUs: Int
    public var isa: String
    /// Highest cpufreq maximum over the CPUs, in MHz, if readable.
    public var maxFrequencyMHz: Double?

    public static var current: MachineDescription {
        let model = cpuModel(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
        var freq: Double?
        for cpu in 0..<ProcessInfo.processInfo.activeProcessorCount {
            let path = "/sys/devices/system/cpu/cpu\(cpu)/cpufreq/cpuinfo_max_freq"
            if let s = try? String(contentsOfFile: path, encoding: .utf8), let khz = Double(s.trimmingCharacters(in: .whitespacesAndNewlines)) {
                freq = max(freq ?? 0, khz / 1000)
            }
        }
        return MachineDescription(cpuModel: model, logicalCPUs: ProcessInfo.processInfo.activeProcessorCount,
                                  isa: MachinePeak.activeISA, maxFrequencyMHz: freq)
    }

    /// The CPU model a /proc/cpuinfo text names: its "model name" (x86, 32-bit ARM); else, as aarch64 Linux lists
    /// only ids, each distinct "CPU implementer" / "CPU part" in order, Arm's own cores by name ("Arm Cortex-A55 +
    /// Cortex-A76"); else "Hardware"; else "unknown".
    public static func cpuModel(cpuinfo text: String) -> String {
        let lines = text.split(separator: "\n")
        func values(_ key: String) -> [String] {
            lines.compactMap { line in
                guard let colon = line.firstIndex(of: ":"),
                      line[..<colon].trimmingCharacters(in: .whitespaces) == key else { return nil }
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        if let name = values("model name").first { return name }
        let cores = zip(values("CPU implementer"), values("CPU part")).map { implementer, part in
            implementer == "0x41" ? armCores[part.lowercased()] ?? "part \(part)" : "implementer \(implementer) part \(part)"
        }
        if !cores.isEmpty {
            let distinct = cores.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            return (cores.first!.hasPrefix("implementer") ? "" : "Arm ") + distinct.joined(separator: " + ")
        }
        return values("Hardware").first ?? "unknown"
    }

    /// Arm Ltd's (implementer 0x41) part numbers, MIDR_EL1.PartNum, of common cores.
    static let armCores: [String: String] = [
        "0xd03": "Cortex-A53", "0xd04": "Cortex-A35", "0xd05": "Cortex-A55", "0xd07": "Cortex-A57", "0xd08": "Cortex-A72",
        "0xd09": "Cortex-A73", "0xd0a": "Cortex-A75", "0xd0b": "Cortex-A76", "0xd0c": "Neoverse-N1", "0xd0d": "Cortex-A77",
        "0xd40": "Neoverse-V1", "0xd41": "Cortex-A78", "0xd44": "Cortex-X1", "0xd46": "Cortex-A510", "0xd47": "Cortex-A710",
        "0xd48": "Cortex-X2", "0xd49": "Neoverse-N2", "0xd4d": "Cortex-A715", "0xd4e": "Cortex-X3",
    ]
}
