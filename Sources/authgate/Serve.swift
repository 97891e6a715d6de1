import ArgumentParser
import AuthGate
import AuthGateCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway. SIGHUP reloads the config file; SIGTERM drains and stops."
    )

    @Option(name: .long, help: "Path of gateway.conf (YAML).")
    var config: String

    func run() async throws {
        let environment = processEnvironment()
        let gatewayConfig: GatewayConfig
        do {
            gatewayConfig = try ConfigLoader.load(path: self.config, environment: environment)
        } catch {
            printError("authgate: the configuration is invalid; nothing was started.\n\(error)")
            throw ExitCode(1)
        }
        let logger = bootstrapLogging(level: gatewayConfig.logging.level, format: gatewayConfig.logging.format)
        let threads = gatewayConfig.server.eventLoops > 0 ? gatewayConfig.server.eventLoops : System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let service = GatewayService(
            config: gatewayConfig,
            configPath: self.config,
            environment: environment,
            group: group,
            logger: logger
        )
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [.init(service: service)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        try await serviceGroup.run()
        try await group.shutdownGracefully()
    }
}

func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    line.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
            if written <= 0 { break }
            offset += written
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
