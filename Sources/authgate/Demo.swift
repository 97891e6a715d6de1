import ArgumentParser
import AuthGate
import AuthGateCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

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

    func run() async throws {
        let logger = bootstrapLogging(level: "notice", format: "text")
        let group = MultiThreadedEventLoopGroup.singleton
        let backend = try await DemoBackend.start(host: "127.0.0.1", port: self.backendPort, group: group)

        var config = GatewayConfig()
        config.server.listen = "127.0.0.1:\(self.port)"
        config.admin.listen = "127.0.0.1:\(self.adminPort)"
        config.upstream.url = "http://127.0.0.1:\(backend.port)"

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

                    Try:
                      curl -s http://127.0.0.1:\(proxy)/api/hello | python3 -m json.tool
                          # the backend's echo: note X-Request-Id, X-Forwarded-For, X-Real-IP added by AuthGate
                      curl -s -H 'X-Auth-User-Id: admin' http://127.0.0.1:\(proxy)/api/hello
                          # a client-sent identity header never reaches the backend
                      curl -s -X POST --data-binary @/etc/hostname http://127.0.0.1:\(proxy)/api/upload
                      curl -s -o /dev/null -w '%{http_code}\\n' http://127.0.0.1:\(proxy)/bytes/104857600
                          # 100 MB streamed through with flat memory
                      curl -s http://127.0.0.1:\(proxy)/health
                      curl -s http://127.0.0.1:\(admin)/metrics | grep authgate_

                    Press Ctrl-C to stop.
                    """
                )
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
