import Foundation
import Testing

@testable import AuthGateCore

/// The checkout's root directory, found from this file's path.
private let repositoryRoot: URL = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url = url.deletingLastPathComponent() }
    return url
}()

private func sqlFile(_ name: String) throws -> Data {
    try Data(contentsOf: repositoryRoot.appendingPathComponent("deploy/sql/\(name)"))
}

@Suite("Schema migrations: shipped SQL")
struct SchemaMigrationSQLTests {
    @Test("every embedded migration is byte-equal to its deploy/sql file")
    func embeddedEqualsFiles() throws {
        for migration in SchemaMigration.all {
            let file = try sqlFile(migration.fileName)
            #expect(
                Array(migration.sql.utf8) == Array(file),
                "\(migration.fileName) differs from Sources/AuthGateCore/Migrations/SchemaMigrationSQL.swift"
            )
        }
    }

    @Test("deploy/sql holds exactly the shipped numbered migrations")
    func noOtherNumberedFiles() throws {
        let names = try FileManager.default.contentsOfDirectory(
            atPath: repositoryRoot.appendingPathComponent("deploy/sql").path
        )
        let numbered = names.filter { $0.first?.isNumber == true }.sorted()
        #expect(numbered == SchemaMigration.all.map(\.fileName))
    }

    @Test("better_auth_compat.sql is the concatenation of the migrations")
    func compatIsConcatenation() throws {
        let compat = try sqlFile("better_auth_compat.sql")
        var concatenated = Data()
        for migration in SchemaMigration.all { concatenated.append(try sqlFile(migration.fileName)) }
        #expect(compat == concatenated)
        #expect(Array(SchemaMigration.concatenatedSQL.utf8) == Array(compat))
    }

    @Test("versions increase from 1 without gaps; names are file-safe")
    func versions() {
        #expect(SchemaMigration.all.map(\.version) == Array(1...SchemaMigration.all.count))
        #expect(SchemaMigration.all.map(\.fileName).first == "001_better_auth_compat.sql")
        for migration in SchemaMigration.all {
            #expect(SessionSchema.isValidIdentifier(migration.name))
        }
    }

    @Test("the Better Auth tables carry Better Auth's column names")
    func betterAuthColumns() {
        let sql = SchemaMigration.all[0].sql
        for table in [
            "better_auth_users", "better_auth_sessions", "better_auth_accounts", "better_auth_verification_tokens",
            "jwks",
        ] {
            #expect(sql.contains("CREATE TABLE IF NOT EXISTS \(table) ("))
        }
        for column in [
            "\"emailVerified\"", "\"expiresAt\"", "\"ipAddress\"", "\"userAgent\"", "\"userId\"", "\"accountId\"",
            "\"providerId\"", "\"accessToken\"", "\"refreshToken\"", "\"idToken\"", "\"accessTokenExpiresAt\"",
            "\"refreshTokenExpiresAt\"", "\"publicKey\"", "\"privateKey\"", "\"createdAt\"", "\"updatedAt\"",
        ] {
            #expect(sql.contains(column), "missing \(column)")
        }
    }

    @Test("every statement splits cleanly and is idempotent DDL")
    func statementsAreIdempotent() {
        for migration in SchemaMigration.all {
            for statement in SQLStatementSplitter.split(migration.sql) {
                let code = statement.split(separator: "\n").filter { !$0.hasPrefix("--") }.joined(separator: "\n")
                let idempotent =
                    code.hasPrefix("CREATE TABLE IF NOT EXISTS") || code.hasPrefix("CREATE INDEX IF NOT EXISTS")
                    || code.hasPrefix("ALTER TABLE users ADD COLUMN IF NOT EXISTS")
                    || code.hasPrefix("ALTER TABLE users\n    ADD COLUMN IF NOT EXISTS") || code.hasPrefix("DO $$")
                #expect(idempotent, "not idempotent: \(code.prefix(80))")
            }
        }
    }

    @Test("checksum is the SHA-256 of the text, lowercase hex")
    func checksum() {
        #expect(
            SchemaMigration.checksum(of: "abc")
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        let migration = SchemaMigration(version: 1, name: "x", sql: "abc")
        #expect(migration.checksum == SchemaMigration.checksum(of: "abc"))
    }
}

@Suite("Schema migrations: plan")
struct SchemaMigrationPlanTests {
    let shipped = [
        SchemaMigration(version: 1, name: "one", sql: "CREATE TABLE a (x int);\n"),
        SchemaMigration(version: 2, name: "two", sql: "CREATE TABLE b (x int);\n"),
        SchemaMigration(version: 3, name: "three", sql: "CREATE TABLE c (x int);\n"),
    ]

    func recorded(_ migration: SchemaMigration) -> AppliedSchemaMigration {
        AppliedSchemaMigration(version: migration.version, name: migration.name, checksum: migration.checksum)
    }

    @Test("an empty database gets everything, in order")
    func fresh() throws {
        let plan = try SchemaMigrationPlan.make(shipped: self.shipped.reversed(), recorded: [])
        #expect(plan.pending.map(\.version) == [1, 2, 3])
        #expect(plan.applied.isEmpty)
    }

    @Test("a second run applies nothing")
    func upToDate() throws {
        let plan = try SchemaMigrationPlan.make(shipped: self.shipped, recorded: self.shipped.map(self.recorded))
        #expect(plan.pending.isEmpty)
        #expect(plan.applied.map(\.version) == [1, 2, 3])
    }

    @Test("only the new ones, and a gap is filled")
    func partial() throws {
        let plan = try SchemaMigrationPlan.make(
            shipped: self.shipped,
            recorded: [self.recorded(self.shipped[0])]
        )
        #expect(plan.pending.map(\.version) == [2, 3])
        let gap = try SchemaMigrationPlan.make(
            shipped: self.shipped,
            recorded: [self.recorded(self.shipped[2]), self.recorded(self.shipped[0])]
        )
        #expect(gap.pending.map(\.version) == [2])
    }

    @Test("a changed migration is refused")
    func checksumMismatch() {
        var edited = self.recorded(self.shipped[1])
        edited.checksum = String(repeating: "0", count: 64)
        #expect(throws: SchemaMigrationPlan.Refusal.self) {
            try SchemaMigrationPlan.make(shipped: self.shipped, recorded: [self.recorded(self.shipped[0]), edited])
        }
        do {
            _ = try SchemaMigrationPlan.make(shipped: self.shipped, recorded: [edited])
            Issue.record("no refusal")
        } catch {
            guard case .checksumMismatch(let version, let name, _, _) = error else {
                Issue.record("wrong refusal \(error)")
                return
            }
            #expect(version == 2 && name == "two")
            #expect(error.description.contains("migration 2 (two)"))
        }
    }

    @Test("a version this binary does not know is refused")
    func unknownVersion() {
        do {
            _ = try SchemaMigrationPlan.make(
                shipped: self.shipped,
                recorded: [AppliedSchemaMigration(version: 9, name: "future", checksum: "x")]
            )
            Issue.record("no refusal")
        } catch {
            #expect(error == .unknownVersion(version: 9, name: "future"))
            #expect(error.description.contains("newer AuthGate"))
        }
    }
}

@Suite("SQL statement splitter")
struct SQLStatementSplitterTests {
    @Test("plain statements, comments kept with the next statement, empty ones dropped")
    func plain() {
        let script = "-- head\nCREATE TABLE a (x int);\n\n-- b\nCREATE TABLE b (y int) ;;\n-- trailing only\n"
        #expect(
            SQLStatementSplitter.split(script) == ["-- head\nCREATE TABLE a (x int)", "-- b\nCREATE TABLE b (y int)"]
        )
    }

    @Test("semicolons inside strings, identifiers, comments and dollar quotes do not split")
    func quoted() {
        let script = """
            SELECT 'a;b''c;', "we;ird", E'x\\';y' /* c; /* nested; */ still; */ FROM t;
            DO $$ BEGIN RAISE NOTICE 'x;'; END $$;
            CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
            SELECT $1, $2 -- comment; here
            """
        let statements = SQLStatementSplitter.split(script)
        #expect(statements.count == 4)
        #expect(statements[0].hasSuffix("FROM t"))
        #expect(statements[1] == "DO $$ BEGIN RAISE NOTICE 'x;'; END $$")
        #expect(statements[2].hasSuffix("LANGUAGE sql"))
        #expect(statements[3] == "SELECT $1, $2 -- comment; here")
    }

    @Test("the shipped migrations split into their statements")
    func shipped() {
        let counts = SchemaMigration.all.map { SQLStatementSplitter.split($0.sql).count }
        #expect(counts == [9, 3, 5, 2])
        #expect(SQLStatementSplitter.split(SchemaMigration.all[2].sql)[0].contains("RAISE EXCEPTION"))
    }
}
