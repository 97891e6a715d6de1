import Testing

@testable import AuthGateCore

/// `user-2` is in bucket 7, `user-1` in bucket 52 (see ``RolloutCohortTests``).
private let inCohort = FeatureFlags.Caller(userID: "user-2", method: .legacy)
private let outOfCohort = FeatureFlags.Caller(userID: "user-1", method: .legacy)

private func flags(
    dual: Bool,
    prefer: Bool,
    percent: Int = 30,
    oauth: Bool = true,
    banner: Bool = true,
    caller: FeatureFlags.Caller?
) -> FeatureFlags {
    FeatureFlags(
        enableDualAuth: dual,
        preferBetterAuth: prefer,
        rolloutPercent: percent,
        enableOAuth: oauth,
        showMigrationBanner: banner,
        caller: caller
    )
}

/// The rendered body parsed back, or nil when it is not a JSON object.
private func parsed(_ flags: FeatureFlags) -> [String: JSONValue]? {
    (try? JSONParser.parse(flags.renderJSON()))?.objectValue
}

@Suite("FeatureFlags")
struct FeatureFlagsTests {
    @Test(
        "each pair of flags names its phase",
        arguments: [
            (true, false, "infrastructure"), (true, true, "beta"), (false, true, "complete"),
            (false, false, "rollback"),
        ]
    )
    func phase(dual: Bool, prefer: Bool, name: String) {
        #expect(flags(dual: dual, prefer: prefer, caller: nil).phase == name)
        #expect(flags(dual: dual, prefer: prefer, caller: inCohort).phase == name)
    }

    /// Whether a caller in the cohort is sent to Better Auth: in beta (the only phase where the
    /// client chooses) and in complete (Better Auth only); never in infrastructure or rollback.
    static let phases: [(dual: Bool, prefer: Bool, offered: Bool)] = [
        (true, false, false), (true, true, true), (false, true, true), (false, false, false),
    ]

    @Test("a known user in the cohort is offered Better Auth in beta and complete", arguments: phases)
    func knownInCohort(dual: Bool, prefer: Bool, offered: Bool) {
        let result = flags(dual: dual, prefer: prefer, caller: inCohort)
        #expect(result.enableBetterAuth == offered)
        #expect(result.enableOAuth == offered)
        #expect(result.showMigrationBanner == offered)
        #expect(result.enableDualAuth == dual)
        #expect(result.preferBetterAuth == prefer)
        #expect(result.cohort == "better-auth")
        #expect(result.bucket == 7)
        #expect(result.authenticated)
        #expect(result.rolloutPercent == 30)
    }

    @Test("a known user outside the cohort is offered Better Auth only where legacy is refused", arguments: phases)
    func knownOutOfCohort(dual: Bool, prefer: Bool, offered: Bool) {
        let result = flags(dual: dual, prefer: prefer, caller: outOfCohort)
        let complete = !dual && prefer
        #expect(result.enableBetterAuth == complete)
        #expect(result.enableOAuth == complete)
        #expect(result.showMigrationBanner == complete)
        #expect(result.cohort == "legacy")
        #expect(result.bucket == 52)
        #expect(result.authenticated)
    }

    @Test("an anonymous caller is in the cohort only at 100 %", arguments: phases)
    func anonymous(dual: Bool, prefer: Bool, offered: Bool) {
        let complete = !dual && prefer
        for percent in [0, 30, 99] {
            let result = flags(dual: dual, prefer: prefer, percent: percent, caller: nil)
            #expect(result.enableBetterAuth == complete)
            #expect(result.enableOAuth == complete)
            #expect(result.showMigrationBanner == complete)
            #expect(result.cohort == nil)
            #expect(result.bucket == nil)
            #expect(!result.authenticated)
        }
        let full = flags(dual: dual, prefer: prefer, percent: 100, caller: nil)
        #expect(full.enableBetterAuth == offered)
        #expect(full.enableOAuth == offered)
        #expect(full.showMigrationBanner == offered)
        #expect(full.cohort == nil)
    }

    @Test("the flags never send a client to a system the phase refuses, at any percentage")
    func neverARefusedSystem() {
        for percent in [0, 1, 30, 99, 100] {
            for caller in [inCohort, outOfCohort, nil] {
                // Phase 4 refuses legacy: every client is told Better Auth.
                #expect(flags(dual: false, prefer: true, percent: percent, caller: caller).enableBetterAuth)
                // Rollback refuses Better Auth: every client is told legacy.
                #expect(!flags(dual: false, prefer: false, percent: percent, caller: caller).enableBetterAuth)
                // Phase 1 sends nobody to Better Auth yet, not even at the default 100 %.
                #expect(!flags(dual: true, prefer: false, percent: percent, caller: caller).enableBetterAuth)
            }
        }
    }

    @Test("check-config warns about a percentage the phase ignores")
    func rolloutWarnings() {
        func warnings(dual: Bool, prefer: Bool, percent: Int) -> [String] {
            var config = GatewayConfig()
            config.auth.enableDualAuth = dual
            config.auth.preferBetterAuth = prefer
            config.rollout.betterAuthRolloutPercent = percent
            return RolloutWarnings.warnings(for: config)
        }
        #expect(warnings(dual: false, prefer: true, percent: 40).count == 1)
        #expect(warnings(dual: false, prefer: true, percent: 40)[0].contains("phase 4"))
        #expect(warnings(dual: false, prefer: true, percent: 100).isEmpty)
        #expect(warnings(dual: true, prefer: false, percent: 30)[0].contains("phase 1"))
        #expect(warnings(dual: true, prefer: false, percent: 100).isEmpty)
        #expect(warnings(dual: false, prefer: false, percent: 30)[0].contains("rollback"))
        for percent in [0, 30, 100] { #expect(warnings(dual: true, prefer: true, percent: percent).isEmpty) }
    }

    @Test("0 % keeps every known user on legacy, 100 % moves every one")
    func percentExtremes() {
        #expect(!flags(dual: true, prefer: true, percent: 0, caller: inCohort).enableBetterAuth)
        #expect(flags(dual: true, prefer: true, percent: 0, caller: inCohort).cohort == "legacy")
        #expect(flags(dual: true, prefer: true, percent: 100, caller: outOfCohort).enableBetterAuth)
        #expect(flags(dual: true, prefer: true, percent: 100, caller: outOfCohort).cohort == "better-auth")
    }

    @Test("the percentage is clamped to 0...100")
    func clamped() {
        #expect(flags(dual: true, prefer: true, percent: -10, caller: inCohort).rolloutPercent == 0)
        #expect(flags(dual: true, prefer: true, percent: 250, caller: outOfCohort).rolloutPercent == 100)
        #expect(flags(dual: true, prefer: true, percent: 250, caller: outOfCohort).enableBetterAuth)
    }

    @Test("a caller already on Better Auth gets no migration banner")
    func bannerHiddenForBetterAuthUsers() {
        let caller = FeatureFlags.Caller(userID: "user-2", method: .betterAuth)
        let result = flags(dual: true, prefer: true, caller: caller)
        #expect(result.enableBetterAuth)
        #expect(!result.showMigrationBanner)
    }

    @Test("OAuth and the banner follow their configuration switches")
    func configSwitches() {
        let off = flags(dual: true, prefer: true, oauth: false, banner: false, caller: inCohort)
        #expect(off.enableBetterAuth)
        #expect(!off.enableOAuth)
        #expect(!off.showMigrationBanner)
    }

    @Test("the JSON body of a known user")
    func jsonKnownUser() {
        let body = flags(dual: true, prefer: true, caller: inCohort).renderJSON()
        #expect(
            body
                == #"{"phase":"beta","enable_better_auth":true,"enable_dual_auth":true,"prefer_better_auth":true,"#
                + #""enable_oauth":true,"show_migration_banner":true,"rollout_percent":30,"authenticated":true,"#
                + #""cohort":"better-auth","bucket":7}"#
        )
    }

    @Test("the JSON body of an anonymous caller has null cohort and bucket")
    func jsonAnonymous() {
        let body = flags(dual: false, prefer: false, percent: 0, caller: nil).renderJSON()
        #expect(
            body
                == #"{"phase":"rollback","enable_better_auth":false,"enable_dual_auth":false,"#
                + #""prefer_better_auth":false,"enable_oauth":false,"show_migration_banner":false,"#
                + #""rollout_percent":0,"authenticated":false,"cohort":null,"bucket":null}"#
        )
    }

    @Test(
        "the JSON body parses and mirrors the fields",
        arguments: [
            (true, false, inCohort), (true, true, outOfCohort), (false, true, nil), (false, false, inCohort),
        ] as [(Bool, Bool, FeatureFlags.Caller?)]
    )
    func jsonParses(dual: Bool, prefer: Bool, caller: FeatureFlags.Caller?) throws {
        let result = flags(dual: dual, prefer: prefer, caller: caller)
        let object = try #require(parsed(result))
        #expect(object.count == 10)
        #expect(object["phase"]?.stringValue == result.phase)
        #expect(object["enable_better_auth"]?.boolValue == result.enableBetterAuth)
        #expect(object["enable_dual_auth"]?.boolValue == result.enableDualAuth)
        #expect(object["prefer_better_auth"]?.boolValue == result.preferBetterAuth)
        #expect(object["enable_oauth"]?.boolValue == result.enableOAuth)
        #expect(object["show_migration_banner"]?.boolValue == result.showMigrationBanner)
        #expect(object["rollout_percent"]?.int64Value == Int64(result.rolloutPercent))
        #expect(object["authenticated"]?.boolValue == result.authenticated)
        if let cohort = result.cohort {
            #expect(object["cohort"]?.stringValue == cohort)
        } else {
            #expect(object["cohort"]?.isNull == true)
        }
        if let bucket = result.bucket {
            #expect(object["bucket"]?.int64Value == Int64(bucket))
        } else {
            #expect(object["bucket"]?.isNull == true)
        }
    }
}
