// Run control (warm-up, runs, min/max seconds, cooldown) and the measurement of one sweep point.
import Foundation
import QRuntime

/// A monotonic clock started at creation.
struct Stopwatch {
    private let start = DispatchTime.now().uptimeNanoseconds
    var elapsedMs: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 }
}

/// How many runs to make, TFLite benchmark_model style.
struct RunControl: Codable {
    /// Warm-up runs, at least.
    var warmup: Int
    /// Keep warming up until this much time has passed (lets the clock frequency and caches settle).
    var warmupSecs: Double
    /// Timed runs, at least (unless `maxSecs` runs out first).
    var runs: Int
    /// Keep making timed runs until this much time has passed.
    var minSecs: Double
    /// Start no timed run after this much time (the first timed run always happens).
    var maxSecs: Double
    /// Sleep between consecutive runs and before a sweep point, not timed.
    var cooldownMs: Double

    func pause() { if cooldownMs > 0 { usleep(useconds_t(cooldownMs * 1000)) } }

    /// Whether another warm-up run should start after `done` runs and `elapsedSecs` seconds.
    func wantsAnotherWarmup(done: Int, elapsedSecs: Double) -> Bool {
        (done < warmup || elapsedSecs < warmupSecs) && elapsedSecs < maxSecs
    }

    /// Whether another timed run should start after `done` runs and `elapsedSecs` seconds.
    func wantsAnotherRun(done: Int, elapsedSecs: Double) -> Bool {
        if done == 0 { return true }
        if elapsedSecs >= maxSecs { return false }
        return done < runs || elapsedSecs < minSecs
    }
}

/// One benchmark configuration: a thread count, a weight bit width (nil: the model's own) and a core
/// selection to pin to (nil: no pinning).
struct SweepPoint: Codable, Equatable {
    var threads: Int
    var bits: Int?
    var cores: CoreSelection?

    /// Every bit width x every core selection x every thread count, in that nesting (threads innermost).
    static func grid(threads: [Int], bits: [Int]?, cores: [CoreSelection]?) -> [SweepPoint] {
        let bitList: [Int?] = bits ?? [nil], coreList: [CoreSelection?] = cores ?? [nil]
        return bitList.flatMap { b in coreList.flatMap { c in threads.map { SweepPoint(threads: $0, bits: b, cores: c) } } }
    }
}

/// What `measure` records for one point.
struct Measured {
    var firstMs: Double
    var warmupMs: [Double]
    var timedMs: [Double]
}

/// First inference, warm-up runs, then timed runs under `control`, all on the same input.
func measure(session: Session, input: [Float], control: RunControl) -> Measured {
    control.pause()
    var clock = Stopwatch()
    _ = session.run(input)
    let firstMs = clock.elapsedMs
    var warmupMs: [Double] = []
    let warming = Stopwatch()
    while control.wantsAnotherWarmup(done: warmupMs.count, elapsedSecs: warming.elapsedMs / 1000) {
        control.pause()
        clock = Stopwatch()
        _ = session.run(input)
        warmupMs.append(clock.elapsedMs)
    }
    var timedMs: [Double] = []
    timedMs.reserveCapacity(control.runs)
    let phase = Stopwatch()
    while control.wantsAnotherRun(done: timedMs.count, elapsedSecs: phase.elapsedMs / 1000) {
        control.pause()
        clock = Stopwatch()
        _ = session.run(input)
        timedMs.append(clock.elapsedMs)
    }
    return Measured(firstMs: firstMs, warmupMs: warmupMs, timedMs: timedMs)
}
