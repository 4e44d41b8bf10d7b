// swift-tools-version: 6.1
// LowBit: low-bit quantized CNN inference for ARM and x86 CPUs. Module map: docs/ARCHITECTURE.md.
import Foundation
import PackageDescription

/// C kernels: optimised, OpenMP-threaded; fp-contract off so every ISA rounds the same way.
let kernelCSettings: [CSetting] = [
    .unsafeFlags(["-fopenmp", "-idirafter", "/usr/lib/llvm-14/lib/clang/14.0.6/include",
                  "-ffp-contract=off", "-O3"]),
]

let package = Package(
    name: "LowBit",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "LowBit", targets: ["LowBit"]),
        .executable(name: "qconvert", targets: ["qconvert"]),
        .executable(name: "qinfer", targets: ["qinfer"]),
        .executable(name: "qbench", targets: ["qbench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // ONNX models (Sources/QONNX): the code generated from onnx.proto runs on SwiftProtobuf.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .target(name: "QKernels", cSettings: kernelCSettings, linkerSettings: [.linkedLibrary("omp5")]),
        // DEFLATE + CRC-32 through the system zlib, the .lbm checksum (XXH64) through libxxhash (module maps in
        // Sources/CZlib, Sources/CXXHash; Debian: zlib1g-dev libxxhash-dev; docs/SECURITY.md says what stays ours).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        .target(name: "QCheckpoint", dependencies: ["CZlib"]),
        .target(name: "QFormat", dependencies: ["CXXHash"]),
        .target(name: "QGraph", dependencies: ["QFormat"]),
        // JPEG/PNG through the system's libjpeg(-turbo) and libpng (module maps in Sources/CLib*; Debian:
        // libjpeg-dev libpng-dev); QImageCodecs keeps their longjmp error handling in C.
        .systemLibrary(name: "CLibJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg-dev"])]),
        .systemLibrary(name: "CLibPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .target(name: "QImageCodecs", dependencies: ["CLibJPEG", "CLibPNG"]),
        .target(name: "QRuntime", dependencies: ["QGraph", "QFormat", "QKernels", "QImageCodecs"]),
        // The library product's public API (Sources/LowBit/LowBit.docc; example in Examples/Classify).
        .target(name: "LowBit", dependencies: ["QRuntime"]),
        // ONNX models: onnx.proto's generated Swift (Sources/QONNX/Generated, toolchain/onnx/generate.sh) and
        // the reader that validates a ModelProto into a typed graph (docs/ONNX.md).
        .target(name: "QONNX", dependencies: ["QCheckpoint", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .target(name: "QConvert", dependencies: ["QCheckpoint", "QONNX", "QGraph", "QFormat", "QRuntime", "QKernels"]),
        .target(name: "_QTestSupport", path: "Sources/_QTestSupport"),
        .executableTarget(name: "qconvert", dependencies: [
            "QConvert", "QCheckpoint", "QGraph", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "qinfer", dependencies: [
            "QRuntime", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "qbench", dependencies: [
            "QRuntime", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "QKernelsTests", dependencies: ["QKernels", "_QTestSupport"]),
        .testTarget(name: "QCheckpointTests", dependencies: ["QCheckpoint", "_QTestSupport"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "QONNXTests", dependencies: [
            "QONNX", "QConvert", "QCheckpoint", "QGraph", "_QTestSupport", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .testTarget(name: "QFormatTests", dependencies: ["QFormat", "_QTestSupport"]),
        .testTarget(name: "QGraphTests", dependencies: ["QGraph", "_QTestSupport"]),
        .testTarget(name: "QConvertTests", dependencies: ["QConvert", "QGraph", "QKernels", "_QTestSupport"],
                    exclude: ["Golden"]),  // read from the source tree by path
        .testTarget(name: "QRuntimeTests", dependencies: ["QRuntime", "QConvert", "QGraph", "_QTestSupport"],
                    exclude: ["Images"]),  // read from the source tree by path
        .testTarget(name: "LowBitTests", dependencies: ["LowBit", "QConvert", "_QTestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["QRuntime", "_QTestSupport"]),  // QRuntime: .npy and mask checks
    ]
)

// The DocC plugin joins only when LOWBIT_DOCS is set (the same reason):
//   LOWBIT_DOCS=1 swift package generate-documentation --target LowBit
if ProcessInfo.processInfo.environment["LOWBIT_DOCS"] != nil {
    package.dependencies.append(.package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"))
}

// Benchmarks/ (ordo-one/benchmark) join the package only when LOWBIT_BENCHMARKS is set, so library
// users and `swift test` never fetch or build the benchmark tooling:
//   LOWBIT_BENCHMARKS=1 swift package benchmark          (Benchmarks/README.md)
if ProcessInfo.processInfo.environment["LOWBIT_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(.executableTarget(
        name: "KernelBenchmarks",
        dependencies: ["QKernels", .product(name: "Benchmark", package: "benchmark")],
        path: "Benchmarks/KernelBenchmarks",
        plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]))
}
