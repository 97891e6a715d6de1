/// Why an ``IdentityAssertionSigner`` or its private key could not be created.
///
/// The descriptions never contain key material, so they are safe for config errors and logs.
public enum IdentityAssertionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The key text is empty or only whitespace.
    case emptyKey
    /// The PEM armour is not `-----BEGIN PRIVATE KEY-----` (the label found is attached); an
    /// encrypted, OpenSSH or SEC1 key must be converted to unencrypted PKCS#8 first.
    case unsupportedPEMLabel(String)
    /// The PEM armour is incomplete or its body is not base64.
    case invalidPEM
    /// The DER is not an Ed25519 PKCS#8 private key (RFC 8410).
    case notEd25519PKCS8
    /// Base64 text that decodes to neither a 32-byte seed nor an Ed25519 PKCS#8 structure.
    case invalidSeed(byteCount: Int)
    /// The text is neither PEM nor base64/base64url.
    case notBase64
    /// The PKCS#8 structure carries a public key that does not belong to its private key.
    case publicKeyMismatch
    /// The crypto library refused the key material.
    case invalidKeyMaterial
    /// An HS256 secret of zero bytes.
    case emptySecret
    /// A lifetime of zero or fewer seconds.
    case invalidTTL(Int64)

    /// A one-line explanation for config errors and logs.
    public var description: String {
        switch self {
        case .emptyKey:
            return "the assertion signing key is empty"
        case .unsupportedPEMLabel(let label):
            return "PEM \"\(label)\" is not supported: use an unencrypted PKCS#8 \"PRIVATE KEY\" "
                + "(openssl genpkey -algorithm ed25519)"
        case .invalidPEM:
            return "the PEM text is incomplete or its body is not base64"
        case .notEd25519PKCS8:
            return "the key is not an Ed25519 PKCS#8 private key"
        case .invalidSeed(let count):
            return "the base64 key decodes to \(count) bytes, not a 32-byte Ed25519 seed"
        case .notBase64:
            return "the key is neither a PEM private key nor base64/base64url text"
        case .publicKeyMismatch:
            return "the PKCS#8 public key does not match its private key"
        case .invalidKeyMaterial:
            return "the Ed25519 key material is invalid"
        case .emptySecret:
            return "the HS256 assertion secret is empty"
        case .invalidTTL(let seconds):
            return "the assertion lifetime must be at least one second, not \(seconds)"
        }
    }
}
