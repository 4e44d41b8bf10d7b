// The human-readable summary `qconvert --inspect` prints: format, wrapper, tensors, metadata, stubbed classes.

extension Checkpoint {
    /// A multi-line report: format, wrapper and prefix, every tensor with dtype and shape, the metadata
    /// (large values summarised), and the opaque classes that were stubbed.
    public func inspectionReport() -> String {
        var lines: [String] = []
        lines.append("file:      \(url.path)")
        lines.append("format:    \(format.rawValue)")
        lines.append("wrapper:   \(wrapper)" + (strippedPrefix.map { " (stripped prefix '\($0)')" } ?? ""))
        let bytes = tensors.reduce(0) { $0 + $1.tensor.bytes.count }
        lines.append("tensors:   \(tensors.count) (\(tensors.reduce(0) { $0 + $1.tensor.elementCount }) elements, \(bytes) bytes)")
        let width = min(60, tensors.map(\.name.count).max() ?? 0)
        for (name, t) in tensors {
            let padded = name.count < width ? name + String(repeating: " ", count: width - name.count) : name
            lines.append("  \(padded)  \(t.dtype.rawValue.padding(8))  [\(t.shape.map(String.init).joined(separator: ", "))]")
        }
        lines.append("metadata:  \(metadata.count) entries")
        for (key, value) in metadata {
            lines.append("  \(key): \(PickleValue.summary(value, budget: 100))")
        }
        lines.append("opaque classes skipped: \(opaqueClasses.isEmpty ? "none" : "\(opaqueClasses.count)")")
        for name in opaqueClasses { lines.append("  \(name)") }
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}

extension PickleValue {
    /// A one-line description at most about `budget` characters long (containers summarised by size).
    public static func summary(_ value: PickleValue, budget: Int = 80) -> String {
        switch value {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let v): return String(v)
        case .bigInt(let b): return "<\(b.count * 8)-bit integer>"
        case .float(let v): return String(v)
        case .string(let s): return s.count <= budget ? "'\(s)'" : "'\(s.prefix(budget))...' (\(s.count) chars)"
        case .bytes(let b): return "<\(b.count) bytes>"
        case .tensor(let t):
            let head = t.elementCount == 1 ? " = \(t.dtype.isFloatingPoint ? String(t.floatValues()[0]) : String(t.int64Values()[0]))" : ""
            return "tensor \(t.dtype.rawValue) [\(t.shape.map(String.init).joined(separator: ", "))]\(head)"
        case .opaque(let name, _, _): return "<\(name) object>"
        case .list(let a), .tuple(let a), .set(let a):
            let (open, close) = { () -> (String, String) in
                if case .list = value { return ("[", "]") }
                if case .tuple = value { return ("(", ")") }
                return ("{", "}")
            }()
            var parts: [String] = [], used = 2
            for element in a {
                let s = summary(element, budget: max(10, budget / 4))
                if used + s.count > budget { parts.append("... \(a.count) items"); break }
                parts.append(s)
                used += s.count + 2
            }
            return open + parts.joined(separator: ", ") + close
        case .dict(let entries):
            var parts: [String] = [], used = 2
            for e in entries {
                let s = summary(e.key, budget: 30) + ": " + summary(e.value, budget: max(10, budget / 4))
                if used + s.count > budget { parts.append("... \(entries.count) entries"); break }
                parts.append(s)
                used += s.count + 2
            }
            return "{" + parts.joined(separator: ", ") + "}"
        }
    }
}
