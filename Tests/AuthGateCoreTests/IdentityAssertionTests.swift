import Crypto
import Testing

@testable import AuthGateCore

/// Written by `openssl genpkey -algorithm ed25519`.
private let opensslPEM = """
    -----BEGIN PRIVATE KEY-----
    MC4CAQAwBQYDK2VwBCIEIGdR2QQNyZAJaL5oRo3M4L5VOX2XSCR0DPAkyCobgu6J
    -----END PRIVATE KEY-----

    """
/// `openssl pkey -pubout -outform DER | tail -c 32 | base64url` for ``opensslPEM``.
private let opensslPublicX = "N0P_D3BQ8g62g8nv1oWNea99nJZqwPaHfdvcGKPdMzM"
/// The 32-byte seed inside ``opensslPEM``.
private let opensslSeedHex = "6751d9040dc9900968be68468dcce0be55397d974824740cf024c82a1b82ee89"

private let now: Int64 = 1_700_000_000

private func bytes(hex: String) -> [UInt8] {
    var result: [UInt8] = []
    var iterator = hex.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
        result.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)!)
    }
    return result
}

private let alice = Identity(
    userID: "user-42",
    email: "alice@example.com",
    roles: ["admin", "billing"],
    kind: .betterAuthSessionCookie,
    sessionID: "sess-9",
    expiresAt: nil
)

private func rejection(_ result: Result<VerifiedJWT, RejectionReason>) -> RejectionReason? {
    if case .failure(let reason) = result {
        return reason
    }
    return nil
}

@Suite("IdentityAssertion")
struct IdentityAssertionTests {
    let key = Curve25519.Signing.PrivateKey()

    func edDSASigner(ttl: Int64 = 30) throws -> IdentityAssertionSigner {
        try IdentityAssertionSigner(
            algorithm: .edDSA(self.key, kid: "gw-1"),
            audience: "legacy-backend",
            ttlSeconds: ttl
        )
    }

    func verifier(for signer: IdentityAssertionSigner) throws -> JWTVerifier {
        JWTVerifier(
            keySet: try JWTKeySet(jwks: signer.jwksJSON()),
            issuer: "authgate",
            audience: "legacy-backend",
            leewaySeconds: 0
        )
    }

    @Test("EdDSA: the token verifies against the published JWKS, with every claim")
    func edDSARoundTrip() throws {
        let signer = try self.edDSASigner()
        let token = signer.sign(identity: alice, method: "POST", path: "/api/orders", requestID: "req-1", now: now)
        let verified = try self.verifier(for: signer).verify(token, now: now).get()
        #expect(verified.header == VerifiedJWT.Header(algorithm: .edDSA, kid: "gw-1", typ: "JWT"))
        #expect(verified.subject == "user-42")
        #expect(verified.issuer == "authgate")
        #expect(verified[claim: "aud"] == .string("legacy-backend"))
        #expect(verified.email == "alice@example.com")
        #expect(verified[claim: "auth_method"] == .string("better-auth"))
        #expect(verified[claim: "sid"] == .string("sess-9"))
        #expect(verified[claim: "roles"] == .array([.string("admin"), .string("billing")]))
        #expect(verified[claim: "htm"] == .string("POST"))
        #expect(verified[claim: "htu"] == .string("/api/orders"))
        #expect(verified[claim: "jti"] == .string("req-1"))
        #expect(verified.issuedAt == now)
        #expect(verified.notBefore == now)
        #expect(verified.expiresAt == now + 30)
        #expect(verified.claims.objectValue?.count == 13)
    }

    @Test("absent email and session id are left out, roles may be empty, legacy method")
    func optionalClaims() throws {
        let signer = try self.edDSASigner(ttl: 5)
        let identity = Identity(
            userID: "svc \"quoted\"\n",
            email: nil,
            roles: [],
            kind: .legacyJWT,
            sessionID: nil,
            expiresAt: nil
        )
        let token = signer.sign(identity: identity, method: "GET", path: "/ä/x", requestID: "r", now: now)
        let verified = try self.verifier(for: signer).verify(token, now: now).get()
        #expect(verified.subject == "svc \"quoted\"\n")
        #expect(verified[claim: "email"] == nil)
        #expect(verified[claim: "sid"] == nil)
        #expect(verified[claim: "roles"] == .array([]))
        #expect(verified[claim: "auth_method"] == .string("legacy"))
        #expect(verified[claim: "htu"] == .string("/ä/x"))
        #expect(verified.expiresAt == now + 5)
    }

    @Test("the assertion expires after its lifetime")
    func expiry() throws {
        let signer = try self.edDSASigner()
        let token = signer.sign(identity: alice, method: "GET", path: "/", requestID: "r", now: now)
        let verifier = try self.verifier(for: signer)
        #expect(throws: Never.self) { try verifier.verify(token, now: now + 30).get() }
        #expect(rejection(verifier.verify(token, now: now + 31)) == .expired)
        #expect(rejection(verifier.verify(token, now: now - 1)) == .notYetValid)
    }

    @Test("a tampered payload, signature or other key fails")
    func tampered() throws {
        let signer = try self.edDSASigner()
        let verifier = try self.verifier(for: signer)
        let token = signer.sign(identity: alice, method: "GET", path: "/", requestID: "r", now: now)
        let parts = token.split(separator: ".").map(String.init)
        #expect(parts.count == 3)

        let forgedClaims = Base64URL.encode(
            Array(#"{"iss":"authgate","aud":"legacy-backend","sub":"root","exp":\#(now + 30)}"#.utf8)
        )
        #expect(rejection(verifier.verify(parts[0] + "." + forgedClaims + "." + parts[2], now: now)) == .badSignature)

        var signature = Base64URL.decode(parts[2])!
        signature[0] ^= 1
        let badSignature = parts[0] + "." + parts[1] + "." + Base64URL.encode(signature)
        #expect(rejection(verifier.verify(badSignature, now: now)) == .badSignature)

        let other = try IdentityAssertionSigner(
            algorithm: .edDSA(Curve25519.Signing.PrivateKey(), kid: "gw-1"),
            audience: "legacy-backend"
        )
        let foreign = other.sign(identity: alice, method: "GET", path: "/", requestID: "r", now: now)
        #expect(rejection(verifier.verify(foreign, now: now)) == .badSignature)
    }

    @Test("the audience is checked by the backend")
    func audience() throws {
        let signer = try self.edDSASigner()
        let token = signer.sign(identity: alice, method: "GET", path: "/", requestID: "r", now: now)
        let verifier = JWTVerifier(keySet: try JWTKeySet(jwks: signer.jwksJSON()), audience: "other-backend")
        #expect(rejection(verifier.verify(token, now: now)) == .wrongAudience)
    }

    @Test("HS256: verifies with the shared secret; the JWKS publishes nothing")
    func hs256() throws {
        let signer = try IdentityAssertionSigner(
            algorithm: .hs256(secret: "assertion-secret-0123456789abcdef", kid: nil),
            issuer: "gw",
            audience: "legacy-backend",
            ttlSeconds: 60
        )
        #expect(signer.jwksJSON() == #"{"keys":[]}"#)
        #expect(try JWTKeySet(jwks: signer.jwksJSON()).isEmpty)
        let token = signer.sign(identity: alice, method: "DELETE", path: "/a", requestID: "req-7", now: now)
        var keySet = JWTKeySet()
        keySet.insert(try JWTKey.hs256(secret: "assertion-secret-0123456789abcdef"))
        let verifier = JWTVerifier(keySet: keySet, issuer: "gw", audience: "legacy-backend", leewaySeconds: 0)
        let verified = try verifier.verify(token, now: now).get()
        #expect(verified.header == VerifiedJWT.Header(algorithm: .hs256, kid: nil, typ: "JWT"))
        #expect(verified[claim: "htm"] == .string("DELETE"))
        #expect(verified[claim: "jti"] == .string("req-7"))
        #expect(verified.expiresAt == now + 60)

        var wrongSet = JWTKeySet()
        wrongSet.insert(try JWTKey.hs256(secret: "another-secret"))
        #expect(rejection(JWTVerifier(keySet: wrongSet).verify(token, now: now)) == .badSignature)
    }

    @Test("HS256 with a kid and byte secret puts the kid in the header")
    func hs256Kid() throws {
        let secret: [UInt8] = Array(repeating: 7, count: 32)
        let signer = try IdentityAssertionSigner(algorithm: .hs256(secret: secret, kid: "k1"), audience: "b")
        var keySet = JWTKeySet()
        keySet.insert(try JWTKey.hs256(secret: secret, kid: "k1"))
        let token = signer.sign(identity: alice, method: "GET", path: "/", requestID: "r", now: now)
        #expect(try JWTVerifier(keySet: keySet).verify(token, now: now).get().header.kid == "k1")
    }

    @Test("an empty secret or a lifetime under a second is refused")
    func invalidConfiguration() {
        #expect(throws: IdentityAssertionError.emptySecret) {
            try IdentityAssertionSigner(algorithm: .hs256(secret: "", kid: nil), audience: "b")
        }
        #expect(throws: IdentityAssertionError.invalidTTL(0)) {
            try IdentityAssertionSigner(algorithm: .edDSA(self.key), audience: "b", ttlSeconds: 0)
        }
    }

    @Test("the JWKS is a single OKP key with kid, alg and use")
    func jwks() throws {
        let signer = try self.edDSASigner()
        let document = try JSONParser.parse(Array(signer.jwksJSON().utf8))
        guard case .array(let keys)? = document["keys"], keys.count == 1 else {
            Issue.record("expected one key")
            return
        }
        let jwk = keys[0]
        #expect(jwk["kty"] == .string("OKP"))
        #expect(jwk["crv"] == .string("Ed25519"))
        #expect(jwk["x"] == .string(Base64URL.encode(self.key.publicKey.rawRepresentation)))
        #expect(jwk["kid"] == .string("gw-1"))
        #expect(jwk["alg"] == .string("EdDSA"))
        #expect(jwk["use"] == .string("sig"))
        #expect(jwk["d"] == nil)
    }

    @Test("the default kid is the RFC 7638 thumbprint (RFC 8037 appendix A.3 vector)")
    func thumbprint() throws {
        let d = Base64URL.decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")!
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: d)
        #expect(Base64URL.encode(key.publicKey.rawRepresentation) == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
        #expect(IdentityAssertionSigner.thumbprint(of: key.publicKey) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        let signer = try IdentityAssertionSigner(algorithm: .edDSA(key), audience: "b")
        #expect(signer.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        let token = signer.sign(identity: alice, method: "GET", path: "/", requestID: "r", now: now)
        let verifier = JWTVerifier(keySet: try JWTKeySet(jwks: signer.jwksJSON()))
        #expect(try verifier.verify(token, now: now).get().header.kid == signer.kid)
    }
}

@Suite("IdentityAssertion key loading")
struct IdentityAssertionKeyLoadingTests {
    @Test("a PKCS#8 PEM written by openssl genpkey")
    func opensslPEMKey() throws {
        let key = try IdentityAssertionSigner.loadEd25519PrivateKey(pem: opensslPEM)
        #expect(Base64URL.encode(key.publicKey.rawRepresentation) == opensslPublicX)
        #expect(Array(key.rawRepresentation) == bytes(hex: opensslSeedHex))
        let crlf = opensslPEM.split(separator: "\n").joined(separator: "\r\n")
        let again = try IdentityAssertionSigner.loadEd25519PrivateKey(pem: "  " + crlf + "\r\n\r\n")
        #expect(Base64URL.encode(again.publicKey.rawRepresentation) == opensslPublicX)
    }

    @Test("the raw seed as base64, base64url, padded or not", arguments: [true, false])
    func seed(urlSafe: Bool) throws {
        let seed = bytes(hex: opensslSeedHex)
        var text = Base64.encode(seed)
        if urlSafe {
            text = Base64URL.encode(seed)
        }
        let key = try IdentityAssertionSigner.loadEd25519PrivateKey(pem: text + "\n")
        #expect(Base64URL.encode(key.publicKey.rawRepresentation) == opensslPublicX)
    }

    @Test("the PKCS#8 DER as bare base64, and the v2 form with a matching public key")
    func bareDER() throws {
        let seed = bytes(hex: opensslSeedHex)
        let v1 = IdentityAssertionSigner.pkcs8V1Prefix + seed
        let key = try IdentityAssertionSigner.loadEd25519PrivateKey(pem: Base64.encode(v1))
        #expect(Base64URL.encode(key.publicKey.rawRepresentation) == opensslPublicX)

        let publicKey = Base64URL.decode(opensslPublicX)!
        let v2 =
            IdentityAssertionSigner.pkcs8V2Prefix + seed + IdentityAssertionSigner.pkcs8V2PublicKeyPrefix + publicKey
        let pem = "-----BEGIN PRIVATE KEY-----\n" + Base64.encode(v2) + "\n-----END PRIVATE KEY-----\n"
        #expect(try IdentityAssertionSigner.loadEd25519PrivateKey(pem: pem).rawRepresentation == key.rawRepresentation)

        var wrong = v2
        wrong[wrong.count - 1] ^= 1
        #expect(throws: IdentityAssertionError.publicKeyMismatch) {
            try IdentityAssertionSigner.loadEd25519PrivateKey(pem: Base64.encode(wrong))
        }
    }

    @Test(
        "garbage is refused with a precise error",
        arguments: [
            ("", IdentityAssertionError.emptyKey),
            ("  \n", .emptyKey),
            ("not a key!", .notBase64),
            (Base64.encode(Array(repeating: 1, count: 16)), .invalidSeed(byteCount: 16)),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----",
                .unsupportedPEMLabel("ENCRYPTED PRIVATE KEY")
            ),
            ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", .unsupportedPEMLabel("PUBLIC KEY")),
            (
                "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIGdR2QQNyZAJaL5oRo3M4L5VOX2XSCR0DPAkyCobgu6J\n",
                .invalidPEM
            ),
            ("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----", .invalidPEM),
            // No line breaks: the key text must not end up in the error as a "label".
            ("-----BEGIN PRIVATE KEY----- MC4CAQAw -----END PRIVATE KEY-----", .invalidPEM),
            ("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----", .invalidPEM),
            // A P-256 PKCS#8 header: a private key, but not Ed25519.
            (
                "-----BEGIN PRIVATE KEY-----\nMEECAQAwEwYHKoZIzj0CAQYIKoZIzj0DAQcEJzAlAgEBBCA=\n-----END PRIVATE KEY-----",
                .notEd25519PKCS8
            ),
        ]
    )
    func garbage(text: String, expected: IdentityAssertionError) {
        #expect(throws: expected) {
            try IdentityAssertionSigner.loadEd25519PrivateKey(pem: text)
        }
    }
}
