/// A JWT whose signature and time, issuer, audience and subject checks all passed.
public struct VerifiedJWT: Sendable {
    /// The protected header members AuthGate cares about.
    public struct Header: Sendable, Hashable {
        /// The header's `alg`, equal to the pinned algorithm of the key that verified it.
        public var algorithm: JWTAlgorithm
        /// The header's `kid`, if any.
        public var kid: String?
        /// The header's `typ`, if any (Better Auth's TypeScript server sets none, its Python port
        /// `JWT`).
        public var typ: String?

        /// Creates a header value (the verifier builds these; tests compare against them).
        public init(algorithm: JWTAlgorithm, kid: String?, typ: String?) {
            self.algorithm = algorithm
            self.kid = kid
            self.typ = typ
        }
    }

    /// The protected header.
    public let header: Header
    /// All claims; always a ``JSONValue/object(_:)``.
    public let claims: JSONValue
    /// `sub`: verified to be a non-empty string.
    public let subject: String
    /// `exp`, seconds since 1970, if present.
    public let expiresAt: Int64?
    /// `nbf`, seconds since 1970, if present.
    public let notBefore: Int64?

    /// The claim named `name`.
    public subscript(claim name: String) -> JSONValue? {
        self.claims[name]
    }

    /// `email`, when it is a string.
    public var email: String? {
        self.claims["email"]?.stringValue
    }

    /// `iss`, when it is a string.
    public var issuer: String? {
        self.claims["iss"]?.stringValue
    }

    /// `iat`, when it is an integral number.
    public var issuedAt: Int64? {
        self.claims["iat"]?.int64Value
    }
}

/// Verifies compact JWS tokens (RFC 7515/7519) against a ``JWTKeySet``, synchronously and without
/// Foundation, so that it can run on the event loop for every request that misses the cache.
///
/// The checks, in order, each with the ``RejectionReason`` it produces:
/// 1. the token is at most ``maxTokenBytes`` bytes (``RejectionReason/tooLarge``), before any work;
/// 2. three segments of canonical base64url, header and payload JSON objects with no duplicate
///    members (``RejectionReason/malformed``);
/// 3. `alg` is one of ``JWTAlgorithm`` — never `none` (``RejectionReason/unsupportedAlgorithm``);
/// 4. no `jwk`, `jku`, `x5u`, `x5c` or `crit` header, which would let the token choose its own key
///    or add semantics we do not implement (``RejectionReason/forbiddenHeader``);
/// 5. a key: by `kid`; else among the keys without `kid`, which take tokens with any `kid` or
///    none (``RejectionReason/unknownKey`` when neither exists, or when the header names a `kid`
///    that no key without `kid` of its `alg` can take; the caller may then refetch the JWKS);
/// 6. a candidate key pinned to the header's `alg` (``RejectionReason/algorithmKeyMismatch``, the
///    "HS256 signed with the public key" attack);
/// 7. the signature (``RejectionReason/badSignature``);
/// 8. `exp` (required when ``requireExp``; missing or non-integral is malformed), expired when
///    `now > exp + leeway` (``RejectionReason/expired``);
/// 9. `nbf`, not yet valid when `now + leeway < nbf` (``RejectionReason/notYetValid``);
/// 10. `iss` equal to ``issuer`` when configured (``RejectionReason/wrongIssuer``);
/// 11. `aud` equal to ``audience`` or an array containing it, when configured
///     (``RejectionReason/wrongAudience``);
/// 12. `sub` a non-empty string (``RejectionReason/missingSubject``).
///
/// String comparisons (`iss`, `aud`) are exact on UTF-8 bytes, not Unicode-equivalence.
public struct JWTVerifier: Sendable {
    /// The keys tokens may be signed with.
    public var keySet: JWTKeySet
    /// The required `iss`, or `nil` not to check it.
    public var issuer: String?
    /// The required audience, or `nil` not to check `aud`.
    public var audience: String?
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (negative values count as 0).
    public var leewaySeconds: Int64
    /// The largest token accepted, in bytes; bigger tokens are refused before decoding.
    public var maxTokenBytes: Int
    /// Whether a token without `exp` is refused (as malformed).
    public var requireExp: Bool

    /// Creates a verifier.
    public init(
        keySet: JWTKeySet,
        issuer: String? = nil,
        audience: String? = nil,
        leewaySeconds: Int64 = 30,
        maxTokenBytes: Int = 8192,
        requireExp: Bool = true
    ) {
        self.keySet = keySet
        self.issuer = issuer
        self.audience = audience
        self.leewaySeconds = leewaySeconds
        self.maxTokenBytes = maxTokenBytes
        self.requireExp = requireExp
    }

    /// Verifies `token` at time `now` (seconds since 1970).
    public func verify(_ token: String, now: Int64) -> Result<VerifiedJWT, RejectionReason> {
        self.verify(token[...], now: now)
    }

    /// Verifies `token` at time `now` (seconds since 1970).
    public func verify(_ token: Substring, now: Int64) -> Result<VerifiedJWT, RejectionReason> {
        guard token.utf8.count <= self.maxTokenBytes else {
            return .failure(.tooLarge)
        }
        if let result = token.utf8.withContiguousStorageIfAvailable({ buffer in
            self.verify(bytes: UnsafeRawBufferPointer(buffer), now: now)
        }) {
            return result
        }
        var contiguous = String(token)
        return contiguous.withUTF8 { self.verify(bytes: UnsafeRawBufferPointer($0), now: now) }
    }

    /// Verifies the token held in `bytes` at time `now` (seconds since 1970).
    public func verify(bytes token: UnsafeRawBufferPointer, now: Int64) -> Result<VerifiedJWT, RejectionReason> {
        guard token.count <= self.maxTokenBytes else {
            return .failure(.tooLarge)
        }

        // 1. Structure: exactly two dots, three canonical base64url segments, two JSON objects.
        var firstDot = -1
        var secondDot = -1
        for index in 0..<token.count where token[index] == UInt8(ascii: ".") {
            if firstDot < 0 {
                firstDot = index
            } else if secondDot < 0 {
                secondDot = index
            } else {
                return .failure(.malformed)
            }
        }
        guard secondDot > 0,
            let headerBytes = Base64URL.decode(UnsafeRawBufferPointer(rebasing: token[0..<firstDot])),
            let payloadBytes = Base64URL.decode(UnsafeRawBufferPointer(rebasing: token[(firstDot + 1)..<secondDot])),
            let signature = Base64URL.decode(UnsafeRawBufferPointer(rebasing: token[(secondDot + 1)...])),
            case .object(let header)? = try? JSONParser.parse(headerBytes),
            case .object(let claims)? = try? JSONParser.parse(payloadBytes)
        else {
            return .failure(.malformed)
        }

        // 2. Header.
        guard case .string(let algorithmName)? = header["alg"] else {
            return .failure(.malformed)
        }
        guard let algorithm = JWTAlgorithm(rawValue: algorithmName) else {
            return .failure(.unsupportedAlgorithm)
        }
        if header["jwk"] != nil || header["jku"] != nil || header["x5u"] != nil || header["x5c"] != nil
            || header["crit"] != nil
        {
            return .failure(.forbiddenHeader)
        }
        let kid: String?
        switch header["kid"] {
        case .none: kid = nil
        case .string(let value)?: kid = value
        default: return .failure(.malformed)
        }
        let typ: String?
        switch header["typ"] {
        case .none: typ = nil
        case .string(let value)?: typ = value
        default: return .failure(.malformed)
        }

        // 3. Key selection, algorithm pinning and signature.
        // Keys with the token's `kid` first; else the keys without a `kid`, which accept a token
        // with any `kid` (a legacy issuer that sets one the config does not name) but only for
        // their pinned algorithm: a `kid` that no key of the token's algorithm can take stays an
        // unknown key, so a rotated JWKS key is still refetched.
        let candidates: [JWTKey]
        let wildcardForKid: Bool
        if let kid, let keys = self.keySet.keysByID[kid] {
            candidates = keys
            wildcardForKid = false
        } else if !self.keySet.keysWithoutID.isEmpty {
            candidates = self.keySet.keysWithoutID
            wildcardForKid = kid != nil
        } else {
            return .failure(.unknownKey)
        }
        let signingInput = UnsafeRawBufferPointer(rebasing: token[0..<secondDot])
        var sawPinnedKey = false
        var verified = false
        for key in candidates where key.algorithm == algorithm {
            sawPinnedKey = true
            if key.isValidSignature(signature, for: signingInput) {
                verified = true
                break
            }
        }
        guard sawPinnedKey else {
            return .failure(wildcardForKid ? .unknownKey : .algorithmKeyMismatch)
        }
        guard verified else {
            return .failure(.badSignature)
        }

        // 4. Claims.
        let expiresAt: Int64?
        let notBefore: Int64?
        switch (Self.numericDate(claims["exp"]), Self.numericDate(claims["nbf"])) {
        case (.success(let exp), .success(let nbf)):
            expiresAt = exp
            notBefore = nbf
        default:
            return .failure(.malformed)
        }
        let leeway = max(0, self.leewaySeconds)
        if let expiresAt {
            let (limit, overflow) = expiresAt.addingReportingOverflow(leeway)
            if !overflow && now > limit {
                return .failure(.expired)
            }
        } else if self.requireExp {
            return .failure(.malformed)
        }
        if let notBefore {
            let (earliest, overflow) = now.addingReportingOverflow(leeway)
            if !overflow && earliest < notBefore {
                return .failure(.notYetValid)
            }
        }
        if let issuer = self.issuer {
            guard case .string(let value)? = claims["iss"], value.utf8.elementsEqual(issuer.utf8) else {
                return .failure(.wrongIssuer)
            }
        }
        if let audience = self.audience {
            let matches: Bool
            switch claims["aud"] {
            case .string(let value)?:
                matches = value.utf8.elementsEqual(audience.utf8)
            case .array(let values)?:
                matches = values.contains { element in
                    if case .string(let value) = element {
                        return value.utf8.elementsEqual(audience.utf8)
                    }
                    return false
                }
            default:
                matches = false
            }
            guard matches else {
                return .failure(.wrongAudience)
            }
        }
        guard case .string(let subject)? = claims["sub"], !subject.isEmpty else {
            return .failure(.missingSubject)
        }

        return .success(
            VerifiedJWT(
                header: VerifiedJWT.Header(algorithm: algorithm, kid: kid, typ: typ),
                claims: .object(claims),
                subject: subject,
                expiresAt: expiresAt,
                notBefore: notBefore
            )
        )
    }

    /// The `iss` claim of `token` without verifying anything, or `nil` when the token has no
    /// string `iss` or is not a decodable JWT.
    ///
    /// Only a routing hint: it decides whether a token with an unknown `kid` may be the auth
    /// server's (and worth a JWKS refetch, and waiting for it) or belongs to another issuer,
    /// such as a legacy token, which must not wait for the Better Auth key set. Runs only on
    /// that rejection path, never for a token that verifies.
    public static func unverifiedIssuer(of token: Substring) -> String? {
        let segments = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard segments.count == 3, let payload = Base64URL.decode(Substring(segments[1])),
            case .string(let issuer)? = (try? JSONParser.parse(payload))?["iss"]
        else {
            return nil
        }
        return issuer
    }

    /// A NumericDate claim: absent is fine, present must be an integral number.
    private static func numericDate(_ value: JSONValue?) -> Result<Int64?, RejectionReason> {
        guard let value else {
            return .success(nil)
        }
        guard let seconds = value.int64Value else {
            return .failure(.malformed)
        }
        return .success(seconds)
    }
}
