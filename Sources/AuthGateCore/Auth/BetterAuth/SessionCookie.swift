public import Crypto

/// Signs and verifies Better Auth session token values: `token.signature`, where the signature is
/// `base64(HMAC-SHA256(key: UTF-8 secret, message: UTF-8 token))`, standard alphabet, padded (44
/// characters ending in `=`), and the cookie carries the pair URI-encoded.
///
/// Verifying the HMAC locally means a forged or mangled cookie is refused without a session
/// lookup. Build one signer per secret (in the config snapshot) and reuse it: it keeps an HMAC state
/// already keyed with the secret, so a verification costs two SHA-256 compressions and no key
/// schedule.
public struct SessionTokenSigner: Sendable {
    private let key: SymmetricKey
    private let template: HMAC<SHA256>
    /// Older secrets of a rotation (``VersionedSecrets``): values signed with them verify, and
    /// nothing is signed with them.
    private let previous: [HMAC<SHA256>]

    /// A signer for `secret` (`BETTER_AUTH_SECRET`, as UTF-8 bytes).
    public init(secret: SymmetricKey) {
        self.key = secret
        self.template = HMAC<SHA256>(key: secret)
        self.previous = []
    }

    /// A signer that signs with the first of `secrets` and verifies with any of them, as
    /// Better Auth's `BETTER_AUTH_SECRETS` rotation needs. `secrets` must not be empty.
    public init(secrets: [[UInt8]]) {
        precondition(!secrets.isEmpty, "a signer needs a secret")
        self.key = SymmetricKey(data: secrets[0])
        self.template = HMAC<SHA256>(key: self.key)
        self.previous = secrets.dropFirst().map { HMAC<SHA256>(key: SymmetricKey(data: $0)) }
    }

    /// A signer for `secret`'s bytes.
    public init(secret: [UInt8]) {
        self.init(secret: SymmetricKey(data: secret))
    }

    /// A signer for `secret`'s UTF-8 bytes.
    public init(secret: String) {
        self.init(secret: SymmetricKey(data: Array(secret.utf8)))
    }

    /// The 44-character signature of `token`.
    public func signature(for token: some StringProtocol) -> String {
        String(unsafeUninitializedCapacity: SessionTokenSigning.signatureLength) { output in
            self.withSignature(of: token) { signature in
                UnsafeMutableRawBufferPointer(output).copyMemory(from: signature)
            }
            return SessionTokenSigning.signatureLength
        }
    }

    /// `token.signature`, as the bearer plugin's `set-auth-token` header carries it.
    public func signedValue(token: some StringProtocol) -> String {
        "\(token).\(self.signature(for: token))"
    }

    /// `encodeURIComponent(token.signature)`, as the session cookie carries it.
    public func cookieValue(token: some StringProtocol) -> String {
        SessionTokenSigning.percentEncode(self.signedValue(token: token))
    }

    /// Checks a signed value (a cookie value or a bearer token) and returns the raw session token.
    ///
    /// The value is percent-decoded once (only `%XX`; `+` stays `+`; a bad escape or a result that
    /// is not UTF-8 is malformed) and split at its last `.`. The signature must be 44 characters
    /// ending in `=` and the token non-empty (else ``RejectionReason/malformed``); the signature
    /// is compared in constant time (else ``RejectionReason/badSignature``).
    public func verify(signedValue: Substring) -> Result<Substring, RejectionReason> {
        if let verdict = self.verifyWithPlainToken(signedValue) {
            return verdict
        }
        guard let decoded = SessionTokenSigning.percentDecode(signedValue) else {
            return .failure(.malformed)
        }
        let utf8 = decoded.utf8
        guard let dot = utf8.lastIndex(of: UInt8(ascii: ".")) else {
            return .failure(.malformed)
        }
        let token = decoded[..<dot]
        let signature = decoded[utf8.index(after: dot)...]
        guard !token.isEmpty,
            signature.utf8.count == SessionTokenSigning.signatureLength,
            signature.utf8.last == UInt8(ascii: "=")
        else {
            return .failure(.malformed)
        }
        var provided = signature
        let valid = provided.withUTF8 { provided in
            self.anySignature(of: token) { expected in
                constantTimeEquals(expected, UnsafeRawBufferPointer(provided))
            }
        }
        return valid ? .success(token) : .failure(.badSignature)
    }

    /// The shape every cookie Better Auth sets has: a token without escapes, then a signature
    /// whose `+`, `/` and `=` may be percent-encoded. The token is used as it is and only the
    /// signature is decoded, on the stack: nothing is allocated. `nil` for any other shape,
    /// which ``verify(signedValue:)`` then decodes whole, with the same verdicts.
    private func verifyWithPlainToken(_ value: Substring) -> Result<Substring, RejectionReason>? {
        let utf8 = value.utf8
        guard let dot = utf8.lastIndex(of: UInt8(ascii: ".")), dot > utf8.startIndex,
            !utf8[..<dot].contains(UInt8(ascii: "%"))
        else {
            return nil
        }
        let length = SessionTokenSigning.signatureLength
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length) {
            provided -> Result<Substring, RejectionReason>? in
            var count = 0
            var index = utf8.index(after: dot)
            while index < utf8.endIndex {
                var byte = utf8[index]
                index = utf8.index(after: index)
                if byte == UInt8(ascii: "%") {
                    guard index < utf8.endIndex, let high = hexValue(utf8[index]) else { return nil }
                    index = utf8.index(after: index)
                    guard index < utf8.endIndex, let low = hexValue(utf8[index]) else { return nil }
                    index = utf8.index(after: index)
                    byte = high << 4 | low
                }
                // A decoded `.` moves the split, a non-ASCII byte needs the UTF-8 check: both
                // are the general path's.
                guard count < length, byte < 0x80, byte != UInt8(ascii: ".") else { return nil }
                provided[count] = byte
                count += 1
            }
            guard count == length, provided[length - 1] == UInt8(ascii: "=") else { return nil }
            let token = value[..<dot]
            let valid = self.anySignature(of: token) { expected in
                constantTimeEquals(expected, UnsafeRawBufferPointer(provided))
            }
            return valid ? .success(token) : .failure(.badSignature)
        }
    }

    /// Whether `matches` holds for the signature of `token` under the current secret or any
    /// older one (every one is computed: the time does not tell which matched).
    private func anySignature(
        of token: some StringProtocol,
        _ matches: (UnsafeRawBufferPointer) -> Bool
    ) -> Bool {
        var valid = self.withSignature(of: token, template: self.template, matches)
        for template in self.previous {
            valid = self.withSignature(of: token, template: template, matches) || valid
        }
        return valid
    }

    /// Computes the signature of `token` into a stack buffer and hands it to `body`.
    private func withSignature<Result>(
        of token: some StringProtocol,
        _ body: (UnsafeRawBufferPointer) -> Result
    ) -> Result {
        self.withSignature(of: token, template: self.template, body)
    }

    private func withSignature<Result>(
        of token: some StringProtocol,
        template: HMAC<SHA256>,
        _ body: (UnsafeRawBufferPointer) -> Result
    ) -> Result {
        var hmac = template
        let contiguous: Void? = token.utf8.withContiguousStorageIfAvailable {
            hmac.update(data: UnsafeRawBufferPointer($0))
        }
        if contiguous == nil {
            var copy = String(token)
            copy.withUTF8 { hmac.update(data: UnsafeRawBufferPointer($0)) }
        }
        let code = hmac.finalize()
        return withUnsafeTemporaryAllocation(byteCount: SessionTokenSigning.signatureLength, alignment: 1) { output in
            code.withUnsafeBytes { Base64.encode($0, into: output) }
            return body(UnsafeRawBufferPointer(output))
        }
    }
}

/// One-shot helpers for Better Auth session token signatures; see ``SessionTokenSigner``, which
/// the hot path should use instead.
public enum SessionTokenSigning {
    /// The length of a signature: base64 of 32 bytes, padded.
    public static let signatureLength = 44

    /// The 44-character signature of `token` under `secret` (UTF-8).
    ///
    /// With secret `better-auth-secret-12345678901234567890` and token
    /// `Zr3pQk8vXy1Lm0Nn2Bb4Cc6Dd8Ee0Ff2` it is `wr61ZskiJfaQpTO6yD9RwHolIK3vUp3a6iXfP0SwxLg=`.
    public static func sign(token: String, secret: String) -> String {
        SessionTokenSigner(secret: secret).signature(for: token)
    }

    /// The 44-character signature of `token` under `secret`.
    public static func sign(token: String, secret: SymmetricKey) -> String {
        SessionTokenSigner(secret: secret).signature(for: token)
    }

    /// Verifies a signed value and returns the raw token; see ``SessionTokenSigner/verify(signedValue:)``.
    public static func verify(signedValue: Substring, secret: SymmetricKey) -> Result<Substring, RejectionReason> {
        SessionTokenSigner(secret: secret).verify(signedValue: signedValue)
    }

    /// Verifies a signed value and returns the raw token; see ``SessionTokenSigner/verify(signedValue:)``.
    public static func verify(signedValue: Substring, secret: [UInt8]) -> Result<Substring, RejectionReason> {
        SessionTokenSigner(secret: secret).verify(signedValue: signedValue)
    }

    /// Decodes `%XX` escapes once, as `decodeURIComponent` does (so `+` stays `+`); `nil` for a `%`
    /// not followed by two hex digits or a result that is not valid UTF-8. Without a `%` the input
    /// is returned as is, without allocating.
    public static func percentDecode(_ value: Substring) -> Substring? {
        let utf8 = value.utf8
        guard utf8.contains(UInt8(ascii: "%")) else {
            return value
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index < utf8.endIndex {
            let byte = utf8[index]
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                index = utf8.index(after: index)
                continue
            }
            let high = utf8.index(after: index)
            guard high < utf8.endIndex else {
                return nil
            }
            let low = utf8.index(after: high)
            guard low < utf8.endIndex, let highValue = hexValue(utf8[high]), let lowValue = hexValue(utf8[low]) else {
                return nil
            }
            bytes.append(highValue << 4 | lowValue)
            index = utf8.index(after: low)
        }
        let decoded = String(decoding: bytes, as: UTF8.self)
        // `String(decoding:)` repairs invalid UTF-8; a repaired string differs from the bytes.
        guard decoded.utf8.elementsEqual(bytes) else {
            return nil
        }
        return decoded[...]
    }

    /// `encodeURIComponent`: every byte except `A–Z a–z 0–9 - _ . ! ~ * ' ( )` as `%XX`.
    public static func percentEncode(_ value: some StringProtocol) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(value.utf8.count + 8)
        let hex: StaticString = "0123456789ABCDEF"
        hex.withUTF8Buffer { digits in
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                    UInt8(ascii: "!"), UInt8(ascii: "~"), UInt8(ascii: "*"), UInt8(ascii: "'"), UInt8(ascii: "("),
                    UInt8(ascii: ")"):
                    output.append(byte)
                default:
                    output.append(UInt8(ascii: "%"))
                    output.append(digits[Int(byte >> 4)])
                    output.append(digits[Int(byte & 0x0F)])
                }
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}

/// Reads cookies out of a `Cookie:` header value (`name=value; name2=value2`, RFC 6265 §5.4).
public struct CookieHeader: Sendable, Hashable {
    /// The header value.
    public var value: Substring

    /// Wraps a `Cookie:` header value.
    public init(_ value: Substring) {
        self.value = value
    }

    /// The value of the first cookie called exactly `name`; see ``value(named:in:)``.
    public func value(named name: String) -> Substring? {
        Self.value(named: name, in: self.value)
    }

    /// The value of the first cookie called exactly `name` (case-sensitive), or `nil`.
    ///
    /// Scans the header in place without building the list of pairs. Whitespace around names and
    /// values is ignored, a pair without `=` is skipped, and a value wrapped in double quotes is
    /// returned without them. The value is not percent-decoded.
    public static func value(named name: String, in header: Substring) -> Substring? {
        var name = name
        // Header values are native strings: scan their bytes directly (this runs on every
        // request that carries cookies).
        let scanned: Range<Int>?? = header.utf8.withContiguousStorageIfAvailable { bytes in
            name.withUTF8 { Self.valueRange(named: $0, in: bytes) }
        }
        let range: Range<Int>?
        if let scanned {
            range = scanned
        } else {
            var copy = String(header)
            range = copy.withUTF8 { bytes in name.withUTF8 { Self.valueRange(named: $0, in: bytes) } }
        }
        guard let range else { return nil }
        let utf8 = header.utf8
        let start = utf8.index(utf8.startIndex, offsetBy: range.lowerBound)
        let end = utf8.index(start, offsetBy: range.count)
        return Substring(utf8[start..<end])
    }

    private static func valueRange(
        named name: UnsafeBufferPointer<UInt8>,
        in bytes: UnsafeBufferPointer<UInt8>
    ) -> Range<Int>? {
        var index = 0
        let end = bytes.count
        while index < end {
            // Skip separators and whitespace before a pair.
            while index < end, isSeparatorOrSpace(bytes[index]) {
                index += 1
            }
            let nameStart = index
            while index < end, bytes[index] != UInt8(ascii: "="), bytes[index] != UInt8(ascii: ";") {
                index += 1
            }
            guard index < end, bytes[index] == UInt8(ascii: "=") else {
                continue
            }
            var nameEnd = index
            while nameEnd > nameStart, isSpace(bytes[nameEnd - 1]) {
                nameEnd -= 1
            }
            index += 1
            while index < end, isSpace(bytes[index]) {
                index += 1
            }
            var valueStart = index
            while index < end, bytes[index] != UInt8(ascii: ";") {
                index += 1
            }
            guard nameEnd - nameStart == name.count,
                UnsafeBufferPointer(rebasing: bytes[nameStart..<nameEnd]).elementsEqual(name)
            else {
                continue
            }
            var valueEnd = index
            while valueEnd > valueStart, isSpace(bytes[valueEnd - 1]) {
                valueEnd -= 1
            }
            if valueEnd - valueStart >= 2, bytes[valueStart] == UInt8(ascii: "\""),
                bytes[valueEnd - 1] == UInt8(ascii: "\"")
            {
                valueStart += 1
                valueEnd -= 1
            }
            return valueStart..<valueEnd
        }
        return nil
    }
}

private func isSpace(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t")
}

private func isSeparatorOrSpace(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: ";") || isSpace(byte)
}
