// A stable, line-per-node text form of a graph for golden tests and `qconvert --dump`.
import Foundation

extension Graph {
    /// One header line for the input, then one line per node:
    /// `node: op(inputs) attrs -> output [shape] quant`. Floats print with 6 significant digits.
    public func textDump() -> String {
        var lines = ["input \(input) \(describe(value(input)!))"]
        for node in nodes {
            let out = value(node.output)!
            lines.append("\(node.name): \(node.op.kind)(\(node.inputs.joined(separator: ", ")))\(attributes(node.op)) -> \(node.output) \(describe(out))")
        }
        lines.append("output \(outputs.joined(separator: ", "))")
        return lines.joined(separator: "\n") + "\n"
    }

    private func describe(_ v: Value) -> String {
        let shape = "[" + v.shape.map(String.init).joined(separator: ",") + "]"
        switch v.quant {
        case .float32: return "\(shape) f32"
        case .dynamicUInt8: return "\(shape) u8(dynamic)"
        case .uint8(let s, let z): return "\(shape) u8(s=\(fmt(s)),z=\(z))"
        }
    }

    private func attributes(_ op: Op) -> String {
        switch op {
        case .conv2d(let c):
            var s = " k=\(c.kernel[0])x\(c.kernel[1]) s=\(c.stride[0])x\(c.stride[1]) p=\(c.padding.map(String.init).joined(separator: ","))"
            if c.dilation != [1, 1] { s += " d=\(c.dilation[0])x\(c.dilation[1])" }
            if c.groups != 1 { s += " g=\(c.groups)" }
            s += " \(c.inChannels)->\(c.outChannels) w=\(c.weight.label)"
            if c.bias != nil { s += " bias" }
            if c.residual { s += " +residual" }
            if c.activation != .none { s += " act=\(c.activation.label)" }
            return s
        case .linear(let l):
            var s = " \(l.inFeatures)->\(l.outFeatures) w=\(l.weight.label)"
            if l.bias != nil { s += " bias" }
            if l.activation != .none { s += " act=\(l.activation.label)" }
            return s
        case .batchNorm(let b): return " c=\(b.channels) eps=\(fmt(b.eps))"
        case .add(let a): return a == .none ? "" : " act=\(a.label)"
        case .maxPool(let p), .avgPool(let p):
            return " k=\(p.kernel[0])x\(p.kernel[1]) s=\(p.stride[0])x\(p.stride[1]) p=\(p.padding.map(String.init).joined(separator: ","))"
        case .shortcutA(let pad): return " pad=\(pad)"
        case .defined(let d): return d.definition.dumpAttributes
        default: return ""
        }
    }

    private func fmt(_ x: Float) -> String {
        var s = String(format6(x))
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }
}

/// %.6g without Foundation's locale dependence.
private func format6(_ x: Float) -> String {
    if x == 0 { return "0" }
    let d = Double(x)
    let exponent = Int(floor(log10(abs(d))))
    if exponent < -4 || exponent >= 6 {
        let mantissa = d / pow(10, Double(exponent))
        return "\(trim((mantissa * 1e5).rounded() / 1e5))e\(exponent)"
    }
    let digits = max(0, 5 - exponent)
    let p = pow(10, Double(digits))
    return trim((d * p).rounded() / p)
}

private func trim(_ d: Double) -> String {
    var s = "\(d)"
    if s.contains(".") && !s.contains("e") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s
}
