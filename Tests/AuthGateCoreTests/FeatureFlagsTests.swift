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

    /// Every phase but rollback accepts Better Auth.
    static let phases: [(dual: Bool, prefer: Bool, acceptsBetterAuth: Bool)] = [
        (true, false, true), (true, true, true), (false, true, true), (false, false, false),
    ]

    @Test("a known user in the cohort is offered Better Auth in every phase but rollback", arguments: phases)
    func knownInCohort(dual: Bool, prefer: Bool, acceptsBetterAuth: Bool) {
        let result = flags(dual: dual, prefer: prefer, caller: inCohort)
        #expect(result.enableBetterAuth == acceptsBetterAuth)
        #expect(result.enableOAuth == acceptsBetterAuth)
        #expect(result.showMigrationBanner == acceptsBetterAuth)
        #expect(result.enableDualAuth == dual)
        #expect(result.preferBetterAuth == prefer)
        #expect(result.cohort == "better-auth")
        #expect(result.bucket == 7)
        #expect(result.authenticated)
        #expect(result.rolloutPercent == 30)
    }

    @Test("a known user outside the cohort is never offered Better Auth", arguments: phases)
    func knownOutOfCohort(dual: Bool, prefer: Bool, acceptsBetterAuth: Bool) {
        let result = flags(dual: dual, prefer: prefer, caller: outOfCohort)
        #expect(!result.enableBetterAuth)
        #expect(!result.enableOAuth)
        #expect(!result.showMigrationBanner)
        #expect(result.cohort == "legacy")
        #expect(result.bucket == 52)
        #expect(result.authenticated)
    }

    @Test("an anonymous caller is in the cohort only at 100 %", arguments: phases)
    func anonymous(dual: Bool, prefer: Bool, acceptsBetterAuth: Bool) {
        for percent in [0, 30, 99] {
            let result = flags(dual: dual, prefer: prefer, percent: percent, caller: nil)
            #expect(!result.enableBetterAuth)
            #expect(!result.enableOAuth)
            #expect(!result.showMigrationBanner)
            #expect(result.cohort == nil)
            #expect(result.bucket == nil)
            #expect(!result.authenticated)
        }
        let full = flags(dual: dual, prefer: prefer, percent: 100, caller: nil)
        #expect(full.enableBetterAuth == acceptsBetterAuth)
        #expect(full.enableOAuth == acceptsBetterAuth)
        #expect(full.showMigrationBanner == acceptsBetterAuth)
        #expect(full.cohort == nil)
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
