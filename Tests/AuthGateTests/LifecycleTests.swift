import AuthGate
import AuthGateDemo
import Foundation
import NIOCore
import NIOPosix
import Testing

/// The executable's signal handling: SIGHUP reloads, SIGTERM drains.
@Suite("Process lifecycle", .serialized)
struct LifecycleTests {
    static func config(
        port: Int,
        adminPort: Int,
        backendPort: Int,
        responseTimeoutMs: Int,
        watchFile: Bool = false
    ) -> String {
        """
        reload:
          watch_file: \(watchFile)
          watch_interval_ms: 100
        server:
          listen: "127.0.0.1:\(port)"
          event_loops: 1
          drain_timeout_ms: 5000
        admin:
          listen: "127.0.0.1:\(adminPort)"
        upstream:
          url: "http://127.0.0.1:\(backendPort)"
          response_timeout_ms: \(responseTimeoutMs)
        logging:
          level: info
        routes:
          - path: /
            access: public
        """
    }

    static func status(port: Int, path: String, method: String = "GET") async throws -> Int {
        let client = try await RawHTTPClient.connect(port: port)
        defer { Task { await client.close() } }
        try await client.send("\(method) \(path) HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        return try await client.readResponse(timeout: .seconds(10)).status
    }

    static func metric(_ name: String, adminPort: Int) async throws -> Int? {
        let client = try await RawHTTPClient.connect(port: adminPort)
        try await client.send("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
        let text = try await client.readResponse().bodyString
        await client.close()
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Int(line.split(separator: " ")[1])
        }
        return nil
    }

    @Test("SIGHUP applies a good file and keeps the running config on a broken one")
    func sighupReload() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let backend = try await DemoBackend.start(port: 0, group: group)
        defer { Task { try? await backend.shutdown() } }
        let backendPort = backend.port
        let gateway = try await GatewayProcess.start { port, admin in
            Self.config(port: port, adminPort: admin, backendPort: backendPort, responseTimeoutMs: 5000)
        }
        defer { gateway.terminate() }

        #expect(try await Self.status(port: gateway.port, path: "/slow/600") == 200)

        // A good file: the response timeout drops below the backend's delay.
        try gateway.rewriteConfig(
            Self.config(
                port: gateway.port,
                adminPort: gateway.adminPort,
                backendPort: backendPort,
                responseTimeoutMs: 200
            )
        )
        gateway.signal(SIGHUP)
        try await Self.waitUntil {
            try await Self.metric("authgate_config_reloads_total", adminPort: gateway.adminPort) == 1
        }
        #expect(try await Self.status(port: gateway.port, path: "/slow/600") == 504)

        // A broken file: reported, counted, and the running config (200 ms) stays.
        try gateway.rewriteConfig("server:\n  listen: [unterminated\nupstream:\n  bogus_key: 1\n")
        gateway.signal(SIGHUP)
        try await Self.waitUntil {
            try await Self.metric("authgate_config_reload_failures_total", adminPort: gateway.adminPort) == 1
        }
        #expect(try await Self.status(port: gateway.port, path: "/slow/600") == 504)
        #expect(try await Self.status(port: gateway.port, path: "/echo") == 200)
        #expect(gateway.log.contains("configuration rejected; keeping the running one"))

        // Same verdict through the admin endpoint, with the reason in the answer.
        let admin = try await RawHTTPClient.connect(port: gateway.adminPort)
        try await admin.send("POST /admin/reload HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
        let answer = try await admin.readResponse()
        #expect(answer.status == 422)
        #expect(answer.bodyString.contains("invalid_config"))
        await admin.close()
        #expect(gateway.process.isRunning)
    }

    @Test("a change of the file reloads without a signal; a broken write keeps the running config")
    func fileWatchReload() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let backend = try await DemoBackend.start(port: 0, group: group)
        defer { Task { try? await backend.shutdown() } }
        let backendPort = backend.port
        let gateway = try await GatewayProcess.start { port, admin in
            Self.config(
                port: port,
                adminPort: admin,
                backendPort: backendPort,
                responseTimeoutMs: 5000,
                watchFile: true
            )
        }
        defer { gateway.terminate() }
        #expect(try await Self.status(port: gateway.port, path: "/slow/600") == 200)

        try gateway.rewriteConfig(
            Self.config(
                port: gateway.port,
                adminPort: gateway.adminPort,
                backendPort: backendPort,
                responseTimeoutMs: 200,
                watchFile: true
            )
        )
        try await Self.waitUntil {
            try await Self.metric("authgate_config_reloads_total", adminPort: gateway.adminPort) == 1
        }
        #expect(try await Self.status(port: gateway.port, path: "/slow/600") == 504)

        try gateway.rewriteConfig("server:\n  listen: [unterminated\n")
        try await Self.waitUntil {
            try await Self.metric("authgate_config_reload_failures_total", adminPort: gateway.adminPort) == 1
        }
        #expect(try await Self.status(port: gateway.port, path: "/slow/600") == 504)
        #expect(try await Self.metric("authgate_config_reloads_total", adminPort: gateway.adminPort) == 1)
    }

    @Test("SIGTERM stops accepting, lets the request in flight finish, then exits 0")
    func sigtermDrains() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let backend = try await DemoBackend.start(port: 0, group: group)
        defer { Task { try? await backend.shutdown() } }
        let backendPort = backend.port
        let gateway = try await GatewayProcess.start { port, admin in
            Self.config(port: port, adminPort: admin, backendPort: backendPort, responseTimeoutMs: 10_000)
        }
        defer { gateway.terminate() }

        let inFlight = try await RawHTTPClient.connect(port: gateway.port)
        try await inFlight.send("GET /slow/1500 HTTP/1.1\r\nHost: t\r\n\r\n")
        try await Task.sleep(for: .milliseconds(300))
        gateway.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(300))

        // New connections are refused while the old one finishes.
        await #expect(throws: (any Error).self) {
            let late = try await RawHTTPClient.connect(port: gateway.port)
            try await late.send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n")
            _ = try await late.readResponse(timeout: .seconds(2))
        }
        let response = try await inFlight.readResponse(timeout: .seconds(5))
        #expect(response.status == 200)
        #expect(response.bodyString.contains("slept_ms"))
        #expect(response.headers["connection"] == "close")
        let status = await gateway.waitForExit(timeout: .seconds(10))
        #expect(status == 0, "log:\n\(gateway.log)")
        #expect(gateway.log.contains("draining"))
    }

    static func waitUntil(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("condition not met within \(timeout)")
    }
}
