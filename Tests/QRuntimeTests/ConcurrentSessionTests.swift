// One Model shared by N Sessions on N threads (N = 2...8) gives bit-identical logits to one session run
// alone: the Model is immutable after init and every Session owns its arena and run-time scales.
// Models: the bundled Fashion-MNIST w4 model, and a 4-bit ResNet-20 converted here when ../shared/data is
// present. Any-precision models (one file, several bit widths) do not exist yet; mixing bit widths across
// the sessions waits for them.
import Foundation
import QConvert
import QRuntime
import _QTestSupport
import XCTest

final class ConcurrentSessionTests: XCTestCase {
    /// Inputs for `model`: preprocessed images when given, else seeded pseudo-random values.
    private func inputs(for model: Model, images: [URL], count: Int, seed: UInt64) throws -> [[Float]] {
        if !images.isEmpty {
            return try images.prefix(count).map { url in
                try Preprocessor.apply(model.info.preprocessing, to: ImageReader.read(contentsOf: url))
            }
        }
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in (0..<model.inputElementCount).map { _ in Float.random(in: -2...2, using: &rng) } }
    }

    /// Runs every input on `threads` sessions at once (each thread its own Session, all inputs each, in a
    /// thread-specific rotation so different inputs overlap) and checks every output equals `expected`.
    private func assertConcurrentRunsMatch(_ model: Model, _ inputs: [[Float]], _ expected: [[Float]],
                                           threads: Int, rounds: Int, label: String) {
        let results = ConcurrentResults(threads: threads)
        let start = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for t in 0..<threads {
            group.enter()
            let thread = Thread {
                let session = Session(model: model)
                start.wait()
                var mismatches: [String] = []
                for round in 0..<rounds {
                    for k in 0..<inputs.count {
                        let i = (k + t + round) % inputs.count
                        let out = session.run(inputs[i])
                        if out != expected[i] { mismatches.append("input \(i) round \(round)") }
                    }
                }
                results.set(t, mismatches)
                group.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        for _ in 0..<threads { start.signal() }
        group.wait()
        for t in 0..<threads {
            XCTAssertEqual(results.get(t), [], "\(label): N=\(threads), session \(t) differs from a lone session")
        }
    }

    private func check(_ model: Model, inputs: [[Float]], label: String) {
        let lone = Session(model: model)
        let expected = inputs.map { lone.run($0) }
        XCTAssertTrue(expected.allSatisfy { $0.count == model.outputCount && $0.allSatisfy(\.isFinite) })
        for n in 2...8 {
            assertConcurrentRunsMatch(model, inputs, expected, threads: n, rounds: 2, label: label)
        }
    }

    func testBundledModelSharedBySessionsOnThreads() throws {
        let model = try Model(contentsOf: DefaultModel.modelURL())
        let images = try DefaultModel.sampleImages()
        XCTAssertGreaterThanOrEqual(images.count, 8)
        try check(model, inputs: inputs(for: model, images: images, count: 8, seed: 1), label: "fmnist-w4")
    }

    func testQuantizedResNet20SharedBySessionsOnThreads() throws {
        let path = "cifar10-resnets/resnet20-12fca82f.th"
        guard let checkpoint = TestPaths.shared(path) else {
            throw XCTSkip(TestPaths.missingSharedMessage(path))
        }
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = ConversionOptions()
        options.plain.bits = 4
        let out = dir.appendingPathComponent("resnet20-w4.lbm")
        _ = try Converter.convert(checkpoint: checkpoint, to: out, options: options)
        let model = try Model(contentsOf: out)
        try check(model, inputs: inputs(for: model, images: [], count: 4, seed: 2), label: "resnet20-w4")
    }
}

/// Per-thread results, written once by each thread under a lock.
private final class ConcurrentResults: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [[String]]
    init(threads: Int) { values = Array(repeating: ["never finished"], count: threads) }
    func set(_ t: Int, _ v: [String]) { lock.lock(); values[t] = v; lock.unlock() }
    func get(_ t: Int) -> [String] { lock.lock(); defer { lock.unlock() }; return values[t] }
}
