public import Crypto

/// Mints compact JWS tokens: for the demo's sample credentials, `token inspect` tests and the
/// optional `X-Auth-Assertion` towards zero-trust backends.
public enum JWTSigner {
    /// An HS256 token over `claims` (a JSON object), header `{"alg":"HS256","typ":"JWT"}`.
    public static func hs256(claims: JSONValue, secret: String, kid: String? = nil) -> String {
        var header: [String: JSONValue] = ["alg": .string("HS256"), "typ": .string("JWT")]
        if let kid { header["kid"] = .string(kid) }
        let signingInput = Self.signingInput(header: .object(header), claims: claims)
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array(signingInput.utf8),
            using: SymmetricKey(data: Array(secret.utf8))
        )
        return signingInput + "." + Base64URL.encode(Array(mac))
    }

    /// An EdDSA (Ed25519) token over `claims`.
    public static func edDSA(claims: JSONValue, key: Curve25519.Signing.PrivateKey, kid: String?) throws -> String {
        var header: [String: JSONValue] = ["alg": .string("EdDSA"), "typ": .string("JWT")]
        if let kid { header["kid"] = .string(kid) }
        let signingInput = Self.signingInput(header: .object(header), claims: claims)
        let signature = try key.signature(for: Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(Array(signature))
    }

    static func signingInput(header: JSONValue, claims: JSONValue) -> String {
        Base64URL.encode(Array(header.jsonString.utf8)) + "." + Base64URL.encode(Array(claims.jsonString.utf8))
    }
}
