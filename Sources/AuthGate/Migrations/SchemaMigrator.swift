public import AuthGateCore
public import Logging
import PostgresNIO

/// `authgate db migrate`: applies the shipped ``SchemaMigration``s that the database has not
/// recorded.
///
/// Everything pending is applied in **one** transaction, together with its rows in
/// `authgate_schema_migrations`: PostgreSQL's DDL is transactional, so a failing migration
/// (say 003, when the legacy `users` table is missing) leaves the database exactly as it was,
/// and a crash never leaves a migration half-applied or applied but unrecorded. The
/// transaction first takes `pg_advisory_xact_lock` (``SchemaMigration/advisoryLockKey``), so a
/// second run waits for the first and then finds nothing to do, and it sets
/// `lock_timeout` so that an `ALTER TABLE users` stuck behind a long transaction of the live
/// backend fails after ``lockTimeoutSeconds`` instead of stalling every query on `users`.
public struct SchemaMigrator: Sendable {
    /// How long a statement waits for a table lock before the run fails (and changes nothing).
    public static let lockTimeoutSeconds = 10

    public let url: DatabaseURL
    public let logger: Logger

    public init(url: DatabaseURL, logger: Logger) {
        self.url = url
        self.logger = logger
    }

    /// What a run would do, read without changing anything (`--dry-run`).
    ///
    /// - Throws: ``MigrationError``: unreachable database, checksum mismatch, unknown version.
    public func plan() async throws -> SchemaMigrationPlan {
        let connection = try await MigrationDatabase.connect(self.url, logger: self.logger)
        do {
            let recorded = try await self.recorded(connection, createTable: false)
            let plan = try SchemaMigrationPlan.make(recorded: recorded)
            try? await connection.close()
            return plan
        } catch {
            try? await connection.close()
            throw MigrationError(MigrationDatabase.describe(error, url: self.url))
        }
    }

    /// Applies what is pending; returns the plan it carried out (``SchemaMigrationPlan/pending``
    /// is what this run applied, empty when the database was up to date).
    ///
    /// - Throws: ``MigrationError``; nothing was changed.
    public func migrate() async throws -> SchemaMigrationPlan {
        let connection = try await MigrationDatabase.connect(self.url, logger: self.logger)
        let logger = self.logger
        do {
            let plan = try await connection.withTransaction(logger: logger) { connection in
                try await connection.execute("SET LOCAL lock_timeout = '\(Self.lockTimeoutSeconds)s'", logger: logger)
                var lock = PostgresBindings()
                lock.append(SchemaMigration.advisoryLockKey)
                try await connection.execute("SELECT pg_advisory_xact_lock($1)", lock, logger: logger)
                let recorded = try await self.recorded(connection, createTable: true)
                let plan = try SchemaMigrationPlan.make(recorded: recorded)
                for migration in plan.pending {
                    for statement in SQLStatementSplitter.split(migration.sql) {
                        do {
                            try await connection.execute(statement, logger: logger)
                        } catch {
                            throw MigrationError(
                                "migration \(migration.fileName) failed: \(MigrationDatabase.describe(error, url: self.url))"
                            )
                        }
                    }
                    var record = PostgresBindings()
                    record.append(migration.version)
                    record.append(migration.name)
                    record.append(migration.checksum)
                    try await connection.execute(SchemaMigration.insertAppliedSQL, record, logger: logger)
                }
                return plan
            }
            try? await connection.close()
            return plan
        } catch {
            try? await connection.close()
            throw MigrationError(MigrationDatabase.describe(error, url: self.url))
        }
    }

    /// The rows of the migrations table; none if it does not exist and `createTable` is false.
    private func recorded(
        _ connection: PostgresConnection,
        createTable: Bool
    ) async throws
        -> [AppliedSchemaMigration]
    {
        if createTable {
            try await connection.execute(SchemaMigration.createTableSQL, logger: self.logger)
        } else {
            let exists = try await connection.rows(SchemaMigration.tableExistsSQL, logger: self.logger)
            guard try exists.first?.decode(Bool.self) == true else { return [] }
        }
        var result: [AppliedSchemaMigration] = []
        for row in try await connection.rows(SchemaMigration.selectAppliedSQL, logger: self.logger) {
            let (version, name, checksum) = try row.decode((Int, String, String).self)
            result.append(AppliedSchemaMigration(version: version, name: name, checksum: checksum))
        }
        return result
    }
}
