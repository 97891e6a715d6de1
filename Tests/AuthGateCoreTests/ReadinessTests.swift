import Testing

@testable import AuthGateCore

@Suite("Readiness")
struct ReadinessTests {
    private func config(
        dual: Bool = true,
        prefer: Bool = false,
        secret: Bool = true,
        resolver: SessionResolverKind = .http,
        database: Bool = false
    ) -> GatewayConfig {
        var config = GatewayConfig()
        config.auth.enableDualAuth = dual
        config.auth.preferBetterAuth = prefer
        config.auth.betterAuthSecret = secret ? Secret("better-auth-secret-12345678901234567890") : nil
        config.auth.sessionResolver = resolver
        config.auth.databaseURL = database ? Secret("postgres://u:p@127.0.0.1:5432/db") : nil
        return config
    }

    private func required(_ plan: Readiness.Plan) -> [Readiness.Dependency: Bool] {
        Dictionary(uniqueKeysWithValues: plan.checks.map { ($0.dependency, $0.required) })
    }

    @Test("cookies checked through get-session need the auth server; the backend is always needed")
    func httpResolver() {
        let plan = Readiness.Plan(config: self.config())
        #expect(self.required(plan) == [.backend: true, .authServer: true, .jwks: false])
    }

    @Test("with auth.jwks_enabled false the JWKS is not a dependency at all")
    func jwksDisabled() {
        var config = self.config()
        config.auth.jwksEnabled = false
        #expect(self.required(Readiness.Plan(config: config)) == [.backend: true, .authServer: true])
    }

    @Test("the postgres resolver needs PostgreSQL, not the auth server")
    func postgresResolver() {
        let plan = Readiness.Plan(config: self.config(resolver: .postgres, database: true))
        #expect(
            self.required(plan) == [
                .backend: true, .authServer: false, .postgres: true, .jwks: false, .sessionStore: true,
            ]
        )
    }

    @Test("the session store is checked only where the postgres resolver looks sessions up")
    func sessionStorePlan() {
        #expect(!Readiness.Plan(config: self.config(database: true)).includes(.sessionStore))
        #expect(
            !Readiness.Plan(config: self.config(secret: false, resolver: .postgres, database: true)).includes(
                .sessionStore
            )
        )
        #expect(!Readiness.Plan(config: self.config(resolver: .postgres, database: false)).includes(.sessionStore))
        #expect(Readiness.Plan(config: self.config(resolver: .postgres, database: true)).includes(.sessionStore))
    }

    @Test("sessions kept in secondaryStorage make the gateway unready, naming the session store and why")
    func sessionStoreDown() throws {
        let plan = Readiness.Plan(config: self.config(resolver: .postgres, database: true))
        var detector = SecondaryStorageDetector(interval: .seconds(10))
        _ = detector.lookupFoundNothing(now: .uptimeNanoseconds(1))
        _ = detector.probeFinished(sessionExists: true)
        let report = Readiness(
            plan: plan,
            found: [
                .backend: (.up, nil), .authServer: (.up, nil), .postgres: (.up, nil), .jwks: (.up, nil),
                .sessionStore: detector.readiness,
            ]
        )
        #expect(!report.isReady)
        let parsed = try JSONParser.parse(report.renderJSON())
        #expect(parsed["failing"] == .array([.string("session_store")]))
        #expect(parsed["checks"]?["session_store"]?["reason"]?.stringValue == SecondaryStorageDetector.reason)
        #expect(parsed["checks"]?["session_store"]?["status"]?.stringValue == "down")
    }

    @Test("a database only for the audit trail is checked but not required")
    func auditDatabase() {
        #expect(self.required(Readiness.Plan(config: self.config(database: true)))[.postgres] == false)
    }

    @Test("in the rollback (legacy only) Better Auth's parts are not checked at all")
    func rollback() {
        let plan = Readiness.Plan(config: self.config(dual: false, prefer: false, database: true))
        #expect(self.required(plan) == [.backend: true, .postgres: false])
        var onlyRoute = self.config(dual: false, prefer: false)
        onlyRoute.routes = [GatewayConfig.Route(path: "/api/v2/", access: .betterAuthOnly)]
        #expect(Readiness.Plan(config: onlyRoute).includes(.authServer))
    }

    @Test("without a session secret no cookie is looked up: the auth server is optional")
    func noSecret() {
        #expect(self.required(Readiness.Plan(config: self.config(secret: false)))[.authServer] == false)
    }

    @Test("ready only while every required dependency is up; optional ones are reported")
    func verdict() {
        let plan = Readiness.Plan(config: self.config(database: true))
        let allUp = Readiness(
            plan: plan,
            found: [.backend: (.up, nil), .authServer: (.up, nil), .postgres: (.up, nil), .jwks: (.up, nil)]
        )
        #expect(allUp.isReady)
        let optionalDown = Readiness(
            plan: plan,
            found: [
                .backend: (.up, nil), .authServer: (.up, nil), .postgres: (.down, "refused"), .jwks: (.down, "empty"),
            ]
        )
        #expect(optionalDown.isReady)
        let authDown = Readiness(
            plan: plan,
            found: [.backend: (.up, nil), .authServer: (.down, "refused"), .postgres: (.up, nil), .jwks: (.up, nil)]
        )
        #expect(!authDown.isReady)
        let missing = Readiness(plan: plan, found: [.authServer: (.up, nil)])
        #expect(!missing.isReady)
        #expect(missing.checks.first { $0.dependency == .backend }?.reason == "not checked")
    }

    @Test("the JSON names every dependency, its status, whether it is required, and what fails")
    func json() throws {
        let plan = Readiness.Plan(config: self.config())
        let report = Readiness(
            plan: plan,
            found: [.backend: (.up, nil), .authServer: (.down, "GET /api/auth/ok answered 503"), .jwks: (.up, nil)]
        )
        #expect(
            report.renderJSON()
                == #"{"status":"not_ready","checks":{"backend":{"status":"up","required":true},"auth_server":{"status":"down","required":true,"reason":"GET /api/auth/ok answered 503"},"postgres":{"status":"not_configured","required":false},"jwks":{"status":"up","required":false},"session_store":{"status":"not_configured","required":false}},"failing":["auth_server"]}"#
        )
        let parsed = try JSONParser.parse(report.renderJSON())
        #expect(parsed.objectValue?["status"]?.stringValue == "not_ready")
    }
}
