import Foundation
import NIOCore
import NIOPosix

/// The real `authgate` executable run as a child process, for signal handling tests.
final class GatewayProcess: @unchecked Sendable {
    let process: Process
    let configPath: String
    let port: Int
    let adminPort: Int
    let logPath: String

    /// The binary under test: `$AUTHGATE_BIN`, else the debug build next to this checkout.
    static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["AUTHGATE_BIN"], !path.isEmpty {
            return path
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/authgate").path
    }

    private init(process: Process, configPath: String, port: Int, adminPort: Int, logPath: String) {
        self.process = process
        self.configPath = configPath
        self.port = port
        self.adminPort = adminPort
        self.logPath = logPath
    }

    /// Writes `config` to a temporary file and starts `authgate serve --config` on it; returns
    /// once the proxy listener answers `/health`.
    static func start(config: (_ port: Int, _ adminPort: Int) -> String) async throws -> GatewayProcess {
        let binary = Self.binaryPath
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw GatewayProcessError.missingBinary(binary)
        }
        let port = try await Self.freePort()
        let adminPort = try await Self.freePort()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("authgate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configPath = directory.appendingPathComponent("gateway.conf").path
        try config(port, adminPort).write(toFile: configPath, atomically: true, encoding: .utf8)
        let logPath = directory.appendingPathComponent("authgate.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--config", configPath]
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let gateway = GatewayProcess(
            process: process,
            configPath: configPath,
            port: port,
            adminPort: adminPort,
            logPath: logPath
        )
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let client = try? await RawHTTPClient.connect(port: port) {
                try? await client.send("GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
                let status = try? await client.readResponse(timeout: .seconds(2)).status
                await client.close()
                if status == 200 { return gateway }
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        gateway.terminate()
        throw GatewayProcessError.didNotStart(gateway.log)
    }

    var log: String { (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? "" }

    func rewriteConfig(_ text: String) throws {
        try text.write(toFile: self.configPath, atomically: true, encoding: .utf8)
    }

    func signal(_ number: Int32) {
        kill(self.process.processIdentifier, number)
    }

    /// Waits for the process to exit; returns its status, or nil on timeout.
    func waitForExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !self.process.isRunning { return self.process.terminationStatus }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    func terminate() {
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
    }

    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress!.port!
        try await channel.close()
        return port
    }
}

enum GatewayProcessError: Error, CustomStringConvertible {
    case missingBinary(String)
    case didNotStart(String)

    var description: String {
        switch self {
        case .missingBinary(let path):
            "no authgate executable at \(path): run `swift build` first or set AUTHGATE_BIN"
        case .didNotStart(let log):
            "authgate did not start; its log:\n\(log)"
        }
    }
}
