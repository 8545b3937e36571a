// swift-tools-version: 6.2
import PackageDescription

/// Settings every target of ours shares: Swift 6 language mode (strict concurrency) is the package default.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "smc",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "smc-server", targets: ["smc-server"]),
        .executable(name: "smc-client", targets: ["smc-client"]),
        .library(name: "SMCEngine", targets: ["SMCEngine"]),
        .library(name: "SMCClient", targets: ["SMCClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-openapi-generator.git", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime.git", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird.git", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-openapi-urlsession.git", from: "1.4.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        // Pure analysis: no I/O, no NIO, no Postgres.
        .target(name: "SMCEngine", swiftSettings: strict),
        // What server and client share about sync.
        .target(name: "SMCSync", swiftSettings: strict),
        // REST contract, generated from api-spec/openapi.yaml at build time.
        .target(
            name: "SMCAPI",
            dependencies: [
                "SMCSync",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
            ],
            swiftSettings: strict,
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]
        ),
        .systemLibrary(
            name: "CArgon2",
            pkgConfig: "libargon2",
            providers: [.apt(["libargon2-dev"])]
        ),
        // Charts (PNG) for the REST chart operations and the alerts; text in DejaVu Sans (fonts-dejavu-core).
        .systemLibrary(
            name: "CCairo",
            pkgConfig: "cairo",
            providers: [.apt(["libcairo2-dev"])]
        ),
        .target(
            name: "SMCServer",
            dependencies: [
                "SMCEngine", "SMCSync", "SMCAPI", "CArgon2", "CCairo",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "smc-server",
            dependencies: [
                "SMCServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "SMCClient",
            dependencies: [
                "SMCEngine", "SMCSync", "SMCAPI",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIURLSession", package: "swift-openapi-urlsession"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "clients-cli/Sources/SMCClient",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "smc-client",
            dependencies: [
                "SMCClient", "SMCEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "clients-cli/Sources/smc-client",
            swiftSettings: strict
        ),
        .testTarget(name: "SMCEngineTests", dependencies: ["SMCEngine"], exclude: ["Fixtures"], swiftSettings: strict),
        // `make bench`: engine speed figures (run in release mode, printed, never asserted).
        .executableTarget(name: "smc-bench", dependencies: ["SMCEngine"], path: "Benchmarks/smc-bench", swiftSettings: strict),
        .executableTarget(
            name: "smc-pipeline-bench",
            dependencies: [
                "SMCServer", "SMCEngine", "SMCTestSupport", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/smc-pipeline-bench", swiftSettings: strict),
        .executableTarget(
            name: "smc-sync-bench",
            dependencies: [
                "SMCServer", "SMCClient", "SMCSync", "SMCTestSupport", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "GRDB", package: "GRDB.swift"),
            ],
            path: "Benchmarks/smc-sync-bench", swiftSettings: strict),
        .executableTarget(
            name: "smc-api-bench",
            dependencies: [
                "SMCServer", "SMCTestSupport", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/smc-api-bench", swiftSettings: strict),
        // `make bench`: how long a chart takes to draw.
        .executableTarget(
            name: "smc-chart-bench", dependencies: ["SMCServer", "SMCEngine"], path: "Benchmarks/smc-chart-bench",
            swiftSettings: strict),
        .testTarget(name: "SMCSyncTests", dependencies: ["SMCSync"], swiftSettings: strict),
        .testTarget(
            name: "SMCAPITests",
            dependencies: ["SMCAPI", .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime")],
            swiftSettings: strict
        ),
        // Shared by the server and client tests: throwaway PostgreSQL cluster, fresh databases, a running app.
        .target(
            name: "SMCTestSupport",
            dependencies: [
                "SMCServer", "SMCAPI", "SMCEngine",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/Support",
            swiftSettings: strict
        ),
        .testTarget(
            name: "SMCServerTests",
            dependencies: [
                "SMCServer", "SMCAPI", "SMCEngine", "SMCTestSupport", "CCairo",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SMCClientTests",
            dependencies: [
                "SMCClient", "SMCEngine", "SMCTestSupport",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strict
        ),
    ]
)

// `make bench` only (it sets SMC_BENCHMARKS=1): the engine's micro-benchmarks on package-benchmark, kept out of the
// resolution and the build of everything else. On Swift 6.3 the MallocInterposer trait counts mallocs with no system
// library (no jemalloc) and, named alone, leaves out the RuntimeInterposer trait (ARC counts, not measured here).
// Swift 6.2 reads the package's older manifest, whose only malloc backend is jemalloc: there the benchmarks run
// without malloc counts.
if Context.environment["SMC_BENCHMARKS"] != nil {
    #if compiler(>=6.3)
    let benchmarkTraits: Set<Package.Dependency.Trait> = ["MallocInterposer"]
    #else
    let benchmarkTraits: Set<Package.Dependency.Trait> = []
    #endif
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: benchmarkTraits))
    package.targets.append(
        .executableTarget(
            name: "SMCEngineBenchmarks",
            dependencies: ["SMCEngine", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/SMCEngineBenchmarks",
            swiftSettings: strict,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ))
}
