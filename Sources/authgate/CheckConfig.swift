import ArgumentParser
import AuthGateCore

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract:
            "Validate a config file with the environment's overrides; exit 0 if valid, 1 with every issue if not.",
        discussion: """
            A valid file whose settings contradict each other (a rollout percentage that the \
            phase ignores) is still valid: each contradiction is printed as a `warning:` line on \
            standard error and the exit status stays 0.
            """
    )

    @Argument(help: "Path of gateway.conf (YAML).")
    var file: String

    func run() throws {
        do {
            let config = try ConfigLoader.load(path: self.file, environment: processEnvironment())
            let snapshot = try ConfigSnapshot(config: config, generation: 1)
            for warning in RolloutWarnings.warnings(for: config) {
                printError("\(self.file): warning: \(warning)")
            }
            print(
                "\(self.file): OK (proxy \(snapshot.proxyAddress), admin \(config.admin.enabled ? "\(snapshot.adminAddress)" : "disabled"), upstream \(config.upstream.url))"
            )
        } catch {
            printError("\(error)")
            throw ExitCode(1)
        }
    }
}
