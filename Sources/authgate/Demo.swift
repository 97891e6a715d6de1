import ArgumentParser
import AuthGate
import AuthGateCore
import AuthGateDemo
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start the gateway in front of a built-in echo backend and print requests to try."
    )

    @Option(help: "Port of the gateway's proxy listener.")
    var port: Int = 8080

    @Option(help: "Port of the gateway's admin listener.")
    var adminPort: Int = 9090

    @Option(help: "Port of the built-in echo backend.")
    var backendPort: Int = 2000

    static func randomSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(generator.next() as UInt64, radix: 16) }.joined(separator: "-")
            + "-authgate-demo"
    }

    func run() async throws {
        let logger = bootstrapLogging(level: .notice, format: .text)
        let group = MultiThreadedEventLoopGroup.singleton
        let backend = try await DemoBackend.start(host: "127.0.0.1", port: self.backendPort, group: group)

        var config = GatewayConfig()
        config.server.listen = "127.0.0.1:\(self.port)"
        config.admin.listen = "127.0.0.1:\(self.adminPort)"
        config.upstream.url = "http://127.0.0.1:\(backend.port)"
        // Fresh secrets each run; the demo mints one credential of each system with them.
        let legacySecret = Self.randomSecret()
        let betterAuthJWTSecret = Self.randomSecret()
        config.auth.legacyJWTSecret = Secret(legacySecret)
        config.auth.betterAuthJWTSecret = Secret(betterAuthJWTSecret)
        // The demo has no auth server: its Better Auth credential is an HS256 JWT. Without a
        // session secret no session cookie needs get-session (so /ready is ready), and without a
        // JWKS nothing asks for keys (a warning at every start and stop).
        config.auth.jwksEnabled = false
        config.routes = [
            GatewayConfig.Route(path: "/api/public/", access: .public),
            GatewayConfig.Route(path: "/bytes/", access: .public),
            GatewayConfig.Route(path: "/upload", access: .public),
        ]
        let now = Int64(time(nil))
        let legacyToken = JWTSigner.hs256(
            claims: .object([
                "sub": .string("user-42"), "email": .string("ada@example.com"), "role": .string("admin"),
                "iat": .number(Double(now)), "exp": .number(Double(now + 3600)),
            ]),
            secret: legacySecret
        )
        let betterAuthToken = JWTSigner.hs256(
            claims: .object([
                "sub": .string("ba-user-7"), "email": .string("grace@example.com"),
                "iss": .string("http://127.0.0.1:3001"), "aud": .string("http://127.0.0.1:3001"),
                "iat": .number(Double(now)), "exp": .number(Double(now + 900)),
            ]),
            secret: betterAuthJWTSecret
        )

        let service = GatewayService(
            config: config,
            configPath: nil,
            environment: [:],
            group: group,
            logger: logger,
            onStart: { gateway in
                let proxy = gateway.proxyAddress.port ?? self.port
                let admin = gateway.adminAddress?.port ?? self.adminPort
                print(
                    """
                    AuthGate demo is running.
                      gateway  http://127.0.0.1:\(proxy)   (proxy listener)
                      admin    http://127.0.0.1:\(admin)   (health, readiness, metrics)
                      backend  http://127.0.0.1:\(backend.port)   (built-in echo: answers with what it received)

                    Sample credentials (valid for this run):
                      LEGACY=\(legacyToken)
                      BETTER_AUTH=\(betterAuthToken)

                    Try:
                      curl -s -i http://127.0.0.1:\(proxy)/api/hello
                          # 401 with WWW-Authenticate: no credential
                      curl -s -H "Authorization: Bearer $LEGACY" http://127.0.0.1:\(proxy)/api/hello | python3 -m json.tool
                          # the backend's echo: X-Auth-User-Id user-42, X-Auth-Method legacy, X-Request-Id, X-Forwarded-For
                      curl -s -H "Authorization: Bearer $BETTER_AUTH" http://127.0.0.1:\(proxy)/api/hello | python3 -m json.tool
                          # the same backend, X-Auth-Method better-auth
                      curl -s -H 'X-Auth-User-Id: admin' http://127.0.0.1:\(proxy)/api/public/hello
                          # a public route; a client-sent identity header never reaches the backend
                      swift run authgate token inspect "$LEGACY"
                          # what a token is (add --config to check its signature)
                      curl -s -X POST --data-binary @/etc/hostname http://127.0.0.1:\(proxy)/upload
                      curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:\(proxy)/bytes/104857600
                          # 100 MB streamed through with flat memory
                      curl -s http://127.0.0.1:\(proxy)/health
                      curl -s http://127.0.0.1:\(admin)/metrics | grep authgate_

                    Press Ctrl-C to stop.
                    """
                )
                fflush(nil)
            }
        )
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await serviceGroup.run()
        try await backend.shutdown()
    }
}
