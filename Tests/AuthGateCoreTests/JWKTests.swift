import Crypto
import Testing
import _CryptoExtras

@testable import AuthGateCore

private func jwkError(_ text: String) -> JWTKeyError? {
    do {
        _ = try JWTKey(jwk: try JSONParser.parse(text))
        return nil
    } catch let error as JWTKeyError {
        return error
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

private func parseJWK(_ text: String) throws -> JWTKey {
    try JWTKey(jwk: try JSONParser.parse(text))
}

@Suite("JWK and JWKS")
struct JWKTests {
    typealias F = JWTFixtures

    @Test("an OKP Ed25519 JWK becomes a pinned EdDSA key that verifies")
    func okp() throws {
        let jwk = try parseJWK(F.okpJWK(extra: #""alg":"EdDSA","use":"sig""#))
        #expect(jwk.algorithm == .edDSA)
        #expect(jwk.kid == "ed-1")
        let token = try F.token(header: F.header("EdDSA", kid: "ed-1"), payload: F.claims()) { try F.edDSA($0) }
        #expect(throws: Never.self) { try F.verifier([jwk]).verify(token, now: F.now).get() }
        let other = Curve25519.Signing.PrivateKey()
        let forged = try F.token(header: F.header("EdDSA", kid: "ed-1"), payload: F.claims()) {
            Array(try other.signature(for: $0))
        }
        #expect(throws: RejectionReason.badSignature) { try F.verifier([jwk]).verify(forged, now: F.now).get() }
    }

    @Test("an EC P-256 JWK becomes a pinned ES256 key that verifies")
    func ec() throws {
        let jwk = try parseJWK(F.ecJWK(extra: #""alg":"ES256""#))
        #expect(jwk.algorithm == .es256)
        #expect(jwk.kid == "ec-1")
        let token = try F.token(header: F.header("ES256", kid: "ec-1"), payload: F.claims()) { try F.es256($0) }
        #expect(throws: Never.self) { try F.verifier([jwk]).verify(token, now: F.now).get() }
        #expect(try parseJWK(F.ecJWK()).algorithm == .es256)
    }

    @Test("an RSA JWK pins RS256 or PS256 from its alg, RS256 without one")
    func rsa() throws {
        #expect(try parseJWK(F.rsaJWK()).algorithm == .rs256)
        #expect(try parseJWK(F.rsaJWK(extra: #""alg":"RS256""#)).algorithm == .rs256)
        let ps = try parseJWK(F.rsaJWK(extra: #""alg":"PS256""#))
        #expect(ps.algorithm == .ps256)
        let psToken = try F.token(header: F.header("PS256", kid: "rsa-1"), payload: F.claims()) { try F.ps256($0) }
        #expect(throws: Never.self) { try F.verifier([ps]).verify(psToken, now: F.now).get() }
        let rsToken = try F.token(header: F.header("RS256", kid: "rsa-1"), payload: F.claims()) { try F.rs256($0) }
        #expect(throws: RejectionReason.algorithmKeyMismatch) { try F.verifier([ps]).verify(rsToken, now: F.now).get() }
        #expect(throws: Never.self) {
            try F.verifier([try parseJWK(F.rsaJWK())]).verify(rsToken, now: F.now).get()
        }
    }

    @Test("a JWK alg that does not fit its key type is refused")
    func algorithmMismatch() throws {
        #expect(jwkError(F.okpJWK(extra: #""alg":"ES256""#)) == .unsupportedAlgorithm("ES256"))
        #expect(jwkError(F.okpJWK(extra: #""alg":"Ed25519""#)) == .unsupportedAlgorithm("Ed25519"))
        #expect(jwkError(F.ecJWK(extra: #""alg":"EdDSA""#)) == .unsupportedAlgorithm("EdDSA"))
        #expect(jwkError(F.ecJWK(extra: #""alg":"HS256""#)) == .unsupportedAlgorithm("HS256"))
        #expect(jwkError(try F.rsaJWK(extra: #""alg":"HS256""#)) == .unsupportedAlgorithm("HS256"))
        #expect(jwkError(try F.rsaJWK(extra: #""alg":"RS512""#)) == .unsupportedAlgorithm("RS512"))
        #expect(jwkError(try F.rsaJWK(extra: #""alg":"none""#)) == .unsupportedAlgorithm("none"))
        #expect(jwkError(F.okpJWK(extra: #""alg":7"#)) == .invalidMember("alg"))
    }

    @Test("use and key_ops must allow verification")
    func use() throws {
        #expect(jwkError(F.okpJWK(extra: #""use":"enc""#)) == .notForSignatures)
        #expect(jwkError(F.okpJWK(extra: #""key_ops":["encrypt"]"#)) == .notForSignatures)
        #expect(jwkError(F.okpJWK(extra: #""key_ops":"verify""#)) == .invalidMember("key_ops"))
        #expect(jwkError(F.okpJWK(extra: #""key_ops":["sign","verify"]"#)) == nil)
        #expect(jwkError(F.okpJWK(extra: #""use":"sig""#)) == nil)
    }

    @Test("unsupported key types and curves are refused")
    func unsupported() {
        #expect(jwkError(#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ"}"#) == .unsupportedKeyType("oct"))
        #expect(
            jwkError(#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ","alg":"HS256"}"#)
                == .unsupportedKeyType("oct")
        )
        #expect(jwkError(#"{"kty":"AKP","pub":"AAAA"}"#) == .unsupportedKeyType("AKP"))
        #expect(jwkError(#"{"kty":"OKP","crv":"Ed448","x":"AAAA"}"#) == .unsupportedCurve("Ed448"))
        #expect(jwkError(#"{"kty":"OKP","crv":"X25519","x":"AAAA"}"#) == .unsupportedCurve("X25519"))
        #expect(jwkError(#"{"kty":"EC","crv":"P-384","x":"AAAA","y":"AAAA"}"#) == .unsupportedCurve("P-384"))
        #expect(
            jwkError(#"{"kty":"EC","crv":"P-521","x":"AAAA","y":"AAAA","alg":"ES512"}"#) == .unsupportedCurve("P-521")
        )
    }

    @Test("missing, mistyped and undecodable members are refused")
    func members() {
        #expect(jwkError(#"{"crv":"Ed25519","x":"AAAA"}"#) == .missingMember("kty"))
        #expect(jwkError(#"{"kty":1}"#) == .invalidMember("kty"))
        #expect(jwkError(#"{"kty":"OKP","x":"AAAA"}"#) == .missingMember("crv"))
        #expect(jwkError(#"{"kty":"OKP","crv":"Ed25519"}"#) == .missingMember("x"))
        #expect(jwkError(#"{"kty":"RSA","e":"AQAB"}"#) == .missingMember("n"))
        #expect(jwkError(F.okpJWK(kid: nil, extra: #""kid":5"#)) == .invalidMember("kid"))
        // x of 31 bytes, x with padding, x in the standard alphabet.
        let x = Base64URL.encode(Array(F.ed25519.publicKey.rawRepresentation))
        #expect(
            jwkError(#"{"kty":"OKP","crv":"Ed25519","x":"\#(Base64URL.encode(Array(repeating: 1, count: 31)))"}"#)
                == .invalidMember("x")
        )
        #expect(jwkError(#"{"kty":"OKP","crv":"Ed25519","x":"\#(x)="}"#) == .invalidMember("x"))
        #expect(jwkError(#"{"kty":"OKP","crv":"Ed25519","x":"+\#(x.dropFirst())"}"#) == .invalidMember("x"))
        #expect(jwkError("[]") == .notAnObject)
        #expect(jwkError(#""x""#) == .notAnObject)
    }

    @Test("an EC point not on the curve is refused")
    func invalidPoint() {
        let x = Base64URL.encode(Array(repeating: 1, count: 32))
        let y = Base64URL.encode(Array(repeating: 2, count: 32))
        #expect(jwkError(#"{"kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)"}"#) == .invalidKeyMaterial)
    }

    @Test("RSA keys under 2048 bits are refused")
    func smallRSA() throws {
        var modulus = [UInt8](repeating: 0xC5, count: 128)
        modulus[127] |= 1
        let n = Base64URL.encode(modulus)
        #expect(jwkError(#"{"kty":"RSA","n":"\#(n)","e":"AQAB"}"#) == .unsupportedRSAKeySize(bits: 1024))
        let small = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: 1024))
        #expect(throws: JWTKeyError.unsupportedRSAKeySize(bits: 1024)) {
            try JWTKey.rsa(pem: small.publicKey.pemRepresentation)
        }
    }

    @Test("RSA keys from PEM, both SPKI and PKCS#1")
    func rsaPEM() throws {
        let spki = try JWTKey.rsa(pem: F.rsa.publicKey.pemRepresentation, kid: "p")
        let pkcs1 = try JWTKey.rsa(pem: F.rsa.publicKey.pkcs1PEMRepresentation, algorithm: .ps256)
        #expect(spki.algorithm == .rs256 && spki.kid == "p")
        #expect(pkcs1.algorithm == .ps256 && pkcs1.kid == nil)
        let token = try F.token(header: F.header("RS256", kid: "p"), payload: F.claims()) { try F.rs256($0) }
        #expect(throws: Never.self) { try F.verifier([spki]).verify(token, now: F.now).get() }
        #expect(throws: JWTKeyError.invalidPEM) {
            try JWTKey.rsa(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
        }
        #expect(throws: JWTKeyError.invalidPEM) { try JWTKey.rsa(pem: F.p256.publicKey.pemRepresentation) }
        #expect(throws: JWTKeyError.algorithmNotApplicable(.es256)) {
            try JWTKey.rsa(pem: F.rsa.publicKey.pemRepresentation, algorithm: .es256)
        }
    }

    @Test("public keys from PEM for ES256 and EdDSA; never HS256")
    func publicKeyPEM() throws {
        let ec = try JWTKey.publicKey(pem: F.p256.publicKey.pemRepresentation, algorithm: .es256)
        let ed = try JWTKey.publicKey(pem: F.ed25519.publicKey.pemRepresentation, algorithm: .edDSA)
        #expect(ec.algorithm == .es256 && ed.algorithm == .edDSA)
        let token = try F.token(header: F.header("EdDSA"), payload: F.claims()) { try F.edDSA($0) }
        #expect(throws: Never.self) { try F.verifier([ed]).verify(token, now: F.now).get() }
        #expect(throws: JWTKeyError.invalidPEM) {
            try JWTKey.publicKey(pem: F.rsa.publicKey.pemRepresentation, algorithm: .es256)
        }
        #expect(throws: JWTKeyError.algorithmNotApplicable(.hs256)) {
            try JWTKey.publicKey(pem: F.rsa.publicKey.pemRepresentation, algorithm: .hs256)
        }
    }

    @Test("an empty HS256 secret is refused")
    func emptySecret() {
        #expect(throws: JWTKeyError.emptySecret) { try JWTKey.hs256(secret: [UInt8]()) }
        #expect(throws: JWTKeyError.emptySecret) { try JWTKey.hs256(secret: "") }
        #expect(throws: Never.self) { try JWTKey.hs256(secret: "s", kid: "k") }
    }

    @Test("a JWKS keeps the usable keys, skips and counts the rest")
    func jwks() throws {
        let rsaJWK = try F.rsaJWK(kid: nil, extra: #""alg":"PS256""#)
        let document = #"""
            {"keys":[
              \#(F.okpJWK(extra: #""alg":"EdDSA""#)),
              \#(F.ecJWK()),
              \#(rsaJWK),
              {"kty":"oct","k":"c2VjcmV0","kid":"sym"},
              {"kty":"EC","crv":"P-521","x":"AAAA","y":"AAAA","kid":"p521"},
              \#(F.okpJWK(kid: "enc", extra: #""use":"enc""#)),
              "not a key"
            ],"extra":true}
            """#
        let set = try JWTKeySet(jwks: document)
        #expect(set.count == 3)
        #expect(set.skippedKeyCount == 4)
        #expect(set.skippedKeyErrors.first == .unsupportedKeyType("oct"))
        #expect(set.candidates(kid: "ed-1")?.map(\.algorithm) == [.edDSA])
        #expect(set.candidates(kid: "ec-1")?.map(\.algorithm) == [.es256])
        #expect(set.candidates(kid: nil)?.map(\.algorithm) == [.ps256])
        #expect(set.candidates(kid: "sym") == nil)
        #expect(set.candidates(kid: "enc") == nil)
        let token = try F.token(header: F.header("ES256", kid: "ec-1"), payload: F.claims()) { try F.es256($0) }
        #expect(throws: Never.self) { try JWTVerifier(keySet: set).verify(token, now: F.now).get() }
    }

    @Test("a JWKS document that is not JSON or has no keys array is refused")
    func jwksErrors() {
        func failure(_ text: String) -> JWTKeySetError? {
            do {
                _ = try JWTKeySet(jwks: text)
                return nil
            } catch {
                return error
            }
        }
        guard case .invalidJSON? = failure("{") else {
            Issue.record("accepted broken JSON")
            return
        }
        guard case .invalidJSON(let duplicate)? = failure(#"{"keys":[],"keys":[]}"#) else {
            Issue.record("accepted duplicate keys")
            return
        }
        #expect(duplicate.kind == .duplicateKey)
        #expect(failure("[]") == .missingKeys)
        #expect(failure("{}") == .missingKeys)
        #expect(failure(#"{"keys":{}}"#) == .missingKeys)
        #expect(failure(#"{"keys":[]}"#) == nil)
    }

    @Test("merging: the other set's keys replace same-kid keys, kid-less keys add up")
    func merging() throws {
        let configured = JWTKeySet(keys: [try F.key(.hs256), try F.key(.es256, kid: "shared")])
        let fetched = JWTKeySet(keys: [
            try F.key(.edDSA, kid: "shared"), try F.key(.rs256), try F.key(.edDSA, kid: "new"),
        ])
        let merged = configured.merging(fetched)
        #expect(merged.count == 4)
        #expect(merged.candidates(kid: "shared")?.map(\.algorithm) == [.edDSA])
        #expect(merged.candidates(kid: "new")?.map(\.algorithm) == [.edDSA])
        #expect(merged.candidates(kid: nil)?.map(\.algorithm) == [.hs256, .rs256])
        #expect(JWTKeySet().isEmpty && !merged.isEmpty)
    }

    @Test("two keys with one kid: the one pinned to the token's alg is used")
    func sharedKid() throws {
        let set = JWTKeySet(keys: [try F.key(.rs256, kid: "r"), try F.key(.ps256, kid: "r")])
        let verifier = JWTVerifier(keySet: set)
        for algorithm in [JWTAlgorithm.rs256, .ps256] {
            let token = try F.token(header: F.header(algorithm.rawValue, kid: "r"), payload: F.claims()) {
                try F.sign(algorithm, $0)
            }
            #expect(try verifier.verify(token, now: F.now).get().header.algorithm == algorithm)
        }
    }
}
