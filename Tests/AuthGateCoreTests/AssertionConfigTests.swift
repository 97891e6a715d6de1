import AuthGateCore
import Testing

/// `assertion:` compiled into a snapshot: keys read at reload, a generated key kept across reloads.
@Suite("Assertion config")
struct AssertionConfigTests {
    @Test("off by default: no signer")
    func offByDefault() throws {
        let snapshot = try ConfigSnapshot(config: GatewayConfig(), generation: 1)
        #expect(snapshot.assertionSigner == nil)
    }

    @Test("EdDSA without a key file: one generated key for the process, the same kid after a reload")
    func generatedKeySurvivesReload() throws {
        var config = GatewayConfig()
        config.assertion.enabled = true
        let first = try #require(try ConfigSnapshot(config: config, generation: 1).assertionSigner)
        config.assertion.ttlSeconds = 10
        let second = try #require(try ConfigSnapshot(config: config, generation: 2).assertionSigner)
        #expect(first.kid != nil)
        #expect(first.kid == second.kid)
        #expect(first.jwksJSON().contains("\"kty\":\"OKP\""))
        #expect(second.ttlSeconds == 10)
    }

    @Test("a key file that cannot be read or is not an Ed25519 key fails the snapshot with its key")
    func badKeyFile() throws {
        var config = GatewayConfig()
        config.assertion.enabled = true
        config.assertion.privateKeyFile = "/nonexistent/assertion.pem"
        #expect {
            _ = try ConfigSnapshot(config: config, generation: 1)
        } throws: { error in
            (error as? ConfigError)?.issues.contains { $0.key == "assertion.private_key_file" } == true
        }
    }

    @Test("HS256 needs a secret of 32 bytes or more; its JWKS publishes nothing")
    func hs256() throws {
        var config = GatewayConfig()
        config.assertion.enabled = true
        config.assertion.algorithm = .hs256
        #expect(config.validate().contains { $0.key == "assertion.secret" })
        config.assertion.secret = Secret("short")
        #expect(config.validate().contains { $0.key == "assertion.secret" })
        config.assertion.secret = Secret("0123456789abcdef0123456789abcdef-assertion")
        #expect(config.validate().isEmpty)
        let signer = try #require(try ConfigSnapshot(config: config, generation: 1).assertionSigner)
        #expect(signer.jwksJSON() == "{\"keys\":[]}")
    }
}

/// The cache key of a signed session value, shared by sign-out eviction and tunnel revocation.
@Suite("AuthSettings.sessionCacheKey")
struct SessionCacheKeyTests {
    @Test("a value with a good HMAC maps to the cache key of its token; a forged one and no secret to nil")
    func sessionCacheKey() throws {
        var config = GatewayConfig()
        config.auth.betterAuthSecret = Secret("0123456789abcdef0123456789abcdef-better-auth")
        let settings = try ConfigSnapshot(config: config, generation: 1).auth
        let signer = SessionTokenSigner(secret: "0123456789abcdef0123456789abcdef-better-auth")
        let signed = signer.signedValue(token: "Yp1Wc3zK8tq2fU0aN5vQ7rL4mH6dS9xE")
        #expect(
            settings.sessionCacheKey(signedValue: Substring(signed))
                == CredentialKey(kind: .sessionCookie, credential: "Yp1Wc3zK8tq2fU0aN5vQ7rL4mH6dS9xE")
        )
        let forged = SessionTokenSigner(secret: "another-secret-0123456789abcdef-0123456")
            .signedValue(token: "Yp1Wc3zK8tq2fU0aN5vQ7rL4mH6dS9xE")
        #expect(settings.sessionCacheKey(signedValue: Substring(forged)) == nil)
        let withoutSecret = try ConfigSnapshot(config: GatewayConfig(), generation: 1).auth
        #expect(withoutSecret.sessionCacheKey(signedValue: Substring(signed)) == nil)
    }
}
