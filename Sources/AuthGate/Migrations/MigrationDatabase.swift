import AuthGateCore
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// A failure of `authgate db migrate` or `authgate users migrate`, as one line for an
/// operator. Never contains the database password.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { self.message }
}

/// One PostgreSQL connection for a migration command (a session-level advisory lock and a
/// sequence of transactions need one connection, not a pool).
enum MigrationDatabase {
    /// Opens a connection to `url`.
    ///
    /// - Throws: ``MigrationError`` naming the database (without its password) and the reason.
    static func connect(_ url: DatabaseURL, logger: Logger) async throws -> PostgresConnection {
        if url.requireTLS {
            throw MigrationError(
                "cannot connect to \(url): sslmode=require is not supported by the migration commands yet; "
                    + "run them from a host that reaches the database without TLS"
            )
        }
        let configuration = url.connectionConfiguration(connectTimeout: .seconds(5))
        do {
            return try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(),
                configuration: configuration,
                id: 1,
                logger: logger
            )
        } catch {
            throw MigrationError("cannot connect to \(url): \(Self.describe(error, url: url))")
        }
    }

    /// The reason of a postgres-nio error in one line: the server's message, detail and hint,
    /// or the underlying connection error. The URL's password is masked if it shows up.
    static func describe(_ error: any Error, url: DatabaseURL?) -> String {
        var text: String
        switch error {
        case let error as MigrationError:
            text = error.message
        case let error as UserMigrationProblems:
            text = error.description
        case let error as PostgresTransactionError:
            if let inner = error.closureError ?? error.beginError ?? error.commitError {
                return Self.describe(inner, url: url)
            }
            text = "transaction failed"
        case let error as PSQLError:
            if let info = error.serverInfo, let message = info[.message] {
                text = message
                if let detail = info[.detail] { text += " (\(detail))" }
                if let hint = info[.hint] { text += "; hint: \(hint)" }
                if let state = info[.sqlState] { text += " [SQLSTATE \(state)]" }
            } else if let underlying = error.underlying {
                text = "\(error.code): \(underlying)"
            } else {
                text = "\(error.code)"
            }
        default:
            text = "\(error)"
        }
        if let password = url?.password, !password.isEmpty {
            text = text.replacingAll(password, with: "***")
        }
        return text.replacingAll("\n", with: " ")
    }
}

extension PostgresConnection {
    /// Runs `sql` with `binds` and collects the rows.
    func rows(
        _ sql: String,
        _ binds: PostgresBindings = PostgresBindings(),
        logger: Logger
    ) async throws -> [PostgresRow] {
        var result: [PostgresRow] = []
        for try await row in try await self.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger) {
            result.append(row)
        }
        return result
    }

    /// Runs `sql` and returns the number of rows it returned (statements that change rows
    /// report how many with `RETURNING 1`).
    @discardableResult
    func execute(_ sql: String, _ binds: PostgresBindings = PostgresBindings(), logger: Logger) async throws -> Int {
        let rows = try await self.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }
}

extension String {
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
