// qbench's flags on the bundled default model with few runs: JSON, CSV and HTML structure, sweeps, core
// pinning on fake sysfs trees, run control, errors. Timings are never asserted.
#if canImport(FoundationXML)
import FoundationXML
#endif
import Foundation
import XCTest
import _QTestSupport

final class QBenchTests: XCTestCase {
    private var tmp: URL!

    override func setUpWithError() throws { tmp = try TestPaths.makeTemporaryDirectory(prefix: "lowbit-qbench") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tmp) }

    /// Runs qbench; without time-based warm-up unless the arguments set one, to keep tests fast.
    private func qbench(_ args: [String], environment: [String: String]? = nil) throws -> CommandResult {
        let warmup = args.contains("--warmup-secs") || args.contains("--help") ? [] : ["--warmup-secs", "0"]
        return try ProcessRunner.runProduct("qbench", args + warmup, environment: environment)
    }

    private func object(_ text: String) throws -> [String: Any] {
        try XCTUnwrap(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], text)
    }

    private func points(_ json: [String: Any]) throws -> [[String: Any]] {
        try XCTUnwrap(json["points"] as? [[String: Any]])
    }

    func testJSONOnStandardOutputHasEveryFigure() throws {
        let r = try qbench(["--runs", "3", "--warmup", "2", "--json", "-"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try object(r.stdout)   // nothing but the JSON on stdout
        for key in ["model", "arch", "precision", "initMs", "kernels", "machine", "runControl", "peakRSSBytes"] {
            XCTAssertNotNil(json[key], key)
        }
        XCTAssertEqual(json["weightBits"] as? Int, 4)
        XCTAssertEqual(json["runtimeBitWidths"] as? [Int], [])
        let modelPath = try XCTUnwrap(json["model"] as? String)
        let size = try FileManager.default.attributesOfItem(atPath: modelPath)[.size] as? Int
        XCTAssertEqual(json["fileSizeBytes"] as? Int, size)
        XCTAssertGreaterThan(json["peakRSSBytes"] as? Int ?? 0, 1 << 20)
        let machine = try XCTUnwrap(json["machine"] as? [String: Any])
        for key in ["cpuModel", "logicalCPUs", "isa"] { XCTAssertNotNil(machine[key], key) }
        let control = try XCTUnwrap(json["runControl"] as? [String: Any])
        XCTAssertEqual(control["warmup"] as? Int, 2)
        XCTAssertEqual(control["warmupSecs"] as? Double, 0)
        XCTAssertEqual(control["runs"] as? Int, 3)
        let point = try XCTUnwrap(points(json).first)
        XCTAssertEqual(try points(json).count, 1)
        XCTAssertEqual(point["threads"] as? Int, 1)
        XCTAssertEqual(point["warmupRuns"] as? Int, 2)
        for key in ["firstInferenceMs", "warmupMeanMs", "relativeStd", "noisy", "speedup"] { XCTAssertNotNil(point[key], key) }
        XCTAssertNil(point["cpus"])   // no --cores: not pinned
        let latency = try XCTUnwrap(point["latencyMs"] as? [String: Any])
        for key in ["min", "median", "mean", "p90", "p99", "max", "std"] { XCTAssertNotNil(latency[key] as? Double, key) }
        XCTAssertEqual(latency["count"] as? Int, 3)
        XCTAssertNil(json["profile"])
    }

    func testThreadSweepWritesJSONAndCSVFilesAndATable() throws {
        let jsonPath = tmp.appendingPathComponent("r.json").path, csvPath = tmp.appendingPathComponent("r.csv").path
        let r = try qbench(["--threads", "1,2", "--runs", "2", "--warmup", "0", "--json", jsonPath, "--csv", csvPath])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("sweep (speed-up") && r.stdout.contains("peak memory (RSS)"), r.stdout)
        let sweep = try points(object(String(contentsOfFile: jsonPath, encoding: .utf8)))
        XCTAssertEqual(sweep.map { $0["threads"] as? Int }, [1, 2])
        XCTAssertNil(sweep[0]["warmupMeanMs"])   // --warmup 0
        XCTAssertEqual(sweep[0]["speedup"] as? Double, 1)
        XCTAssertEqual(sweep[1]["speedupBaselineThreads"] as? Int, 1)
        let lines = try String(contentsOfFile: csvPath, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        XCTAssertEqual(lines.count, 3)
        let header = lines[0].map(String.init)
        for column in ["threads", "bits", "median_ms", "p99_ms", "speedup", "peak_rss_bytes", "file_size_bytes"] {
            XCTAssertTrue(header.contains(column), column)
        }
        XCTAssertTrue(lines.allSatisfy { $0.count == header.count })
        XCTAssertEqual(lines.dropFirst().map { String($0[header.firstIndex(of: "threads")!]) }, ["1", "2"])
        XCTAssertEqual(String(lines[1][header.firstIndex(of: "bits")!]), "4")
    }

    /// A --bits sweep of an Any-Precision model: every width's speed-up over the 8-bit width is the ratio of
    /// the reported medians (JSON, CSV and text agree), and the report charts median latency against bits.
    func testBitSweepSpeedupOver8BitAndLatencyAgainstBitsChart() throws {
        let converted = try ConvertedAnyPrecisionFixture("resnet20q", in: tmp)
        XCTAssertEqual(converted.convert.status, 0, converted.convert.stderr)
        let jsonPath = tmp.appendingPathComponent("b.json").path, csvPath = tmp.appendingPathComponent("b.csv").path
        let html = tmp.appendingPathComponent("b.html").path
        let r = try qbench(["--model", converted.model, "--bits", "1,8,32", "--runs", "2", "--warmup", "0",
                            "--json", jsonPath, "--csv", csvPath, "--report", html])
        XCTAssertEqual(r.status, 0, r.stderr)
        let sweep = try points(object(String(contentsOfFile: jsonPath, encoding: .utf8)))
        XCTAssertEqual(sweep.map { $0["bits"] as? Int }, [1, 8, 32])
        let median = { (p: [String: Any]) in ((p["latencyMs"] as? [String: Any])?["median"] as? Double) ?? .nan }
        let eightBit = median(sweep[1])
        XCTAssertEqual(sweep[1]["speedupOver8Bit"] as? Double, 1)
        for p in sweep {
            let speedup = try XCTUnwrap(p["speedupOver8Bit"] as? Double, "\(p)")
            XCTAssertEqual(speedup, eightBit / median(p), accuracy: 1e-12 * speedup)
            XCTAssertTrue(r.stdout.contains(String(format: "%.2fx", speedup)), r.stdout)
        }
        XCTAssertTrue(r.stdout.contains("vs 8-bit = median at 8 bits"), r.stdout)
        let lines = try String(contentsOfFile: csvPath, encoding: .utf8).split(separator: "\n")
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let column = try XCTUnwrap(lines[0].firstIndex(of: "speedup_over_8bit"))
        for (row, p) in zip(lines.dropFirst(), sweep) {
            XCTAssertEqual(Double(row[column]) ?? .nan, p["speedupOver8Bit"] as? Double ?? 0, accuracy: 1e-5 * (Double(row[column]) ?? 1))
        }

        let page = try String(contentsOfFile: html, encoding: .utf8)
        let section = try XCTUnwrap(page.components(separatedBy: "<section id=\"bits\">").dropFirst().first?
            .components(separatedBy: "</section>").first)
        let svg = try XCTUnwrap(section.components(separatedBy: "<svg").dropFirst().first.map {
            "<svg" + $0.components(separatedBy: "</svg>")[0] + "</svg>"
        })
        XCTAssertTrue(XMLParser(data: Data(svg.utf8)).parse(), svg)
        XCTAssertTrue(svg.contains("<polyline") && svg.contains(">weight bits</text>") && svg.contains("median latency (ms)"), svg)
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 3)            // one marker per width
        for bits in ["1", "8", "32"] { XCTAssertTrue(svg.contains(">\(bits)</text>"), bits) }   // x ticks
        XCTAssertTrue(section.contains("<p id=\"bit-speedups\">") && section.contains("32-bit "), section)
        XCTAssertTrue(page.contains("<th>vs 8-bit</th>"))

        // Without an 8-bit point there is nothing to compare with: no figure, no column.
        let no8 = try qbench(["--model", converted.model, "--bits", "1,32", "--runs", "1", "--warmup", "0", "--json", jsonPath])
        XCTAssertEqual(no8.status, 0, no8.stderr)
        XCTAssertTrue(try points(object(String(contentsOfFile: jsonPath, encoding: .utf8))).allSatisfy { $0["speedupOver8Bit"] == nil })
        XCTAssertFalse(no8.stdout.contains("vs 8-bit"), no8.stdout)
    }

    /// Rows slower than a row with fewer threads are marked in JSON and text, and only those.
    func testSlowerRowsAreMarkedConsistently() throws {
        let jsonPath = tmp.appendingPathComponent("s.json").path
        let r = try qbench(["--threads", "1,2,3", "--runs", "5", "--warmup", "1", "--json", jsonPath])
        XCTAssertEqual(r.status, 0, r.stderr)
        let sweep = try points(object(String(contentsOfFile: jsonPath, encoding: .utf8)))
        var marked = 0
        for (i, point) in sweep.enumerated() {
            let median = (point["latencyMs"] as! [String: Any])["median"] as! Double
            let fastestFewer = sweep[..<i].map { ($0["latencyMs"] as! [String: Any])["median"] as! Double }.min()
            if let fastestFewer, fastestFewer < median {
                marked += 1
                XCTAssertNotNil(point["slowerThanThreads"] as? Int, "\(point)")
                XCTAssertEqual(point["slowdown"] as! Double, median / fastestFewer - 1, accuracy: 1e-9)
            } else {
                XCTAssertNil(point["slowerThanThreads"], "\(point)")
            }
        }
        XCTAssertEqual(r.stdout.components(separatedBy: "<- SLOWER than").count - 1, marked, r.stdout)
    }

    func testBitsAcceptsTheModelsOwnWidthAndRefusesOthers() throws {
        let ok = try qbench(["--bits", "4", "--runs", "1", "--warmup", "0", "--json", "-"])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertEqual(try points(object(ok.stdout)).first?["bits"] as? Int, 4)
        let sweep = try qbench(["--bits", "2,4", "--runs", "1"])
        XCTAssertEqual(sweep.status, 1)
        XCTAssertTrue(sweep.stderr.contains("qbench: error: model has fixed 4-bit weights")
                      && sweep.stderr.contains("any-precision"), sweep.stderr)
    }

    /// A fake big.LITTLE tree over the CPUs this process may use: the first is big, the others little.
    func testCoresPinToTheCPUsAFakeSysfsTreeChooses() throws {
        let allowed = try allowedCPUs()
        guard allowed.count >= 2 else { throw XCTSkip("needs two usable CPUs") }
        let root = try fakeSysfs(allowed.map { ($0, $0 == allowed[0] ? "cpu_capacity:1024" : "cpu_capacity:300") })
        let r = try qbench(["--cores", "big,little", "--threads", "1,2", "--runs", "2", "--warmup", "0",
                            "--sysfs-root", root, "--json", "-"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try object(r.stdout)
        let cores = try XCTUnwrap(json["cores"] as? [String: Any])
        XCTAssertEqual(cores["source"] as? String, "cpu_capacity")
        XCTAssertEqual(cores["heterogeneous"] as? Bool, true)
        let selections = try XCTUnwrap(cores["selections"] as? [String: [Int]])
        XCTAssertEqual(selections["big"], [allowed[0]])
        XCTAssertEqual(selections["little"], Array(allowed.dropFirst()))
        let sweep = try points(json)
        XCTAssertEqual(sweep.map { $0["cores"] as? String }, ["big", "big", "little", "little"])
        XCTAssertEqual(sweep.map { $0["threads"] as? Int }, [1, 2, 1, 2])
        XCTAssertEqual(sweep[1]["cpus"] as? [Int], [allowed[0]])
        XCTAssertEqual(sweep[3]["cpus"] as? [Int], Array(allowed.dropFirst()))
        // Text: the selection, and a note when a point has more threads than CPUs.
        let text = try qbench(["--cores", "big", "--threads", "2", "--runs", "1", "--sysfs-root", root])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("cores: big = CPUs \(allowed[0]) (capacity from cpu_capacity"), text.stdout)
        XCTAssertTrue(text.stdout.contains("runs more threads than the 1 CPUs it may use"), text.stdout)
    }

    /// QBENCH_SYSFS_ROOT selects the tree too; a tree with only cpufreq uses maximum frequencies.
    func testCoresFromCpufreqViaEnvironment() throws {
        let allowed = try allowedCPUs()
        let root = try fakeSysfs(allowed.map { ($0, "cpufreq/cpuinfo_max_freq:2000000") })
        var environment = ProcessInfo.processInfo.environment
        environment["QBENCH_SYSFS_ROOT"] = root
        let r = try qbench(["--cores", "little", "--runs", "1", "--json", "-"], environment: environment)
        XCTAssertEqual(r.status, 0, r.stderr)
        let cores = try XCTUnwrap(try object(r.stdout)["cores"] as? [String: Any])
        XCTAssertEqual(cores["source"] as? String, "cpufreq")
        XCTAssertEqual(cores["heterogeneous"] as? Bool, false)
        XCTAssertEqual((cores["selections"] as? [String: [Int]])?["little"], allowed)   // all equal: every CPU
        let missing = try qbench(["--cores", "big", "--sysfs-root", tmp.appendingPathComponent("nowhere").path])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("no online CPUs found under"), missing.stderr)
    }

    func testProfileAndSelfContainedHTMLReport() throws {
        let html = tmp.appendingPathComponent("report.html").path, jsonPath = tmp.appendingPathComponent("p.json").path
        let r = try qbench(["--threads", "1,2", "--runs", "2", "--warmup", "0", "--report", html, "--json", jsonPath])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("per-layer profile") && r.stdout.contains("% peak"), r.stdout)   // --report implies --profile
        let profile = try XCTUnwrap(try object(String(contentsOfFile: jsonPath, encoding: .utf8))["profile"] as? [String: Any])
        let layers = try XCTUnwrap(profile["layers"] as? [[String: Any]])
        XCTAssertGreaterThan(layers.count, 3)
        for key in ["name", "op", "inputShape", "outputShape", "ms", "percent", "cumulativePercent"] {
            XCTAssertNotNil(layers[0][key], key)
        }
        let conv = try XCTUnwrap(layers.first { $0["op"] as? String == "conv2d" })
        for key in ["weights", "bits", "kernel", "isa", "gops", "percentOfPeak"] { XCTAssertNotNil(conv[key], key) }
        XCTAssertEqual(layers.last?["cumulativePercent"] as? Double ?? 0, 100, accuracy: 1e-6)
        XCTAssertGreaterThan(profile["peakGOPSPerCore"] as? Double ?? 0, 0)

        let page = try String(contentsOfFile: html, encoding: .utf8)
        XCTAssertTrue(page.hasPrefix("<!DOCTYPE html>") && page.hasSuffix("</html>\n"))
        for id in ["latency", "threads", "layers", "machine"] { XCTAssertTrue(page.contains("<section id=\"\(id)\">"), id) }
        XCTAssertFalse(page.contains("<section id=\"bits\">"))   // no bit sweep
        // Self-contained: no scripts, no external references; the only URL is the SVG namespace.
        for needle in ["<script", "src=", "href=", "@import", "url("] { XCTAssertFalse(page.contains(needle), needle) }
        XCTAssertFalse(page.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "").contains("http"))
        // Every chart is well-formed SVG: the layer chart has a bar per layer, the thread chart a line.
        let svgs = page.components(separatedBy: "<svg").dropFirst().map { "<svg" + $0.components(separatedBy: "</svg>")[0] + "</svg>" }
        XCTAssertEqual(svgs.count, 2)
        for svg in svgs { XCTAssertTrue(XMLParser(data: Data(svg.utf8)).parse(), svg) }
        let layerChart = try XCTUnwrap(svgs.first { $0.contains("milliseconds per layer") })
        XCTAssertGreaterThanOrEqual(layerChart.components(separatedBy: "<rect").count - 1, layers.count)
        let threadChart = try XCTUnwrap(svgs.first { $0.contains("median latency") })
        XCTAssertTrue(threadChart.contains("<polyline") && threadChart.contains(">threads</text>"), threadChart)
        XCTAssertTrue(page.contains("CPU model") && page.contains("ISA used"))
    }

    func testRunControl() throws {
        func count(_ args: [String]) throws -> Int {
            let r = try qbench(args + ["--warmup", "0", "--json", "-"])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try XCTUnwrap((points(object(r.stdout))[0]["latencyMs"] as? [String: Any])?["count"] as? Int)
        }
        XCTAssertGreaterThan(try count(["--runs", "1", "--min-secs", "0.3"]), 1)             // a run takes far less than 0.3 s
        XCTAssertLessThan(try count(["--runs", "1000000", "--max-secs", "0.01"]), 1_000_000)  // and far more than 10 ns
        // --warmup-secs keeps warming up past --warmup runs.
        let warm = try qbench(["--runs", "1", "--warmup", "1", "--warmup-secs", "0.3", "--json", "-"])
        XCTAssertEqual(warm.status, 0, warm.stderr)
        XCTAssertGreaterThan(try points(object(warm.stdout))[0]["warmupRuns"] as? Int ?? 0, 1)
        // --cooldown sleeps before the first inference and every run: 1 + 1 + 3 pauses of 100 ms at least.
        let started = Date()
        let r = try qbench(["--runs", "3", "--warmup", "1", "--cooldown", "100", "--json", "-"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.5)
        XCTAssertEqual((try object(r.stdout)["runControl"] as? [String: Any])?["cooldownMs"] as? Double, 100)
    }

    func testBadFlagsAndUnwritableFiles() throws {
        let bad: [[String]] = [
            ["--threads", "0"], ["--threads", "1,x"], ["--threads", ""], ["--threads", "1,,2"], ["--bits", "5"],
            ["--cores", "medium"], ["--cores", "big,"], ["--warmup", "-1"], ["--min-secs", "-1"], ["--max-secs", "0"],
            ["--min-secs", "2", "--max-secs", "1"], ["--cooldown", "-1"], ["--warmup-secs", "-1"], ["--json", "-", "--csv", "-"], ["--report", "-"],
        ]
        for args in bad {
            let r = try qbench(args)
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("Error:"), "\(args): \(r.stderr)")
        }
        let r = try qbench(["--runs", "1", "--json", tmp.appendingPathComponent("no/such/dir/r.json").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("qbench: error: cannot write") && r.stderr.contains("r.json"), r.stderr)
    }

    func testHelpHasEveryFlagAndExamples() throws {
        let r = try qbench(["--help"])
        XCTAssertEqual(r.status, 0)
        for flag in ["--threads", "--bits", "--cores", "--sysfs-root", "--warmup", "--runs", "--warmup-secs", "--min-secs", "--max-secs",
                     "--cooldown", "--json", "--csv", "--report", "--profile", "Examples:", "Exit status"] {
            XCTAssertTrue(r.stdout.contains(flag), flag)
        }
    }

    // MARK: helpers

    private func allowedCPUs() throws -> [Int] {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else {
            throw XCTSkip("no Cpus_allowed_list")
        }
        var cpus: [Int] = []
        for part in line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces).split(separator: ",") {
            let bounds = part.split(separator: "-").compactMap { Int($0) }
            cpus += bounds[0]...bounds[bounds.count - 1]
        }
        return cpus
    }

    /// A sysfs tree with one folder per CPU holding "relative/path:value".
    private func fakeSysfs(_ cpus: [(Int, String)]) throws -> String {
        let root = tmp.appendingPathComponent("sysfs")
        for (cpu, entry) in cpus {
            let parts = entry.split(separator: ":", maxSplits: 1).map(String.init)
            let file = root.appendingPathComponent("devices/system/cpu/cpu\(cpu)/\(parts[0])")
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data((parts[1] + "\n").utf8).write(to: file)
        }
        return root.path
    }
}
