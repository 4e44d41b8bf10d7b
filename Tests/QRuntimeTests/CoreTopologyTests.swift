// CoreTopology on fake sysfs trees: big.LITTLE with cpu_capacity, cpufreq only, neither, offline CPUs;
// and the CPU list parser ThreadAffinity uses for the process's allowed CPUs.
import Foundation
import QRuntime
import XCTest
import _QTestSupport

final class CoreTopologyTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws { root = try TestPaths.makeTemporaryDirectory(prefix: "lowbit-sysfs") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    /// Writes `files` (path under devices/system/cpu -> contents) into the fake tree.
    private func tree(_ files: [String: String]) throws -> String {
        let base = root.appendingPathComponent("devices/system/cpu")
        try FileManager.default.createDirectory(at: base.appendingPathComponent("cpufreq"), withIntermediateDirectories: true)
        for (path, text) in files {
            let url = base.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data((text + "\n").utf8).write(to: url)
        }
        return root.path
    }

    /// Snapdragon 888 layout: 4 Cortex-A55 (cpu0-3), 3 Cortex-A78 (cpu4-6), 1 Cortex-X1 (cpu7).
    func testSnapdragon888CapacitiesSplitAtTheMidpoint() throws {
        var files: [String: String] = [:]
        for (cpu, capacity) in [238, 238, 238, 238, 733, 733, 733, 1024].enumerated() {
            files["cpu\(cpu)/cpu_capacity"] = String(capacity)
            files["cpu\(cpu)/cpufreq/cpuinfo_max_freq"] = "1800000"   // ignored: cpu_capacity wins
        }
        let topology = try CoreTopology(sysfsRoot: tree(files))
        XCTAssertEqual(topology.source, .capacity)
        XCTAssertTrue(topology.isHeterogeneous)
        XCTAssertEqual(topology.cpuIDs(.big), [4, 5, 6, 7])
        XCTAssertEqual(topology.cpuIDs(.little), [0, 1, 2, 3])
        XCTAssertEqual(topology.cpuIDs(.all), Array(0...7))
    }

    func testMaxFrequencyIsUsedWithoutCapacities() throws {
        var files: [String: String] = [:]
        for (cpu, khz) in [1_766_400, 1_766_400, 2_803_200, 2_803_200].enumerated() {
            files["cpu\(cpu)/cpufreq/cpuinfo_max_freq"] = String(khz)
        }
        files["cpu10/cpufreq/cpuinfo_max_freq"] = "2803200"   // numeric order, not name order
        let topology = try CoreTopology(sysfsRoot: tree(files))
        XCTAssertEqual(topology.source, .maxFrequency)
        XCTAssertEqual(topology.cpus.map(\.id), [0, 1, 2, 3, 10])
        XCTAssertEqual(topology.cpuIDs(.big), [2, 3, 10])
        XCTAssertEqual(topology.cpuIDs(.little), [0, 1])
    }

    /// One CPU without a capacity file: capacities are not trusted, frequencies are used instead.
    func testPartialCapacityFilesFallBack() throws {
        let topology = try CoreTopology(sysfsRoot: tree([
            "cpu0/cpu_capacity": "512", "cpu1/cpu_capacity": "1024", "cpu2/topology/core_id": "2",
            "cpu0/cpufreq/cpuinfo_max_freq": "1000", "cpu1/cpufreq/cpuinfo_max_freq": "1000",
            "cpu2/cpufreq/cpuinfo_max_freq": "2000",
        ]))
        XCTAssertEqual(topology.source, .maxFrequency)
        XCTAssertEqual(topology.cpuIDs(.big), [2])
    }

    func testNeitherSourceMeansAllCoresEqual() throws {
        let topology = try CoreTopology(sysfsRoot: tree(["cpu0/topology/core_id": "0", "cpu1/topology/core_id": "1",
                                                        "cpu2/topology/core_id": "2"]))
        XCTAssertEqual(topology.source, .uniform)
        XCTAssertFalse(topology.isHeterogeneous)
        for selection in CoreSelection.allCases { XCTAssertEqual(topology.cpuIDs(selection), [0, 1, 2], "\(selection)") }
    }

    func testOfflineAndDisallowedCPUsAreLeftOut() throws {
        let path = try tree(["cpu0/cpu_capacity": "400", "cpu1/cpu_capacity": "400", "cpu1/online": "0",
                             "cpu2/cpu_capacity": "1024", "cpu2/online": "1", "cpu3/cpu_capacity": "1024"])
        XCTAssertEqual(try CoreTopology(sysfsRoot: path).cpus.map(\.id), [0, 2, 3])
        let allowed = try CoreTopology(sysfsRoot: path, allowed: [0, 3])
        XCTAssertEqual(allowed.cpuIDs(.big), [3])
        XCTAssertEqual(allowed.cpuIDs(.little), [0])
        XCTAssertThrowsError(try CoreTopology(sysfsRoot: path, allowed: [7]))
        XCTAssertThrowsError(try CoreTopology(sysfsRoot: root.appendingPathComponent("missing").path))
    }

    func testCPUListSyntax() {
        XCTAssertEqual(ThreadAffinity.parseCPUList("0-3,6,8-9\n"), [0, 1, 2, 3, 6, 8, 9])
        XCTAssertEqual(ThreadAffinity.parseCPUList("5"), [5])
        for bad in ["", "3-1", "a", "1,,2", "-1", "1-2-3"] { XCTAssertNil(ThreadAffinity.parseCPUList(bad), bad) }
        XCTAssertNotNil(ThreadAffinity.allowedCPUs())   // Linux test machines have /proc/self/status
    }

    /// Pinning to the CPUs this process may use succeeds; an impossible CPU number fails clearly.
    func testPinningToAllowedCPUs() throws {
        guard let allowed = ThreadAffinity.allowedCPUs() else { throw XCTSkip("no /proc/self/status") }
        let cpus = allowed.sorted()
        try ThreadAffinity.pin(threads: 2, to: cpus)
        XCTAssertThrowsError(try ThreadAffinity.pin(threads: 1, to: [100_000])) { error in
            XCTAssertTrue("\(error)".contains("could not pin threads to CPUs 100000"), "\(error)")
        }
        try ThreadAffinity.pin(threads: 1, to: cpus)   // leave the test process unrestricted
    }
}
