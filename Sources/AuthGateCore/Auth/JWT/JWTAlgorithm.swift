/// The JWS algorithms AuthGate verifies (RFC 7518 §3, RFC 8037 for EdDSA).
///
/// `none`, `HS384`/`HS512`, `ES384`/`ES512` and anything else are deliberately absent: a token
/// naming them is rejected as ``RejectionReason/unsupportedAlgorithm`` before any key is consulted.
public enum JWTAlgorithm: String, Sendable, Hashable, CaseIterable {
    /// HMAC-SHA256 with a shared secret (legacy tokens, `BETTER_AUTH_JWT_SECRET`).
    case hs256 = "HS256"
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    case rs256 = "RS256"
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt.
    case ps256 = "PS256"
    /// ECDSA on P-256 with SHA-256; the signature is the 64-byte `r || s`.
    case es256 = "ES256"
    /// Ed25519 (the Better Auth JWT plugin's default).
    case edDSA = "EdDSA"

    /// Whether the algorithm uses a shared secret rather than a public key.
    public var isSymmetric: Bool {
        self == .hs256
    }
}
