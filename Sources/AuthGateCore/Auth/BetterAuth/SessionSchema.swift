/// Where Better Auth's sessions and users live in PostgreSQL.
///
/// Better Auth's default names are camelCase (`"userId"`, `"expiresAt"`) and `user` is a
/// reserved word, so every identifier is quoted; deployments rename tables (this rollout uses
/// `better_auth_sessions`) and some generators use snake_case columns, hence every name is
/// configurable. Names are validated as plain identifiers, so quoting them is injection-proof.
public struct SessionSchema: Sendable, Hashable {
    public var sessionTable: String = "session"
    public var userTable: String = "user"
    public var sessionID: String = "id"
    public var sessionToken: String = "token"
    public var sessionUserID: String = "userId"
    public var sessionExpiresAt: String = "expiresAt"
    public var userID: String = "id"
    public var userEmail: String = "email"
    /// The user's role column (Better Auth's admin plugin adds `role`); `nil` if there is none.
    public var userRole: String? = nil
    /// Better Auth's admin plugin is on: the lookup also reads `user.banned`,
    /// `user.banExpires` and `session.impersonatedBy` (the plugin's own column names).
    public var adminPlugin = false
    /// Better Auth's organization plugin is on: the lookup also reads
    /// `session.activeOrganizationId` and the user's `member.role` in that organization.
    public var organizationPlugin = false
    /// The organization plugin's member table.
    public var memberTable = "member"
    /// The API key plugin's table (its columns keep the plugin's own names).
    public var apiKeyTable = "apikey"

    /// Whether the lookup has the plugins' five extra columns (banned, ban end, impersonator,
    /// active organization, role in it; those of a plugin that is off are constants).
    public var hasPluginColumns: Bool { self.adminPlugin || self.organizationPlugin }

    public init() {}

    /// Whether `name` is a plain SQL identifier (optionally `schema.table`).
    public static func isValidIdentifier(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { return false }
        return parts.allSatisfy { part in
            guard let first = part.utf8.first, part.utf8.count <= 63 else { return false }
            let isLetter = { (b: UInt8) in (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z") }
            guard isLetter(first) || first == UInt8(ascii: "_") else { return false }
            return part.utf8.allSatisfy { isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "_") }
        }
    }

    /// `"name"` or `"schema"."name"`.
    public static func quoted(_ name: String) -> String {
        name.split(separator: ".").map { "\"\($0)\"" }.joined(separator: ".")
    }

    /// The names that are not valid identifiers.
    public var invalidNames: [String] {
        [
            self.sessionTable, self.userTable, self.sessionID, self.sessionToken, self.sessionUserID,
            self.sessionExpiresAt, self.userID, self.userEmail,
        ].filter { !Self.isValidIdentifier($0) } + (self.userRole.map { Self.isValidIdentifier($0) ? [] : [$0] } ?? [])
    }

    /// The lookup query: one bind (`$1`, the raw token); only unexpired sessions. Expiry is
    /// compared as epoch seconds, which is right both for `timestamptz` columns and for the
    /// `timestamp` (UTC, no zone) columns some adapters create.
    public var lookupSQL: String {
        let q = Self.quoted
        let role = self.userRole.map { "u.\(q($0))::text" } ?? "NULL::text"
        // With a plugin, five more columns: banned, the ban's end, the impersonator (admin
        // plugin), the active organization and the user's role in it (organization plugin).
        var admin = ""
        if self.hasPluginColumns {
            admin +=
                self.adminPlugin
                ? ", coalesce(u.\"banned\", false), (extract(epoch from u.\"banExpires\"))::bigint, "
                    + "s.\"impersonatedBy\"::text"
                : ", false, NULL::bigint, NULL::text"
            admin +=
                self.organizationPlugin
                ? ", s.\"activeOrganizationId\"::text, (SELECT m.\"role\"::text FROM \(q(self.memberTable)) m "
                    + "WHERE m.\"organizationId\" = s.\"activeOrganizationId\" AND m.\"userId\" = s.\(q(self.sessionUserID)) "
                    + "LIMIT 1)"
                : ", NULL::text, NULL::text"
        }
        return """
            SELECT s.\(q(self.sessionID))::text, s.\(q(self.sessionUserID))::text, \
            (extract(epoch from s.\(q(self.sessionExpiresAt))))::bigint, u.\(q(self.userEmail))::text, \(role)\(admin) \
            FROM \(q(self.sessionTable)) s JOIN \(q(self.userTable)) u ON u.\(q(self.userID)) = s.\(q(self.sessionUserID)) \
            WHERE s.\(q(self.sessionToken)) = $1 \
            AND extract(epoch from s.\(q(self.sessionExpiresAt))) > extract(epoch from now())
            """
    }
    /// The admin plugin's ban of one user (`$1`: the user id): `banned`, and when it ends.
    public var banLookupSQL: String {
        let q = Self.quoted
        return """
            SELECT coalesce(u."banned", false), (extract(epoch from u."banExpires"))::bigint \
            FROM \(q(self.userTable)) u WHERE u.\(q(self.userID))::text = $1
            """
    }
    /// Counts the unexpired sessions: `better_auth_active_sessions`.
    public var activeSessionCountSQL: String {
        let q = Self.quoted
        return """
            SELECT count(*)::bigint FROM \(q(self.sessionTable)) \
            WHERE extract(epoch from \(q(self.sessionExpiresAt))) > extract(epoch from now())
            """
    }
}

/// A parsed `postgres://user:password@host:port/database?sslmode=…` URL.
public struct DatabaseURL: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var requireTLS: Bool

    public init?(_ text: String) {
        var rest = Substring(text)
        let lowered = text.lowercased()
        if lowered.hasPrefix("postgres://") {
            rest = rest.dropFirst("postgres://".count)
        } else if lowered.hasPrefix("postgresql://") {
            rest = rest.dropFirst("postgresql://".count)
        } else {
            return nil
        }
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        guard let slash = rest.firstIndex(of: "/") else { return nil }
        let authority = rest[..<slash]
        let database = rest[rest.index(after: slash)...]
        guard !database.isEmpty else { return nil }
        var hostPort = authority
        var user: Substring = "postgres"
        var password: Substring? = nil
        if let at = authority.lastIndex(of: "@") {
            let userInfo = authority[..<at]
            hostPort = authority[authority.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = userInfo[..<colon]
                password = userInfo[userInfo.index(after: colon)...]
            } else {
                user = userInfo
            }
        }
        var host = hostPort
        var port = 5432
        if hostPort.hasPrefix("["), let close = hostPort.firstIndex(of: "]") {
            host = hostPort[hostPort.index(after: hostPort.startIndex)..<close]
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                guard let parsed = Int(after.dropFirst()) else { return nil }
                port = parsed
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            guard let parsed = Int(hostPort[hostPort.index(after: colon)...]) else { return nil }
            port = parsed
        }
        guard !host.isEmpty, (1...65_535).contains(port) else { return nil }
        self.host = String(host)
        self.port = port
        self.username = Self.percentDecode(user)
        self.password = password.map(Self.percentDecode)
        self.database = Self.percentDecode(database)
        self.requireTLS = query.split(separator: "&").contains {
            $0 == "sslmode=require" || $0 == "sslmode=verify-full"
        }
    }

    /// Never prints the password.
    public var description: String {
        "postgres://\(self.username)@\(self.host):\(self.port)/\(self.database)"
    }

    /// Never prints the password either (`String(reflecting:)`, `print` of a holder).
    public var debugDescription: String { self.description }

    /// The password is a ``Secret`` child here: `dump` and `Mirror` show `<redacted>`.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": self.host, "port": self.port, "username": self.username,
                "password": self.password.map(Secret.init) as Any, "database": self.database,
                "requireTLS": self.requireTLS,
            ],
            displayStyle: .struct
        )
    }

    static func percentDecode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%"), iterator.count >= 2,
                let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
