/// What `GET /api/auth-proxy/flags` tells the frontend: the rollout phase, and what this caller
/// should see (Better Auth sign-in, OAuth buttons, the migration banner).
///
/// Computed from the rollout configuration and the caller, so the frontend never re-implements
/// the phase table or the cohort hash and always agrees with what the gateway accepts.
public struct FeatureFlags: Sendable, Hashable {
    /// The caller of the flags endpoint, when the request carried a valid credential.
    public struct Caller: Sendable, Hashable {
        public var userID: String
        /// How the caller authenticated for this request.
        public var method: AuthMethod

        public init(userID: String, method: AuthMethod) {
            self.userID = userID
            self.method = method
        }
    }

    /// The rollout phase named by the two flags: `infrastructure` (dual, legacy first), `beta`
    /// (dual, Better Auth first), `complete` (Better Auth only) or `rollback` (legacy only).
    public var phase: String
    /// Whether this caller should sign in with Better Auth. Never a system the phase refuses,
    /// and the percentage applies only where the phase lets the client choose:
    ///
    /// | phase | `enable_better_auth` |
    /// |---|---|
    /// | `infrastructure` (legacy first) | `false`: Better Auth is in place, nobody is sent to it yet |
    /// | `beta` (Better Auth first, both accepted) | the caller is in the rollout cohort |
    /// | `complete` (Better Auth only) | `true`, whatever the percentage: legacy is refused |
    /// | `rollback` (legacy only) | `false`, whatever the percentage: Better Auth is refused |
    ///
    /// An anonymous caller counts as in the cohort only at 100 %, since there is no id to bucket.
    public var enableBetterAuth: Bool
    /// The global `enable_dual_auth` flag.
    public var enableDualAuth: Bool
    /// The global `prefer_better_auth` flag.
    public var preferBetterAuth: Bool
    /// OAuth sign-in is configured and Better Auth is offered to this caller.
    public var enableOAuth: Bool
    /// The banner is configured, Better Auth is offered to this caller, and the caller is not
    /// already signed in with Better Auth.
    public var showMigrationBanner: Bool
    /// The rollout percentage, clamped to `0...100`.
    public var rolloutPercent: Int
    /// `better-auth` or `legacy` by the caller's bucket alone (see ``RolloutCohort``), whatever
    /// the phase; `nil` for an anonymous caller.
    public var cohort: String?
    /// The caller's bucket in `0..<100`; `nil` for an anonymous caller.
    public var bucket: Int?
    /// Whether the request carried a valid credential.
    public var authenticated: Bool

    /// The flags for `caller` (`nil` when anonymous) under the given rollout configuration.
    public init(
        enableDualAuth: Bool,
        preferBetterAuth: Bool,
        rolloutPercent: Int,
        enableOAuth: Bool,
        showMigrationBanner: Bool,
        caller: Caller?
    ) {
        let percent = min(max(rolloutPercent, 0), 100)
        switch (enableDualAuth, preferBetterAuth) {
        case (true, false): self.phase = "infrastructure"
        case (true, true): self.phase = "beta"
        case (false, true): self.phase = "complete"
        case (false, false): self.phase = "rollback"
        }
        let inCohort: Bool
        if let caller {
            let bucket = RolloutCohort.bucket(userID: caller.userID)
            inCohort = bucket < percent
            self.bucket = bucket
            self.cohort = inCohort ? "better-auth" : "legacy"
        } else {
            inCohort = percent == 100
            self.bucket = nil
            self.cohort = nil
        }
        switch (enableDualAuth, preferBetterAuth) {
        case (true, true): self.enableBetterAuth = inCohort
        case (false, true): self.enableBetterAuth = true
        case (true, false), (false, false): self.enableBetterAuth = false
        }
        self.enableDualAuth = enableDualAuth
        self.preferBetterAuth = preferBetterAuth
        self.enableOAuth = enableOAuth && self.enableBetterAuth
        self.showMigrationBanner = showMigrationBanner && self.enableBetterAuth && caller?.method != .betterAuth
        self.rolloutPercent = percent
        self.authenticated = caller != nil
    }

    /// The response body: one compact JSON object with snake_case keys, in a fixed order
    /// (`phase`, `enable_better_auth`, `enable_dual_auth`, `prefer_better_auth`, `enable_oauth`,
    /// `show_migration_banner`, `rollout_percent`, `authenticated`, `cohort`, `bucket`); `cohort`
    /// and `bucket` are `null` for an anonymous caller.
    public func renderJSON() -> String {
        var out = "{\"phase\":"
        ErrorBody.appendJSONString(self.phase, to: &out)
        out += ",\"enable_better_auth\":" + String(self.enableBetterAuth)
        out += ",\"enable_dual_auth\":" + String(self.enableDualAuth)
        out += ",\"prefer_better_auth\":" + String(self.preferBetterAuth)
        out += ",\"enable_oauth\":" + String(self.enableOAuth)
        out += ",\"show_migration_banner\":" + String(self.showMigrationBanner)
        out += ",\"rollout_percent\":" + String(self.rolloutPercent)
        out += ",\"authenticated\":" + String(self.authenticated)
        out += ",\"cohort\":"
        if let cohort = self.cohort {
            ErrorBody.appendJSONString(cohort, to: &out)
        } else {
            out += "null"
        }
        out += ",\"bucket\":" + (self.bucket.map { String($0) } ?? "null")
        out += "}"
        return out
    }
}
