extension GatewayConfig {
    /// The `logging.level` values: swift-log's `Logger.Level` raw values.
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    /// The `logging.format` values.
    public static let logFormats = ["json", "text"]
    /// Minimum length in bytes of the HMAC secrets (`better_auth_secret`, `better_auth_jwt_secret`,
    /// `legacy_jwt_secret`): an HS256 key shorter than the hash (RFC 7518 §3.2) is guessable.
    public static let minimumSecretBytes = 32

    /// The accepted range of every integer setting, by YAML key. The reference documentation
    /// quotes these; the validator enforces them.
    static let integerBounds: [(key: String, range: ClosedRange<Int64>, unit: String)] = [
        ("server.event_loops", 0...256, "threads (0 = one per core)"),
        ("server.drain_timeout_ms", 1...600_000, "ms"),
        ("server.client_idle_timeout_ms", 1...86_400_000, "ms"),
        ("server.backlog", 1...65_535, "connections"),
        ("upstream.max_connections_per_loop", 1...10_000, "connections"),
        ("upstream.max_waiters_per_loop", 0...1_000_000, "requests"),
        ("upstream.connect_timeout_ms", 1...300_000, "ms"),
        ("upstream.response_timeout_ms", 1...3_600_000, "ms"),
        ("upstream.idle_timeout_ms", 1...86_400_000, "ms"),
        ("limits.max_header_bytes", 1...1_048_576, "bytes"),
        ("limits.max_header_count", 1...10_000, "headers"),
        ("limits.max_uri_bytes", 1...1_048_576, "bytes"),
        ("limits.max_body_bytes", 0...Int64.max, "bytes (0 = no limit)"),
    ]

    /// Checks the configuration as a whole and returns every problem found, section by section; an
    /// empty array means the configuration can be compiled into a ``ConfigSnapshot``.
    ///
    /// Checked: listen addresses (`host:port`, port 1...65535 or 0 for any free port; admin and
    /// proxy not on the same port of overlapping hosts), the upstream URL (`http://host[:port]`,
    /// no path, query, credentials or TLS), the auth server origin, integer ranges
    /// (``integerBounds``), log level and format, every `trusted_proxies` entry, and secret
    /// lengths. No issue text contains a secret's value.
    public func validate() -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        func add(_ key: String, _ reason: String) {
            issues.append(ConfigIssue(key: key, reason: reason))
        }

        // server
        let proxyAddress = Self.checkListen(self.server.listen, key: "server.listen", add: add)
        self.checkInteger("server.event_loops", Int64(self.server.eventLoops), add: add)
        self.checkInteger("server.drain_timeout_ms", Int64(self.server.drainTimeoutMs), add: add)
        self.checkInteger("server.client_idle_timeout_ms", Int64(self.server.clientIdleTimeoutMs), add: add)
        self.checkInteger("server.backlog", Int64(self.server.backlog), add: add)

        // upstream
        if case .failure(let problem) = UpstreamTarget.parse(self.upstream.url) {
            add("upstream.url", problem.reason)
        }
        self.checkInteger("upstream.max_connections_per_loop", Int64(self.upstream.maxConnectionsPerLoop), add: add)
        self.checkInteger("upstream.max_waiters_per_loop", Int64(self.upstream.maxWaitersPerLoop), add: add)
        self.checkInteger("upstream.connect_timeout_ms", Int64(self.upstream.connectTimeoutMs), add: add)
        self.checkInteger("upstream.response_timeout_ms", Int64(self.upstream.responseTimeoutMs), add: add)
        self.checkInteger("upstream.idle_timeout_ms", Int64(self.upstream.idleTimeoutMs), add: add)

        // limits
        self.checkInteger("limits.max_header_bytes", Int64(self.limits.maxHeaderBytes), add: add)
        self.checkInteger("limits.max_header_count", Int64(self.limits.maxHeaderCount), add: add)
        self.checkInteger("limits.max_uri_bytes", Int64(self.limits.maxURIBytes), add: add)
        self.checkInteger("limits.max_body_bytes", self.limits.maxBodyBytes, add: add)

        // admin
        let adminAddress = Self.checkListen(self.admin.listen, key: "admin.listen", add: add)
        // Port 0 means "any free port" (tests), so two such listeners never collide.
        if self.admin.enabled, let proxy = proxyAddress, let admin = adminAddress, proxy.port == admin.port,
            proxy.port != 0,
            proxy.host.lowercased() == admin.host.lowercased() || proxy.isWildcard || admin.isWildcard
        {
            add(
                "admin.listen",
                "\(admin) would share port \(admin.port) with server.listen \(proxy); use another port"
            )
        }

        // logging
        if !Self.logLevels.contains(self.logging.level) {
            let hint =
                Self.logLevels.contains(self.logging.level.lowercased())
                ? "; did you mean \(self.logging.level.lowercased())?" : ""
            add(
                "logging.level",
                "\"\(self.logging.level)\" is not a log level; expected one of "
                    + "\(Self.logLevels.joined(separator: ", "))\(hint)"
            )
        }
        if !Self.logFormats.contains(self.logging.format) {
            add("logging.format", "\"\(self.logging.format)\" is not a log format; expected json or text")
        }

        // auth
        if case .failure(let problem) = ConfigSyntax.HTTPOrigin.parse(self.auth.authServerURL, allowRootPath: false) {
            add("auth.auth_server_url", problem.reason)
        }
        Self.checkHMACSecret(self.auth.betterAuthSecret, key: "auth.better_auth_secret", add: add)
        Self.checkHMACSecret(self.auth.betterAuthJWTSecret, key: "auth.better_auth_jwt_secret", add: add)
        Self.checkHMACSecret(self.auth.legacyJWTSecret, key: "auth.legacy_jwt_secret", add: add)
        if let databaseURL = self.auth.databaseURL {
            // Never quote the value: it carries the database password.
            let lowered = databaseURL.value.lowercased()
            if databaseURL.value.isEmpty {
                add("auth.database_url", "is empty")
            } else if !(lowered.hasPrefix("postgres://") || lowered.hasPrefix("postgresql://")) {
                add("auth.database_url", "must be a postgres:// or postgresql:// URL (value not shown)")
            }
        }

        // trusted_proxies
        for (index, entry) in self.trustedProxies.enumerated() {
            if case .failure(let problem) = TrustedProxies.parseEntry(entry) {
                add("trusted_proxies[\(index)]", problem.reason)
            }
        }
        return issues
    }

    private func checkInteger(_ key: String, _ value: Int64, add: (String, String) -> Void) {
        guard let bound = Self.integerBounds.first(where: { $0.key == key }) else {
            preconditionFailure("no bounds for \(key)")
        }
        guard !bound.range.contains(value) else { return }
        if bound.range.upperBound == Int64.max {
            add(key, "must be at least \(bound.range.lowerBound) \(bound.unit), got \(value)")
        } else {
            add(key, "must be \(bound.range.lowerBound)...\(bound.range.upperBound) \(bound.unit), got \(value)")
        }
    }

    private static func checkListen(
        _ text: String,
        key: String,
        add: (String, String) -> Void
    ) -> HostAndPort? {
        switch HostAndPort.parse(text) {
        case .success(let address):
            return address
        case .failure(let problem):
            add(key, problem.reason)
            return nil
        }
    }

    private static func checkHMACSecret(_ secret: Secret?, key: String, add: (String, String) -> Void) {
        guard let secret else { return }
        if secret.value.isEmpty {
            add(key, "is empty")
        } else if secret.value.utf8.count < Self.minimumSecretBytes {
            add(key, "is too short: an HMAC secret must be at least \(Self.minimumSecretBytes) bytes (value not shown)")
        }
    }
}
