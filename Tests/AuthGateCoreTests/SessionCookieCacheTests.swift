import Testing

@testable import AuthGateCore

/// Values made by the `better-auth-server` port's own encoder (`cookie_cache._encode`, max age
/// 3600 s) with the secret of BETTER_AUTH_WIRE.md, for the token of its worked example.
@Suite("SessionCookieCache (Better Auth cookieCache)")
struct SessionCookieCacheTests {
    static let secret = Array("better-auth-secret-12345678901234567890".utf8)
    static let token: Substring = "Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2"
    static let compact: Substring =
        "eyJzZXNzaW9uIjp7InNlc3Npb24iOnsiaWQiOiJzMSIsInRva2VuIjoiWnIzcFFrOHZYeTFMbTBObjJCYjRDYzZEZDhFZTBGZjIiLCJ1c2VySWQiOiJ1MSIsImV4cGlyZXNBdCI6IjIwMzEtMDEtMDFUMDA6MDA6MDAuMDAwWiIsImlwQWRkcmVzcyI6bnVsbCwidXNlckFnZW50IjoiY3VybC84IFx1MDBlOSJ9LCJ1c2VyIjp7ImlkIjoidTEiLCJlbWFpbCI6ImFkYUBleGFtcGxlLmNvbSIsIm5hbWUiOiJBZFx1MDBlNCIsImVtYWlsVmVyaWZpZWQiOmZhbHNlLCJpbWFnZSI6bnVsbCwicm9sZSI6ImFkbWluIn0sInVwZGF0ZWRBdCI6MTkwMDAwMDAwMDAwMCwidmVyc2lvbiI6IjEifSwiZXhwaXJlc0F0IjoxNzk2MjMwNzk5NzY1LCJzaWduYXR1cmUiOiJxb0xLRzVNRXVsSkMyZUtPbXJ5a2pSb25oeUZfakFnMjNEVjZlWXNqNnVFIn0"
    static let jwt: Substring =
        "eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uIjp7ImlkIjoiczEiLCJ0b2tlbiI6IlpyM3BRazh2WHkxTG0wTm4yQmI0Q2M2RGQ4RWUwRmYyIiwidXNlcklkIjoidTEiLCJleHBpcmVzQXQiOiIyMDMxLTAxLTAxVDAwOjAwOjAwLjAwMFoiLCJpcEFkZHJlc3MiOm51bGwsInVzZXJBZ2VudCI6ImN1cmwvOCBcdTAwZTkifSwidXNlciI6eyJpZCI6InUxIiwiZW1haWwiOiJhZGFAZXhhbXBsZS5jb20iLCJuYW1lIjoiQWRcdTAwZTQiLCJlbWFpbFZlcmlmaWVkIjpmYWxzZSwiaW1hZ2UiOm51bGwsInJvbGUiOiJhZG1pbiJ9LCJ1cGRhdGVkQXQiOjE5MDAwMDAwMDAwMDAsInZlcnNpb24iOiIxIiwiaWF0IjoxNzk2MjI3MTk5LCJleHAiOjE3OTYyMzA3OTl9.WcpBs5ufYtEzynVVPBiM7tetRkvzEGDfUHlbiLbc3oA"
    /// Within both windows (the cache ends at 1796230799 s).
    static let now: Int64 = 1_796_230_000_000

    private func verify(
        _ value: Substring,
        _ strategy: SessionCookieCache.Strategy,
        secrets: [[UInt8]] = [Self.secret],
        version: String = "1",
        token: Substring = Self.token,
        now: Int64 = Self.now
    ) -> Result<SessionCookieCache.Contents, SessionCookieCache.Problem> {
        SessionCookieCache.verify(
            value,
            strategy: strategy,
            secrets: secrets,
            version: version,
            token: token,
            nowMillis: now
        )
    }

    @Test(
        "the port's compact and jwt values verify, with their session and user",
        arguments: SessionCookieCache.Strategy.allCases
    )
    func verifies(strategy: SessionCookieCache.Strategy) throws {
        let contents = try self.verify(strategy == .compact ? Self.compact : Self.jwt, strategy).get()
        #expect(contents.user["id"]?.stringValue == "u1")
        #expect(contents.user["role"]?.stringValue == "admin")
        #expect(contents.session["id"]?.stringValue == "s1")
    }

    @Test("each check refuses what Better Auth refuses", arguments: SessionCookieCache.Strategy.allCases)
    func refusals(strategy: SessionCookieCache.Strategy) {
        let value = strategy == .compact ? Self.compact : Self.jwt
        let other = Array("another-secret-another-secret-another-1".utf8)
        #expect(self.verify(value, strategy, secrets: [other]) == .failure(.badSignature))
        #expect(self.verify(value, strategy, secrets: [other, Self.secret]) != .failure(.badSignature))
        #expect(self.verify(value, strategy, version: "2") == .failure(.versionMismatch))
        #expect(self.verify(value, strategy, token: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") == .failure(.tokenMismatch))
        #expect(self.verify(value, strategy, now: 1_796_230_800_000) == .failure(.cacheExpired))
        #expect(self.verify("", strategy) == .failure(.malformed))
        #expect(self.verify("e30", strategy) == .failure(.malformed))
        // One byte of the signed part changed.
        var tampered = Array(value.utf8)
        tampered[40] = tampered[40] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let result = self.verify(Substring(decoding: tampered, as: UTF8.self), strategy)
        #expect(result == .failure(.badSignature) || result == .failure(.malformed))
    }

    @Test("a JWE (the jwe strategy) is not read: the lookup runs")
    func jwe() {
        #expect(self.verify("a.b.c.d.e", .jwt) == .failure(.unsupported))
    }
}

extension Result where Success == SessionCookieCache.Contents, Failure == SessionCookieCache.Problem {
    fileprivate static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.failure(let a), .failure(let b)): return a == b
        default: return false
        }
    }
    fileprivate static func != (lhs: Self, rhs: Self) -> Bool { !(lhs == rhs) }
}
