public import Crypto
public import _CryptoExtras

/// Why a key could not be built from a secret, a PEM or a JWK.
public enum JWTKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An HS256 secret of zero bytes.
    case emptySecret
    /// The PEM text is not a public key of the requested type.
    case invalidPEM
    /// An RSA modulus outside 2048...8192 bits.
    case unsupportedRSAKeySize(bits: Int)
    /// The algorithm cannot be used with this kind of key (for example `rsa(pem:algorithm: .es256)`).
    case algorithmNotApplicable(JWTAlgorithm)
    /// The JWK is not a JSON object.
    case notAnObject
    /// A required JWK member is absent or not a string.
    case missingMember(String)
    /// A JWK member has the wrong type or an undecodable value.
    case invalidMember(String)
    /// A `kty` other than `RSA`, `EC` and `OKP` (`oct` included: shared secrets never come from a key set).
    case unsupportedKeyType(String)
    /// A curve other than `P-256` (EC) or `Ed25519` (OKP).
    case unsupportedCurve(String)
    /// The JWK's `alg` is unknown or does not fit its key type.
    case unsupportedAlgorithm(String)
    /// The JWK's `use` is not `sig`, or its `key_ops` do not include `verify`.
    case notForSignatures
    /// The key material was rejected by the crypto library (not a point on the curve, for example).
    case invalidKeyMaterial

    /// A one-line explanation for logs and config errors.
    public var description: String {
        switch self {
        case .emptySecret: return "the HS256 secret is empty"
        case .invalidPEM: return "not a PEM public key of the expected type"
        case .unsupportedRSAKeySize(let bits): return "RSA key of \(bits) bits (2048 to 8192 accepted)"
        case .algorithmNotApplicable(let algorithm): return "\(algorithm.rawValue) cannot be used with this key type"
        case .notAnObject: return "the JWK is not a JSON object"
        case .missingMember(let name): return "the JWK has no string member \"\(name)\""
        case .invalidMember(let name): return "the JWK member \"\(name)\" is invalid"
        case .unsupportedKeyType(let kty): return "unsupported JWK key type \"\(kty)\""
        case .unsupportedCurve(let crv): return "unsupported curve \"\(crv)\""
        case .unsupportedAlgorithm(let alg): return "unsupported or mismatched JWK alg \"\(alg)\""
        case .notForSignatures: return "the JWK is not meant for verifying signatures"
        case .invalidKeyMaterial: return "the key material is invalid"
        }
    }
}

/// One verification key pinned to exactly one algorithm, with an optional key id.
///
/// Pinning is the defence against algorithm confusion: a token is checked only with keys whose
/// algorithm equals the token's `alg`, so an HS256 token can never be "verified" with an RSA,
/// EC or Ed25519 public key used as an HMAC secret, and an asymmetric key never accepts `none`.
public struct JWTKey: Sendable {
    enum Material: Sendable {
        /// The secret and an HMAC state already keyed with it: copying the state per token skips
        /// the key schedule (and its allocations) on the hot path.
        case hmac(SymmetricKey, HMAC<SHA256>)
        case rsa(_RSA.Signing.PublicKey)
        case p256(P256.Signing.PublicKey)
        case ed25519(Curve25519.Signing.PublicKey)
    }

    /// The only algorithm this key verifies.
    public let algorithm: JWTAlgorithm
    /// The key id matched against a token header's `kid`, if any.
    public let kid: String?
    let material: Material

    init(algorithm: JWTAlgorithm, kid: String?, material: Material) {
        self.algorithm = algorithm
        self.kid = kid
        self.material = material
    }

    // MARK: Constructors

    /// An HS256 key from a shared secret's bytes.
    ///
    /// RFC 7518 asks for at least 32 bytes; shorter legacy secrets are accepted here (the config
    /// layer decides whether to warn), an empty one is not.
    public static func hs256(secret: [UInt8], kid: String? = nil) throws(JWTKeyError) -> JWTKey {
        try Self.hs256(secret: SymmetricKey(data: secret), kid: kid)
    }

    /// An HS256 key from a shared secret, taken as its UTF-8 bytes.
    public static func hs256(secret: String, kid: String? = nil) throws(JWTKeyError) -> JWTKey {
        try Self.hs256(secret: SymmetricKey(data: Array(secret.utf8)), kid: kid)
    }

    /// An HS256 key from a `SymmetricKey`.
    public static func hs256(secret: SymmetricKey, kid: String? = nil) throws(JWTKeyError) -> JWTKey {
        guard secret.bitCount > 0 else {
            throw .emptySecret
        }
        return JWTKey(algorithm: .hs256, kid: kid, material: .hmac(secret, HMAC<SHA256>(key: secret)))
    }

    /// An RS256 or PS256 key from a PEM public key (`PUBLIC KEY` or `RSA PUBLIC KEY`).
    public static func rsa(
        pem: String,
        algorithm: JWTAlgorithm = .rs256,
        kid: String? = nil
    ) throws(JWTKeyError) -> JWTKey {
        let publicKey: _RSA.Signing.PublicKey
        do {
            publicKey = try _RSA.Signing.PublicKey(unsafePEMRepresentation: pem)
        } catch {
            throw .invalidPEM
        }
        return try Self.rsa(publicKey: publicKey, algorithm: algorithm, kid: kid)
    }

    /// An RS256 or PS256 key; the modulus must have 2048 to 8192 bits (the upper bound keeps a
    /// hostile key set from making every verification expensive).
    public static func rsa(
        publicKey: _RSA.Signing.PublicKey,
        algorithm: JWTAlgorithm = .rs256,
        kid: String? = nil
    ) throws(JWTKeyError) -> JWTKey {
        guard algorithm == .rs256 || algorithm == .ps256 else {
            throw .algorithmNotApplicable(algorithm)
        }
        let bits = publicKey.keySizeInBits
        guard (2048...8192).contains(bits) else {
            throw .unsupportedRSAKeySize(bits: bits)
        }
        return JWTKey(algorithm: algorithm, kid: kid, material: .rsa(publicKey))
    }

    /// An ES256 key.
    public static func es256(publicKey: P256.Signing.PublicKey, kid: String? = nil) -> JWTKey {
        JWTKey(algorithm: .es256, kid: kid, material: .p256(publicKey))
    }

    /// An EdDSA (Ed25519) key.
    public static func edDSA(publicKey: Curve25519.Signing.PublicKey, kid: String? = nil) -> JWTKey {
        JWTKey(algorithm: .edDSA, kid: kid, material: .ed25519(publicKey))
    }

    /// A public key from PEM for any asymmetric algorithm: RSA for RS256/PS256, P-256 for ES256,
    /// Ed25519 for EdDSA.
    public static func publicKey(
        pem: String,
        algorithm: JWTAlgorithm,
        kid: String? = nil
    ) throws(JWTKeyError) -> JWTKey {
        switch algorithm {
        case .hs256:
            throw .algorithmNotApplicable(algorithm)
        case .rs256, .ps256:
            return try Self.rsa(pem: pem, algorithm: algorithm, kid: kid)
        case .es256:
            do {
                return Self.es256(publicKey: try P256.Signing.PublicKey(pemRepresentation: pem), kid: kid)
            } catch {
                throw .invalidPEM
            }
        case .edDSA:
            do {
                return Self.edDSA(publicKey: try Curve25519.Signing.PublicKey(pemRepresentation: pem), kid: kid)
            } catch {
                throw .invalidPEM
            }
        }
    }

    /// A key from a JSON Web Key (RFC 7517): `OKP`/`Ed25519` (`x`), `EC`/`P-256` (`x`, `y`) or
    /// `RSA` (`n`, `e`).
    ///
    /// The algorithm is pinned from the key type; a present `alg` must agree with it (an RSA key's
    /// `alg` chooses RS256 or PS256, RS256 when absent). A present `use` must be `sig` and present
    /// `key_ops` must include `verify`. Symmetric (`oct`) keys are refused: an HMAC secret is
    /// configured, never fetched.
    public init(jwk: JSONValue) throws(JWTKeyError) {
        guard case .object(let members) = jwk else {
            throw .notAnObject
        }
        func string(_ name: String) throws(JWTKeyError) -> String? {
            switch members[name] {
            case .none: return nil
            case .string(let value): return value
            default: throw .invalidMember(name)
            }
        }
        func requiredString(_ name: String) throws(JWTKeyError) -> String {
            guard let value = try string(name) else {
                throw .missingMember(name)
            }
            return value
        }
        func bytes(_ name: String, count: Int? = nil) throws(JWTKeyError) -> [UInt8] {
            let text = try requiredString(name)
            guard let decoded = Base64URL.decode(text), !decoded.isEmpty else {
                throw .invalidMember(name)
            }
            if let count, decoded.count != count {
                throw .invalidMember(name)
            }
            return decoded
        }

        let kty = try requiredString("kty")
        let kid = try string("kid")
        let alg = try string("alg")
        if let use = try string("use"), use != "sig" {
            throw .notForSignatures
        }
        if let operations = members["key_ops"] {
            guard case .array(let list) = operations, list.allSatisfy({ $0.stringValue != nil }) else {
                throw .invalidMember("key_ops")
            }
            guard list.contains(.string("verify")) else {
                throw .notForSignatures
            }
        }

        switch kty {
        case "OKP":
            let crv = try requiredString("crv")
            guard crv == "Ed25519" else {
                throw .unsupportedCurve(crv)
            }
            if let alg, alg != JWTAlgorithm.edDSA.rawValue {
                throw .unsupportedAlgorithm(alg)
            }
            let x = try bytes("x", count: 32)
            do {
                self = .edDSA(publicKey: try Curve25519.Signing.PublicKey(rawRepresentation: x), kid: kid)
            } catch {
                throw .invalidKeyMaterial
            }
        case "EC":
            let crv = try requiredString("crv")
            guard crv == "P-256" else {
                throw .unsupportedCurve(crv)
            }
            if let alg, alg != JWTAlgorithm.es256.rawValue {
                throw .unsupportedAlgorithm(alg)
            }
            let x = try bytes("x", count: 32)
            let y = try bytes("y", count: 32)
            do {
                self = .es256(publicKey: try P256.Signing.PublicKey(rawRepresentation: x + y), kid: kid)
            } catch {
                throw .invalidKeyMaterial
            }
        case "RSA":
            let algorithm: JWTAlgorithm
            switch alg {
            case .none: algorithm = .rs256
            case JWTAlgorithm.rs256.rawValue?: algorithm = .rs256
            case JWTAlgorithm.ps256.rawValue?: algorithm = .ps256
            case .some(let other): throw .unsupportedAlgorithm(other)
            }
            let n = try bytes("n")
            let e = try bytes("e")
            guard e.count <= 4 else {
                throw .invalidMember("e")
            }
            let publicKey: _RSA.Signing.PublicKey
            do {
                publicKey = try _RSA.Signing.PublicKey(n: n, e: e)
            } catch {
                // The library refuses moduli under 2048 bits; report the size when we can tell.
                let bits = Self.bitLength(ofBigEndian: n)
                throw bits < 2048 ? .unsupportedRSAKeySize(bits: bits) : .invalidKeyMaterial
            }
            self = try .rsa(publicKey: publicKey, algorithm: algorithm, kid: kid)
        default:
            throw .unsupportedKeyType(kty)
        }
    }

    static func bitLength(ofBigEndian bytes: [UInt8]) -> Int {
        guard let first = bytes.firstIndex(where: { $0 != 0 }) else {
            return 0
        }
        return (bytes.count - first) * 8 - bytes[first].leadingZeroBitCount
    }

    // MARK: Verification

    /// Whether `signature` is this key's signature over `signingInput` (the ASCII
    /// `header.payload`). Runs on the event loop; the caller has already checked that the
    /// token's `alg` equals ``algorithm``.
    func isValidSignature(_ signature: [UInt8], for signingInput: UnsafeRawBufferPointer) -> Bool {
        switch self.material {
        case .hmac(_, let template):
            guard signature.count == SHA256.byteCount else {
                return false
            }
            var hmac = template
            hmac.update(data: signingInput)
            let code = hmac.finalize()
            return code.withUnsafeBytes { computed in
                signature.withUnsafeBytes { provided in
                    constantTimeEquals(computed, provided)
                }
            }
        case .rsa(let publicKey):
            let digest = SHA256.hash(data: signingInput)
            let rsaSignature = _RSA.Signing.RSASignature(rawRepresentation: signature)
            let padding: _RSA.Signing.Padding = self.algorithm == .ps256 ? .PSS : .insecurePKCS1v1_5
            return publicKey.isValidSignature(rsaSignature, for: digest, padding: padding)
        case .p256(let publicKey):
            // JWS uses the fixed-size r || s form; a DER signature (70-72 bytes) is refused.
            guard signature.count == 64,
                let ecdsaSignature = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else {
                return false
            }
            return publicKey.isValidSignature(ecdsaSignature, for: SHA256.hash(data: signingInput))
        case .ed25519(let publicKey):
            guard signature.count == 64 else {
                return false
            }
            return publicKey.isValidSignature(signature, for: signingInput)
        }
    }
}

/// Compares two byte buffers in time that depends only on their lengths.
func constantTimeEquals(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
    guard lhs.count == rhs.count else {
        return false
    }
    var difference: UInt8 = 0
    for index in 0..<lhs.count {
        difference |= lhs[index] ^ rhs[index]
    }
    return difference == 0
}
