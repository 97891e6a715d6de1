import ArgumentParser
import AuthGate
import AuthGateCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Legacy user tools.",
        subcommands: [Migrate.self]
    )

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move pending legacy users to Better Auth in batches (or back with --rollback).",
            discussion: """
                Each batch is one transaction: it takes pending users (rows locked by others are \
                skipped), creates each one's Better Auth user (id = the legacy id, email \
                lower-cased) and credential account (id legacy-<id>, the legacy password hash \
                unchanged, so the password keeps working if the hash is in a format the auth \
                server verifies), and marks them migrated. A killed run resumes with the users \
                still pending; a finished run changes nothing when run again. Before the first \
                batch, users that cannot be migrated (half-migrated, email taken, no email) stop \
                the run with nothing changed. --rollback deletes exactly what the migration \
                created and marks the users pending again. Needs `authgate db migrate` first. \
                Ends with the users per migration_status. Exit status 0 on success, 1 with the \
                reason on standard error.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Flag(help: "Show what would be done; change nothing.")
        var dryRun = false

        @Option(help: "Users per batch (one transaction each).")
        var batchSize: Int = 500

        @Flag(help: "Undo the migration: delete the Better Auth users and credential accounts it created.")
        var rollback = false

        /// Test hook: exit with status 70 right after this many committed batches, as a crash
        /// would (for the end-to-end test of resuming); not for operators.
        static let crashHookVariable = "AUTHGATE_TEST_CRASH_AFTER_BATCHES"

        func run() async throws {
            let verb = self.rollback ? "rolled back" : "migrated"
            do {
                guard self.batchSize > 0 else { throw MigrationError("--batch-size must be at least 1") }
                let config = try self.database.loadConfig()
                let url = try self.database.databaseURL(config: config)
                var schema = UserMigrationSchema()
                if let rollout = config?.rollout {
                    schema.usersTable = rollout.usersTable
                    schema.idColumn = rollout.usersIDColumn
                    schema.statusColumn = rollout.migrationStatusColumn
                }
                var options = UserMigrator.Options()
                options.direction = self.rollback ? .rollback : .migrate
                options.batchSize = self.batchSize
                options.dryRun = self.dryRun
                if let hook = processEnvironment()[Self.crashHookVariable], !hook.isEmpty {
                    guard let batches = Int(hook), batches > 0 else {
                        throw MigrationError("\(Self.crashHookVariable) must be a positive number of batches")
                    }
                    options.crashAfterBatches = batches
                }
                let terminal = isatty(1) == 1
                let migrator = UserMigrator(url: url, schema: schema, logger: silentLogger())
                let outcome = try await migrator.run(options) { progress in
                    Self.show(progress, verb: verb, terminal: terminal)
                }
                switch outcome {
                case .dryRun(let report):
                    Self.printDryRun(report, statusColumn: schema.statusColumn)
                case .finished(let summary):
                    Self.printSummary(summary, verb: verb, statusColumn: schema.statusColumn)
                case .simulatedCrash(let batches, let exitCode):
                    fflush(nil)
                    printError(
                        "authgate: users migrate: \(Self.crashHookVariable): exiting after \(batches) committed batch(es)"
                    )
                    exitImmediately(exitCode)
                }
            } catch let error as MigrationError {
                printError("authgate: users migrate: \(error.message)")
                throw ExitCode(1)
            }
        }

        static func show(_ progress: UserMigrator.Progress, verb: String, terminal: Bool) {
            switch progress {
            case .started(let total):
                if terminal {
                    print(UserMigrationOutput.progressBar(done: 0, total: total), terminator: "")
                } else {
                    print("\(total) users to be \(verb)")
                }
            case .batchCommitted(let number, let users, let done, let total):
                if terminal {
                    print("\r" + UserMigrationOutput.progressBar(done: done, total: total), terminator: "")
                } else {
                    print("batch \(number): \(users) users \(verb) (\(done)/\(total))")
                }
            }
            fflush(nil)
        }

        static func printDryRun(_ report: UserMigrator.DryRunReport, statusColumn: String) {
            let batches = (Int(report.users) + report.batchSize - 1) / report.batchSize
            let action = report.direction == .migrate ? "migrate" : "roll back"
            let from = report.direction.fromStatus
            print(
                "dry run: \(report.users) users are \(from); a run would \(action) them in \(batches) batch(es) of at most \(report.batchSize)"
            )
            if !report.firstIDs.isEmpty {
                print("first ids: \(report.firstIDs.joined(separator: ", "))")
            }
            print(
                "Better Auth rows created by the migration now: \(report.createdUsers) users, \(report.createdAccounts) credential accounts"
            )
            print("nothing was changed")
            print(UserMigrationOutput.statusTable(report.statusCounts, statusColumn: statusColumn))
        }

        static func printSummary(_ summary: UserMigrator.Summary, verb: String, statusColumn: String) {
            if isatty(1) == 1 { print("") }
            print("\(verb) \(summary.totals.users) users in \(summary.totals.batches) batch(es)")
            if summary.remaining > 0 {
                print(
                    "note: \(summary.remaining) users are still \(summary.direction.fromStatus) (locked by other transactions during the run); run again"
                )
            }
            print(UserMigrationOutput.statusTable(summary.statusCounts, statusColumn: statusColumn))
        }
    }
}

/// Ends the process at once, as a crash would (no unwinding, no summary).
private func exitImmediately(_ code: Int32) -> Never {
    #if canImport(Glibc)
    Glibc.exit(code)
    #else
    Darwin.exit(code)
    #endif
}
