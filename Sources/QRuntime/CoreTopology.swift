// Which CPUs are big and which are little, read from sysfs the way ncnn's powersave modes do, so qbench
// can pin its threads (`--cores big|little|all`). The sysfs root is a parameter: tests use fake trees.
import Foundation

/// The CPUs a benchmark may use, chosen by relative capacity.
public enum CoreSelection: String, CaseIterable, Codable, Sendable {
    /// CPUs whose capacity is at least the midpoint of the lowest and highest capacity.
    case big
    /// CPUs whose capacity is below that midpoint (all CPUs when every capacity is equal).
    case little
    /// Every online CPU.
    case all
}

/// Online CPUs with their relative capacity. Capacity comes from `cpuN/cpu_capacity` (the scheduler's
/// 0...1024 scale) when every online CPU has it, else from `cpuN/cpufreq/cpuinfo_max_freq` (kHz) when
/// every online CPU has that, else every CPU counts as equal.
public struct CoreTopology: Equatable, Sendable {
    /// Where the capacities came from.
    public enum Source: String, Codable, Sendable { case capacity = "cpu_capacity", maxFrequency = "cpufreq", uniform }

    public struct CPU: Equatable, Codable, Sendable {
        /// The kernel's CPU number (as sched_setaffinity takes it).
        public var id: Int
        /// The source's value: cpu_capacity units, kHz, or 1 for `uniform`.
        public var capacity: Double
    }

    /// Online CPUs in ascending id order.
    public var cpus: [CPU]
    public var source: Source

    /// Reads `<sysfsRoot>/devices/system/cpu/cpuN`. A CPU whose `online` file reads 0 is left out; CPUs
    /// outside `allowed` (when given: the process affinity) are left out too. Throws when no CPU is found.
    public init(sysfsRoot: String = "/sys", allowed: Set<Int>? = nil) throws {
        let base = URL(fileURLWithPath: sysfsRoot).appendingPathComponent("devices/system/cpu")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: base.path)) ?? []
        var ids: [Int] = names.compactMap { name in
            guard name.hasPrefix("cpu"), let id = Int(name.dropFirst(3)), id >= 0 else { return nil }
            return id
        }.sorted()
        func read(_ relative: String) -> String? {
            (try? String(contentsOf: base.appendingPathComponent(relative), encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        ids.removeAll { id in read("cpu\(id)/online") == "0" || allowed.map { !$0.contains(id) } ?? false }
        guard !ids.isEmpty else { throw TopologyError.noCPUs(base.path) }
        func values(_ file: String) -> [Double]? {
            let parsed = ids.map { read("cpu\($0)/\(file)").flatMap(Double.init) }
            return parsed.allSatisfy { ($0 ?? 0) > 0 } ? parsed.map { $0! } : nil
        }
        if let capacities = values("cpu_capacity") {
            source = .capacity
            cpus = zip(ids, capacities).map { CPU(id: $0, capacity: $1) }
        } else if let frequencies = values("cpufreq/cpuinfo_max_freq") {
            source = .maxFrequency
            cpus = zip(ids, frequencies).map { CPU(id: $0, capacity: $1) }
        } else {
            source = .uniform
            cpus = ids.map { CPU(id: $0, capacity: 1) }
        }
    }

    /// Whether the CPUs differ in capacity (big.LITTLE or more tiers).
    public var isHeterogeneous: Bool { Set(cpus.map(\.capacity)).count > 1 }

    /// The CPU ids of a selection. Big and little split at the midpoint of the lowest and highest capacity
    /// (ncnn's rule), so a prime core joins the big cluster; on a homogeneous machine every selection is
    /// every CPU.
    public func cpuIDs(_ selection: CoreSelection) -> [Int] {
        let lo = cpus.map(\.capacity).min()!, hi = cpus.map(\.capacity).max()!
        guard lo < hi, selection != .all else { return cpus.map(\.id) }
        let midpoint = (lo + hi) / 2
        return cpus.filter { selection == .big ? $0.capacity >= midpoint : $0.capacity < midpoint }.map(\.id)
    }
}

public enum TopologyError: Error, CustomStringConvertible {
    case noCPUs(String)
    public var description: String {
        switch self {
        case .noCPUs(let path): return "no online CPUs found under \(path)"
        }
    }
}
