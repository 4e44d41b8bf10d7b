// Load-time benchmark of the two readers that hash or inflate every byte: a deflate-compressed PyTorch zip
// checkpoint (Checkpoint.load: inflate + CRC-32 of every storage, through zlib) and a 25 MiB .lbm
// (LBMFile(contentsOf:): mmap, validation, XXH64 checksum of the whole file, through libxxhash).
// One thread; prints min and median wall time and the min thread CPU time of RUNS loads each, after one
// untimed warm-up load.
//
//   /work/venv/bin/python Benchmarks/loading/make_checkpoint.py /tmp/ckpt100.pt
//   mkdir -p /tmp/bl
//   swiftc -O -wmo -parse-as-library -module-name QFormat -emit-module -emit-module-path /tmp/bl/QFormat.swiftmodule \
//     -I Sources/CXXHash -c Sources/QFormat/*.swift -o /tmp/bl/QFormat.o
//   swiftc -O -wmo -parse-as-library -module-name QCheckpoint -emit-module -emit-module-path /tmp/bl/QCheckpoint.swiftmodule \
//     -I Sources/CZlib -c Sources/QCheckpoint/*.swift -o /tmp/bl/QCheckpoint.o
//   swiftc -O -parse-as-library -I /tmp/bl -I Sources/CZlib -I Sources/CXXHash Benchmarks/loading/bench_loading.swift \
//     /tmp/bl/QFormat.o /tmp/bl/QCheckpoint.o -lz -lxxhash -o /tmp/bl/bench_loading
//   /tmp/bl/bench_loading /tmp/ckpt100.pt [RUNS]        (default 7 runs; writes /tmp/bench-loading-25mib.lbm)
// Figures: docs/CHECKPOINTS.md, "Speed".
import Foundation
import QCheckpoint
import QFormat

/// This thread's CPU time in nanoseconds (less disturbed than wall time on a shared machine).
func threadCPUNanoseconds() -> UInt64 {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
}

/// Wall and thread-CPU times of `runs` calls of `body` after one warm-up call, in milliseconds, each sorted.
func timings(_ runs: Int, _ body: () throws -> Void) rethrows -> (wall: [Double], cpu: [Double]) {
    try body()
    var wall: [Double] = [], cpu: [Double] = []
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds, cpuStart = threadCPUNanoseconds()
        try body()
        cpu.append(Double(threadCPUNanoseconds() - cpuStart) / 1e6)
        wall.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    return (wall.sorted(), cpu.sorted())
}

func report(_ what: String, _ ms: (wall: [Double], cpu: [Double]), megabytes: Double) {
    print(String(format: "%@: wall min %.1f ms, median %.1f ms; CPU min %.1f ms (%.0f MB/s)", what, ms.wall[0],
                 ms.wall[ms.wall.count / 2], ms.cpu[0], megabytes / (ms.cpu[0] / 1000)))
}

/// A 25 MiB .lbm of 25 one-MiB u8 tensors with deterministic contents (a 64-bit LCG), written once.
func makeLBM(at url: URL) throws {
    var writer = LBMWriter()
    writer.metadata["bench"] = "Benchmarks/loading"
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for t in 0..<25 {
        var bytes = [UInt8](repeating: 0, count: 1 << 20)
        for i in bytes.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            bytes[i] = UInt8(truncatingIfNeeded: state >> 56)
        }
        try writer.addTensor("t\(t)", dtype: .u8, shape: [1 << 20], bytes: bytes)
    }
    try writer.write(to: url)
}

@main
struct BenchLoading {
    static func main() throws {
        let args = CommandLine.arguments
        guard args.count >= 2 else {
            print("usage: bench_loading CHECKPOINT.pt [RUNS]")
            exit(2)
        }
        let runs = args.count > 2 ? Int(args[2]) ?? 7 : 7
        let checkpoint = URL(fileURLWithPath: args[1])
        let size = Double(try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.size] as! Int) / 1e6
        var tensors = 0
        let ckpt = try timings(runs) { tensors = try Checkpoint.load(contentsOf: checkpoint).tensors.count }
        report("Checkpoint.load \(checkpoint.lastPathComponent) (\(tensors) tensors, \(Int(size)) MB file)", ckpt,
               megabytes: size)

        let lbm = URL(fileURLWithPath: "/tmp/bench-loading-25mib.lbm")
        try makeLBM(at: lbm)
        var checksum = ""
        let load = try timings(runs) { checksum = try LBMFile(contentsOf: lbm).metadata["lowbit.checksum"]! }
        report("LBMFile(contentsOf:) 25 MiB .lbm (\(checksum))", load, megabytes: Double(25 << 20) / 1e6)
    }
}
