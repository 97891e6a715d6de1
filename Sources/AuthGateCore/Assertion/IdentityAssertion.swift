public import Crypto

/// Mints the optional `X-Auth-Assertion` header: a short-lived JWT over the caller's identity,
/// signed by AuthGate, so that a zero-trust backend can check that the `X-Auth-*` headers really
/// come from the gateway rather than from anything else on the network path.
///
/// The token is bound to one request: `htm` and `htu` carry the HTTP method and the normalised path
/// (named as in DPoP, RFC 9449 §4.2), `jti` the request id, and it lives ``ttlSeconds`` (30 by
/// default), so a captured assertion is of little use elsewhere. Claims, in order: `iss`, `aud`,
/// `sub`, `email` (when known), `auth_method`, `sid` (when known), `roles`, `htm`, `htu`, `jti`,
/// `iat`, `nbf` (= `iat`) and `exp` (= `iat + ttl`).
///
/// Signing runs per request, so everything that does not depend on the request is computed once in
/// ``init(algorithm:issuer:audience:ttlSeconds:)``: the encoded header, the JSON prefix of the
/// claims, the keyed HMAC state and the JWKS. The claims are appended to one string rather than
/// built as a ``JSONValue`` tree.
public struct IdentityAssertionSigner: Sendable {
    /// The signing key and its key id.
    public struct Algorithm: Sendable {
        enum Material: Sendable {
            case edDSA(Curve25519.Signing.PrivateKey)
            /// The secret and an HMAC state already keyed with it (copied per token).
            case hs256(HMAC<SHA256>)
        }

        let material: Material
        let kid: String?
        let secretIsEmpty: Bool

        /// Ed25519 (`EdDSA`) with `key`; `kid` is published in the JWKS and each token's header.
        /// Preferred: the backend needs only the public key (from ``jwksJSON()``), never a secret.
        public static func edDSA(_ key: Curve25519.Signing.PrivateKey, kid: String) -> Algorithm {
            Algorithm(material: .edDSA(key), kid: kid, secretIsEmpty: false)
        }

        /// Ed25519 (`EdDSA`) with `key`, identified by its RFC 7638 thumbprint
        /// (``IdentityAssertionSigner/thumbprint(of:)``), which stays stable across restarts.
        public static func edDSA(_ key: Curve25519.Signing.PrivateKey) -> Algorithm {
            Self.edDSA(key, kid: IdentityAssertionSigner.thumbprint(of: key.publicKey))
        }

        /// HS256 with a secret shared with the backend, given as bytes.
        public static func hs256(secret: [UInt8], kid: String? = nil) -> Algorithm {
            let key = SymmetricKey(data: secret)
            return Algorithm(material: .hs256(HMAC<SHA256>(key: key)), kid: kid, secretIsEmpty: secret.isEmpty)
        }

        /// HS256 with a secret shared with the backend, taken as its UTF-8 bytes.
        public static func hs256(secret: String, kid: String? = nil) -> Algorithm {
            Self.hs256(secret: Array(secret.utf8), kid: kid)
        }

        /// The JWS `alg` this key signs with.
        public var jwsAlgorithm: JWTAlgorithm {
            switch self.material {
            case .edDSA: return .edDSA
            case .hs256: return .hs256
            }
        }
    }

    /// The signing key.
    public let algorithm: Algorithm
    /// `iss` of every assertion.
    public let issuer: String
    /// `aud` of every assertion: the backend the assertion is meant for.
    public let audience: String
    /// Lifetime of an assertion in seconds: `exp - iat`.
    public let ttlSeconds: Int64

    /// `base64url(header) + "."`.
    private let encodedHeaderAndDot: String
    /// `{"iss":…,"aud":…,"sub":` — the request-independent start of the claims.
    private let claimsPrefix: String
    private let jwks: String

    /// Creates a signer; throws for an empty HS256 secret or a lifetime under one second.
    public init(
        algorithm: Algorithm,
        issuer: String = "authgate",
        audience: String,
        ttlSeconds: Int64 = 30
    ) throws(IdentityAssertionError) {
        guard !algorithm.secretIsEmpty else {
            throw .emptySecret
        }
        guard ttlSeconds > 0 else {
            throw .invalidTTL(ttlSeconds)
        }
        self.algorithm = algorithm
        self.issuer = issuer
        self.audience = audience
        self.ttlSeconds = ttlSeconds

        var header = "{\"alg\":"
        ErrorBody.appendJSONString(algorithm.jwsAlgorithm.rawValue, to: &header)
        header += ",\"typ\":\"JWT\""
        if let kid = algorithm.kid {
            header += ",\"kid\":"
            ErrorBody.appendJSONString(kid, to: &header)
        }
        header += "}"
        self.encodedHeaderAndDot = Base64URL.encode(header.utf8) + "."

        var prefix = "{\"iss\":"
        ErrorBody.appendJSONString(issuer, to: &prefix)
        prefix += ",\"aud\":"
        ErrorBody.appendJSONString(audience, to: &prefix)
        prefix += ",\"sub\":"
        self.claimsPrefix = prefix

        switch algorithm.material {
        case .edDSA(let key):
            var jwks = "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\""
            jwks += Base64URL.encode(key.publicKey.rawRepresentation)
            jwks += "\""
            if let kid = algorithm.kid {
                jwks += ",\"kid\":"
                ErrorBody.appendJSONString(kid, to: &jwks)
            }
            jwks += ",\"alg\":\"EdDSA\",\"use\":\"sig\"}]}"
            self.jwks = jwks
        case .hs256:
            self.jwks = "{\"keys\":[]}"
        }
    }

    /// The key id in each token's header, if any.
    public var kid: String? {
        self.algorithm.kid
    }

    /// The JWKS a backend verifies assertions with: the Ed25519 public key as an `OKP` JWK with
    /// `kid`, `alg` and `use`; for HS256 an empty set, because a shared secret is never published.
    public func jwksJSON() -> String {
        self.jwks
    }

    /// The assertion for `identity` on the request `method path`, with `jti` = `requestID`, issued
    /// at `now` (seconds since 1970).
    ///
    /// - Parameters:
    ///   - method: the HTTP method, as sent (`GET`).
    ///   - path: the normalised path the backend receives, without the query.
    public func sign(identity: Identity, method: String, path: String, requestID: String, now: Int64) -> String {
        var claims = self.claimsPrefix
        claims.reserveCapacity(self.claimsPrefix.utf8.count + 192 + path.utf8.count + identity.userID.utf8.count)
        ErrorBody.appendJSONString(identity.userID, to: &claims)
        if let email = identity.email {
            claims += ",\"email\":"
            ErrorBody.appendJSONString(email, to: &claims)
        }
        claims += ",\"auth_method\":"
        ErrorBody.appendJSONString(identity.methodHeaderValue, to: &claims)
        if let sessionID = identity.sessionID {
            claims += ",\"sid\":"
            ErrorBody.appendJSONString(sessionID, to: &claims)
        }
        claims += ",\"roles\":["
        for (index, role) in identity.roles.enumerated() {
            if index > 0 {
                claims += ","
            }
            ErrorBody.appendJSONString(role, to: &claims)
        }
        claims += "],\"htm\":"
        ErrorBody.appendJSONString(method, to: &claims)
        claims += ",\"htu\":"
        ErrorBody.appendJSONString(path, to: &claims)
        claims += ",\"jti\":"
        ErrorBody.appendJSONString(requestID, to: &claims)
        let (expiry, overflow) = now.addingReportingOverflow(self.ttlSeconds)
        let iat = String(now)
        claims += ",\"iat\":" + iat + ",\"nbf\":" + iat + ",\"exp\":" + String(overflow ? Int64.max : expiry) + "}"
        return self.token(claims: &claims)
    }

    /// `header.payload.signature`, written into one buffer: the signature is computed over the
    /// buffer's own prefix, so the signing input is never copied.
    private func token(claims: inout String) -> String {
        let signatureLength: Int
        switch self.algorithm.material {
        case .edDSA: signatureLength = 64
        case .hs256: signatureLength = SHA256.byteCount
        }
        var header = self.encodedHeaderAndDot
        return header.withUTF8 { header in
            claims.withUTF8 { payload in
                let payloadLength = Base64Tables.encodedLength(of: payload.count, padded: false)
                let signingInputLength = header.count + payloadLength
                let total = signingInputLength + 1 + Base64Tables.encodedLength(of: signatureLength, padded: false)
                return String(unsafeUninitializedCapacity: total) { output in
                    let raw = UnsafeMutableRawBufferPointer(output)
                    raw.copyMemory(from: UnsafeRawBufferPointer(header))
                    Base64Tables.encode(
                        UnsafeRawBufferPointer(payload),
                        into: UnsafeMutableRawBufferPointer(rebasing: raw[header.count..<signingInputLength]),
                        urlSafe: true,
                        padded: false
                    )
                    let signingInput = UnsafeRawBufferPointer(rebasing: raw[0..<signingInputLength])
                    raw[signingInputLength] = UInt8(ascii: ".")
                    let signatureOutput = UnsafeMutableRawBufferPointer(rebasing: raw[(signingInputLength + 1)...])
                    switch self.algorithm.material {
                    case .edDSA(let key):
                        // BoringSSL's and CryptoKit's Ed25519 signing cannot fail for a valid key.
                        guard let signature = try? key.signature(for: signingInput) else {
                            preconditionFailure("Ed25519 signing failed")
                        }
                        Array(signature).withUnsafeBytes { bytes in
                            Base64Tables.encode(bytes, into: signatureOutput, urlSafe: true, padded: false)
                        }
                    case .hs256(let template):
                        var hmac = template
                        hmac.update(data: signingInput)
                        hmac.finalize().withUnsafeBytes { bytes in
                            Base64Tables.encode(bytes, into: signatureOutput, urlSafe: true, padded: false)
                        }
                    }
                    return total
                }
            }
        }
    }

    /// The RFC 7638 JWK thumbprint of `publicKey`: base64url(SHA-256 of
    /// `{"crv":"Ed25519","kty":"OKP","x":"…"}`), a `kid` that depends only on the key, so it is the
    /// same on every gateway instance and after a restart.
    public static func thumbprint(of publicKey: Curve25519.Signing.PublicKey) -> String {
        let canonical =
            "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"" + Base64URL.encode(publicKey.rawRepresentation) + "\"}"
        return Base64URL.encode(SHA256.hash(data: Array(canonical.utf8)))
    }
}
