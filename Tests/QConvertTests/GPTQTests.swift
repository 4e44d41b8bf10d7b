// Hessian-aware rounding on generated layers (Quantizers/GPTQ.swift, HessianCodebook.swift, Cholesky.swift):
// against naive linear algebra, round-to-nearest and its own loss accounting.
@testable import QConvert
import QGraph
import _QTestSupport
import XCTest

final class GPTQTests: XCTestCase {
    private func gaussian(_ count: Int, _ rng: inout SeededGenerator) -> [Double] {
        (0..<count).map { _ in
            let u = Double.random(in: Double.ulpOfOne..<1, using: &rng), v = Double.random(in: 0..<1, using: &rng)
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }
    }

    /// H = X^T X / rows for `rows` samples of k correlated, mostly positive inputs (post-ReLU-like).
    private func correlatedHessian(k: Int, rows: Int, seed: UInt64) -> [Double] {
        var rng = SeededGenerator(seed: seed)
        let mixing = gaussian(k * k, &rng)
        var h = [Double](repeating: 0, count: k * k)
        for _ in 0..<rows {
            let z = gaussian(k, &rng)
            let x = (0..<k).map { i in max(0, (0..<k).reduce(0.3) { $0 + 0.4 * mixing[i * k + $1] * z[$1] } / Double(k).squareRoot()) }
            for i in 0..<k { for j in 0..<k { h[i * k + j] += x[i] * x[j] / Double(rows) } }
        }
        return h
    }

    private func randomWeights(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return gaussian(count, &rng).map { Float($0 * 0.1) }
    }

    /// Gauss-Jordan with partial pivoting: the naive inverse.
    private func naiveInverse(_ a: [Double], n: Int) -> [Double] {
        var m = a, inv = (0..<(n * n)).map { $0 % (n + 1) == 0 ? 1.0 : 0.0 }
        for c in 0..<n {
            let p = (c..<n).max { abs(m[$0 * n + c]) < abs(m[$1 * n + c]) }!
            for j in 0..<n { m.swapAt(c * n + j, p * n + j); inv.swapAt(c * n + j, p * n + j) }
            let d = m[c * n + c]
            for j in 0..<n { m[c * n + j] /= d; inv[c * n + j] /= d }
            for r in 0..<n where r != c {
                let f = m[r * n + c]
                for j in 0..<n { m[r * n + j] -= f * m[c * n + j]; inv[r * n + j] -= f * inv[c * n + j] }
            }
        }
        return inv
    }

    private func product(_ a: [Double], _ b: [Double], n: Int, transposeA: Bool = false) -> [Double] {
        var c = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for t in 0..<n { c[i * n + j] += (transposeA ? a[t * n + i] : a[i * n + t]) * b[t * n + j] } } }
        return c
    }

    func testCholeskyAndInversesMatchNaive() throws {
        for n in [1, 2, 7, 9, 16, 33] {
            let h = correlatedHessian(k: n, rows: 4 * n + 8, seed: UInt64(n))
            var a = h
            for i in 0..<n { a[i * n + i] += 0.01 }
            let l = try XCTUnwrap(choleskyLower(a, n: n), "n=\(n)")
            let llt = product(l, (0..<(n * n)).map { l[($0 % n) * n + $0 / n] }, n: n)
            for i in 0..<(n * n) { XCTAssertEqual(llt[i], a[i], accuracy: 1e-10, "L L^T, n=\(n) at \(i)") }
            for i in 0..<n { for j in (i + 1)..<n { XCTAssertEqual(l[i * n + j], 0) } }
            let identity = product(invertLowerTriangular(l, n: n), l, n: n)
            for i in 0..<(n * n) { XCTAssertEqual(identity[i], i % (n + 1) == 0 ? 1 : 0, accuracy: 1e-9, "L^-1 L, n=\(n)") }
            let u = try XCTUnwrap(inverseCholeskyUpper(a, n: n))
            let utu = product(u, u, n: n, transposeA: true), inverse = naiveInverse(a, n: n)
            let scale = inverse.map(abs).max()!
            for i in 0..<(n * n) { XCTAssertEqual(utu[i], inverse[i], accuracy: 1e-9 * scale, "U^T U = a^-1, n=\(n)") }
            for i in 0..<n { for j in 0..<i { XCTAssertEqual(u[i * n + j], 0) } }
        }
        XCTAssertNil(choleskyLower([1, 2, 2, 1], n: 2), "indefinite")
        XCTAssertEqual(try XCTUnwrap(solveSPD([4, 2, 2, 3], [2, 5], n: 2)).map { ($0 * 1e9).rounded() / 1e9 }, [-0.5, 2])
    }

    /// With H = identity no error moves to other columns: GPTQ at clip 1 is round-to-nearest at max-abs,
    /// code for code, and its loss is the weights' squared error (x 1 + damping).
    func testIdentityHessianIsRoundToNearest() {
        let (rows, k) = (6, 45)
        let w = randomWeights(rows * k, seed: 3)
        let identity = (0..<(k * k)).map { $0 % (k + 1) == 0 ? 1.0 : 0.0 }
        let factor = HessianFactor(hessian: identity, k: k)
        for bits in [2, 3, 4, 8] {
            let grid = QuantizationGrid.uniform(bits: bits)
            let gptq = gptqQuantize(w, rows: rows, k: k, factors: [factor], grid: grid, top: grid.values.last! + 0.5, clipFactors: [1])
            let rtn = quantizeUniform(rows: w, rows: rows, k: k, bits: bits, clip: .max)
            XCTAssertEqual(gptq.indices.map { grid.codes[Int($0)] }, rtn.codes, "\(bits) bits")
            XCTAssertEqual(gptq.scales, rtn.scales)
            let error = zip(w, rtn.dequantized()).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
            XCTAssertEqual(gptq.losses.reduce(0, +), error * (1 + gptqDamping), accuracy: 1e-6 * error + 1e-12)
        }
    }

    /// On a correlated H, GPTQ's output error sum (w - q)^T H (w - q) is below round-to-nearest's at the
    /// same scales, and the loss it accumulates column by column is that error (with the dampened H).
    func testCorrelatedHessianBeatsRoundToNearest() {
        let (rows, k) = (8, 36)
        let h = correlatedHessian(k: k, rows: 400, seed: 11)
        let w = randomWeights(rows * k, seed: 5)
        let factor = HessianFactor(hessian: h, k: k)
        for bits in [2, 3, 4] {
            let grid = QuantizationGrid.uniform(bits: bits)
            let gptq = gptqQuantize(w, rows: rows, k: k, factors: [factor], grid: grid, top: grid.values.last! + 0.5, clipFactors: [1])
            let q = QuantizedWeights(scheme: .uniform, bits: bits, rows: rows, k: k, codes: gptq.indices.map { grid.codes[Int($0)] },
                                     lut: grid.values.map { Int($0) }, scales: gptq.scales, levels: nil).dequantized()
            let rtn = quantizeUniform(rows: w, rows: rows, k: k, bits: bits, clip: .max).dequantized()
            let gptqError = hessianWeightedError(w, q, rows: rows, k: k, hessians: [factor.hessian])
            let rtnError = hessianWeightedError(w, rtn, rows: rows, k: k, hessians: [factor.hessian])
            XCTAssertLessThan(gptqError, rtnError * 0.9, "\(bits) bits: GPTQ \(gptqError), round to nearest \(rtnError)")
            XCTAssertEqual(gptq.losses.reduce(0, +), gptqError, accuracy: 1e-3 * gptqError, "\(bits) bits: accumulated loss")
            // the clip search only ever lowers the loss
            let searched = gptqQuantize(w, rows: rows, k: k, factors: [factor], grid: grid, top: grid.values.last! + 0.5)
            XCTAssertLessThanOrEqual(searched.losses.reduce(0, +), gptq.losses.reduce(0, +) * (1 + 1e-6))
        }
    }

    /// Inputs never seen (H_jj = 0) get weight 0; grouped layers use each group's own H.
    func testDeadInputsAndGroups() {
        let k = 10
        var h = correlatedHessian(k: k, rows: 100, seed: 2)
        for t in 0..<k { h[3 * k + t] = 0; h[t * k + 3] = 0 }
        let w = randomWeights(4 * k, seed: 9).map { $0 + 0.05 }
        let factors = [HessianFactor(hessian: h, k: k), HessianFactor(hessian: correlatedHessian(k: k, rows: 100, seed: 4), k: k)]
        XCTAssertEqual(factors[0].dead.enumerated().filter(\.element).map(\.offset), [3])
        let grid = QuantizationGrid.uniform(bits: 4)
        let result = gptqQuantize(w, rows: 4, k: k, factors: factors, grid: grid, top: grid.values.last! + 0.5)
        for r in 0..<2 { XCTAssertEqual(grid.values[Int(result.indices[r * k + 3])], 0, "row \(r): dead input") }
        let alone = gptqQuantize(Array(w[(2 * k)...]), rows: 2, k: k, factors: [factors[1]], grid: grid, top: grid.values.last! + 0.5)
        XCTAssertEqual(Array(result.indices[(2 * k)...]), alone.indices)
        XCTAssertEqual(Array(result.scales[2...]), alone.scales)
    }

    /// The fitted codebook's output error is never above uniform GPTQ's; its table is int8 and its codes b-bit.
    func testCodebookNotWorseThanUniform() {
        let (rows, k) = (12, 27)
        let h = correlatedHessian(k: k, rows: 300, seed: 21)
        let w = randomWeights(rows * k, seed: 8)
        let factor = HessianFactor(hessian: h, k: k)
        let statistics = LayerInputStatistics(hessians: [h], means: [[Double](repeating: 0, count: k)])
        for bits in [2, 3, 4] {
            let codebook = gptqCodebook(w, rows: rows, k: k, bits: bits, factors: [factor])
            let uniform = gptqLayer(w, rows: rows, k: k, bits: bits, scheme: .uniform, statistics: statistics)
            XCTAssertEqual(codebook.scheme, .codebook)
            let lut = try! XCTUnwrap(codebook.lut)
            XCTAssertEqual(lut.count, 1 << bits)
            XCTAssertTrue(lut.allSatisfy { (-128...127).contains($0) })
            XCTAssertTrue(codebook.codes.allSatisfy { Int($0) < 1 << bits })
            let c = hessianWeightedError(w, codebook.dequantized(), rows: rows, k: k, hessians: [factor.hessian])
            let u = hessianWeightedError(w, uniform.dequantized(), rows: rows, k: k, hessians: [factor.hessian])
            XCTAssertLessThanOrEqual(c, u * 1.001, "\(bits) bits: codebook \(c), uniform \(u)")
        }
    }

    /// The codebook fitting steps on a generated layer: a refit (codes and scales kept, levels refitted) never
    /// raises the exact H-weighted error and lowers it from the zero-free start; GPTQ's own loss is that exact error; and the chosen
    /// codebook is below every starting table's GPTQ.
    func testCodebookRefitLowersTheError() {
        let (rows, k) = (10, 36)
        let h = correlatedHessian(k: k, rows: 300, seed: 17)
        let w = randomWeights(rows * k, seed: 12)
        let factor = HessianFactor(hessian: h, k: k)
        let layer = CodebookLayer(w: w, rows: rows, k: k, factors: [factor])
        for bits in [2, 3] {
            let n = 1 << bits
            let uniform = QuantizationGrid.uniform(bits: bits)
            let starts: [[Float]] = [uniform.values.map { $0 / (uniform.values.last! + 0.5) },
                                     (0..<n).map { Float(2 * $0 + 1 - n) / Float(n) },
                                     weightedKMeansLevels(w, rows: rows, k: k, factors: [factor], count: n)]
            var startLosses: [Double] = []
            for (index, start) in starts.enumerated() {
                let table = int8Table(start)
                let fit = layer.gptq(table)
                let grid = QuantizationGrid(table: table.values.map { $0 * table.unit })
                let direct = gptqQuantize(w, rows: rows, k: k, factors: [factor], grid: grid, top: 1, clipFactors: codebookClipFactors)
                XCTAssertEqual(direct.losses.reduce(0, +), fit.loss, accuracy: 1e-3 * fit.loss, "\(bits) bits, start \(index): GPTQ's loss")
                startLosses.append(fit.loss)
                let refit = layer.refit(fit)
                XCTAssertEqual(refit.codes, fit.codes)
                XCTAssertLessThanOrEqual(refit.loss, fit.loss, "\(bits) bits, start \(index)")
                if index == 1 { XCTAssertLessThan(refit.loss, fit.loss * 0.99, "\(bits) bits: the zero-free start refitted") }
                // the least-squares levels before the int8 table: no level does better a little above or below
                let levels = try! XCTUnwrap(fitLevels(w, rows: rows, k: k, codes: fit.codes, scales: fit.scales,
                                                      levels: fit.table.map { $0 * fit.unit }, factors: [factor], perGroup: rows))
                let optimum = layer.loss(table: levels, unit: 1, codes: fit.codes, scales: fit.scales)
                for level in levels.indices where levels[level] != 0 {
                    for step in [Float(-1e-3), 1e-3] {
                        var moved = levels
                        moved[level] += step
                        XCTAssertLessThanOrEqual(optimum, layer.loss(table: moved, unit: 1, codes: fit.codes, scales: fit.scales) * (1 + 1e-9))
                    }
                }
            }
            let codebook = gptqCodebook(w, rows: rows, k: k, bits: bits, factors: [factor])
            let error = hessianWeightedError(w, codebook.dequantized(), rows: rows, k: k, hessians: [factor.hessian])
            XCTAssertLessThanOrEqual(error, startLosses.min()! * (1 + 1e-6), "\(bits) bits: codebook \(error), starts \(startLosses)")
        }
    }

    /// The H-weighted k-means levels: ascending, inside [-1, 1], and with a lower H_jj-weighted distortion of
    /// the row-normalised weights than the mid-rise grid; weights at a few values give those values.
    func testWeightedKMeansLevels() {
        let (rows, k) = (6, 40)
        let factor = HessianFactor(hessian: correlatedHessian(k: k, rows: 200, seed: 5), k: k)
        let w = randomWeights(rows * k, seed: 6)
        func distortion(_ levels: [Float]) -> Double {
            (0..<rows).reduce(0.0) { total, r in
                let peak = w[(r * k)..<((r + 1) * k)].map(abs).max()!
                return (0..<k).reduce(total) { total, j in
                    let x = w[r * k + j] / peak, d = Double(levels.map { abs($0 - x) }.min()!) * Double(peak)
                    return total + factor.hessian[j * k + j] * d * d
                }
            }
        }
        for count in [4, 8] {
            let levels = weightedKMeansLevels(w, rows: rows, k: k, factors: [factor], count: count)
            XCTAssertEqual(levels.count, count)
            XCTAssertEqual(levels, levels.sorted())
            XCTAssertTrue(levels.allSatisfy { abs($0) <= 1 })
            let midRise = (0..<count).map { Float(2 * $0 + 1 - count) / Float(count) }
            XCTAssertLessThan(distortion(levels), distortion(midRise), "\(count) levels")
        }
        let clustered = (0..<(rows * k)).map { Float([-1, -0.25, 0.5, 1][$0 % 4]) }
        let identity = HessianFactor(hessian: (0..<(k * k)).map { $0 % (k + 1) == 0 ? 1 : 0 }, k: k)
        XCTAssertEqual(weightedKMeansLevels(clustered, rows: rows, k: k, factors: [identity], count: 4), [-1, -0.25, 0.5, 1])
    }

    /// The float target: fed the float network's own inputs (cross moments H w) it is w; fed other inputs it
    /// solves the damped normal equations (H + lambda I) w* = p + lambda w, i.e. no other weights do better
    /// on sum (y_float - q . x)^2 + lambda |q - w|^2; and GPTQ of a layer with cross moments rounds w*.
    func testFloatTargetWeights() {
        let (rows, k) = (4, 12)
        var rng = SeededGenerator(seed: 31)
        let floatInputs = (0..<300).map { _ in gaussian(k, &rng).map { max(0, $0 + 0.3) } }
        let inputs = floatInputs.map { x in x.map { $0 + 0.1 * gaussian(1, &rng)[0] } }
        let w = randomWeights(rows * k, seed: 3)
        let y = (0..<rows).map { r in floatInputs.map { x in (0..<k).reduce(0.0) { $0 + Double(w[r * k + $1]) * x[$1] } } }
        func moments(_ xs: [[Double]]) -> (h: [Double], p: [Double]) {
            var h = [Double](repeating: 0, count: k * k), p = [Double](repeating: 0, count: k * rows)
            for (n, x) in xs.enumerated() {
                for i in 0..<k {
                    for j in 0..<k { h[i * k + j] += x[i] * x[j] }
                    for r in 0..<rows { p[i * rows + r] += x[i] * y[r][n] }
                }
            }
            return (h, p)
        }
        let (hFloat, pFloat) = moments(floatInputs)
        let own = HessianFactor(hessian: hFloat, k: k)
        let same = floatTargetWeights(w, rows: rows, k: k, factors: [own],
                                      statistics: LayerInputStatistics(hessians: [hFloat], means: [], crossMoments: [pFloat]))
        for i in w.indices { XCTAssertEqual(same[i], w[i], accuracy: 1e-4) }
        let (h, p) = moments(inputs)
        let factor = HessianFactor(hessian: h, k: k)
        let statistics = LayerInputStatistics(hessians: [h], means: [], crossMoments: [p])
        let target = floatTargetWeights(w, rows: rows, k: k, factors: [factor], statistics: statistics)
        XCTAssertEqual(floatTargetWeights(w, rows: rows, k: k, factors: [factor], statistics: LayerInputStatistics(hessians: [h], means: [])), w)
        func objective(_ q: [Float], _ r: Int) -> Double {
            let fit = zip(inputs, y[r]).reduce(0.0) { s, pair in
                let d = pair.1 - (0..<k).reduce(0.0) { $0 + Double(q[r * k + $1]) * pair.0[$1] }
                return s + d * d
            }
            return fit + factor.lambda * (0..<k).reduce(0.0) { $0 + pow(Double(q[r * k + $1] - w[r * k + $1]), 2) }
        }
        for r in 0..<rows {
            XCTAssertLessThan(objective(target, r), objective(w, r), "row \(r)")
            for j in 0..<k {
                for step in [Float(-1e-2), 1e-2] {
                    var moved = target
                    moved[r * k + j] += step
                    XCTAssertLessThanOrEqual(objective(target, r), objective(moved, r) * (1 + 1e-9), "row \(r) weight \(j)")
                }
            }
        }
        let grid = QuantizationGrid.uniform(bits: 4)
        let direct = gptqQuantize(target, rows: rows, k: k, factors: [factor], grid: grid, top: grid.values.last! + 0.5)
        let layer = gptqLayer(w, rows: rows, k: k, bits: 4, scheme: .uniform, statistics: statistics)
        XCTAssertEqual(layer.codes, direct.indices.map { grid.codes[Int($0)] })
        XCTAssertEqual(layer.scales, direct.scales)
    }

    func testGridNearest() {
        let grid = QuantizationGrid(table: [0, 1, 2, 4, -1, -2, -4, 0])
        XCTAssertFalse(grid.isIntegerRange)
        XCTAssertEqual(grid.values, [-4, -2, -1, 0, 0, 1, 2, 4])
        for (x, want) in [(-9.0, -4.0), (-2.9, -2), (-3.1, -4), (0.4, 0), (0.6, 1), (2.9, 2), (3.1, 4), (99, 4)] as [(Float, Float)] {
            XCTAssertEqual(grid.values[grid.nearest(x)], want, "\(x)")
        }
        let uniform = QuantizationGrid.uniform(bits: 3)
        XCTAssertTrue(uniform.isIntegerRange)
        XCTAssertEqual(uniform.values[uniform.nearest(2.5)], 2, "half to even")
        XCTAssertEqual(uniform.values[uniform.nearest(-7)], -4)
        XCTAssertEqual(uniform.codes[uniform.nearest(-4)], 0)
    }

    /// Mean and variance matching: q = w / 2 on inputs with the float network's output moments doubles
    /// the channel scale and leaves the bias; without the variance only the mean shift w . mu / 2 is added.
    func testOutputCorrection() {
        let (rows, k) = (3, 5)
        var rng = SeededGenerator(seed: 4)
        let samples = (0..<200).map { _ in gaussian(k, &rng).map { $0 + 0.5 } }
        let w = randomWeights(rows * k, seed: 2), q = w.map { $0 / 2 }
        let mean = (0..<k).map { j in samples.reduce(0.0) { $0 + $1[j] } / 200 }
        var h = [Double](repeating: 0, count: k * k)
        for x in samples { for i in 0..<k { for j in 0..<k { h[i * k + j] += x[i] * x[j] } } }
        let outputs = (0..<rows).map { r in samples.map { x in (0..<k).reduce(0.0) { $0 + Double(w[r * k + $1]) * x[$1] } } }
        let float = LayerInputStatistics(hessians: [], means: [mean], sampledMeans: [mean],
                                         outputMeans: outputs.map { $0.reduce(0, +) / 200 },
                                         outputSquares: outputs.map { $0.reduce(0) { $0 + $1 * $1 } / 200 }, sampledRows: 200, rows: 200)
        let quantized = LayerInputStatistics(hessians: [h], means: [mean], sampledMeans: [mean], sampledRows: 200, rows: 200)
        let full = OutputCorrection(weights: w, quantized: q, rows: rows, k: k, float: float, quantized: quantized, variance: true)
        let meanOnly = OutputCorrection(weights: w, quantized: q, rows: rows, k: k, float: float, quantized: quantized, variance: false)
        for r in 0..<rows {
            XCTAssertEqual(full.channelScales[r], 2, accuracy: 1e-4)
            XCTAssertEqual(full.biasShift[r], 0, accuracy: 1e-5)
            XCTAssertEqual(meanOnly.channelScales[r], 1)
            let shift = (0..<k).reduce(0.0) { $0 + Double(w[r * k + $1]) * mean[$1] } / 2
            XCTAssertEqual(Double(meanOnly.biasShift[r]), shift, accuracy: 1e-6)
        }
    }
}
