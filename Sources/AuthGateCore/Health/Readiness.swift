/// What `GET /ready` on the admin listener reports: each dependency of the gateway with its own
/// status, and whether the gateway can serve.
///
/// `/health` stays a liveness check (the process answers); `/ready` is what a load balancer or
/// the rollout guide's health check asks before sending traffic: it is `503` as soon as one
/// dependency that the running configuration needs is down. A dependency the configuration
/// can do without (the database of the audit trail, which spills to a file, or a JWKS when no
/// route needs Better Auth JWTs) is reported but never makes the gateway unready.
public struct Readiness: Sendable, Hashable {
    /// A part the gateway talks to.
    public enum Dependency: String, Sendable, Hashable, CaseIterable {
        /// The legacy backend (`upstream.url`): a TCP connection within the connect timeout.
        case backend
        /// The Better Auth server (`auth.auth_server_url`): `GET /api/auth/ok` answers 200.
        case authServer = "auth_server"
        /// PostgreSQL (`auth.database_url`): `SELECT 1` answers.
        case postgres
        /// The auth server's JSON Web Key Set: at least one key is loaded.
        case jwks
        /// Where the postgres resolver looks sessions up (`auth.session_resolver: postgres`):
        /// down when the auth server's get-session finds sessions that the `session` table does
        /// not have (Better Auth's `secondaryStorage`), see ``SecondaryStorageDetector``.
        case sessionStore = "session_store"
    }

    /// The state of one dependency.
    public enum Status: String, Sendable, Hashable {
        case up
        case down
        /// The configuration does not use it; not checked.
        case notConfigured = "not_configured"
    }

    /// One dependency's line of the report.
    public struct Check: Sendable, Hashable {
        public var dependency: Dependency
        /// Whether the running configuration needs it to serve.
        public var required: Bool
        public var status: Status
        /// Why it is down (never a secret: no URL with credentials, no token).
        public var reason: String?

        public init(dependency: Dependency, required: Bool, status: Status, reason: String? = nil) {
            self.dependency = dependency
            self.required = required
            self.status = status
            self.reason = reason
        }
    }

    /// Which dependencies the configuration uses, and which of those it needs to serve.
    public struct Plan: Sendable, Hashable {
        /// One dependency to check.
        public struct Item: Sendable, Hashable {
            public var dependency: Dependency
            /// Whether the gateway cannot serve without it.
            public var required: Bool
            public init(_ dependency: Dependency, required: Bool) {
                self.dependency = dependency
                self.required = required
            }
        }

        /// The dependencies to check, in report order.
        public var checks: [Item]

        /// Whether `dependency` is checked.
        public func includes(_ dependency: Dependency) -> Bool {
            self.checks.contains { $0.dependency == dependency }
        }

        /// The plan for `config`:
        /// - the backend is always required;
        /// - the auth server is required when Better Auth session cookies are checked through
        ///   its get-session (`auth.session_resolver: http`, a `better_auth_secret`, and a phase
        ///   that accepts Better Auth); otherwise checked only if Better Auth is accepted;
        /// - PostgreSQL is required with `auth.session_resolver: postgres` (and a phase that
        ///   accepts Better Auth); otherwise checked, not required, when `auth.database_url`
        ///   is set (audit trail, cross-instance eviction: both degrade without failing
        ///   requests);
        /// - the JWKS is checked, not required, whenever Better Auth is accepted: tokens of
        ///   the JWT plugin are refused while it is empty, sessions are not (and not at all with
        ///   `auth.jwks_enabled: false`);
        /// - the session store is required with the postgres resolver and a database: it is
        ///   down while the sessions are detected to live elsewhere (``SecondaryStorageDetector``).
        public init(config: GatewayConfig) {
            let acceptsBetterAuth =
                config.auth.enableDualAuth || config.auth.preferBetterAuth
                || config.routes.contains { $0.access == .betterAuthOnly }
            let sessions = acceptsBetterAuth && config.auth.betterAuthSecret != nil
            let postgresResolver = config.auth.sessionResolver == .postgres
            var checks = [Item(.backend, required: true)]
            if acceptsBetterAuth {
                checks.append(Item(.authServer, required: sessions && !postgresResolver))
            }
            if config.auth.databaseURL != nil {
                checks.append(Item(.postgres, required: sessions && postgresResolver))
            }
            if acceptsBetterAuth && config.auth.jwksEnabled {
                checks.append(Item(.jwks, required: false))
            }
            if sessions && postgresResolver && config.auth.databaseURL != nil {
                checks.append(Item(.sessionStore, required: true))
            }
            self.checks = checks
        }
    }

    /// Every dependency, those not configured included.
    public var checks: [Check]

    public init(checks: [Check]) {
        self.checks = checks
    }

    /// The report of `plan` given the statuses found (a dependency of the plan missing from
    /// `found` counts as down); dependencies not in the plan are `not_configured`.
    public init(plan: Plan, found: [Dependency: (status: Status, reason: String?)]) {
        var checks: [Check] = []
        for dependency in Dependency.allCases {
            if let planned = plan.checks.first(where: { $0.dependency == dependency }) {
                let result = found[dependency] ?? (.down, "not checked")
                checks.append(
                    Check(
                        dependency: dependency,
                        required: planned.required,
                        status: result.status,
                        reason: result.reason
                    )
                )
            } else {
                checks.append(Check(dependency: dependency, required: false, status: .notConfigured))
            }
        }
        self.checks = checks
    }

    /// Whether every required dependency is up.
    public var isReady: Bool {
        self.checks.allSatisfy { !$0.required || $0.status == .up }
    }

    /// The response body: `{"status":"ready"|"not_ready","checks":{"backend":{"status":"up",
    /// "required":true},…}}`, each down dependency with its `reason`, and for a not-ready
    /// report the required dependencies that are down in `failing`.
    public func renderJSON() -> String {
        var out = "{\"status\":\"" + (self.isReady ? "ready" : "not_ready") + "\",\"checks\":{"
        for (index, check) in self.checks.enumerated() {
            if index > 0 { out += "," }
            out += "\"" + check.dependency.rawValue + "\":{\"status\":\"" + check.status.rawValue + "\""
            out += ",\"required\":" + String(check.required)
            if let reason = check.reason {
                out += ",\"reason\":"
                ErrorBody.appendJSONString(reason, to: &out)
            }
            out += "}"
        }
        out += "}"
        let failing = self.checks.filter { $0.required && $0.status != .up }
        if !failing.isEmpty {
            out += ",\"failing\":[" + failing.map { "\"" + $0.dependency.rawValue + "\"" }.joined(separator: ",") + "]"
        }
        out += "}"
        return out
    }
}
