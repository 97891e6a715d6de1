// swift-tools-version:6.1
//
// libFuzzer targets for AuthGate's parsers. A package of its own so that the main package's
// build and tests never see the sanitizer flags.
//
//   scripts/fuzz.sh 60    # build and fuzz ClientRequestParser for 60 s
//
// or by hand:
//
//   cd Fuzz && swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//   .build/debug/ClientRequestParserFuzz -max_total_time=60 corpus-dir
import PackageDescription

let package = Package(
    name: "authgate-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The repository root. `name:` pins the identity so the product lookup below does
        // not depend on what the checkout directory is called.
        .package(name: "authgate", path: "../"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "CFuzzerDriver", path: "CFuzzerDriver"),
        .executableTarget(
            name: "ClientRequestParserFuzz",
            dependencies: [
                "CFuzzerDriver",
                .product(name: "AuthGateCore", package: "authgate"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "ClientRequestParserFuzz",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
