import ArgumentParser

@main
struct AuthGateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "authgate",
        abstract: "A dual-auth reverse proxy gateway for migrating from legacy tokens to Better Auth.",
        subcommands: [Serve.self, CheckConfig.self, Demo.self, Token.self, DB.self, Users.self]
    )
}
