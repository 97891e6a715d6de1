import AuthGate
import AuthGateCore
import AuthGateDemo
import Foundation
import Logging
import NIOCore
import NIOPosix

/// A gateway in front of a real ``DemoBackend``, both on loopback with ephemeral ports.
struct GatewayFixture {
    let backend: DemoBackend
    let gateway: Gateway
    let group: any EventLoopGroup

    var port: Int { self.gateway.proxyAddress.port! }
    var adminPort: Int { self.gateway.adminAddress!.port! }

    static func withGateway<T>(
        eventLoops: Int = 2,
        configure: (inout GatewayConfig) -> Void = { _ in },
        _ body: (GatewayFixture) async throws -> T
    ) async throws -> T {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoops)
        let backend = try await DemoBackend.start(host: "127.0.0.1", port: 0, group: group)
        var config = GatewayConfig()
        config.server.listen = "127.0.0.1:0"
        config.admin.listen = "127.0.0.1:0"
        config.upstream.url = "http://127.0.0.1:\(backend.port)"
        config.logging.level = .critical
        // The data-path suites exercise proxying; authentication has its own suites.
        config.routes = [GatewayConfig.Route(path: "/", access: .public)]
        configure(&config)
        var logger = Logger(label: "authgate-test")
        logger.logLevel = .critical
        let gateway = try await Gateway.start(config: config, group: group, logger: logger)
        let fixture = GatewayFixture(backend: backend, gateway: gateway, group: group)
        do {
            let result = try await body(fixture)
            await fixture.stop()
            return result
        } catch {
            await fixture.stop()
            throw error
        }
    }

    func stop() async {
        await self.gateway.shutdown(drainTimeout: .milliseconds(200))
        try? await self.backend.shutdown()
        try? await self.group.shutdownGracefully()
    }

    func connect() async throws -> RawHTTPClient {
        try await RawHTTPClient.connect(port: self.port, group: self.group)
    }
}

/// The resident set size of this process, from /proc/self/status.
func residentSetBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let digits = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return digits * 1024
    }
    return 0
}
