import ArgumentParser
import AuthGateCore

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file with the environment's overrides; exit 0 if valid, 1 with every issue if not."
    )

    @Argument(help: "Path of gateway.conf (YAML).")
    var file: String

    func run() throws {
        do {
            let config = try ConfigLoader.load(path: self.file, environment: processEnvironment())
            let snapshot = try ConfigSnapshot(config: config, generation: 1)
            print(
                "\(self.file): OK (proxy \(snapshot.proxyAddress), admin \(config.admin.enabled ? "\(snapshot.adminAddress)" : "disabled"), upstream \(config.upstream.url))"
            )
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
