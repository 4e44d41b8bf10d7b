// swift-tools-version: 6.1
// An example user of the LowBit library: classifies image files, or the bundled sample, with a LowBit model.
import PackageDescription

let package = Package(
    name: "Classify",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "LowBit", path: "../.."),
    ],
    targets: [
        .executableTarget(name: "Classify", dependencies: [.product(name: "LowBit", package: "LowBit")]),
    ]
)
