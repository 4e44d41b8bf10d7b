// Pinning the kernel threads to chosen CPUs (qbench --cores) and reading which CPUs the process may use.
import Foundation
import QKernels

public enum ThreadAffinity {
    /// Restricts a team of `threads` kernel threads, the calling thread included, to `cpus`; sessions
    /// that run with `threads` threads afterwards stay there. Throws when any member could not be pinned.
    public static func pin(threads: Int, to cpus: [Int]) throws {
        precondition(threads > 0)
        qk_set_num_threads(Int32(threads))
        var team: Int32 = 0
        let result = cpus.map(Int32.init).withUnsafeBufferPointer { qk_pin_team($0.baseAddress, Int32($0.count), &team) }
        guard result >= 0 else { throw AffinityError.failed(cpus: cpus, errno: -result) }
    }

    /// The CPUs this process may run on (`Cpus_allowed_list` in /proc/self/status); nil where unreadable.
    public static func allowedCPUs(procStatus: String = "/proc/self/status") -> Set<Int>? {
        guard let text = try? String(contentsOfFile: procStatus, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") })
        else { return nil }
        return parseCPUList(String(line.dropFirst("Cpus_allowed_list:".count)))
    }

    /// Parses the kernel's CPU list syntax ("0-3,6,8-9"); nil when malformed.
    public static func parseCPUList(_ text: String) -> Set<Int>? {
        var cpus = Set<Int>()
        for part in text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard (1...2).contains(bounds.count), let lo = bounds.first!, let hi = bounds.last!, 0 <= lo, lo <= hi
            else { return nil }
            cpus.formUnion(lo...hi)
        }
        return cpus.isEmpty ? nil : cpus
    }
}

public enum AffinityError: Error, CustomStringConvertible {
    case failed(cpus: [Int], errno: Int32)
    public var description: String {
        switch self {
        case .failed(let cpus, let code):
            return "could not pin threads to CPUs \(cpus.map(String.init).joined(separator: ",")): \(String(cString: strerror(code)))"
        }
    }
}
