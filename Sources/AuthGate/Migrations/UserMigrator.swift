public import AuthGateCore
public import Logging
import PostgresNIO

/// `authgate users migrate`: moves legacy users to Better Auth in batches, or back.
///
/// - One connection holds `pg_try_advisory_lock` (``UserMigrationSchema/advisoryLockKey``) for
///   the whole run, so two runs never interleave; the second one stops at once with a message.
/// - Preflight, before anything is written: the legacy table and its columns exist, the Better
///   Auth tables exist (`authgate db migrate` ran), and no pending user is half-migrated, has
///   an email a Better Auth user already owns, shares its email with another pending user or
///   has none. Any of these stops the run with a message and nothing changed.
/// - Each batch is one transaction: `SELECT … WHERE status = 'pending' ORDER BY id LIMIT n FOR
///   UPDATE SKIP LOCKED`, the same checks again for those rows (users sign up meanwhile), the
///   Better Auth users (id = the legacy id, email lower-cased, `emailVerified` false) and the
///   credential accounts (`legacy-<id>`, `providerId` `credential`, `accountId` = user id,
///   `password` = the legacy hash unchanged) inserted with `ON CONFLICT DO NOTHING`, then the
///   users marked `migrated`. A crash loses at most the open batch, and a rerun continues with
///   the users still pending: resumable and idempotent. Row locks are held only for one batch,
///   and the live gateway only reads `migration_status`, so the gateway keeps serving.
/// - `--rollback` (``UserMigrationDirection/rollback``) takes `migrated` users the same way,
///   deletes the `legacy-<id>` credential accounts and the Better Auth users with the legacy
///   ids (their sessions and later-linked accounts go with them), and marks them `pending`.
public struct UserMigrator: Sendable {
    /// What the command asked for.
    public struct Options: Sendable {
        public var direction: UserMigrationDirection = .migrate
        /// Users per batch (one transaction each).
        public var batchSize: Int = 500
        /// Stop after this many committed batches; `nil` runs until no user is left (`--all`).
        public var maxBatches: Int? = nil
        public var dryRun: Bool = false
        /// Test hook (`AUTHGATE_TEST_CRASH_AFTER_BATCHES`), see ``UserMigrationRun``.
        public var crashAfterBatches: Int? = nil
        public init() {}
    }

    /// Progress, reported between batches.
    public enum Progress: Sendable {
        /// The run starts; `total` users are in the source status.
        case started(total: Int)
        /// Batch `number` committed `users` users; `done` so far.
        case batchCommitted(number: Int, users: Int, done: Int, total: Int)
    }

    /// How a run ended.
    public enum Outcome: Sendable {
        /// Every batch committed.
        case finished(Summary)
        /// `--dry-run`: what a run would do.
        case dryRun(DryRunReport)
        /// The crash test hook fired after `batches` committed batches; exit with `exitCode`.
        case simulatedCrash(batches: Int, exitCode: Int32)
    }

    /// The end of a run.
    public struct Summary: Sendable {
        public var direction: UserMigrationDirection
        public var totals: UserMigrationRun.Totals
        /// `migration_status, count(*)` after the run.
        public var statusCounts: [(status: String, count: Int64)]
        /// Users still in the source status that a later run would take (soft-deleted users
        /// are not counted: a migration never takes them).
        public var remaining: Int64
        /// Soft-deleted users: the pending ones a migration skips, and all of them; `nil`
        /// without a soft-delete column.
        public var softDeleted: (pending: Int64, all: Int64)?
    }

    /// What `--dry-run` found.
    public struct DryRunReport: Sendable {
        public var direction: UserMigrationDirection
        /// Users in the source status that a run would take (soft-deleted ones left out).
        public var users: Int64
        public var batchSize: Int
        /// At most this many batches per run; `nil` for `--all`.
        public var maxBatches: Int?
        /// Soft-deleted users, see ``Summary/softDeleted``.
        public var softDeleted: (pending: Int64, all: Int64)?
        /// The first few of them, in id order.
        public var firstIDs: [String]
        /// Better Auth users and credential accounts created by the migration that exist now.
        public var createdUsers: Int64
        public var createdAccounts: Int64
        public var statusCounts: [(status: String, count: Int64)]
    }

    public let url: DatabaseURL
    public var schema: UserMigrationSchema
    public let logger: Logger

    public init(url: DatabaseURL, schema: UserMigrationSchema, logger: Logger) {
        self.url = url
        self.schema = schema
        self.logger = logger
    }

    /// Runs the migration (or its rollback, or a dry run).
    ///
    /// - Throws: ``MigrationError`` with the reason; the batch that failed changed nothing,
    ///   earlier batches stay committed (rerun to continue).
    public func run(_ options: Options, progress: (Progress) -> Void) async throws -> Outcome {
        guard self.schema.invalidNames.isEmpty else {
            throw MigrationError("invalid table or column names: \(self.schema.invalidNames.joined(separator: ", "))")
        }
        guard options.batchSize > 0 else { throw MigrationError("--batch-size must be at least 1") }
        let connection = try await MigrationDatabase.connect(self.url, logger: self.logger)
        do {
            let outcome = try await self.run(options, on: connection, progress: progress)
            try? await connection.close()
            return outcome
        } catch {
            try? await connection.close()
            throw MigrationError(MigrationDatabase.describe(error, url: self.url))
        }
    }

    private func run(
        _ options: Options,
        on connection: PostgresConnection,
        progress: (Progress) -> Void
    ) async throws -> Outcome {
        let logger = self.logger
        var lock = PostgresBindings()
        lock.append(UserMigrationSchema.advisoryLockKey)
        let locked = try await connection.rows("SELECT pg_try_advisory_lock($1)", lock, logger: logger)
        guard try locked.first?.decode(Bool.self) == true else {
            throw MigrationError("another `authgate users migrate` is running against this database; try again later")
        }
        let schema = try await self.checkedSchema(connection)
        if options.direction == .migrate {
            try await self.preflight(connection, schema: schema)
        }
        let counts = try await self.statusCounts(connection, schema: schema)
        let softDeleted = try await self.softDeletedCounts(connection, schema: schema)
        let total = self.takeable(counts, softDeleted: softDeleted, direction: options.direction)

        if options.dryRun {
            var binds = PostgresBindings()
            binds.append(10)
            let ids = try await connection.rows(schema.firstIDsSQL(status: options.direction), binds, logger: logger)
                .map { try $0.decode(String.self) }
            let created = try await connection.rows(schema.createdRowsSQL, logger: logger)
            var (users, accounts): (Int64, Int64) = (0, 0)
            if let row = created.first { (users, accounts) = try row.decode((Int64, Int64).self) }
            return .dryRun(
                DryRunReport(
                    direction: options.direction,
                    users: total,
                    batchSize: options.batchSize,
                    maxBatches: options.maxBatches,
                    softDeleted: softDeleted,
                    firstIDs: ids,
                    createdUsers: users,
                    createdAccounts: accounts,
                    statusCounts: counts
                )
            )
        }

        progress(.started(total: Int(total)))
        var run = UserMigrationRun(
            direction: options.direction,
            batchSize: options.batchSize,
            maxBatches: options.maxBatches,
            crashAfterBatches: options.crashAfterBatches
        )
        var action = run.start()
        while true {
            switch action {
            case .runBatch(let number, let limit):
                let moved: Int
                switch options.direction {
                case .migrate:
                    moved = try await self.migrateBatch(connection, schema: schema, limit: limit)
                case .rollback:
                    moved = try await self.rollbackBatch(connection, schema: schema, limit: limit)
                }
                action = run.batchCommitted(users: moved)
                if moved > 0 {
                    progress(.batchCommitted(number: number, users: moved, done: run.totals.users, total: Int(total)))
                }
            case .simulateCrash(let exitCode):
                return .simulatedCrash(batches: run.totals.batches, exitCode: exitCode)
            case .finish(let totals):
                let after = try await self.statusCounts(connection, schema: schema)
                let deletedAfter = try await self.softDeletedCounts(connection, schema: schema)
                let remaining = self.takeable(after, softDeleted: deletedAfter, direction: options.direction)
                return .finished(
                    Summary(
                        direction: options.direction,
                        totals: totals,
                        statusCounts: after,
                        remaining: remaining,
                        softDeleted: deletedAfter
                    )
                )
            }
        }
    }

    // MARK: checks

    /// The schema with the optional name column and the id type filled in from the catalog.
    private func checkedSchema(_ connection: PostgresConnection) async throws -> UserMigrationSchema {
        var schema = self.schema
        let legacy = try await self.columns(connection, table: schema.usersTable)
        guard !legacy.isEmpty else {
            throw MigrationError("the legacy table \"\(schema.usersTable)\" does not exist in \(self.url)")
        }
        let required = [schema.idColumn, schema.emailColumn, schema.passwordHashColumn]
        let missing = required.filter { legacy[$0] == nil }
        guard missing.isEmpty else {
            throw MigrationError(
                "the legacy table \"\(schema.usersTable)\" has no column \(missing.map { "\"\($0)\"" }.joined(separator: ", "))"
            )
        }
        guard legacy[schema.statusColumn] != nil else {
            throw MigrationError(
                "the legacy table \"\(schema.usersTable)\" has no column \"\(schema.statusColumn)\": run `authgate db migrate` first"
            )
        }
        if let name = schema.nameColumn, legacy[name] == nil { schema.nameColumn = nil }
        if let deletedAt = schema.deletedAtColumn, legacy[deletedAt] == nil { schema.deletedAtColumn = nil }
        schema.idType = legacy[schema.idColumn]
        for table in [schema.betterAuthUsersTable, schema.betterAuthAccountsTable] {
            guard try await !self.columns(connection, table: table).isEmpty else {
                throw MigrationError(
                    "the Better Auth table \"\(table)\" does not exist: run `authgate db migrate` first"
                )
            }
        }
        return schema
    }

    private func columns(_ connection: PostgresConnection, table: String) async throws -> [String: String] {
        var binds = PostgresBindings()
        binds.append(SessionSchema.quoted(table))
        var result: [String: String] = [:]
        for row in try await connection.rows(UserMigrationSchema.columnsSQL, binds, logger: self.logger) {
            let (name, type) = try row.decode((String, String).self)
            result[name] = type
        }
        return result
    }

    /// Every pending user that a batch would refuse, found before the first batch.
    private func preflight(_ connection: PostgresConnection, schema: UserMigrationSchema) async throws {
        var binds = PostgresBindings()
        binds.append(20)
        var legacy: [LegacyUser] = []
        var existing: [ExistingBetterAuthUser] = []
        for row in try await connection.rows(schema.conflictsSQL, binds, logger: self.logger) {
            let (id, email, name, hash, otherID, otherEmail) = try row.decode(
                (String, String?, String?, String?, String?, String?).self
            )
            legacy.append(LegacyUser(id: id, email: email, name: name, passwordHash: hash))
            if let otherID, let otherEmail {
                existing.append(ExistingBetterAuthUser(id: otherID, email: otherEmail, hasLegacyAccount: false))
            }
        }
        var problems: [UserMigrationProblem] = []
        if case .failure(let found) = UserMigrationBatch.plan(legacy: legacy, existing: existing) {
            problems += found.problems.filter {
                if case .duplicateEmail = $0 { return false }  // an artefact of the join; counted below
                return true
            }
        }
        for row in try await connection.rows(schema.duplicateEmailsSQL, binds, logger: self.logger) {
            let (email, ids) = try row.decode((String, [String]).self)
            problems.append(.duplicateEmail(email: email, userIDs: ids))
        }
        if !problems.isEmpty {
            throw MigrationError(
                "\(UserMigrationProblems(problems)); nothing was changed (fix these users, then run again)"
            )
        }
    }

    /// The users in the run's source status that it would take: for a migration, the pending
    /// ones that are not soft-deleted.
    private func takeable(
        _ counts: [(status: String, count: Int64)],
        softDeleted: (pending: Int64, all: Int64)?,
        direction: UserMigrationDirection
    ) -> Int64 {
        let inStatus = counts.first { $0.status == direction.fromStatus }?.count ?? 0
        guard direction == .migrate, let softDeleted else { return inStatus }
        return max(0, inStatus - softDeleted.pending)
    }

    private func softDeletedCounts(
        _ connection: PostgresConnection,
        schema: UserMigrationSchema
    ) async throws -> (pending: Int64, all: Int64)? {
        guard let sql = schema.softDeletedCountsSQL else { return nil }
        guard let row = try await connection.rows(sql, logger: self.logger).first else { return (0, 0) }
        return try row.decode((Int64, Int64).self)
    }

    private func statusCounts(
        _ connection: PostgresConnection,
        schema: UserMigrationSchema
    ) async throws -> [(status: String, count: Int64)] {
        try await connection.rows(schema.statusCountsSQL, logger: self.logger).map { row in
            let (status, count) = try row.decode((String?, Int64).self)
            return (status ?? "(null)", count)
        }
    }

    // MARK: batches

    private func migrateBatch(
        _ connection: PostgresConnection,
        schema: UserMigrationSchema,
        limit: Int
    ) async throws
        -> Int
    {
        let logger = self.logger
        return try await connection.withTransaction(logger: logger) { connection in
            var binds = PostgresBindings()
            binds.append(limit)
            var legacy: [LegacyUser] = []
            for row in try await connection.rows(schema.selectPendingBatchSQL, binds, logger: logger) {
                let (id, email, name, hash) = try row.decode((String, String?, String?, String?).self)
                legacy.append(LegacyUser(id: id, email: email, name: name, passwordHash: hash))
            }
            guard !legacy.isEmpty else { return 0 }

            var lookup = PostgresBindings()
            lookup.append(legacy.map(\.id))
            lookup.append(legacy.compactMap { $0.email?.lowercased() })
            var existing: [ExistingBetterAuthUser] = []
            for row in try await connection.rows(schema.existingBetterAuthUsersSQL, lookup, logger: logger) {
                let (id, email, hasAccount) = try row.decode((String, String, Bool).self)
                existing.append(ExistingBetterAuthUser(id: id, email: email, hasLegacyAccount: hasAccount))
            }
            let batch: UserMigrationBatch
            switch UserMigrationBatch.plan(legacy: legacy, existing: existing) {
            case .success(let planned): batch = planned
            case .failure(let problems):
                throw MigrationError("\(problems); this batch was rolled back (fix these users, then run again)")
            }

            if !batch.newUsers.isEmpty {
                var users = PostgresBindings()
                users.append(batch.newUsers.map(\.id))
                users.append(batch.newUsers.map(\.name))
                users.append(batch.newUsers.map(\.email))
                try await connection.execute(schema.insertBetterAuthUsersSQL, users, logger: logger)
            }
            if !batch.newAccounts.isEmpty {
                var accounts = PostgresBindings()
                accounts.append(batch.newAccounts.map(\.id))
                accounts.append(batch.newAccounts.map(\.userID))
                accounts.append(batch.newAccounts.map(\.passwordHash))
                try await connection.execute(schema.insertCredentialAccountsSQL, accounts, logger: logger)
            }
            var ids = PostgresBindings()
            ids.append(batch.legacyIDs)
            let marked = try await connection.execute(schema.markSQL(.migrate), ids, logger: logger)
            guard marked == batch.legacyIDs.count else {
                throw MigrationError("marked \(marked) of \(batch.legacyIDs.count) users migrated; batch rolled back")
            }
            return marked
        }
    }

    private func rollbackBatch(
        _ connection: PostgresConnection,
        schema: UserMigrationSchema,
        limit: Int
    ) async throws
        -> Int
    {
        let logger = self.logger
        return try await connection.withTransaction(logger: logger) { connection in
            var binds = PostgresBindings()
            binds.append(limit)
            let legacyIDs = try await connection.rows(schema.selectMigratedBatchSQL, binds, logger: logger)
                .map { try $0.decode(String.self) }
            guard !legacyIDs.isEmpty else { return 0 }
            var accounts = PostgresBindings()
            accounts.append(legacyIDs.map(UserMigrationSchema.accountID(forLegacyID:)))
            try await connection.execute(schema.deleteCredentialAccountsSQL, accounts, logger: logger)
            var ids = PostgresBindings()
            ids.append(legacyIDs)
            try await connection.execute(schema.deleteBetterAuthUsersSQL, ids, logger: logger)
            let marked = try await connection.execute(schema.markSQL(.rollback), ids, logger: logger)
            guard marked == legacyIDs.count else {
                throw MigrationError("marked \(marked) of \(legacyIDs.count) users pending; batch rolled back")
            }
            return marked
        }
    }
}
