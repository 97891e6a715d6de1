// swift-tools-version:6.1
//
// AuthGate micro-benchmarks (ordo-one/benchmark). A package of its own so that the main
// package's tests and CI never build the benchmark dependencies.
//
//   cd Benchmarks && swift package benchmark            # run all
//   cd Benchmarks && swift package benchmark --filter 'HeaderPolicy.*'
//   cd Benchmarks && swift package benchmark --target AuthBenchmarks
//   cd Benchmarks && swift build -c release --product FloorProxies   # for scripts/floor-bench.sh
import PackageDescription

let package = Package(
    name: "authgate-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The repository root. `name:` pins the identity so the product lookup below does
        // not depend on what the checkout directory is called.
        .package(name: "authgate", path: "../"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(
            url: "https://github.com/ordo-one/benchmark",
            from: "1.38.1",
            traits: ["MallocInterposer"]
        ),
    ],
    targets: [
        .executableTarget(
            name: "ProxyCoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AuthGateCore", package: "authgate"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "ProxyCoreBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
        .executableTarget(
            name: "FloorProxies",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "FloorProxies",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "AuthBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AuthGateCore", package: "authgate"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "AuthBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [
                .plugin(name: "BenchmarkPlugin", package: "benchmark")
            ]
        ),
    ]
)
