public import Crypto

extension IdentityAssertionSigner {
    /// The DER of an Ed25519 PKCS#8 v1 private key (RFC 8410 §7) up to the 32-byte seed:
    /// `SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }`.
    static let pkcs8V1Prefix: [UInt8] = [
        0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]
    /// The same for a PKCS#8 v2 (`OneAsymmetricKey`) key that also carries its public key as
    /// `[1] BIT STRING`, which some tools write.
    static let pkcs8V2Prefix: [UInt8] = [
        0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ]
    /// `[1] IMPLICIT BIT STRING` of 33 bytes (no unused bits) before the v2 public key.
    static let pkcs8V2PublicKeyPrefix: [UInt8] = [0x81, 0x21, 0x00]

    /// Loads the Ed25519 signing key for assertions from text.
    ///
    /// Accepted: a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, as `openssl genpkey -algorithm
    /// ed25519` writes), or, without armour, the base64 or base64url (padded or not) of either the
    /// 32-byte seed or that PKCS#8 DER. Anything else throws an error that says what was found,
    /// without echoing key material.
    public static func loadEd25519PrivateKey(
        pem: String
    ) throws(IdentityAssertionError) -> Curve25519.Signing.PrivateKey {
        let text = pem.trimmingASCIIWhitespace()
        guard !text.isEmpty else {
            throw .emptyKey
        }
        if text.hasPrefix("-----BEGIN ") {
            let der = try Self.pemBody(text)
            return try Self.ed25519PrivateKey(pkcs8: der)
        }
        guard let bytes = Self.decodeBase64Text(text) else {
            throw .notBase64
        }
        if bytes.count == 32 {
            return try Self.ed25519PrivateKey(seed: bytes)
        }
        if bytes.first == 0x30 {
            return try Self.ed25519PrivateKey(pkcs8: bytes)
        }
        throw .invalidSeed(byteCount: bytes.count)
    }

    /// The DER inside `-----BEGIN PRIVATE KEY----- … -----END PRIVATE KEY-----`.
    private static func pemBody(_ text: Substring) throws(IdentityAssertionError) -> [UInt8] {
        // Split on bytes: `"\r\n"` is one `Character`, equal to neither `"\r"` nor `"\n"`.
        let lines = text.utf8.split(whereSeparator: { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") })
            .map { Substring($0).trimmingASCIIWhitespace() }
        guard let begin = lines.first, begin.hasPrefix("-----BEGIN "), begin.hasSuffix("-----") else {
            throw .invalidPEM
        }
        let label = begin.dropFirst("-----BEGIN ".count).dropLast("-----".count)
        guard label == "PRIVATE KEY" else {
            // Labels are short upper-case words and digits; anything else is not echoed into logs.
            guard label.utf8.count <= 40,
                label.utf8.allSatisfy({ $0 == 0x20 || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) })
            else {
                throw .invalidPEM
            }
            throw .unsupportedPEMLabel(String(label))
        }
        guard let endIndex = lines.firstIndex(of: "-----END PRIVATE KEY-----"), endIndex > 1 else {
            throw .invalidPEM
        }
        // Every line after the end marker must be empty (the split already dropped blank lines).
        guard endIndex == lines.count - 1 else {
            throw .invalidPEM
        }
        let body = lines[1..<endIndex].joined()
        guard let der = Self.decodeBase64Text(body[...]), !body.contains("-"), !body.contains("_") else {
            throw .invalidPEM
        }
        return der
    }

    /// The key in an Ed25519 PKCS#8 v1 or v2 DER structure; a v2 public key must match.
    static func ed25519PrivateKey(pkcs8 der: [UInt8]) throws(IdentityAssertionError) -> Curve25519.Signing.PrivateKey {
        if der.count == 48, der.starts(with: Self.pkcs8V1Prefix) {
            return try Self.ed25519PrivateKey(seed: Array(der[16..<48]))
        }
        if der.count == 83, der.starts(with: Self.pkcs8V2Prefix),
            der[48..<51].elementsEqual(Self.pkcs8V2PublicKeyPrefix)
        {
            let key = try Self.ed25519PrivateKey(seed: Array(der[16..<48]))
            guard key.publicKey.rawRepresentation.elementsEqual(der[51..<83]) else {
                throw .publicKeyMismatch
            }
            return key
        }
        throw .notEd25519PKCS8
    }

    private static func ed25519PrivateKey(seed: [UInt8]) throws(IdentityAssertionError) -> Curve25519.Signing.PrivateKey
    {
        do {
            return try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
        } catch {
            throw .invalidKeyMaterial
        }
    }

    /// Base64 or base64url, with or without `=` padding, whitespace ignored; `nil` otherwise.
    static func decodeBase64Text(_ text: Substring) -> [UInt8]? {
        var compact = Array(text.utf8.lazy.filter { !isASCIIWhitespace($0) })
        var padding = 0
        while compact.last == UInt8(ascii: "="), padding < 2 {
            compact.removeLast()
            padding += 1
        }
        if padding > 0, (compact.count + padding) % 4 != 0 {
            return nil
        }
        return compact.withUnsafeBytes { bytes in
            Base64Tables.decode(bytes, urlSafe: true) ?? Base64Tables.decode(bytes, urlSafe: false)
        }
    }
}

private func isASCIIWhitespace(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
}

extension StringProtocol {
    /// The text without leading and trailing ASCII whitespace (space, tab, CR, LF).
    fileprivate func trimmingASCIIWhitespace() -> Substring {
        let utf8 = Substring(self).utf8
        guard let first = utf8.firstIndex(where: { !isASCIIWhitespace($0) }),
            let last = utf8.lastIndex(where: { !isASCIIWhitespace($0) })
        else {
            return ""
        }
        return Substring(utf8[first...last])
    }
}
