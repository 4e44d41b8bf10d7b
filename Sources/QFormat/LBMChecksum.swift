// The .lbm checksum (docs/FORMAT.md, section 5): XXH64 with seed 0, computed by the system's libxxhash
// (Sources/CXXHash), and its header form "xxh64:<16 lowercase hex digits>".
internal import CXXHash

/// Streaming XXH64 with seed 0: `update` with any number of byte ranges, then `finalize`.
/// Noncopyable: it owns libxxhash's (opaque, heap-allocated) state and frees it when it goes away.
struct LBMChecksum: ~Copyable {
    private let state: OpaquePointer

    /// A hasher that has seen no bytes.
    init() {
        guard let state = XXH64_createState() else { fatalError("libxxhash: out of memory for an XXH64 state") }
        XXH64_reset(state, 0)
        self.state = state
    }

    deinit { XXH64_freeState(state) }

    /// Adds bytes to the hash.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        XXH64_update(state, bytes.baseAddress, bytes.count)
    }

    /// Adds an array's bytes to the hash.
    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The hash of everything added so far (more bytes may still be added).
    func finalize() -> UInt64 { XXH64_digest(state) }

    /// The XXH64 (seed 0) of `bytes` in one call.
    static func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { XXH64($0.baseAddress, $0.count, 0) }
    }

    /// `"xxh64:"` followed by the 16 lowercase hex digits of `value`, as stored in `lowbit.checksum`.
    static func tag(_ value: UInt64) -> String {
        let hex = String(value, radix: 16)
        return "xxh64:" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
