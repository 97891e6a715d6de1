import NIOHTTP1
import Testing

@testable import AuthGateCore

@Suite("Better Auth API keys: hashing, extraction, policy")
struct APIKeyTests {
    @Test("the stored form is base64url(SHA-256) without padding, as the plugin's defaultKeyHasher")
    func hashMatchesThePlugin() {
        // Vectors from better_auth.crypto.default_key_hasher (the PyPI port, byte-identical to TS).
        #expect(
            APIKeyHasher.hash("abcXYZ" + String(repeating: "k", count: 58))
                == "udYicjIWNqSOvuHkHDtwCf4_ZP9YRxx3I_BdO5iXMXc"
        )
        #expect(APIKeyHasher.hash("") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU")
    }

    @Test("the key header is read only when the plugin is on, trimmed, any case")
    func extraction() {
        let headers = HTTPHeaders([("X-API-Key", "  key-1  ")])
        #expect(CredentialExtractor().extract(from: headers).apiKey == nil)
        let extracted = CredentialExtractor(apiKeyHeader: "x-api-key").extract(from: headers)
        #expect(extracted.apiKey == "key-1")
        #expect(!extracted.isEmpty)
        #expect(!extracted.isMalformed)
        let custom = CredentialExtractor(apiKeyHeader: "x-service-key")
        #expect(custom.extract(from: headers).apiKey == nil)
        #expect(custom.extract(from: HTTPHeaders([("X-Service-Key", "k")])).apiKey == "k")
    }

    @Test(
        "a repeated key header or one with spaces inside is malformed",
        arguments: [
            [("x-api-key", "a"), ("X-Api-Key", "b")],
            [("x-api-key", "a"), ("x-api-key", "a")],
            [("x-api-key", "a b")],
            [("x-api-key", "a\u{7F}")],
        ]
    )
    func malformed(fields: [(String, String)]) {
        let extracted = CredentialExtractor(apiKeyHeader: "x-api-key").extract(from: HTTPHeaders(fields))
        #expect(extracted.apiKey == nil)
        #expect(extracted.isMalformed)
    }

    @Test("an empty key header is no credential")
    func empty() {
        let extracted = CredentialExtractor(apiKeyHeader: "x-api-key").extract(from: HTTPHeaders([("x-api-key", " ")]))
        #expect(extracted.apiKey == nil)
        #expect(extracted.isEmpty)
        #expect(!extracted.isMalformed)
    }

    @Test("a key is a Better Auth credential, tried after the bearer and before the cookie")
    func policyOrder() {
        var credentials = ExtractedCredentials()
        credentials.apiKey = "key"
        credentials.sessionCookie = "tok.sig"
        credentials.sessionCookieName = "better-auth.session_token"
        let dual = AuthPolicy(
            enableDualAuth: true,
            preferBetterAuth: false,
            legacyOpaqueEnabled: false,
            acceptRawBearer: false
        )
        #expect(
            dual.attempts(for: credentials, access: .authenticated) == [
                .betterAuthAPIKey("key"),
                .betterAuthSession("tok.sig", source: .cookie(name: "better-auth.session_token")),
            ]
        )
        let legacyOnly = AuthPolicy(
            enableDualAuth: false,
            preferBetterAuth: false,
            legacyOpaqueEnabled: false,
            acceptRawBearer: false
        )
        #expect(legacyOnly.attempts(for: credentials, access: .authenticated).isEmpty)
        #expect(CredentialAttempt.betterAuthAPIKey("key").method == .betterAuth)
    }

    @Test("X-Auth-Method says api-key; the metrics' method stays better-auth")
    func methodHeader() {
        let identity = Identity(
            userID: "u",
            email: nil,
            roles: [],
            kind: .betterAuthAPIKey,
            sessionID: "k",
            expiresAt: nil
        )
        #expect(identity.methodHeaderValue == "api-key")
        #expect(identity.method == .betterAuth)
        let session = Identity(
            userID: "u",
            email: nil,
            roles: [],
            kind: .betterAuthSessionCookie,
            sessionID: nil,
            expiresAt: nil
        )
        #expect(session.methodHeaderValue == "better-auth")
    }

    @Test("a spent key is 429, a bad one 401")
    func statuses() {
        #expect(GatewayError.unauthorized(.apiKeyUsageExceeded).status == .tooManyRequests)
        #expect(GatewayError.unauthorized(.apiKeyRateLimited).status == .tooManyRequests)
        #expect(GatewayError.unauthorized(.apiKeyRateLimited).code.rawValue == "api_key_rate_limited")
        #expect(GatewayError.unauthorized(.apiKeyInvalid).status == .unauthorized)
        #expect(GatewayError.unauthorized(.apiKeyDisabled).status == .unauthorized)
        #expect(GatewayError.unauthorized(.apiKeyExpired).status == .unauthorized)
    }

    @Test("a spent or expired key does not count towards the lockout; an unknown or disabled one does")
    func lockout() {
        #expect(!RejectionReason.apiKeyUsageExceeded.countsTowardsLockout)
        #expect(!RejectionReason.apiKeyRateLimited.countsTowardsLockout)
        #expect(!RejectionReason.apiKeyExpired.countsTowardsLockout)
        #expect(RejectionReason.apiKeyInvalid.countsTowardsLockout)
        #expect(RejectionReason.apiKeyDisabled.countsTowardsLockout)
        #expect(RejectionReason.badSignature.countsTowardsLockout)
        #expect(!RejectionReason.missingCredential.countsTowardsLockout)
    }

    @Test("the lookup locks the key's row by its hash and joins its owner; the use is one update")
    func sql() {
        var schema = SessionSchema()
        schema.apiKeyTable = "auth.apikey"
        #expect(schema.apiKeyLockSQL.contains("FROM \"auth\".\"apikey\" k JOIN \"user\" u"))
        #expect(schema.apiKeyLockSQL.hasSuffix("WHERE k.\"key\" = $1 FOR UPDATE OF k"))
        #expect(schema.apiKeyLockSQL.contains("false, NULL::bigint"))
        schema.adminPlugin = true
        #expect(schema.apiKeyLockSQL.contains("coalesce(u.\"banned\", false)"))
        #expect(schema.apiKeyUseSQL.hasPrefix("UPDATE \"auth\".\"apikey\" SET \"remaining\" = $2"))
        #expect(schema.apiKeyUseSQL.hasSuffix("WHERE \"id\" = $1"))
    }
}
