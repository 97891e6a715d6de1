import Testing

@testable import AuthGateCore

@Suite("User migration: batch plan")
struct UserMigrationBatchTests {
    func user(_ id: String, _ email: String? = nil, hash: String? = "salt:key") -> LegacyUser {
        LegacyUser(id: id, email: email ?? "User\(id)@Example.com", name: "User \(id)", passwordHash: hash)
    }

    @Test("new users get a Better Auth user and a credential account with the legacy hash")
    func fresh() throws {
        let batch = try UserMigrationBatch.plan(legacy: [self.user("1"), self.user("2", hash: nil)], existing: []).get()
        #expect(
            batch.newUsers == [
                .init(id: "1", name: "User 1", email: "user1@example.com"),
                .init(id: "2", name: "User 2", email: "user2@example.com"),
            ]
        )
        #expect(batch.newAccounts == [.init(id: "legacy-1", userID: "1", passwordHash: "salt:key")])
        #expect(batch.legacyIDs == ["1", "2"])
        #expect(batch.adopted.isEmpty)
    }

    @Test("a Better Auth user with the same id and email is adopted; its missing account is added")
    func adopt() throws {
        let batch = try UserMigrationBatch.plan(
            legacy: [self.user("1"), self.user("2")],
            existing: [
                .init(id: "1", email: "user1@example.com", hasLegacyAccount: true),
                .init(id: "2", email: "user2@example.com", hasLegacyAccount: false),
            ]
        ).get()
        #expect(batch.newUsers.isEmpty)
        #expect(batch.newAccounts.map(\.id) == ["legacy-2"])
        #expect(batch.adopted == ["1", "2"])
        #expect(batch.legacyIDs == ["1", "2"])
    }

    @Test("half-migrated, email taken, no email and duplicate emails are problems, all reported")
    func problems() {
        let result = UserMigrationBatch.plan(
            legacy: [
                self.user("1"), self.user("2"), self.user("3", ""), self.user("4", "same@example.com"),
                self.user("5", "SAME@example.com"), self.user("6"),
            ],
            existing: [
                .init(id: "1", email: "someone-else@example.com", hasLegacyAccount: false),
                .init(id: "x9", email: "user2@example.com", hasLegacyAccount: false),
            ]
        )
        guard case .failure(let found) = result else {
            Issue.record("expected problems")
            return
        }
        #expect(
            found.problems == [
                .halfMigrated(
                    userID: "1",
                    legacyEmail: "User1@Example.com",
                    betterAuthEmail: "someone-else@example.com"
                ),
                .emailTaken(userID: "2", email: "User2@Example.com", betterAuthUserID: "x9"),
                .missingEmail(userID: "3"),
                .duplicateEmail(email: "same@example.com", userIDs: ["4", "5"]),
            ]
        )
        #expect(found.description.contains("legacy user 1 is half-migrated"))
        #expect(found.description.hasSuffix("(and 1 more)"))
    }
}

@Suite("User migration: run state machine")
struct UserMigrationRunTests {
    @Test("batches until an empty one; totals add up")
    func twoBatches() {
        var run = UserMigrationRun(direction: .migrate, batchSize: 10)
        #expect(run.start() == .runBatch(number: 1, limit: 10))
        #expect(run.batchCommitted(users: 10) == .runBatch(number: 2, limit: 10))
        #expect(run.batchCommitted(users: 5) == .runBatch(number: 3, limit: 10))
        var totals = UserMigrationRun.Totals()
        totals.batches = 2
        totals.users = 15
        #expect(run.batchCommitted(users: 0) == .finish(totals))
        #expect(run.totals == totals)
    }

    @Test("nothing to do finishes at once")
    func empty() {
        var run = UserMigrationRun(direction: .rollback, batchSize: 500)
        #expect(run.start() == .runBatch(number: 1, limit: 500))
        #expect(run.batchCommitted(users: 0) == .finish(.init()))
    }

    @Test("a run of one batch (--batch-size N without --all) finishes after it, full or not")
    func oneBatch() {
        var run = UserMigrationRun(direction: .migrate, batchSize: 10, maxBatches: 1)
        #expect(run.start() == .runBatch(number: 1, limit: 10))
        var totals = UserMigrationRun.Totals()
        totals.batches = 1
        totals.users = 10
        #expect(run.batchCommitted(users: 10) == .finish(totals))
        var short = UserMigrationRun(direction: .rollback, batchSize: 10, maxBatches: 1)
        _ = short.start()
        totals.users = 4
        #expect(short.batchCommitted(users: 4) == .finish(totals))
        var none = UserMigrationRun(direction: .migrate, batchSize: 10, maxBatches: 1)
        _ = none.start()
        #expect(none.batchCommitted(users: 0) == .finish(.init()))
    }

    @Test("the crash hook stops after N committed batches, not before")
    func crashHook() {
        var run = UserMigrationRun(direction: .migrate, batchSize: 10, crashAfterBatches: 2)
        _ = run.start()
        #expect(run.batchCommitted(users: 10) == .runBatch(number: 2, limit: 10))
        #expect(run.batchCommitted(users: 10) == .simulateCrash(exitCode: 70))
        #expect(run.totals.users == 20)
        var short = UserMigrationRun(direction: .migrate, batchSize: 10, crashAfterBatches: 5)
        _ = short.start()
        #expect(short.batchCommitted(users: 3) == .runBatch(number: 2, limit: 10))
        #expect(short.batchCommitted(users: 0) == .finish(short.totals))
    }
}

@Suite("User migration: SQL and output")
struct UserMigrationSQLTests {
    @Test("names from the config are quoted; ids are cast to the column's type")
    func sql() {
        var schema = UserMigrationSchema()
        schema.usersTable = "legacy.Members"
        schema.idColumn = "memberId"
        schema.statusColumn = "state"
        schema.idType = "bigint"
        #expect(schema.invalidNames.isEmpty)
        #expect(schema.selectPendingBatchSQL.contains("FROM \"legacy\".\"Members\" l WHERE l.\"state\" = 'pending'"))
        #expect(schema.selectPendingBatchSQL.hasSuffix("ORDER BY l.\"memberId\" LIMIT $1 FOR UPDATE SKIP LOCKED"))
        #expect(schema.selectPendingBatchSQL.contains("'pending' AND l.\"deleted_at\" IS NULL ORDER BY"))
        #expect(schema.conflictsSQL.components(separatedBy: "AND l.\"deleted_at\" IS NULL").count == 4)
        #expect(schema.duplicateEmailsSQL.contains("'pending' AND \"deleted_at\" IS NULL"))
        #expect(schema.firstIDsSQL(status: .migrate).contains("AND l.\"deleted_at\" IS NULL"))
        #expect(!schema.firstIDsSQL(status: .rollback).contains("deleted_at"))
        #expect(!schema.selectMigratedBatchSQL.contains("deleted_at"))
        var noSoftDelete = schema
        noSoftDelete.deletedAtColumn = nil
        #expect(!noSoftDelete.selectPendingBatchSQL.contains("deleted_at"))
        #expect(noSoftDelete.softDeletedCountsSQL == nil)
        #expect(schema.markSQL(.migrate).contains("SET \"state\" = 'migrated'"))
        #expect(schema.markSQL(.migrate).contains("\"memberId\" = ANY($1::text[]::bigint[]) AND \"state\" = 'pending'"))
        #expect(schema.markSQL(.rollback).contains("SET \"state\" = 'pending'"))
        #expect(schema.markSQL(.rollback).contains("AND \"state\" = 'migrated' RETURNING 1"))
        schema.idType = "text"
        #expect(schema.markSQL(.migrate).contains("\"memberId\"::text = ANY($1::text[])"))
        schema.idType = "integer; DROP TABLE x"
        #expect(schema.markSQL(.migrate).contains("\"memberId\"::text = ANY($1::text[])"))
        schema.nameColumn = nil
        #expect(schema.selectPendingBatchSQL.contains("NULL::text"))
        #expect(schema.insertCredentialAccountsSQL.contains("'credential'"))
        #expect(schema.insertCredentialAccountsSQL.contains("ON CONFLICT (\"id\") DO NOTHING"))
        #expect(schema.insertBetterAuthUsersSQL.contains("INSERT INTO \"better_auth_users\""))
        #expect(schema.deleteCredentialAccountsSQL.contains("\"providerId\" = 'credential'"))
    }

    @Test("bad names are caught")
    func invalidNames() {
        var schema = UserMigrationSchema()
        schema.usersTable = "users; DROP"
        schema.nameColumn = "na\"me"
        #expect(schema.invalidNames == ["users; DROP", "na\"me"])
        #expect(UserMigrationSchema.isSafeTypeName("character varying(64)"))
        #expect(!UserMigrationSchema.isSafeTypeName("int'"))
        #expect(UserMigrationSchema.accountID(forLegacyID: "42") == "legacy-42")
    }

    @Test("progress bar and status table")
    func output() {
        #expect(UserMigrationOutput.progressBar(done: 10, total: 25, width: 10) == "[####      ] 10/25 users (40%)")
        #expect(UserMigrationOutput.progressBar(done: 0, total: 0, width: 4) == "[####] 0/0 users (100%)")
        #expect(
            UserMigrationOutput.nextStep(direction: .migrate, left: 990, batchSize: 10)
                == "next: watch the dashboard, then `authgate users migrate --batch-size 10` (990 users still pending), or `--all` for the rest"
        )
        #expect(
            UserMigrationOutput.nextStep(direction: .migrate, left: 0, batchSize: 100).hasPrefix(
                "every user is migrated"
            )
        )
        #expect(
            UserMigrationOutput.nextStep(direction: .rollback, left: 5, batchSize: 100)
                .hasPrefix("next: `authgate users migrate --rollback --batch-size 100` (5 users still migrated)")
        )
        #expect(
            UserMigrationOutput.nextStep(direction: .rollback, left: 0, batchSize: 100).hasPrefix("no user is migrated")
        )
        #expect(
            UserMigrationOutput.statusTable([("migrated", 10), ("pending", 15)]) == """
                 migration_status | count
                ------------------+-------
                 migrated         |    10
                 pending          |    15
                (2 rows)
                """
        )
    }
}
