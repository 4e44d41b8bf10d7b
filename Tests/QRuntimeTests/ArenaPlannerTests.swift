@testable import QRuntime
import _QTestSupport
import XCTest

final class ArenaPlannerTests: XCTestCase {
    /// Buffers alive at the same time never overlap; the arena is no larger than the sum of sizes.
    func testLiveBuffersNeverOverlap() {
        var rng = SeededGenerator(seed: 42)
        for round in 0..<200 {
            let count = Int.random(in: 1...30, using: &rng)
            let requests = (0..<count).map { _ -> BufferRequest in
                let first = Int.random(in: 0...20, using: &rng)
                return BufferRequest(bytes: Int.random(in: 1...5000, using: &rng), first: first,
                                     last: first + Int.random(in: 0...5, using: &rng))
            }
            let (offsets, size) = planArena(requests)
            XCTAssertLessThanOrEqual(size, requests.reduce(0) { $0 + ($1.bytes + 63) / 64 * 64 })
            for i in 0..<count {
                XCTAssertEqual(offsets[i] % 64, 0)
                XCTAssertLessThanOrEqual(offsets[i] + requests[i].bytes, size)
                for j in (i + 1)..<max(i + 1, count) {
                    let a = requests[i], b = requests[j]
                    guard a.first <= b.last && b.first <= a.last else { continue }
                    let disjoint = offsets[i] + a.bytes <= offsets[j] || offsets[j] + b.bytes <= offsets[i]
                    XCTAssertTrue(disjoint, "round \(round): buffers \(i) and \(j) overlap while both alive")
                }
            }
        }
    }

    func testSequentialBuffersShareMemory() {
        // A chain a -> b -> c: a and c never live together, so they can share.
        let requests = [BufferRequest(bytes: 1000, first: 0, last: 1), BufferRequest(bytes: 1000, first: 1, last: 2),
                        BufferRequest(bytes: 1000, first: 2, last: 3)]
        XCTAssertEqual(planArena(requests).size, 2048)
    }

    func testLatencyStats() {
        let s = LatencyStats([5, 1, 4, 2, 3])
        XCTAssertEqual(s.min, 1)
        XCTAssertEqual(s.max, 5)
        XCTAssertEqual(s.median, 3)
        XCTAssertEqual(s.mean, 3)
        XCTAssertEqual(s.p90, 4.6, accuracy: 1e-12)
        XCTAssertEqual(s.std, 2.0.squareRoot(), accuracy: 1e-12)
    }

    func testSoftmaxAndTopK() {
        let top = Classification.top(2, logits: [1, 3, 3, 0], labels: ["a", "b", "c", "d"])
        XCTAssertEqual(top.map(\.index), [1, 2])
        XCTAssertEqual(top[0].prob, top[1].prob, accuracy: 1e-12)
        XCTAssertEqual(Classification.softmax([0, 0]).reduce(0, +), 1, accuracy: 1e-12)
    }
}
