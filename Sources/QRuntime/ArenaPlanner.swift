// Places every activation buffer in one arena, reusing memory between values whose lifetimes do not overlap.

/// A buffer request: `bytes` live from step `first` (written) to step `last` (last read), inclusive.
struct BufferRequest {
    var bytes: Int
    var first: Int
    var last: Int
}

/// Greedy-by-size placement (as TFLite's arena planner does): the largest buffers are placed first, each at
/// the lowest 64-byte-aligned offset that overlaps no already placed buffer alive at the same time.
/// Returns offsets in request order and the arena size.
func planArena(_ requests: [BufferRequest], alignment: Int = 64) -> (offsets: [Int], size: Int) {
    func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
    let order = requests.indices.sorted {
        requests[$0].bytes != requests[$1].bytes ? requests[$0].bytes > requests[$1].bytes : $0 < $1
    }
    var offsets = [Int](repeating: 0, count: requests.count)
    var placed: [Int] = []
    var size = 0
    for i in order {
        let r = requests[i]
        // Intervals of live-overlapping placed buffers, by offset.
        let busy = placed.filter { requests[$0].first <= r.last && r.first <= requests[$0].last }
            .map { (offsets[$0], offsets[$0] + aligned(requests[$0].bytes)) }
            .sorted { $0.0 < $1.0 }
        var candidate = 0
        for (start, end) in busy {
            if candidate + aligned(r.bytes) <= start { break }
            candidate = max(candidate, end)
        }
        offsets[i] = candidate
        size = max(size, candidate + aligned(r.bytes))
        placed.append(i)
    }
    return (offsets, size)
}
