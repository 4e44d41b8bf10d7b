// The human-readable conversion summary: what was detected and stored, then one row per layer.
import Foundation
import QConvert

enum SummaryTable {
    static func render(_ r: ConversionReport) -> String {
        var lines: [String] = []
        lines.append("source:        \(r.source) (\(r.sourceFormat), weights in \(r.wrapper))")
        lines.append("architecture:  \(r.arch) — \(r.archEvidence)")
        lines.append("recipe:        \(r.recipe) — \(r.recipeEvidence)")
        lines.append("precision:     \(r.precision)")
        for note in r.recipeNotes { lines.append("               \(note)") }
        if r.recipe != "plain" || r.layers.contains(where: { $0.note?.hasPrefix("kept") == true }) {
            lines.append("               (SQNR: the int8 table the u8 kernels use against the method's exact weights)")
        }
        let p = r.preprocessing
        let resize = p.resize.map { "resize shorter side to \($0), center crop" } ?? "resize to"
        lines.append("preprocessing: \(resize) \(p.inputSize[0])x\(p.inputSize[1]), \(p.channels == 1 ? "gray" : "RGB"), pixel/255, mean \(p.mean), std \(p.std)")
        lines.append("labels:        \(r.labels)")
        lines.append("")
        // a note column (e.g. "kept: uniform 3-bit per channel (--bits 4 not applied)") only when a layer has one
        let notes = r.layers.contains { $0.note != nil }
        let header = ["layer", "op", "shape", "format", "bits", "bytes", "SQNR dB", "clip"] + (notes ? ["note"] : [])
        var rows: [[String]] = [header]
        for l in r.layers {
            rows.append([l.name, l.op, l.shape.map(String.init).joined(separator: "x"), l.format, "\(l.bits)", "\(l.bytes)",
                         l.sqnrDB.map { $0.isInfinite ? "exact" : String(format: "%.1f", $0) } ?? "exact", l.clip ?? "-"]
                         + (notes ? [l.note ?? ""] : []))
        }
        let widths = header.indices.map { c in rows.map { $0[c].count }.max()! }
        for (i, row) in rows.enumerated() {
            lines.append(row.enumerated().map { c, cell in
                c >= 4 && c <= 6 ? String(repeating: " ", count: widths[c] - cell.count) + cell
                    : c == row.count - 1 && notes ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
            }.joined(separator: "  "))
            if i == 0 { lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")) }
        }
        lines.append("")
        lines.append(String(format: "weights: %d bytes (float32: %d), compression %.2fx; file %d bytes -> %@",
                            r.weightBytes, r.floatWeightBytes, r.compression, r.fileBytes, r.output))
        return lines.joined(separator: "\n")
    }
}
