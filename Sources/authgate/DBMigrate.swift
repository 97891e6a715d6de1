import ArgumentParser
import AuthGate
import AuthGateCore
import Logging

/// Where the migration commands find the database and the names the config gives its tables.
struct DatabaseOptions: ParsableArguments {
    @Option(help: "gateway.conf to read auth.database_url and the rollout/audit table names from.")
    var config: String?

    @Option(
        help:
            "postgres://user:password@host:port/database (default: auth.database_url of --config, else $DATABASE_URL)."
    )
    var databaseURL: String?

    /// The config file, loaded with the environment's overrides, if `--config` was given.
    func loadConfig() throws(MigrationError) -> GatewayConfig? {
        guard let path = self.config else { return nil }
        do {
            return try ConfigLoader.load(path: path, environment: processEnvironment())
        } catch {
            let reasons = "\(error)".split(separator: "\n").map { $0.trimmingASCIISpaces() }.joined(separator: "; ")
            throw MigrationError("\(path): the configuration is invalid: \(reasons)")
        }
    }

    /// The database: `--database-url`, else `auth.database_url` of `--config` (which already
    /// honours `DATABASE_URL`), else `DATABASE_URL`.
    func databaseURL(config: GatewayConfig?) throws(MigrationError) -> DatabaseURL {
        let text: String
        let source: String
        if let url = self.databaseURL {
            (text, source) = (url, "--database-url")
        } else if let config, let url = config.auth.databaseURL?.value {
            (text, source) = (url, "auth.database_url")
        } else if let url = processEnvironment()["DATABASE_URL"], !url.isEmpty {
            (text, source) = (url, "DATABASE_URL")
        } else {
            throw MigrationError(
                "no database: pass --database-url, or --config with auth.database_url, or set DATABASE_URL"
            )
        }
        guard let url = DatabaseURL(text) else {
            throw MigrationError("\(source) is not a postgres://user:password@host:port/database URL")
        }
        return url
    }
}

/// A logger that drops everything: the commands print their own lines, and postgres-nio's
/// debug output is noise here.
func silentLogger() -> Logger {
    Logger(label: "authgate.migrate", factory: { _ in SwiftLogNoOpLogHandler() })
}

struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Database tools.",
        subcommands: [Migrate.self]
    )

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Apply the SQL migrations shipped with this binary (deploy/sql/NNN_*.sql).",
            discussion: """
                Creates Better Auth's tables as this deployment names them (better_auth_users, \
                better_auth_sessions, better_auth_accounts, better_auth_verification_tokens, jwks), \
                auth_audit_log, and users.migration_status / users.last_auth_method with their \
                indexes. Everything pending is applied in one transaction and recorded in \
                authgate_schema_migrations (version, name, checksum), so a failure changes nothing \
                and a second run applies nothing. A recorded migration whose checksum differs from \
                the shipped SQL stops the run. Exit status 0 on success, 1 with the reason on \
                standard error.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Flag(help: "Print the SQL that would be applied; change nothing.")
        var dryRun = false

        func run() async throws {
            do {
                let config = try self.database.loadConfig()
                if let config { try Self.checkNames(config) }
                let url = try self.database.databaseURL(config: config)
                let migrator = SchemaMigrator(url: url, logger: silentLogger())
                if self.dryRun {
                    let plan = try await migrator.plan()
                    Self.printDryRun(plan, url: url)
                } else {
                    let plan = try await migrator.migrate()
                    Self.printResult(plan, url: url)
                }
            } catch let error as MigrationError {
                printError("authgate: db migrate: \(error.message)")
                throw ExitCode(1)
            }
        }

        /// The shipped SQL names `users`, `migration_status` and `auth_audit_log`; a config that
        /// names other tables would get tables the gateway never reads.
        static func checkNames(_ config: GatewayConfig) throws(MigrationError) {
            let expected: [(key: String, value: String, shipped: String)] = [
                ("rollout.users_table", config.rollout.usersTable, "users"),
                ("rollout.migration_status_column", config.rollout.migrationStatusColumn, "migration_status"),
                ("audit.table", config.audit.table, "auth_audit_log"),
            ]
            for entry in expected where entry.value != entry.shipped {
                throw MigrationError(
                    "\(entry.key) is \"\(entry.value)\" but the shipped migrations use \"\(entry.shipped)\"; "
                        + "apply deploy/sql/better_auth_compat.sql by hand with your names instead"
                )
            }
        }

        static func printDryRun(_ plan: SchemaMigrationPlan, url: DatabaseURL) {
            guard !plan.pending.isEmpty else {
                print("-- \(url): up to date (\(plan.applied.count) migrations applied); nothing would be applied")
                return
            }
            print("-- \(url): \(plan.pending.count) pending migration(s), applied in one transaction (dry run)")
            for migration in plan.pending {
                print("\n-- \(migration.fileName) (version \(migration.version), sha256 \(migration.checksum))")
                print(migration.sql, terminator: "")
            }
        }

        static func printResult(_ plan: SchemaMigrationPlan, url: DatabaseURL) {
            let version = (plan.applied + plan.pending).map(\.version).max() ?? 0
            guard !plan.pending.isEmpty else {
                print("\(url): nothing to apply; all \(plan.applied.count) migrations are applied (version \(version))")
                return
            }
            for migration in plan.pending {
                print("applied \(migration.fileName)")
            }
            print("\(url): \(plan.pending.count) migration(s) applied; now at version \(version)")
        }
    }
}
