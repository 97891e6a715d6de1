import Crypto
import Foundation
import NIOHTTP1
import Testing
import _CryptoExtras

@testable import AuthGateCore

private typealias F = JWTFixtures

private func failure<T>(_ result: Result<T, RejectionReason>) -> RejectionReason? {
    if case .failure(let reason) = result { return reason }
    return nil
}

/// A fresh directory for files a test writes; removed by the caller.
private func makeDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory
        .appendingPathComponent("authgate-key-interop-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("Legacy keys with and without kid")
struct LegacyKeyIDTests {
    @Test("a key without kid accepts a token with any kid or none, for its algorithm only")
    func keyWithoutKidIsAWildcard() throws {
        let verifier = F.verifier([try F.key(.hs256)])
        for kid in [nil, "legacy-2024", "anything"] as [String?] {
            let token = F.token(header: F.header("HS256", kid: kid), payload: F.claims()) { F.hs256($0) }
            #expect(throws: Never.self, "kid \(kid ?? "none")") { try verifier.verify(token, now: F.now).get() }
        }
        // Still pinned: an EdDSA token naming some kid is an unknown key (so a JWKS would be
        // refetched), never checked with the HMAC key.
        let edDSA = try F.token(header: F.header("EdDSA", kid: "x"), payload: F.claims()) { try F.edDSA($0) }
        #expect(failure(verifier.verify(edDSA, now: F.now)) == .unknownKey)
        // Without a kid the mismatch is reported as before.
        let noKid = try F.token(header: F.header("EdDSA"), payload: F.claims()) { try F.edDSA($0) }
        #expect(failure(verifier.verify(noKid, now: F.now)) == .algorithmKeyMismatch)
        // A wrong signature with a kid stays a bad signature.
        let forged = F.token(header: F.header("HS256", kid: "k"), payload: F.claims()) { F.hs256($0, secret: [9, 9]) }
        #expect(failure(verifier.verify(forged, now: F.now)) == .badSignature)
    }

    @Test("a key with a kid accepts only tokens with that kid")
    func keyWithKidIsExact() throws {
        let verifier = F.verifier([try F.key(.hs256, kid: "k1")])
        let good = F.token(header: F.header("HS256", kid: "k1"), payload: F.claims()) { F.hs256($0) }
        #expect(throws: Never.self) { try verifier.verify(good, now: F.now).get() }
        for kid in [nil, "k2"] as [String?] {
            let other = F.token(header: F.header("HS256", kid: kid), payload: F.claims()) { F.hs256($0) }
            #expect(failure(verifier.verify(other, now: F.now)) == .unknownKey, "kid \(kid ?? "none")")
        }
    }

    @Test("auth.legacy_keys: rotation with kids, a kid-less key, and the shorthand kept")
    func legacyKeysList() throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ecPEM = F.p256.publicKey.pemRepresentation
        try ecPEM.write(toFile: directory + "/ec.pem", atomically: true, encoding: .utf8)
        let old = "old-legacy-secret-old-legacy-secret-0001"
        let new = "new-legacy-secret-new-legacy-secret-0002"
        let shorthand = "shorthand-legacy-secret-shorthand-000003"
        let yaml = """
            auth:
              legacy_jwt_secret: "\(shorthand)"
              legacy_keys:
                - kid: "2025"
                  alg: HS256
                  secret: "\(old)"
                - kid: "2026"
                  alg: HS256
                  secret: "\(new)"
                - alg: ES256
                  public_key_file: ec.pem
            """
        let config = try ConfigLoader.parse(yaml: yaml, file: directory + "/gateway.conf", environment: [:])
        let verifier = try #require(try ConfigSnapshot(config: config, generation: 1).auth.legacyVerifier)
        func hs(_ kid: String?, _ secret: String) -> String {
            F.token(header: F.header("HS256", kid: kid), payload: F.claims()) {
                F.hs256($0, secret: Array(secret.utf8))
            }
        }
        #expect(throws: Never.self) { try verifier.verify(hs("2025", old), now: F.now).get() }
        #expect(throws: Never.self) { try verifier.verify(hs("2026", new), now: F.now).get() }
        // A kid names its key: the other year's key is not tried.
        #expect(failure(verifier.verify(hs("2026", old), now: F.now)) == .badSignature)
        // The shorthand secret has no kid: it takes tokens with an unlisted kid, or none.
        #expect(throws: Never.self) { try verifier.verify(hs("unlisted", shorthand), now: F.now).get() }
        #expect(throws: Never.self) { try verifier.verify(hs(nil, shorthand), now: F.now).get() }
        let es = try F.token(header: F.header("ES256", kid: "issuer-kid"), payload: F.claims()) { try F.es256($0) }
        #expect(throws: Never.self) { try verifier.verify(es, now: F.now).get() }
    }

    @Test(
        "auth.legacy_keys entries are validated",
        arguments: [
            ("[{secret: \"0123456789abcdef0123456789abcdef\"}]", "auth.legacy_keys[0].alg"),
            ("[{alg: HS512, secret: \"0123456789abcdef0123456789abcdef\"}]", "auth.legacy_keys[0].alg"),
            ("[{alg: HS256}]", "auth.legacy_keys[0].secret"),
            ("[{alg: HS256, secret: short}]", "auth.legacy_keys[0].secret"),
            ("[{alg: RS256, secret: \"0123456789abcdef0123456789abcdef\"}]", "auth.legacy_keys[0].secret"),
            ("[{alg: EdDSA}]", "auth.legacy_keys[0].public_key_file"),
            ("[{alg: HS256, kid: \"\", secret: \"0123456789abcdef0123456789abcdef\"}]", "auth.legacy_keys[0].kid"),
            ("[{alg: HS256, secret: \"0123456789abcdef0123456789abcdef\", colour: red}]", "auth.legacy_keys[0].colour"),
            ("nope", "auth.legacy_keys"),
        ]
    )
    func legacyKeysValidation(list: String, key: String) {
        do {
            _ = try ConfigLoader.parse(yaml: "auth:\n  legacy_keys: \(list)\n", file: nil, environment: [:])
            Issue.record("\(list) loaded")
        } catch {
            #expect(error.issues.map(\.key).contains(key), "\(list): \(error.issues)")
            #expect(!error.description.contains("0123456789abcdef"), "a secret leaked into \(error)")
        }
    }
}

@Suite("Secrets are bytes")
struct SecretBytesTests {
    @Test("a binary secret file is used byte for byte (not UTF-8, trailing newline kept)")
    func binarySecretFile() throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var secret = (0..<40).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 0x80) }
        secret.append(0x0A)
        #expect(String(validating: secret, as: UTF8.self) == nil)
        #expect(FileManager.default.createFile(atPath: directory + "/legacy.key", contents: Data(secret)))
        #expect(FileManager.default.createFile(atPath: directory + "/legacy2.key", contents: Data(secret.reversed())))
        let yaml = """
            auth:
              legacy_jwt_secret_file: legacy.key
              legacy_keys:
                - kid: two
                  alg: HS256
                  secret_file: legacy2.key
            """
        let config = try ConfigLoader.parse(yaml: yaml, file: directory + "/gateway.conf", environment: [:])
        #expect(config.auth.legacyJWTSecret?.bytes == secret)
        let verifier = try #require(try ConfigSnapshot(config: config, generation: 1).auth.legacyVerifier)
        let token = F.token(header: F.header("HS256"), payload: F.claims()) { F.hs256($0, secret: secret) }
        #expect(throws: Never.self) { try verifier.verify(token, now: F.now).get() }
        let second = F.token(header: F.header("HS256", kid: "two"), payload: F.claims()) {
            F.hs256($0, secret: secret.reversed())
        }
        #expect(throws: Never.self) { try verifier.verify(second, now: F.now).get() }
        // The same file named by the environment.
        let fromEnvironment = try ConfigLoader.parse(
            yaml: "",
            file: nil,
            environment: ["LEGACY_JWT_SECRET_FILE": directory + "/legacy.key"]
        )
        #expect(fromEnvironment.auth.legacyJWTSecret?.bytes == secret)
    }

    @Test("a text secret file is still trimmed")
    func textSecretFileTrimmed() throws {
        let directory = try makeDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "  text-secret-text-secret-text-secret-1\n".write(
            toFile: directory + "/s",
            atomically: true,
            encoding: .utf8
        )
        let config = try ConfigLoader.parse(
            yaml: "auth:\n  legacy_jwt_secret_file: s\n",
            file: directory + "/c",
            environment: [:]
        )
        #expect(config.auth.legacyJWTSecret == Secret("text-secret-text-secret-text-secret-1"))
    }

    @Test("an environment secret that is not UTF-8 is a config error, never altered")
    func invalidUTF8EnvironmentSecret() {
        let raw: [[UInt8]] = [
            Array("LEGACY_JWT_SECRET=".utf8) + [0xC3, 0x28] + Array("0123456789abcdef0123456789abcdef".utf8),
            Array("BETTER_AUTH_SECRET=good-secret-good-secret-good-secret-1".utf8),
            Array("UNRELATED=".utf8) + [0xFF],
            Array("NOEQUALS".utf8),
        ]
        let environment = ConfigLoader.decodeEnvironment(raw)
        #expect(environment["BETTER_AUTH_SECRET"] == "good-secret-good-secret-good-secret-1")
        #expect(environment["LEGACY_JWT_SECRET"] == ConfigLoader.invalidUTF8EnvironmentValue)
        do {
            _ = try ConfigLoader.parse(yaml: "", file: nil, environment: environment)
            Issue.record("a secret that is not UTF-8 was accepted")
        } catch {
            #expect(error.issues.map(\.key) == ["LEGACY_JWT_SECRET"])
            #expect(error.issues.first?.reason.contains("not valid UTF-8") == true)
        }
    }
}

@Suite("TokenShape by shape")
struct TokenShapeByShapeTests {
    @Test(
        "a JWT whose header JSON has whitespace is a JWT",
        arguments: [#"{ "alg": "HS256" }"#, "{\n  \"alg\": \"HS256\"\n}", "\r\n {\"alg\":\"HS256\"}"]
    )
    func whitespaceHeader(header: String) throws {
        let token = F.token(header: header, payload: F.claims()) { F.hs256($0) }
        #expect(!token.hasPrefix("eyJ"))
        #expect(TokenShape(classifying: token) == .jwt)
        let policy = AuthPolicy(
            enableDualAuth: true,
            preferBetterAuth: false,
            legacyOpaqueEnabled: true,
            acceptRawBearer: true
        )
        var credentials = ExtractedCredentials()
        credentials.bearer = token[...]
        #expect(policy.attempts(for: credentials, access: .authenticated).first == .legacyJWT(token))
        #expect(throws: Never.self) { try F.verifier([try F.key(.hs256)]).verify(token, now: F.now).get() }
    }

    @Test("opaque tokens and session values with dots are not JWTs")
    func notJWTs() {
        for token in [
            "v1.abc.def",  // header does not decode to "{"
            "Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2.wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg=",
            "eyAi..sig", "eyAi.e30", "W10.e30.x",  // W10 is "[]": an array header
        ] {
            #expect(TokenShape(classifying: token) != .jwt, "\(token)")
        }
    }
}

@Suite("Unverified issuer")
struct UnverifiedIssuerTests {
    @Test("the iss of a token, without verification, decides whether an unknown kid is worth a JWKS refetch")
    func issuer() {
        let token = F.token(header: F.header("HS256", kid: "k"), payload: #"{"iss":"http://auth","sub":"u"}"#) {
            F.hs256($0)
        }
        #expect(JWTVerifier.unverifiedIssuer(of: token[...]) == "http://auth")
        let none = F.token(header: F.header("HS256"), payload: #"{"sub":"u"}"#) { F.hs256($0) }
        #expect(JWTVerifier.unverifiedIssuer(of: none[...]) == nil)
        for garbage in ["", "a.b", "a.b.c.d", "eyJ.!!!.x", "eyJ.e30.x"] {
            #expect(JWTVerifier.unverifiedIssuer(of: garbage[...]) == nil, "\(garbage)")
        }
    }
}
