import AuthGateCore
import Testing

@Suite struct CredentialFoldTests {
    static let identity = Identity(
        userID: "user-1",
        email: nil,
        roles: [],
        kind: .legacyJWT,
        sessionID: nil,
        expiresAt: nil
    )

    @Test func theFirstAcceptanceWinsAtOnce() {
        var fold = CredentialFold()
        #expect(fold.add(.rejected(.badSignature)) == nil)
        #expect(fold.add(.accepted(Self.identity)) == .accepted(Self.identity))
    }

    @Test func withoutAnAcceptanceTheFirstRejectionIsTheReason() {
        var fold = CredentialFold()
        #expect(fold.add(.rejected(.expired)) == nil)
        #expect(fold.add(.rejected(.badSignature)) == nil)
        #expect(fold.result == .rejected(.expired))
    }

    @Test func anUndecidedAttemptMakesTheWhole503NotARefusal() {
        var fold = CredentialFold()
        #expect(fold.add(.rejected(.sessionNotFound)) == nil)
        #expect(fold.add(.unavailable("auth server down")) == nil)
        #expect(fold.add(.unavailable("database down")) == nil)
        #expect(fold.result == .unavailable("auth server down"))
    }

    @Test func nothingAddedIsAMissingCredential() {
        #expect(CredentialFold().result == .rejected(.missingCredential))
    }
}

@Suite struct StaleIfErrorTests {
    static let identity = CredentialFoldTests.identity

    @Test func aFreshHitAnswersAtOnceUnderTheAttemptsKind() {
        let answer = StaleIfError.cached(.hit(Self.identity), as: .betterAuthSessionBearer)
        var expected = Self.identity
        expected.kind = .betterAuthSessionBearer
        #expect(answer.verdict == .accepted(expected))
        #expect(answer.stale == nil)
    }

    @Test func aNegativeHitRefusesAndAStaleEntryAsksTheAuthority() {
        #expect(StaleIfError.cached(.negativeHit(.sessionNotFound), as: nil).verdict == .rejected(.sessionNotFound))
        let stale = StaleIfError.cached(.stale(Self.identity), as: nil)
        #expect(stale.verdict == nil)
        #expect(stale.stale == Self.identity)
        let miss = StaleIfError.cached(.miss, as: nil)
        #expect(miss.verdict == nil && miss.stale == nil)
    }

    @Test func theStaleIdentityStandsInOnlyWhenTheAuthorityCannotBeReached() {
        let down = StaleIfError.verdict(
            for: .unavailable("timeout"),
            stale: Self.identity,
            as: nil,
            notFound: .inactive
        )
        #expect(down.verdict == .accepted(Self.identity))
        #expect(down.servedStale)

        let no = StaleIfError.verdict(for: .notFound, stale: Self.identity, as: nil, notFound: .inactive)
        #expect(no.verdict == .rejected(.inactive))
        #expect(!no.servedStale)

        let banned = StaleIfError.verdict(
            for: .refused(.userBanned),
            stale: Self.identity,
            as: nil,
            notFound: .inactive
        )
        #expect(banned.verdict == .rejected(.userBanned))

        let noStale = StaleIfError.verdict(for: .unavailable("timeout"), stale: nil, as: nil, notFound: .inactive)
        #expect(noStale.verdict == .unavailable("timeout"))
        #expect(!noStale.servedStale)
    }

    @Test func aFoundIdentityTakesTheAttemptsKind() {
        let found = StaleIfError.verdict(
            for: .found(Self.identity),
            stale: nil,
            as: .betterAuthAPIKey,
            notFound: .apiKeyInvalid
        )
        var expected = Self.identity
        expected.kind = .betterAuthAPIKey
        #expect(found.verdict == .accepted(expected))
    }
}
