public import NIOCore

/// Reads the account name out of a sign-in request body, so failed attempts can be counted per
/// account (``FailedAuthTracker``) as well as per client address.
///
/// Accepts a JSON object (`application/json` or any `+json` type) parsed with the strict
/// ``JSONParser``, and `application/x-www-form-urlencoded` (percent-decoding, `+` as a space).
/// The result is trimmed and lower-cased, so `Alice@Example.com ` and `alice@example.com` count
/// as one account.
///
/// Anything doubtful gives `nil`: another content type, a body over the size limit, malformed
/// JSON or form encoding, invalid UTF-8, a missing, non-string or empty field, or a form field
/// given twice (like the JSON parser's refusal of duplicate keys: the gateway and the backend
/// could pick different ones). The caller then counts only per address. It never throws and
/// never traps, whatever the bytes.
public enum LoginEmail {
    /// The email in `body`, trimmed and lower-cased, or `nil`.
    ///
    /// - Parameters:
    ///   - body: the request body's readable bytes.
    ///   - contentType: the request's `Content-Type`, parameters allowed.
    ///   - field: the member or form field that holds the email.
    ///   - maxBytes: bodies longer than this are not looked at.
    public static func extract(
        from body: ByteBuffer,
        contentType: String?,
        field: String = "email",
        maxBytes: Int
    ) -> String? {
        guard body.readableBytes <= maxBytes else { return nil }
        return body.withUnsafeReadableBytes { Self.extract(from: $0, contentType: contentType, field: field) }
    }

    /// The email in `body`, trimmed and lower-cased, or `nil`; see
    /// the `ByteBuffer` overload.
    public static func extract(
        from body: [UInt8],
        contentType: String?,
        field: String = "email",
        maxBytes: Int
    ) -> String? {
        guard body.count <= maxBytes else { return nil }
        return body.withUnsafeBytes { Self.extract(from: $0, contentType: contentType, field: field) }
    }

    /// The body formats understood.
    enum Format: Sendable, Hashable {
        case json
        case form
    }

    /// The format of a `Content-Type` value, from its media type alone; `nil` if not understood.
    static func format(of contentType: String?) -> Format? {
        guard let contentType else { return nil }
        let mediaType = trimmingWhitespace(contentType.prefix { $0 != ";" }).lowercased()
        if mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json")) {
            return .json
        }
        if mediaType == "application/x-www-form-urlencoded" {
            return .form
        }
        return nil
    }

    private static func extract(from body: UnsafeRawBufferPointer, contentType: String?, field: String) -> String? {
        let raw: String?
        switch Self.format(of: contentType) {
        case .json:
            raw = Self.jsonField(field, in: body)
        case .form:
            raw = Self.formField(field, in: body)
        case nil:
            raw = nil
        }
        guard let raw else { return nil }
        let email = trimmingWhitespace(raw[...]).lowercased()
        return email.isEmpty ? nil : email
    }

    private static func jsonField(_ field: String, in body: UnsafeRawBufferPointer) -> String? {
        guard let document = try? JSONParser.parse(body) else { return nil }
        return document[field]?.stringValue
    }

    /// The value of the single `field` pair of a form body; `nil` if absent, repeated or
    /// malformed.
    static func formField(_ field: String, in body: UnsafeRawBufferPointer) -> String? {
        var found: String? = nil
        for pair in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let name: Slice<UnsafeRawBufferPointer>
            let value: Slice<UnsafeRawBufferPointer>
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")) {
                name = pair[pair.startIndex..<equals]
                value = pair[(equals + 1)..<pair.endIndex]
            } else {
                name = pair
                value = pair[pair.endIndex..<pair.endIndex]
            }
            // A malformed name elsewhere in the form makes the whole body doubtful.
            guard let decodedName = formDecode(name) else { return nil }
            guard decodedName == field else { continue }
            guard found == nil, let decodedValue = formDecode(value) else { return nil }
            found = decodedValue
        }
        return found
    }

    /// `bytes` with `+` as a space and `%XX` decoded, as valid UTF-8; `nil` for a bad escape or
    /// invalid UTF-8.
    static func formDecode(_ bytes: Slice<UnsafeRawBufferPointer>) -> String? {
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "+"):
                decoded.append(UInt8(ascii: " "))
                index += 1
            case UInt8(ascii: "%"):
                guard bytes.endIndex - index >= 3,
                    let high = hexValue(bytes[index + 1]),
                    let low = hexValue(bytes[index + 2])
                else { return nil }
                decoded.append(high << 4 | low)
                index += 3
            default:
                decoded.append(byte)
                index += 1
            }
        }
        let string = String(decoding: decoded, as: UTF8.self)
        // Decoding replaces invalid sequences with U+FFFD, which changes the bytes.
        guard string.utf8.elementsEqual(decoded) else { return nil }
        return string
    }
}

/// `text` without leading and trailing white space (Unicode `White_Space`, so no-break
/// spaces pasted into a form go too).
private func trimmingWhitespace(_ text: Substring) -> Substring {
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
        let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
    else { return "" }
    return Substring(scalars[first...last])
}
