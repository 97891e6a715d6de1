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
                One run moves one batch of --batch-size N users (the rollout's canary, then one \
                step at a time with monitoring between); --all moves every user left, in \
                batches of --batch-size (default 500). Soft-deleted users (the --deleted-at-column \
                is set) are never migrated; --dry-run counts them. Each batch is one transaction: it takes pending users (rows locked by others are \
                skipped), creates each one's Better Auth user (id = the legacy id, email \
                lower-cased) and credential account (id legacy-<id>, the legacy password hash \
                unchanged, so the password keeps working if the hash is in a format the auth \
                server verifies), and marks them migrated. A killed run resumes with the users \
                still pending; a finished run changes nothing when run again. Before the first \
                batch, users that cannot be migrated (half-migrated, email taken, no email) stop \
                the run with nothing changed. --rollback deletes exactly what the migration \
                created and marks the users pending again. Needs `authgate db migrate` first. \
                Ends with the users per migration_status and what to run next. Exit status 0 on \
                success, 1 with the reason on standard error.
                """
        )

        @OptionGroup var database: DatabaseOptions

        @Flag(help: "Show what would be done; change nothing.")
        var dryRun = false

        @Option(help: "Move one batch of this many users (with --all: users per batch, default 500).")
        var batchSize: Int?

        @Flag(help: "Move every user left, batch after batch, instead of one batch.")
        var all = false

        @Option(help: "The soft-delete column of the users table: users with it set are skipped.")
        var deletedAtColumn: String = "deleted_at"

        /// The batch size of `--all` without `--batch-size`.
        static let defaultBatchSize = 500

        @Flag(help: "Undo the migration: delete the Better Auth users and credential accounts it created.")
        var rollback = false

        /// Test hook: exit with status 70 right after this many committed batches, as a crash
        /// would (for the end-to-end test of resuming); not for operators.
        static let crashHookVariable = "AUTHGATE_TEST_CRASH_AFTER_BATCHES"

        func run() async throws {
            let verb = self.rollback ? "rolled back" : "migrated"
            do {
                if let batchSize = self.batchSize, batchSize < 1 {
                    throw MigrationError("--batch-size must be at least 1")
                }
                guard self.batchSize != nil || self.all || self.dryRun else {
                    throw MigrationError(
                        "say how many users: --batch-size N moves one batch of N (the canary, then one step at a time), --all moves every user left"
                    )
                }
                let config = try self.database.loadConfig()
                let url = try self.database.databaseURL(config: config)
                var schema = UserMigrationSchema()
                if let rollout = config?.rollout {
                    schema.usersTable = rollout.usersTable
                    schema.idColumn = rollout.usersIDColumn
                    schema.statusColumn = rollout.migrationStatusColumn
                }
                schema.deletedAtColumn = self.deletedAtColumn.isEmpty ? nil : self.deletedAtColumn
                var options = UserMigrator.Options()
                options.direction = self.rollback ? .rollback : .migrate
                options.batchSize = self.batchSize ?? Self.defaultBatchSize
                options.maxBatches = self.all ? nil : 1
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
                    Self.printSummary(
                        summary,
                        verb: verb,
                        statusColumn: schema.statusColumn,
                        batchSize: options.batchSize,
                        runsToTheEnd: options.maxBatches == nil
                    )
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
            let action = report.direction == .migrate ? "migrate" : "roll back"
            let from = report.direction.fromStatus
            if report.maxBatches == nil {
                let batches = (Int(report.users) + report.batchSize - 1) / report.batchSize
                print(
                    "dry run: \(report.users) users are \(from); a run with --all would \(action) them in \(batches) batch(es) of at most \(report.batchSize)"
                )
            } else {
                let moved = min(report.users, Int64(report.batchSize))
                print(
                    "dry run: \(report.users) users are \(from); a run would \(action) \(moved) of them in 1 batch of at most \(report.batchSize)"
                )
            }
            Self.printSoftDeleted(report.softDeleted)
            if !report.firstIDs.isEmpty {
                print("first ids: \(report.firstIDs.joined(separator: ", "))")
            }
            print(
                "Better Auth rows created by the migration now: \(report.createdUsers) users, \(report.createdAccounts) credential accounts"
            )
            print("nothing was changed")
            print(UserMigrationOutput.statusTable(report.statusCounts, statusColumn: statusColumn))
        }

        static func printSummary(
            _ summary: UserMigrator.Summary,
            verb: String,
            statusColumn: String,
            batchSize: Int,
            runsToTheEnd: Bool
        ) {
            if isatty(1) == 1 { print("") }
            print("\(verb) \(summary.totals.users) users in \(summary.totals.batches) batch(es)")
            if summary.remaining > 0 && runsToTheEnd {
                print(
                    "note: \(summary.remaining) users are still \(summary.direction.fromStatus) (locked by other transactions during the run); run again"
                )
            }
            print(UserMigrationOutput.statusTable(summary.statusCounts, statusColumn: statusColumn))
            Self.printSoftDeleted(summary.softDeleted)
            print(
                UserMigrationOutput.nextStep(
                    direction: summary.direction,
                    left: summary.remaining,
                    batchSize: batchSize
                )
            )
        }

        static func printSoftDeleted(_ counts: (pending: Int64, all: Int64)?) {
            guard let counts, counts.all > 0 else { return }
            print("soft-deleted users (never migrated): \(counts.pending) pending, \(counts.all) in all")
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
