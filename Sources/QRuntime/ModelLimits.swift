// Memory bounds a Model checks after planning and before any session allocates, so that a model file
// asking for absurd activation memory is refused with a message instead of exhausting the machine.
import Foundation

/// Bounds on the memory a `Model` may ask for. The graph validator already caps every value at 2^28
/// elements and every dimension at 2^24; this caps the whole per-session activation arena.
public struct ModelLimits: Sendable, Equatable {
    /// Largest activation arena (bytes per `Session`, im2col workspace included).
    public var maxArenaBytes: Int

    /// 1 GiB: about 30 times what a 224x224 ResNet-50 needs, far beyond any CIFAR or MNIST model.
    public static let defaultMaxArenaBytes = 1 << 30
    /// Overrides `defaultMaxArenaBytes` for `ModelLimits.default` (a byte count, e.g. 4294967296).
    public static let arenaEnvironmentVariable = "LOWBIT_MAX_ARENA_BYTES"

    public init(maxArenaBytes: Int = ModelLimits.defaultMaxArenaBytes) {
        self.maxArenaBytes = maxArenaBytes
    }

    /// The defaults, with `LOWBIT_MAX_ARENA_BYTES` applied when it is set to a positive integer (an
    /// unparsable value is ignored, so a typo cannot lift the limit).
    public static var `default`: ModelLimits {
        let text = ProcessInfo.processInfo.environment[arenaEnvironmentVariable]
        if let text, let bytes = Int(text.trimmingCharacters(in: .whitespaces)), bytes > 0 {
            return ModelLimits(maxArenaBytes: bytes)
        }
        return ModelLimits()
    }

    /// Throws when `arenaBytes` exceeds the limit; `model` names the file in the message.
    func checkArena(_ arenaBytes: Int, model: String) throws {
        guard arenaBytes <= maxArenaBytes else {
            throw RuntimeError("\(model): the model needs \(arenaBytes) bytes of activation memory per session, "
                + "more than the limit of \(maxArenaBytes) (set \(Self.arenaEnvironmentVariable) or "
                + "ModelLimits.maxArenaBytes to allow more)")
        }
    }
}
