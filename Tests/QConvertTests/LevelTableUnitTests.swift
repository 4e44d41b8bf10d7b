// The unit of an int8 level table (Passes/TableUnit.swift): arbitrary float levels (DGMS mixture centres)
// rounded into int8 with the least weight error, on hand-made tables and on the DGMS fixture's layers.
import Foundation
import QCheckpoint
@testable import QConvert
import QGraph
import _QTestSupport
import XCTest

final class LevelTableUnitTests: XCTestCase {

    /// sum_j counts[j] * (levels[j] - unit * round(levels[j] / unit))^2, the error the table makes.
    private func roundingError(_ levels: [Float], _ counts: [Int], unit: Float) -> Double {
        zip(levels, counts).reduce(0.0) { sum, pair in
            let d = Double(pair.0) - Double(unit) * Double((pair.0 / unit).rounded(.toNearestOrEven))
            return sum + Double(pair.1) * d * d
        }
    }

    /// 0.3 and -1 are both integers in units of 1 / 120 (36, -120) but not of 1 / 127 (38.1): the search
    /// finds a step that holds them exactly, and no entry leaves -127...127.
    func testFindsAStepThatHoldsTheLevels() {
        let levels: [Float] = [0, 0.3, -1], counts = [4, 4, 4]
        let unit = levelTableUnit(levels: levels, counts: counts)
        XCTAssertGreaterThan(roundingError(levels, counts, unit: 1 / 127), 1e-6)
        XCTAssertLessThan(roundingError(levels, counts, unit: unit), 1e-12, "unit \(unit)")
        XCTAssertLessThanOrEqual(levels.map { abs(($0 / unit).rounded()) }.max()!, 127)
    }

    /// A table top / 127 already holds exactly keeps top / 127 (the finest step); an all-zero table gets 1;
    /// levels no weight takes add no error.
    func testExactTablesKeepTheFinestStep() {
        XCTAssertEqual(levelTableUnit(levels: [0, 1, -1], counts: [3, 3, 3]), Float(1) / 127)
        XCTAssertEqual(levelTableUnit(levels: [0, 0.5, -0.25], counts: [1, 0, 0]), Float(0.5) / 127)
        XCTAssertEqual(levelTableUnit(levels: [0, 0], counts: [2, 2]), 1)
        let weighted = levelTableUnit(levels: [0, 0.3, -1], counts: [1, 1000, 1])
        XCTAssertLessThan(roundingError([0, 0.3, -1], [1, 1000, 1], unit: weighted), 1e-12)
    }

    /// The DGMS fixture converted by default (u8): every coded layer's int8 table (unit read back from the
    /// written exact levels) rounds the mixture levels its weights take with no more error than
    /// max |level| / 127, and the model's total level error is at most 0.7x of it (measured 0.51x). With the
    /// old unit (max |level| / 127) the ratio is 1 and this fails.
    func testDGMSFixtureLevelErrorBelowThePlainStep() throws {
        let fixture = try fixture("dgms", "resnet20")
        let checkpoint = try Checkpoint.load(contentsOf: SeedFixture.root.appendingPathComponent("dgms/\(fixture.checkpoint)"))
        var options = ConversionOptions()
        options.method.activations = .u8
        let source = try DGMSRecipe().sourceCheckpoint(checkpoint, options: options)
        let (float, _) = try StateDictSource(checkpoint: source).floatModel(arch: nil)
        let recipeGraph = try XCTUnwrap(try DGMSRecipe().apply(float, checkpoint: checkpoint, options: options).first)
        let (model, _, _) = try convertWithReport("dgms", "resnet20", recipe: "dgms", arch: "resnet20") {
            $0.method.activations = nil
        }
        var plainTotal = 0.0, chosenTotal = 0.0, layers = 0
        for node in model.graph.nodes {
            guard case .conv2d(let conv) = node.op, let layer = recipeGraph.codes[node.name] else { continue }
            let table = try XCTUnwrap(conv.weight.lut, node.name), exact = try XCTUnwrap(conv.weight.levels, node.name)
            var counts = [Int](repeating: 0, count: layer.levels.count)
            for c in layer.codes { counts[Int(c)] += 1 }
            let top = layer.levels.map { abs($0) }.max()!, topIndex = layer.levels.firstIndex { abs($0) == top }!
            let unit = top / abs(exact[topIndex])
            let plain = roundingError(layer.levels, counts, unit: top / 127)
            let chosen = zip(layer.levels.indices, counts).reduce(0.0) { sum, pair in
                let d = Double(layer.levels[pair.0]) - Double(unit) * Double(table[pair.0])
                return sum + Double(pair.1) * d * d
            }
            XCTAssertLessThanOrEqual(chosen, plain * (1 + 1e-6), node.name)
            plainTotal += plain
            chosenTotal += chosen
            layers += 1
        }
        XCTAssertGreaterThan(layers, 10)
        XCTAssertLessThan(chosenTotal, 0.7 * plainTotal, "level error \(chosenTotal) vs \(plainTotal) at max |level| / 127")
    }
}
