import Testing

@testable import AuthGateCore

@Suite("VersionedSecrets and rotation")
struct VersionedSecretsTests {
    private func parse(_ text: String) -> Result<[VersionedSecrets.Entry], VersionedSecrets.Problem> {
        VersionedSecrets.parse(Array(text.utf8))
    }

    @Test("Better Auth's format: current first, trimmed, the secret is everything after the first colon")
    func format() throws {
        let entries = try self.parse(" 2:new-secret:with-colon , 1:old ").get()
        #expect(entries.map(\.version) == [2, 1])
        #expect(entries.map { String(decoding: $0.secret, as: UTF8.self) } == ["new-secret:with-colon", "old"])
    }

    @Test(
        "what Better Auth refuses is refused, without the secret in the message",
        arguments: [
            ("", VersionedSecrets.Problem.empty),
            (" , ", .empty),
            ("secret-without-version", .missingColon(entry: 1)),
            ("1:a,b", .missingColon(entry: 2)),
            ("-1:a", .badVersion(entry: 1)),
            ("x:a", .badVersion(entry: 1)),
            (":a", .badVersion(entry: 1)),
            ("1:a,1:b", .duplicateVersion(1)),
            ("3: ", .emptyValue(version: 3)),
        ]
    )
    func problems(text: String, problem: VersionedSecrets.Problem) {
        #expect(self.parse(text) == .failure(problem))
        #expect(!problem.message.contains("secret-without-version"))
    }

    @Test("the signer signs with the first secret and verifies with any")
    func signerRotation() {
        let old = Array("old-secret-old-secret-old-secret-0001".utf8)
        let new = Array("new-secret-new-secret-new-secret-0002".utf8)
        let other = Array("not-listed-not-listed-not-listed-0003".utf8)
        let token = "Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2"
        let rotating = SessionTokenSigner(secrets: [new, old])
        let signedOld = SessionTokenSigner(secret: old).cookieValue(token: token)
        let signedNew = SessionTokenSigner(secret: new).cookieValue(token: token)
        let signedOther = SessionTokenSigner(secret: other).signedValue(token: token)
        #expect(rotating.verify(signedValue: Substring(signedOld)) == .success(Substring(token)))
        #expect(rotating.verify(signedValue: Substring(signedNew)) == .success(Substring(token)))
        #expect(rotating.verify(signedValue: Substring(signedOther)) == .failure(.badSignature))
        // Signing (what get-session is sent) uses the current secret only.
        #expect(rotating.signedValue(token: token) == SessionTokenSigner(secret: new).signedValue(token: token))
        // The old signer alone does not accept the new secret's values.
        #expect(SessionTokenSigner(secret: old).verify(signedValue: Substring(signedNew)) == .failure(.badSignature))
    }

    @Test("auth settings: versioned secrets first, then better_auth_secret; HS256 JWTs of any of them verify")
    func settings() throws {
        var config = GatewayConfig()
        let old = "old-secret-old-secret-old-secret-0001"
        let new = "new-secret-new-secret-new-secret-0002"
        config.auth.betterAuthSecret = Secret(old)
        config.auth.betterAuthSecrets = Secret("2:\(new),1:\(old)")
        config.auth.betterAuthJWTSecrets = Secret("2:\(new)-jwt,1:\(old)-jwt")
        #expect(config.validate().isEmpty)
        let settings = try AuthSettings(config: config, readFile: { _ in .failure(ConfigProblem("no files")) })
        let signer = try #require(settings.sessionSigner)
        #expect(signer.signedValue(token: "t") == SessionTokenSigner(secret: new).signedValue(token: "t"))
        #expect(
            signer.verify(signedValue: Substring(SessionTokenSigner(secret: old).signedValue(token: "t")))
                == .success("t")
        )
        #expect(settings.betterAuthStaticKeys.count == 2)

        config.auth.betterAuthSecrets = Secret("2:short")
        #expect(config.validate().contains { $0.key == "auth.better_auth_secrets" && $0.reason.contains("too short") })
        config.auth.betterAuthSecrets = Secret("two:\(new)")
        #expect(config.validate().contains { $0.key == "auth.better_auth_secrets" })
        #expect(throws: ConfigError.self) {
            try AuthSettings(config: config, readFile: { _ in .failure(ConfigProblem("no files")) })
        }
    }
}
