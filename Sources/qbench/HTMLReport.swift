// --report: one self-contained HTML page (inline CSS and SVG, no scripts, nothing fetched) with the
// latency table, the thread-scaling and bit-width curves, the per-layer bar chart and table, and the machine.
import Foundation
import QRuntime

struct HTMLReport {
    let result: BenchResult
    init(_ result: BenchResult) { self.result = result }

    func page() -> String {
        let r = result
        let name = URL(fileURLWithPath: r.model).lastPathComponent
        var body = "<h1>qbench: \(e(name))</h1>\n"
        body += "<p>\(e(r.arch)), \(e(r.precision)); file \(e(byteText(r.fileSizeBytes))); peak memory (RSS) "
            + "\(e(byteText(r.peakRSSBytes))); init \(f(r.initMs)) ms. Generated \(e(ISO8601DateFormatter().string(from: Date()))).</p>\n"
        body += warnings()
        body += latencyTable()
        body += threadSection()
        body += bitSection()
        body += profileSection()
        body += machineSection()
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>qbench report: \(e(name))</title>
            <style>
            body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1100px; }
            table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
            th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
            th { background: #f2f2f2; }
            td.l, th.l { text-align: left; }
            tr.slower td { background: #fde2e1; }
            .warn { background: #fff3cd; border: 1px solid #e0c060; padding: 8px 12px; }
            section { margin-bottom: 28px; }
            figure { margin: 8px 0; }
            </style>
            </head>
            <body>
            \(body)</body>
            </html>

            """
    }

    private func warnings() -> String {
        var items: [String] = []
        for p in result.noisyPoints {
            items.append("\(e(pointTitle(p))): std is \(pct(p.relativeStd * 100)) % of the median: the machine was noisy.")
        }
        for p in result.points {
            if let slower = p.slowerThanThreads, let slowdown = p.slowdown {
                let other = "\(slower) thread\(slower == 1 ? "" : "s")" + (p.slowerThanCores.map { " on \($0.rawValue) cores" } ?? "")
                items.append("\(e(pointTitle(p))) is \(pct(slowdown * 100)) % slower than \(e(other)).")
            }
        }
        guard !items.isEmpty else { return "" }
        return "<div class=\"warn\" id=\"warnings\"><ul>" + items.map { "<li>\($0)</li>" }.joined() + "</ul></div>\n"
    }

    private func latencyTable() -> String {
        var html = "<section id=\"latency\"><h2>Latency (ms)</h2>\n<table>\n<tr><th>threads</th><th>bits</th><th class=\"l\">cores</th>"
            + "<th>first</th><th>warm-up mean</th><th>runs</th><th>min</th><th>median</th><th>mean</th><th>p90</th><th>p99</th>"
            + "<th>max</th><th>std</th><th>std %</th><th>speed-up</th>"
            + (result.hasBitSpeedups ? "<th>vs 8-bit</th>" : "") + "</tr>\n"
        for p in result.points {
            let l = p.latencyMs
            html += "<tr\(p.slowerThanThreads != nil ? " class=\"slower\"" : "")><td>\(p.threads)</td><td>\(bitsText(p))</td>"
                + "<td class=\"l\">\(p.cores.map { "\($0.rawValue) (CPUs \(cpuListText(p.cpus!)))" } ?? "any")</td><td>\(f(p.firstInferenceMs))</td>"
                + "<td>\(p.warmupMeanMs.map(f) ?? "-")</td><td>\(l.count)</td><td>\(f(l.min))</td><td><b>\(f(l.median))</b></td>"
                + "<td>\(f(l.mean))</td><td>\(f(l.p90))</td><td>\(f(l.p99))</td><td>\(f(l.max))</td><td>\(f(l.std))</td>"
                + "<td>\(pct(p.relativeStd * 100))</td><td>\(times(p.speedup))</td>"
                + (result.hasBitSpeedups ? "<td>\(times(p.speedupOver8Bit))</td>" : "") + "</tr>\n"
        }
        return html + "</table></section>\n"
    }

    /// Median latency against threads, one line per bit width and core selection, with ideal linear
    /// scaling (from each line's fewest threads) dashed.
    private func threadSection() -> String {
        var html = "<section id=\"threads\"><h2>Thread scaling</h2>\n"
        guard result.isThreadSweep else {
            return html + "<p>One thread count was measured; sweep with <code>--threads 1,2,4,8</code> for a curve.</p></section>\n"
        }
        var series: [SVGChart.Series] = []
        let lines = result.points.map { LineKey(bits: $0.bits, cores: $0.cores) }
            .reduce(into: [LineKey]()) { if !$0.contains($1) { $0.append($1) } }
        for line in lines {
            let points = result.points.filter { LineKey(bits: $0.bits, cores: $0.cores) == line }.sorted { $0.threads < $1.threads }
            var name = (line.bits ?? result.weightBits).map { "\($0)-bit" } ?? "median"
            if let cores = line.cores { name += ", \(cores.rawValue) cores" }
            series.append(.init(name: name, points: points.map { (Double($0.threads), $0.latencyMs.median) }))
            if let first = points.first {
                series.append(.init(name: "ideal scaling", points: points.map {
                    (Double($0.threads), first.latencyMs.median * Double(first.threads) / Double($0.threads))
                }, dashed: true))
            }
        }
        let ticks = Set(result.points.map { Double($0.threads) }).sorted()
        html += "<figure>" + SVGChart.lines(series, xTicks: ticks, log2X: true, xLabel: "threads",
                                          yLabel: "median latency (ms)") + "</figure>\n"
        return html + "</section>\n"
    }

    /// Median latency against weight bits, one line per thread count and core selection (only when bits
    /// were swept), and each width's speed-up over the 8-bit width beside it.
    private func bitSection() -> String {
        guard result.isBitSweep else { return "" }
        var series: [SVGChart.Series] = []
        var speedups: [String] = []
        let lines = result.points.map { LineKey(threads: $0.threads, cores: $0.cores) }
            .reduce(into: [LineKey]()) { if !$0.contains($1) { $0.append($1) } }
        for line in lines {
            let points = result.points.filter { LineKey(threads: $0.threads, cores: $0.cores) == line && $0.bits != nil }
                .sorted { $0.bits! < $1.bits! }
            var name = "\(line.threads) thread" + (line.threads == 1 ? "" : "s")
            if let cores = line.cores { name += ", \(cores.rawValue) cores" }
            series.append(.init(name: name, points: points.map { (Double($0.bits!), $0.latencyMs.median) }))
            let listed = points.compactMap { p in p.speedupOver8Bit.map { "\(p.bits!)-bit \(times($0))" } }
            if !listed.isEmpty { speedups.append("\(e(name)): " + listed.joined(separator: ", ")) }
        }
        let ticks = Set(result.points.compactMap(\.bits)).sorted().map(Double.init)
        var html = "<section id=\"bits\"><h2>Bit width</h2>\n<figure>"
            + SVGChart.lines(series, xTicks: ticks, log2X: true, xLabel: "weight bits", yLabel: "median latency (ms)")
            + "</figure>\n"
        if !speedups.isEmpty {
            html += "<p id=\"bit-speedups\">Speed-up over the 8-bit width (median at 8 bits / median): "
                + speedups.joined(separator: "; ") + ".</p>\n"
        }
        return html + "</section>\n"
    }

    private func profileSection() -> String {
        guard let p = result.profile else { return "" }
        var html = "<section id=\"layers\"><h2>Per-layer profile</h2>\n<p>Threads \(p.threads), mean of \(p.runs) runs; "
            + "sum of steps \(f(p.totalMs)) ms. Share of peak: GOP/s over the measured int8 peak "
            + "(\(f(p.peakGOPSPerCore)) GOP/s per core, \(e(p.peakISA))) times \(p.coresUsed) core(s).</p>\n"
        let bars = p.layers.map { row in
            SVGChart.Bar(label: row.name, value: row.ms, group: row.op,
                         annotation: "\(f(row.ms)) ms, \(pct(row.percent)) %")
        }
        html += "<figure>" + SVGChart.bars(bars, valueLabel: "milliseconds per layer") + "</figure>\n"
        html += "<table>\n<tr><th>#</th><th class=\"l\">layer</th><th class=\"l\">op</th><th class=\"l\">input</th>"
            + "<th class=\"l\">output</th><th class=\"l\">weights</th><th>bits</th><th class=\"l\">kernel</th><th class=\"l\">ISA</th>"
            + "<th>ms</th><th>%</th><th>cum %</th><th>GOP/s</th><th>% peak</th></tr>\n"
        for (i, row) in p.layers.enumerated() {
            let shape: ([Int]) -> String = { $0.map(String.init).joined(separator: "x") }
            html += "<tr><td>\(i)</td><td class=\"l\">\(e(row.name))</td><td class=\"l\">\(e(row.op))</td>"
                + "<td class=\"l\">\(shape(row.inputShape))</td><td class=\"l\">\(shape(row.outputShape))</td>"
                + "<td class=\"l\">\(e(row.weights ?? "-"))</td><td>\(row.bits.map(String.init) ?? "-")</td>"
                + "<td class=\"l\">\(e(row.kernel ?? "-"))</td><td class=\"l\">\(e(row.isa ?? "-"))</td><td>\(f(row.ms))</td>"
                + "<td>\(pct(row.percent))</td><td>\(pct(row.cumulativePercent))</td>"
                + "<td>\(row.gops.map { String(format: "%.1f", $0) } ?? "-")</td><td>\(row.percentOfPeak.map(pct) ?? "-")</td></tr>\n"
        }
        return html + "</table></section>\n"
    }

    private func machineSection() -> String {
        let m = result.machine
        var rows: [(String, String)] = [
            ("CPU model", m.cpuModel), ("logical CPUs", String(m.logicalCPUs)), ("ISA used", m.isa),
            ("max frequency", m.maxFrequencyMHz.map { "\(f($0)) MHz" } ?? "not readable"),
        ]
        if let c = result.cores {
            rows.append(("--cores", c.selections.sorted { $0.key < $1.key }.map { "\($0.key): CPUs \(cpuListText($0.value))" }
                .joined(separator: "; ")))
            rows.append(("capacities (\(c.source))", c.topology.map { "cpu\($0.id) \(SVGChart.format($0.capacity))" }.joined(separator: ", ")))
        }
        if let p = result.profile { rows.append(("int8 peak per core", "\(f(p.peakGOPSPerCore)) GOP/s (\(p.peakISA))")) }
        let rc = result.runControl
        rows.append(("run control", "warm-up \(rc.warmup) runs and \(f(rc.warmupSecs)) s, runs \(rc.runs), min \(f(rc.minSecs)) s, max \(f(rc.maxSecs)) s, cooldown \(f(rc.cooldownMs)) ms"))
        rows.append(("kernels", result.kernels.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", ")))
        return "<section id=\"machine\"><h2>Machine</h2>\n<table>\n"
            + rows.map { "<tr><th class=\"l\">\(e($0.0))</th><td class=\"l\">\(e($0.1))</td></tr>\n" }.joined()
            + "</table></section>\n"
    }

    private struct LineKey: Equatable {
        var bits: Int?
        var threads = 0
        var cores: CoreSelection?
    }

    private func bitsText(_ p: PointResult) -> String { (p.bits ?? result.weightBits).map(String.init) ?? "-" }

    private func e(_ s: String) -> String { SVGChart.escape(s) }
    private func f(_ x: Double) -> String { String(format: x >= 100 ? "%.1f" : "%.3f", x) }
    private func pct(_ x: Double) -> String { String(format: "%.1f", x) }
    private func times(_ x: Double?) -> String { TextOutput.timesText(x) }
}
