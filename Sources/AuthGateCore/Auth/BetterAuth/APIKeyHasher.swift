import Crypto

/// How Better Auth's API key plugin stores a key: `base64url(SHA-256(key))` without padding
/// (its `defaultKeyHasher`), so the `apikey` table never holds a usable key and a lookup is an
/// indexed equality on the hash.
public enum APIKeyHasher {
    /// The stored form of `key`, byte for byte what the plugin writes to `apikey.key`.
    public static func hash(_ key: some StringProtocol) -> String {
        var key = String(key)
        let digest = key.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
        return Base64URL.encode(digest)
    }
}
