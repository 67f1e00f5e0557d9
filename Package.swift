// swift-tools-version:6.0
// capg: credit-assigned policy gradient for early-stage rankers.
// Module graph (the pipeline, left to right):
//   CBLAS (OpenBLAS shim) ─┐
//                          └─ CAPGCore (pure math: data → ESR → sampling → LSR → reward → estimator → optimizer)
//   CMPI (Open MPI shim) ──────┐  │
//                              └─ CAPGTrain (communicator/allreduce, trainer loop, run directory)
//                                    └─ capg (command-line tool)
import PackageDescription

let package = Package(
    name: "capg",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "capg", targets: ["capg"]),
        .library(name: "CAPGCore", targets: ["CAPGCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "CAPGCore",
            dependencies: ["CBLAS"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]
        ),
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]
        ),
        .target(
            name: "CAPGTrain",
            dependencies: ["CAPGCore", "CMPI"]
        ),
        .executableTarget(
            name: "capg",
            dependencies: [
                "CAPGCore", "CAPGTrain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "CAPGCoreTests", dependencies: ["CAPGCore"]),
        .testTarget(name: "CAPGTrainTests", dependencies: ["CAPGTrain", "CAPGCore"]),
    ]
)
