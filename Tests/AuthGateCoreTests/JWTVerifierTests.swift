import Crypto
import Testing
import _CryptoExtras

@testable import AuthGateCore

/// Keys, token builders and JWKs for the JWT suites, made with swift-crypto at run time.
enum JWTFixtures {
    static let now: Int64 = 1_700_000_000
    static let hmacSecret = Array("legacy-backend-secret-0123456789abcdef".utf8)
    static let p256 = P256.Signing.PrivateKey()
    static let ed25519 = Curve25519.Signing.PrivateKey()
    static let rsa = try! _RSA.Signing.PrivateKey(keySize: .bits2048)

    static func b64(_ text: String) -> String {
        Base64URL.encode(Array(text.utf8))
    }

    /// `header.payload.signature` with the given JSON texts, signed by `sign` over the signing input.
    static func token(header: String, payload: String, sign: ([UInt8]) throws -> [UInt8]) rethrows -> String {
        let signingInput = b64(header) + "." + b64(payload)
        return signingInput + "." + Base64URL.encode(try sign(Array(signingInput.utf8)))
    }

    static func claims(
        sub: String? = "user-1",
        exp: Int64? = now + 900,
        extra: String = ""
    ) -> String {
        var members: [String] = []
        if let sub {
            members.append(#""sub":"\#(sub)""#)
        }
        if let exp {
            members.append(#""exp":\#(exp)"#)
        }
        if !extra.isEmpty {
            members.append(extra)
        }
        return "{" + members.joined(separator: ",") + "}"
    }

    static func header(_ alg: String, kid: String? = nil, extra: String = "") -> String {
        var members = [#""alg":"\#(alg)""#]
        if let kid {
            members.append(#""kid":"\#(kid)""#)
        }
        if !extra.isEmpty {
            members.append(extra)
        }
        return "{" + members.joined(separator: ",") + "}"
    }

    static func hs256(_ input: [UInt8], secret: [UInt8] = hmacSecret) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: input, using: SymmetricKey(data: secret)))
    }

    static func es256(_ input: [UInt8]) throws -> [UInt8] {
        Array(try p256.signature(for: input).rawRepresentation)
    }

    static func edDSA(_ input: [UInt8]) throws -> [UInt8] {
        Array(try ed25519.signature(for: input))
    }

    static func rs256(_ input: [UInt8]) throws -> [UInt8] {
        Array(try rsa.signature(for: input, padding: .insecurePKCS1v1_5).rawRepresentation)
    }

    static func ps256(_ input: [UInt8]) throws -> [UInt8] {
        Array(try rsa.signature(for: input, padding: .PSS).rawRepresentation)
    }

    static func sign(_ algorithm: JWTAlgorithm, _ input: [UInt8]) throws -> [UInt8] {
        switch algorithm {
        case .hs256: return hs256(input)
        case .rs256: return try rs256(input)
        case .ps256: return try ps256(input)
        case .es256: return try es256(input)
        case .edDSA: return try edDSA(input)
        }
    }

    static func key(_ algorithm: JWTAlgorithm, kid: String? = nil) throws -> JWTKey {
        switch algorithm {
        case .hs256: return try .hs256(secret: hmacSecret, kid: kid)
        case .rs256, .ps256: return try .rsa(publicKey: rsa.publicKey, algorithm: algorithm, kid: kid)
        case .es256: return .es256(publicKey: p256.publicKey, kid: kid)
        case .edDSA: return .edDSA(publicKey: ed25519.publicKey, kid: kid)
        }
    }

    static func okpJWK(kid: String? = "ed-1", extra: String = "") -> String {
        let x = Base64URL.encode(Array(ed25519.publicKey.rawRepresentation))
        return jwk(#""kty":"OKP","crv":"Ed25519","x":"\#(x)""#, kid: kid, extra: extra)
    }

    static func ecJWK(kid: String? = "ec-1", extra: String = "") -> String {
        let raw = Array(p256.publicKey.rawRepresentation)
        let x = Base64URL.encode(raw[0..<32])
        let y = Base64URL.encode(raw[32..<64])
        return jwk(#""kty":"EC","crv":"P-256","x":"\#(x)","y":"\#(y)""#, kid: kid, extra: extra)
    }

    static func rsaJWK(kid: String? = "rsa-1", extra: String = "") throws -> String {
        let primitives = try rsa.publicKey.getKeyPrimitives()
        let n = Base64URL.encode(Array(primitives.modulus))
        let e = Base64URL.encode(Array(primitives.publicExponent))
        return jwk(#""kty":"RSA","n":"\#(n)","e":"\#(e)""#, kid: kid, extra: extra)
    }

    private static func jwk(_ members: String, kid: String?, extra: String) -> String {
        var text = "{" + members
        if let kid {
            text += #","kid":"\#(kid)""#
        }
        if !extra.isEmpty {
            text += "," + extra
        }
        return text + "}"
    }

    static func verifier(
        _ keys: [JWTKey],
        issuer: String? = nil,
        audience: String? = nil,
        leeway: Int64 = 0,
        maxTokenBytes: Int = 8192,
        requireExp: Bool = true
    ) -> JWTVerifier {
        JWTVerifier(
            keySet: JWTKeySet(keys: keys),
            issuer: issuer,
            audience: audience,
            leewaySeconds: leeway,
            maxTokenBytes: maxTokenBytes,
            requireExp: requireExp
        )
    }
}

private func failure(_ result: Result<VerifiedJWT, RejectionReason>) -> RejectionReason? {
    if case .failure(let reason) = result {
        return reason
    }
    return nil
}

/// Replaces one character of `segment` (0 header, 1 payload, 2 signature) so the segment still
/// decodes but to different bytes.
private func tamper(_ token: String, segment: Int) -> String {
    var parts = token.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    var characters = Array(parts[segment])
    let index = characters.count / 2
    characters[index] = characters[index] == "A" ? "B" : "A"
    parts[segment] = String(characters)
    return parts.joined(separator: ".")
}

/// The payload of RFC 7515's examples A.1 and A.3: `{"iss":"joe",\r\n "exp":1300819380,\r\n
/// "http://example.com/is_root":true}` (note the CRLFs, which the signature covers).
private let rfc7515Payload =
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"

@Suite("JWTVerifier")
struct JWTVerifierTests {
    typealias F = JWTFixtures

    @Test("a token verifies with each algorithm", arguments: JWTAlgorithm.allCases)
    func success(algorithm: JWTAlgorithm) throws {
        let token = try F.token(
            header: F.header(algorithm.rawValue, kid: "k1", extra: #""typ":"JWT""#),
            payload: F.claims(extra: #""email":"ada@example.com","iss":"http://127.0.0.1:3001""#)
        ) { try F.sign(algorithm, $0) }
        let verifier = F.verifier([try F.key(algorithm, kid: "k1")])
        let verified = try verifier.verify(token, now: F.now).get()
        #expect(verified.header == VerifiedJWT.Header(algorithm: algorithm, kid: "k1", typ: "JWT"))
        #expect(verified.subject == "user-1")
        #expect(verified.email == "ada@example.com")
        #expect(verified.expiresAt == F.now + 900)
        #expect(verified.issuer == "http://127.0.0.1:3001")
        #expect(verified[claim: "sub"] == .string("user-1"))
    }

    @Test("a tampered payload or signature is refused", arguments: JWTAlgorithm.allCases)
    func tampered(algorithm: JWTAlgorithm) throws {
        let token = try F.token(header: F.header(algorithm.rawValue), payload: F.claims()) {
            try F.sign(algorithm, $0)
        }
        let verifier = F.verifier([try F.key(algorithm)])
        #expect(throws: Never.self) { try verifier.verify(token, now: F.now).get() }
        let otherPayload = F.token(header: F.header(algorithm.rawValue), payload: F.claims(sub: "admin")) { _ in [] }
        let swapped =
            token.split(separator: ".")[0] + "." + otherPayload.split(separator: ".")[1] + "."
            + token.split(separator: ".")[2]
        #expect(failure(verifier.verify(String(swapped), now: F.now)) == .badSignature)
        #expect(failure(verifier.verify(tamper(token, segment: 2), now: F.now)) == .badSignature)
        #expect(failure(verifier.verify(tamper(token, segment: 1), now: F.now)) != nil)
    }

    @Test("the RFC 7515 A.1 HS256 example verifies (its lack of sub is the only complaint)")
    func rfc7515HS256() throws {
        let token =
            "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." + rfc7515Payload
            + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        let secret = try #require(
            Base64URL.decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
        )
        let verifier = F.verifier([try .hs256(secret: secret)], issuer: "joe")
        #expect(failure(verifier.verify(token, now: 1_300_819_370)) == .missingSubject)
        #expect(failure(verifier.verify(token, now: 1_300_819_381)) == .expired)
        #expect(failure(verifier.verify(tamper(token, segment: 2), now: 1_300_819_370)) == .badSignature)
        let otherSecret = F.verifier([try .hs256(secret: Array(secret.dropLast()))], issuer: "joe")
        #expect(failure(otherSecret.verify(token, now: 1_300_819_370)) == .badSignature)
    }

    @Test("the RFC 7515 A.3 ES256 example verifies with its JWK")
    func rfc7515ES256() throws {
        let token =
            "eyJhbGciOiJFUzI1NiJ9." + rfc7515Payload
            + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
        let jwk = try JSONParser.parse(
            #"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","#
                + #""y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#
        )
        let verifier = F.verifier([try JWTKey(jwk: jwk)])
        #expect(failure(verifier.verify(token, now: 1_300_819_370)) == .missingSubject)
        #expect(failure(verifier.verify(tamper(token, segment: 2), now: 1_300_819_370)) == .badSignature)
    }

    @Test("alg none and unknown algorithms are refused before any key is used")
    func unsupportedAlgorithms() throws {
        let verifier = F.verifier([try F.key(.hs256), try F.key(.edDSA)])
        for alg in ["none", "None", "NONE", "HS512", "RS512", "ES512", "hs256", "Ed25519", ""] {
            let unsigned = F.token(header: F.header(alg), payload: F.claims()) { _ in [] }
            #expect(failure(verifier.verify(unsigned, now: F.now)) == .unsupportedAlgorithm, "\(alg)")
            let signed = F.token(header: F.header(alg), payload: F.claims()) { F.hs256($0) }
            #expect(failure(verifier.verify(signed, now: F.now)) == .unsupportedAlgorithm, "\(alg)")
        }
        let missing = F.token(header: #"{"typ":"JWT"}"#, payload: F.claims()) { F.hs256($0) }
        #expect(failure(verifier.verify(missing, now: F.now)) == .malformed)
        let notString = F.token(header: #"{"alg":256}"#, payload: F.claims()) { F.hs256($0) }
        #expect(failure(verifier.verify(notString, now: F.now)) == .malformed)
    }

    @Test(
        "HS256 signed with a public key is an algorithm/key mismatch",
        arguments: [JWTAlgorithm.rs256, .ps256, .es256, .edDSA]
    )
    func hsWithPublicKey(keyAlgorithm: JWTAlgorithm) throws {
        let publicKeyBytes: [UInt8]
        switch keyAlgorithm {
        case .rs256, .ps256: publicKeyBytes = Array(F.rsa.publicKey.pemRepresentation.utf8)
        case .es256: publicKeyBytes = Array(F.p256.publicKey.pemRepresentation.utf8)
        default: publicKeyBytes = Array(F.ed25519.publicKey.rawRepresentation)
        }
        for kid in [nil, "k1"] as [String?] {
            let forged = F.token(header: F.header("HS256", kid: kid), payload: F.claims(sub: "admin")) {
                F.hs256($0, secret: publicKeyBytes)
            }
            let verifier = F.verifier([try F.key(keyAlgorithm, kid: kid)])
            #expect(failure(verifier.verify(forged, now: F.now)) == .algorithmKeyMismatch)
        }
    }

    @Test("an asymmetric token against another key type is a mismatch too")
    func crossAlgorithm() throws {
        let rs = try F.token(header: F.header("RS256"), payload: F.claims()) { try F.rs256($0) }
        #expect(failure(F.verifier([try F.key(.ps256)]).verify(rs, now: F.now)) == .algorithmKeyMismatch)
        #expect(failure(F.verifier([try F.key(.es256)]).verify(rs, now: F.now)) == .algorithmKeyMismatch)
        let ps = try F.token(header: F.header("PS256"), payload: F.claims()) { try F.ps256($0) }
        #expect(failure(F.verifier([try F.key(.rs256)]).verify(ps, now: F.now)) == .algorithmKeyMismatch)
        // A PS256 signature relabelled RS256 does not verify.
        let relabelled = F.token(header: F.header("RS256"), payload: F.claims()) { _ in
            Array(Base64URL.decode(ps.split(separator: ".")[2])!)
        }
        #expect(failure(F.verifier([try F.key(.rs256)]).verify(relabelled, now: F.now)) == .badSignature)
    }

    @Test("key selection by kid")
    func keySelection() throws {
        let verifier = F.verifier([try F.key(.edDSA, kid: "ed-1"), try F.key(.es256, kid: "ec-1")])
        let good = try F.token(header: F.header("EdDSA", kid: "ed-1"), payload: F.claims()) { try F.edDSA($0) }
        #expect(throws: Never.self) { try verifier.verify(good, now: F.now).get() }
        let unknown = try F.token(header: F.header("EdDSA", kid: "ed-2"), payload: F.claims()) { try F.edDSA($0) }
        #expect(failure(verifier.verify(unknown, now: F.now)) == .unknownKey)
        let noKid = try F.token(header: F.header("EdDSA"), payload: F.claims()) { try F.edDSA($0) }
        #expect(failure(verifier.verify(noKid, now: F.now)) == .unknownKey)
        let wrongKid = try F.token(header: F.header("EdDSA", kid: "ec-1"), payload: F.claims()) { try F.edDSA($0) }
        #expect(failure(verifier.verify(wrongKid, now: F.now)) == .algorithmKeyMismatch)
        let numericKid = try F.token(header: #"{"alg":"EdDSA","kid":1}"#, payload: F.claims()) { try F.edDSA($0) }
        #expect(failure(verifier.verify(numericKid, now: F.now)) == .malformed)
    }

    @Test("several keys without kid: each is tried (secret rotation)")
    func rotation() throws {
        let old = Array("old-secret-old-secret-old-secret".utf8)
        let verifier = F.verifier([try .hs256(secret: F.hmacSecret), try .hs256(secret: old)])
        let withOld = F.token(header: F.header("HS256"), payload: F.claims()) { F.hs256($0, secret: old) }
        #expect(throws: Never.self) { try verifier.verify(withOld, now: F.now).get() }
        let withNeither = F.token(header: F.header("HS256"), payload: F.claims()) { F.hs256($0, secret: [1, 2, 3]) }
        #expect(failure(verifier.verify(withNeither, now: F.now)) == .badSignature)
    }

    @Test(
        "headers that name their own key or critical extensions are refused",
        arguments: [
            #""jwk":{"kty":"oct","k":"AAAA"}"#, #""jku":"https://evil.example/jwks""#,
            #""x5u":"https://evil.example/c""#,
            #""x5c":["MIIB"]"#, #""crit":["b64"]"#, #""jwk":null"#,
        ]
    )
    func forbiddenHeaders(member: String) throws {
        let token = F.token(header: F.header("HS256", extra: member), payload: F.claims()) { F.hs256($0) }
        #expect(failure(F.verifier([try F.key(.hs256)]).verify(token, now: F.now)) == .forbiddenHeader)
    }

    @Test("structurally broken tokens are malformed")
    func malformed() throws {
        let verifier = F.verifier([try F.key(.hs256)])
        let good = F.token(header: F.header("HS256"), payload: F.claims()) { F.hs256($0) }
        let parts = good.split(separator: ".").map(String.init)
        #expect(throws: Never.self) { try verifier.verify(good, now: F.now).get() }
        let cases: [String] = [
            "", ".", "..", "...", parts[0], parts[0] + "." + parts[1], good + ".", good + "." + parts[2],
            "!" + good, parts[0] + "." + parts[1] + "=." + parts[2], parts[0] + "." + parts[1] + "." + parts[2] + "=",
            parts[0] + "+." + parts[1] + "." + parts[2], parts[0] + "." + parts[1] + "." + parts[2] + "AA",
            parts[0] + " ." + parts[1] + "." + parts[2], parts[0] + "." + parts[1] + "/." + parts[2],
        ]
        for token in cases {
            #expect(failure(verifier.verify(token, now: F.now)) == .malformed, "\(token)")
        }
    }

    @Test(
        "header or payload that is not a JSON object is malformed",
        arguments: [
            ("[]", "{}"), (#""x""#, "{}"), ("1", "{}"), ("null", "{}"), ("{", "{}"),
            (#"{"alg":"HS256"}"#, "[]"), (#"{"alg":"HS256"}"#, #""x""#), (#"{"alg":"HS256"}"#, "true"),
            (#"{"alg":"HS256"}"#, "not json"), (#"{"alg":"HS256"}"#, ""), (#"{"alg":"HS256"} "#, #"{"sub":"a"} x"#),
        ]
    )
    func notObjects(header: String, payload: String) throws {
        let token = F.token(header: header, payload: payload) { F.hs256($0) }
        #expect(failure(F.verifier([try F.key(.hs256)]).verify(token, now: F.now)) == .malformed)
    }

    @Test("duplicate members in header or claims are malformed, even when correctly signed")
    func duplicateMembers() throws {
        let verifier = F.verifier([try F.key(.hs256)])
        let header = F.token(header: #"{"alg":"HS256","alg":"none"}"#, payload: F.claims()) { F.hs256($0) }
        #expect(failure(verifier.verify(header, now: F.now)) == .malformed)
        let claims = F.token(
            header: F.header("HS256"),
            payload: #"{"sub":"u","exp":\#(F.now - 10),"exp":\#(F.now + 900)}"#
        ) { F.hs256($0) }
        #expect(failure(verifier.verify(claims, now: F.now)) == .malformed)
        let subject = F.token(header: F.header("HS256"), payload: #"{"sub":"u","exp":\#(F.now + 9),"sub":"admin"}"#) {
            F.hs256($0)
        }
        #expect(failure(verifier.verify(subject, now: F.now)) == .malformed)
    }

    @Test("the size limit is checked first and is inclusive")
    func sizeLimit() throws {
        let token = F.token(header: F.header("HS256"), payload: F.claims()) { F.hs256($0) }
        let size = token.utf8.count
        let key = try F.key(.hs256)
        #expect(throws: Never.self) { try F.verifier([key], maxTokenBytes: size).verify(token, now: F.now).get() }
        #expect(failure(F.verifier([key], maxTokenBytes: size - 1).verify(token, now: F.now)) == .tooLarge)
        let garbage = String(repeating: "!", count: 9000)
        #expect(failure(F.verifier([key]).verify(garbage, now: F.now)) == .tooLarge)
        let none = F.token(header: F.header("none"), payload: F.claims()) { _ in [] }
        #expect(failure(F.verifier([key], maxTokenBytes: 10).verify(none, now: F.now)) == .tooLarge)
    }

    @Test("exp with and without leeway")
    func expiry() throws {
        let key = try F.key(.hs256)
        func check(exp: Int64, leeway: Int64) -> RejectionReason? {
            let token = F.token(header: F.header("HS256"), payload: F.claims(exp: exp)) { F.hs256($0) }
            return failure(F.verifier([key], leeway: leeway).verify(token, now: F.now))
        }
        #expect(check(exp: F.now, leeway: 0) == nil)
        #expect(check(exp: F.now - 1, leeway: 0) == .expired)
        #expect(check(exp: F.now - 1, leeway: 30) == nil)
        #expect(check(exp: F.now - 30, leeway: 30) == nil)
        #expect(check(exp: F.now - 31, leeway: 30) == .expired)
        #expect(check(exp: F.now - 1, leeway: -30) == .expired)
        // exp + leeway overflowing Int64 saturates instead of trapping or wrapping to the past.
        #expect(check(exp: 9_223_372_036_854_774_784, leeway: 2000) == nil)
        // Beyond Int64 it is not a usable NumericDate.
        #expect(check(exp: .max, leeway: 0) == .malformed)
    }

    @Test("nbf with and without leeway")
    func notBefore() throws {
        let key = try F.key(.hs256)
        func check(nbf: Int64, leeway: Int64) -> RejectionReason? {
            let token = F.token(header: F.header("HS256"), payload: F.claims(extra: #""nbf":\#(nbf)"#)) { F.hs256($0) }
            return failure(F.verifier([key], leeway: leeway).verify(token, now: F.now))
        }
        #expect(check(nbf: F.now, leeway: 0) == nil)
        #expect(check(nbf: F.now + 1, leeway: 0) == .notYetValid)
        #expect(check(nbf: F.now + 30, leeway: 30) == nil)
        #expect(check(nbf: F.now + 31, leeway: 30) == .notYetValid)
        let token = F.token(header: F.header("HS256"), payload: F.claims(extra: #""nbf":\#(F.now - 5)"#)) {
            F.hs256($0)
        }
        #expect(try F.verifier([key]).verify(token, now: F.now).get().notBefore == F.now - 5)
    }

    @Test("exp is required when configured; non-integral or non-numeric times are malformed")
    func timeClaims() throws {
        let key = try F.key(.hs256)
        let noExp = F.token(header: F.header("HS256"), payload: F.claims(exp: nil)) { F.hs256($0) }
        #expect(failure(F.verifier([key]).verify(noExp, now: F.now)) == .malformed)
        let verified = try F.verifier([key], requireExp: false).verify(noExp, now: F.now).get()
        #expect(verified.expiresAt == nil)
        for claims in [
            #"{"sub":"u","exp":1700000900.5}"#, #"{"sub":"u","exp":"1700000900"}"#, #"{"sub":"u","exp":null}"#,
            #"{"sub":"u","exp":1e300}"#, #"{"sub":"u","exp":1700000900,"nbf":"0"}"#,
            #"{"sub":"u","exp":1700000900,"nbf":0.5}"#, #"{"sub":"u","exp":[1700000900]}"#,
        ] {
            let token = F.token(header: F.header("HS256"), payload: claims) { F.hs256($0) }
            #expect(failure(F.verifier([key], requireExp: false).verify(token, now: F.now)) == .malformed, "\(claims)")
        }
        let integralFloat = F.token(header: F.header("HS256"), payload: #"{"sub":"u","exp":1700000900.0}"#) {
            F.hs256($0)
        }
        #expect(try F.verifier([key]).verify(integralFloat, now: F.now).get().expiresAt == 1_700_000_900)
    }

    @Test("iss is checked when configured")
    func issuer() throws {
        let key = try F.key(.hs256)
        func check(_ extra: String, issuer: String?) -> RejectionReason? {
            let token = F.token(header: F.header("HS256"), payload: F.claims(extra: extra)) { F.hs256($0) }
            return failure(F.verifier([key], issuer: issuer).verify(token, now: F.now))
        }
        let origin = "http://127.0.0.1:3001"
        #expect(check(#""iss":"\#(origin)""#, issuer: origin) == nil)
        #expect(check(#""iss":"http://127.0.0.1:3002""#, issuer: origin) == .wrongIssuer)
        #expect(check(#""iss":"http://127.0.0.1:3001/""#, issuer: origin) == .wrongIssuer)
        #expect(check(#""iss":["\#(origin)"]"#, issuer: origin) == .wrongIssuer)
        #expect(check("", issuer: origin) == .wrongIssuer)
        #expect(check(#""iss":"anyone""#, issuer: nil) == nil)
        // Byte-exact, not Unicode-equivalent: e + combining acute is not é.
        #expect(check(#""iss":"caf\u0065\u0301""#, issuer: "caf\u{E9}") == .wrongIssuer)
    }

    @Test("aud matches a string or any element of an array")
    func audience() throws {
        let key = try F.key(.hs256)
        func check(_ extra: String, audience: String? = "api") -> RejectionReason? {
            let token = F.token(header: F.header("HS256"), payload: F.claims(extra: extra)) { F.hs256($0) }
            return failure(F.verifier([key], audience: audience).verify(token, now: F.now))
        }
        #expect(check(#""aud":"api""#) == nil)
        #expect(check(#""aud":["other","api"]"#) == nil)
        #expect(check(#""aud":["other",1,null,"api"]"#) == nil)
        #expect(check(#""aud":"other""#) == .wrongAudience)
        #expect(check(#""aud":["other","API"]"#) == .wrongAudience)
        #expect(check(#""aud":[]"#) == .wrongAudience)
        #expect(check(#""aud":1"#) == .wrongAudience)
        #expect(check("") == .wrongAudience)
        #expect(check(#""aud":"other""#, audience: nil) == nil)
    }

    @Test("sub must be a non-empty string")
    func subject() throws {
        let key = try F.key(.hs256)
        for claims in [
            #"{"exp":1700000900}"#, #"{"sub":"","exp":1700000900}"#, #"{"sub":42,"exp":1700000900}"#,
            #"{"sub":null,"exp":1700000900}"#, #"{"sub":["u"],"exp":1700000900}"#,
        ] {
            let token = F.token(header: F.header("HS256"), payload: claims) { F.hs256($0) }
            #expect(failure(F.verifier([key]).verify(token, now: F.now)) == .missingSubject, "\(claims)")
        }
    }

    @Test("ES256 signatures must be raw r||s: DER is refused")
    func es256DER() throws {
        let verifier = F.verifier([try F.key(.es256)])
        let der = try F.token(header: F.header("ES256"), payload: F.claims()) { input in
            Array(try F.p256.signature(for: input).derRepresentation)
        }
        #expect(failure(verifier.verify(der, now: F.now)) == .badSignature)
        let short = try F.token(header: F.header("ES256"), payload: F.claims()) { Array(try F.es256($0).dropLast()) }
        #expect(failure(verifier.verify(short, now: F.now)) == .badSignature)
    }

    @Test("signatures of the wrong length are refused", arguments: JWTAlgorithm.allCases)
    func signatureLength(algorithm: JWTAlgorithm) throws {
        let verifier = F.verifier([try F.key(algorithm)])
        let truncated = try F.token(header: F.header(algorithm.rawValue), payload: F.claims()) {
            Array(try F.sign(algorithm, $0).dropLast())
        }
        #expect(failure(verifier.verify(truncated, now: F.now)) == .badSignature)
        let empty = F.token(header: F.header(algorithm.rawValue), payload: F.claims()) { _ in [] }
        #expect(failure(verifier.verify(empty, now: F.now)) == .badSignature)
    }

    @Test("a token inside a larger string verifies as a Substring")
    func substring() throws {
        let token = try F.token(header: F.header("EdDSA"), payload: F.claims()) { try F.edDSA($0) }
        let header = "Bearer " + token + "  "
        let slice = header.dropFirst(7).dropLast(2)
        let verified = try F.verifier([try F.key(.edDSA)]).verify(slice, now: F.now).get()
        #expect(verified.subject == "user-1")
    }

    @Test("a Better Auth JWT plugin token verifies through its JWKS")
    func betterAuthShape() throws {
        let origin = "http://127.0.0.1:3001"
        let iat = F.now - 60
        let claims = #"""
            {"id":"u_123","name":"Ada","email":"ada@example.com","emailVerified":true,"image":null,\#
            "createdAt":"2024-01-01T00:00:00.000Z","updatedAt":"2024-01-01T00:00:00.000Z",\#
            "sub":"u_123","iat":\#(iat),"exp":\#(iat + 900),"iss":"\#(origin)","aud":"\#(origin)"}
            """#
        let token = try F.token(header: #"{"alg":"EdDSA","kid":"ed-1"}"#, payload: claims) { try F.edDSA($0) }
        let keySet = try JWTKeySet(jwks: #"{"keys":[\#(F.okpJWK(extra: #""alg":"EdDSA""#))]}"#)
        let verifier = JWTVerifier(keySet: keySet, issuer: origin, audience: origin, leewaySeconds: 5)
        let verified = try verifier.verify(token, now: F.now).get()
        #expect(verified.subject == "u_123")
        #expect(verified.email == "ada@example.com")
        #expect(verified.issuedAt == iat)
        #expect(verified.expiresAt == iat + 900)
        #expect(verified.header.typ == nil)
        #expect(verified[claim: "emailVerified"] == .bool(true))
        #expect(failure(verifier.verify(token, now: iat + 906)) == .expired)
    }
}
