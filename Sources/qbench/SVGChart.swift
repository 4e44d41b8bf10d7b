// Small inline-SVG charts for the HTML report: a horizontal bar chart and a line chart with axes. Plain
// SVG text, no scripts and no external resources.
import Foundation

enum SVGChart {
    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f", "#bab0ac"]

    /// One bar: label on the left, length by value, colour by group (a legend lists the groups).
    struct Bar {
        var label: String
        var value: Double
        var group: String
        /// Text after the bar's end.
        var annotation: String
    }

    /// A horizontal bar chart, one bar per row, scaled to the largest value.
    static func bars(_ bars: [Bar], width: Int = 1000, valueLabel: String) -> String {
        let rowHeight = 18, top = 36, labelWidth = 230, annotationWidth = 150
        let groups = bars.map(\.group).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let height = top + rowHeight * bars.count + 30
        let plotWidth = Double(width - labelWidth - annotationWidth)
        let maxValue = max(bars.map(\.value).max() ?? 1, 1e-12)
        var svg = header(width: width, height: height, title: valueLabel)
        var x = labelWidth
        for (i, group) in groups.enumerated() {
            svg += "<rect x=\"\(x)\" y=\"6\" width=\"12\" height=\"12\" fill=\"\(palette[i % palette.count])\"/>"
            svg += "<text x=\"\(x + 16)\" y=\"16\" font-size=\"12\">\(escape(group))</text>"
            x += 30 + 8 * group.count
        }
        for (i, bar) in bars.enumerated() {
            let y = top + i * rowHeight
            let length = max(bar.value / maxValue * plotWidth, 1)
            let color = palette[groups.firstIndex(of: bar.group)! % palette.count]
            svg += "<text x=\"\(labelWidth - 6)\" y=\"\(y + 13)\" font-size=\"12\" text-anchor=\"end\">\(escape(bar.label))</text>"
            svg += "<rect x=\"\(labelWidth)\" y=\"\(y + 2)\" width=\"\(format(length))\" height=\"\(rowHeight - 4)\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(format(Double(labelWidth) + length + 5))\" y=\"\(y + 13)\" font-size=\"11\">\(escape(bar.annotation))</text>"
        }
        let axisY = top + rowHeight * bars.count + 4
        svg += "<line x1=\"\(labelWidth)\" y1=\"\(top)\" x2=\"\(labelWidth)\" y2=\"\(axisY)\" stroke=\"#333\"/>"
        svg += "<text x=\"\(labelWidth)\" y=\"\(axisY + 18)\" font-size=\"12\">\(escape(valueLabel)) (longest bar: \(format(maxValue)))</text>"
        return svg + "</svg>"
    }

    /// A named polyline; `dashed` for reference lines.
    struct Series {
        var name: String
        var points: [(x: Double, y: Double)]
        var dashed = false
    }

    /// A line chart with x ticks at the given values (log2-spaced when `log2X`), a y axis from 0, markers
    /// and a legend (wrapped into rows; series of the same name share one entry).
    static func lines(_ series: [Series], xTicks: [Double], log2X: Bool, xLabel: String, yLabel: String,
                      width: Int = 640, height: Int = 340) -> String {
        // Legend entries first: their rows decide where the plot starts.
        var legend: [(index: Int, x: Double, row: Int)] = []
        var legendX = 64.0, row = 0, named = Set<String>()
        for (i, s) in series.enumerated() where named.insert(s.name).inserted {
            let entryWidth = 34 + Double(7 * s.name.count)
            if legendX + entryWidth > Double(width) - 10 && legendX > 64 { legendX = 64; row += 1 }
            legend.append((i, legendX, row))
            legendX += entryWidth
        }
        let left = 64.0, right = 20.0, top = 40.0 + 18 * Double(row), bottom = 50.0
        let plotW = Double(width) - left - right, plotH = Double(height) - 40 - bottom
        func tx(_ x: Double) -> Double { log2X ? log2(max(x, 1e-9)) : x }
        let xs = xTicks.map(tx)
        let xMin = xs.min() ?? 0, xMax = xs.max() ?? 1
        let yMax = niceCeiling(series.flatMap { $0.points.map(\.y) }.max() ?? 1)
        func px(_ x: Double) -> Double { left + (xMax > xMin ? (tx(x) - xMin) / (xMax - xMin) : 0.5) * plotW }
        func py(_ y: Double) -> Double { top + plotH - min(y / yMax, 1.05) * plotH }
        var svg = header(width: width, height: height + 18 * row, title: yLabel)
        for i in 0...4 {
            let y = yMax * Double(i) / 4
            svg += "<line x1=\"\(format(left))\" y1=\"\(format(py(y)))\" x2=\"\(format(left + plotW))\" y2=\"\(format(py(y)))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(format(left - 6))\" y=\"\(format(py(y) + 4))\" font-size=\"11\" text-anchor=\"end\">\(format(y))</text>"
        }
        for tick in xTicks {
            svg += "<line x1=\"\(format(px(tick)))\" y1=\"\(format(top + plotH))\" x2=\"\(format(px(tick)))\" y2=\"\(format(top + plotH + 5))\" stroke=\"#333\"/>"
            svg += "<text x=\"\(format(px(tick)))\" y=\"\(format(top + plotH + 18))\" font-size=\"11\" text-anchor=\"middle\">\(format(tick))</text>"
        }
        svg += "<line x1=\"\(format(left))\" y1=\"\(format(top + plotH))\" x2=\"\(format(left + plotW))\" y2=\"\(format(top + plotH))\" stroke=\"#333\"/>"
        svg += "<line x1=\"\(format(left))\" y1=\"\(format(top))\" x2=\"\(format(left))\" y2=\"\(format(top + plotH))\" stroke=\"#333\"/>"
        svg += "<text x=\"\(format(left + plotW / 2))\" y=\"\(format(top + plotH + 40))\" font-size=\"12\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        svg += "<text x=\"14\" y=\"\(format(top + plotH / 2))\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(format(top + plotH / 2)))\">\(escape(yLabel))</text>"
        func color(_ i: Int) -> String { series[i].dashed ? "#888" : palette[series[..<i].filter { !$0.dashed }.count % palette.count] }
        for (i, s) in series.enumerated() {
            let color = color(i)
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            let path = s.points.map { "\(format(px($0.x))),\(format(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"\(dash)/>"
            if !s.dashed {
                for p in s.points {
                    svg += "<circle cx=\"\(format(px(p.x)))\" cy=\"\(format(py(p.y)))\" r=\"4\" fill=\"\(color)\"><title>\(escape(s.name)): \(format(p.x)) -> \(format(p.y))</title></circle>"
                }
            }
        }
        for entry in legend {
            let s = series[entry.index], y = 14 + 18 * entry.row
            let dash = s.dashed ? " stroke-dasharray=\"6 4\"" : ""
            svg += "<line x1=\"\(format(entry.x))\" y1=\"\(y)\" x2=\"\(format(entry.x + 20))\" y2=\"\(y)\" stroke=\"\(color(entry.index))\" stroke-width=\"2\"\(dash)/>"
            svg += "<text x=\"\(format(entry.x + 24))\" y=\"\(y + 4)\" font-size=\"12\">\(escape(s.name))</text>"
        }
        return svg + "</svg>"
    }

    private static func header(width: Int, height: Int, title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" "
            + "font-family=\"sans-serif\" role=\"img\" style=\"max-width:100%;height:auto\"><title>\(escape(title))</title>"
    }

    /// The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten) above `x`.
    static func niceCeiling(_ x: Double) -> Double {
        guard x > 0 else { return 1 }
        let power = pow(10, floor(log10(x)))
        return [1.0, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map { $0 * power }.first { $0 >= x * 1.02 } ?? 10 * power
    }

    static func format(_ x: Double) -> String {
        if x == x.rounded() && abs(x) < 1e9 { return String(Int(x)) }
        return String(format: abs(x) >= 100 ? "%.0f" : abs(x) >= 10 ? "%.1f" : abs(x) >= 1 ? "%.2f" : "%.3g", x)
    }

    /// Escapes text for XML/HTML content and attribute values.
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
