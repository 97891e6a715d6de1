/// What to do with a percent-encoded slash (`%2F`) or backslash (`%5C`) in a path.
///
/// Backends disagree on these: some decode them before routing, some route on the raw path.
/// Either way the gateway must route on the same path the backend will see, so it either decodes
/// them into real separators (and forwards that) or refuses the request.
public enum EscapedSlashHandling: String, Sendable, Hashable, CaseIterable {
    /// `%2F` and `%5C` become `/` before the dot segments are resolved.
    case decode
    /// `%2F` and `%5C` make the request fail with ``PathNormalizationError/encodedSlash``.
    case reject
}

/// What to do with a path parameter (`;` in a segment, raw or as `%3B`) in a path.
///
/// Servlet containers (Tomcat, Jetty) and Spring strip `;parameters` from every segment before
/// routing, so `/api/public/..;/admin` is `/api/public/../admin`, that is `/api/admin`, to them,
/// while a gateway that sees one segment `..;` would route it as public.
public enum PathParameterHandling: String, Sendable, Hashable, CaseIterable {
    /// A `;` or `%3B` in the path makes the request fail with
    /// ``PathNormalizationError/pathParameter`` (the default).
    case reject
    /// Forwarded as sent; the route is chosen on the path with every segment's parameters
    /// removed and dot segments resolved after that (``PathNormalizer/routingPath(of:)``), and
    /// never looser than the route of the forwarded path itself.
    case allow
}

/// Why a request target's path could not be normalised; every case is a 400.
public enum PathNormalizationError: Error, Sendable, Hashable {
    /// The path does not start with `/` (asterisk-form, absolute-form or an empty path).
    case notAbsolute
    /// A `%` not followed by two hexadecimal digits.
    case malformedEscape
    /// `%2F` or `%5C` while ``EscapedSlashHandling/reject`` is configured.
    case encodedSlash
    /// A raw or percent-encoded control character (`%00`–`%1F`, `%7F`).
    case controlCharacter
    /// A `..` segment that would climb above the root.
    case escapesRoot
    /// A `#`: fragments are never part of a request target.
    case fragment
    /// A `;` or `%3B` while ``PathParameterHandling/reject`` is configured.
    case pathParameter

    /// A one-line reason for the client, used as the `message` of the 400 body.
    public var message: String {
        switch self {
        case .notAbsolute: return "The request path must start with '/'."
        case .malformedEscape: return "The request path contains a malformed percent-escape."
        case .encodedSlash: return "The request path contains an encoded slash or backslash (%2F, %5C)."
        case .controlCharacter: return "The request path contains a control character."
        case .escapesRoot: return "The request path climbs above the root with '..'."
        case .fragment: return "The request target must not contain a fragment ('#')."
        case .pathParameter: return "The request path contains a path parameter (';' or %3B)."
        }
    }
}

/// The one normalisation of a request target's path, used both to match the route table and as
/// the path forwarded to the backend, so the two can never disagree (`/api/public/../private`
/// must not pass as public and then reach `/api/private`).
///
/// On the path (everything before the first `?`):
/// - it must start with `/`; a `#` anywhere in the target is refused;
/// - `\` becomes `/`; `%2F` and `%5C` (any case) become `/` or are refused, per
///   ``EscapedSlashHandling``;
/// - percent-encoded unreserved characters (RFC 3986: `ALPHA DIGIT - . _ ~`) are decoded, so
///   `%2e%2e` is a `..` segment and `%61dmin` is `admin`; other escapes are kept, with uppercase
///   hexadecimal digits; a malformed escape is refused;
/// - control characters, raw or encoded, are refused;
/// - repeated slashes collapse to one, `.` segments are dropped, `..` removes the segment before
///   it, and a `..` above the root is refused rather than clamped;
/// - a trailing slash is kept, and a path ending in `.` or `..` ends with a slash
///   (`/a/b/..` is `/a/`).
///
/// The query string, from the first `?`, is forwarded untouched.
public enum PathNormalizer {
    /// The normalised `target`: path as described above, then the original query string.
    ///
    /// Returns `target` itself, without allocating, when its path is already normal, which is
    /// the case for nearly every request.
    public static func normalize(
        target: String,
        escapedSlashes: EscapedSlashHandling,
        pathParameters: PathParameterHandling = .allow
    ) -> Result<String, PathNormalizationError> {
        let utf8 = target.utf8
        let queryStart = utf8.firstIndex(of: UInt8(ascii: "?")) ?? utf8.endIndex
        let path = utf8[..<queryStart]
        guard path.first == UInt8(ascii: "/") else {
            return .failure(.notAbsolute)
        }
        if utf8[queryStart...].contains(UInt8(ascii: "#")) {
            return .failure(.fragment)
        }
        if Self.isNormal(path: path) {
            return .success(target)
        }
        return Self.rewrite(path: path, escapedSlashes: escapedSlashes, pathParameters: pathParameters).map {
            normalized in
            var bytes = normalized
            bytes.append(contentsOf: utf8[queryStart...])
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Whether `path` (starting with `/`, no query) needs no rewriting: no `%`, `\`, `#`, `;` or
    /// control character, no empty segment except a trailing one, no `.` or `..` segment.
    static func isNormal(path: Substring.UTF8View) -> Bool {
        var length = 0
        var dots = 0
        for byte in path.dropFirst() {
            switch byte {
            case UInt8(ascii: "/"):
                if length == 0 || (dots == length && length <= 2) {
                    return false
                }
                length = 0
                dots = 0
            case UInt8(ascii: "."):
                length += 1
                dots += 1
            case UInt8(ascii: "%"), UInt8(ascii: "\\"), UInt8(ascii: "#"), UInt8(ascii: ";"), 0..<0x20, 0x7F:
                return false
            default:
                length += 1
            }
        }
        return length == 0 || dots != length || length > 2
    }

    /// The normalised bytes of `path` (which starts with `/`).
    ///
    /// `out` holds the kept segments, each preceded by its `/`; the segment being read is appended
    /// after a `/` at `segmentStart` and dropped again when it turns out empty, `.` or `..`. No
    /// raw `/` can enter a segment (encoded ones are either separators or refused), so the last
    /// `/` in `out` always starts the previous kept segment.
    private static func rewrite(
        path: Substring.UTF8View,
        escapedSlashes: EscapedSlashHandling,
        pathParameters: PathParameterHandling
    ) -> Result<[UInt8], PathNormalizationError> {
        var out: [UInt8] = []
        out.reserveCapacity(path.count + 1)
        out.append(UInt8(ascii: "/"))
        var segmentStart = 0
        var endsWithSlash = false

        func finishSegment() -> PathNormalizationError? {
            let length = out.count - segmentStart - 1
            let isDot = length >= 1 && length <= 2 && out[(segmentStart + 1)...].allSatisfy { $0 == UInt8(ascii: ".") }
            if length == 0 {
                out.removeLast()
                endsWithSlash = true
            } else if isDot {
                out.removeSubrange(segmentStart...)
                endsWithSlash = true
                if length == 2 {
                    guard let previous = out.lastIndex(of: UInt8(ascii: "/")) else {
                        return .escapesRoot
                    }
                    out.removeSubrange(previous...)
                }
            } else {
                endsWithSlash = false
            }
            return nil
        }

        func separator() -> PathNormalizationError? {
            if let error = finishSegment() {
                return error
            }
            segmentStart = out.count
            out.append(UInt8(ascii: "/"))
            return nil
        }

        var index = path.index(after: path.startIndex)
        while index < path.endIndex {
            let byte = path[index]
            path.formIndex(after: &index)
            switch byte {
            case UInt8(ascii: "/"), UInt8(ascii: "\\"):
                if let error = separator() { return .failure(error) }
            case UInt8(ascii: "#"):
                return .failure(.fragment)
            case UInt8(ascii: ";"):
                guard pathParameters == .allow else { return .failure(.pathParameter) }
                out.append(byte)
            case 0..<0x20, 0x7F:
                return .failure(.controlCharacter)
            case UInt8(ascii: "%"):
                guard index < path.endIndex, let high = hexValue(path[index]) else {
                    return .failure(.malformedEscape)
                }
                path.formIndex(after: &index)
                guard index < path.endIndex, let low = hexValue(path[index]) else {
                    return .failure(.malformedEscape)
                }
                path.formIndex(after: &index)
                let decoded = high << 4 | low
                switch decoded {
                case 0..<0x20, 0x7F:
                    return .failure(.controlCharacter)
                case UInt8(ascii: "/"), UInt8(ascii: "\\"):
                    guard escapedSlashes == .decode else { return .failure(.encodedSlash) }
                    if let error = separator() { return .failure(error) }
                case UInt8(ascii: ";") where pathParameters == .reject:
                    return .failure(.pathParameter)
                case _ where isUnreserved(decoded):
                    out.append(decoded)
                default:
                    out.append(UInt8(ascii: "%"))
                    out.append(hexDigit(high))
                    out.append(hexDigit(low))
                }
            default:
                out.append(byte)
            }
        }
        if let error = finishSegment() {
            return .failure(error)
        }
        if out.isEmpty || endsWithSlash {
            out.append(UInt8(ascii: "/"))
        }
        return .success(out)
    }
}

extension PathNormalizer {
    /// Whether a normalised path has a path parameter: a `;` or `%3B` (any case).
    public static func hasPathParameters(_ path: Substring) -> Bool {
        Self.parameterStart(in: path) != nil
    }

    /// The path a servlet container (Tomcat, Jetty, Spring) routes for a normalised `path`
    /// without its query: every segment cut at its first `;` or `%3B`, then `.` and `..`
    /// segments resolved again, so `/api/public/..;x=1/admin` is `/api/admin`. Fails with
    /// ``PathNormalizationError/escapesRoot`` when a `..` would climb above the root.
    public static func routingPath(of path: Substring) -> Result<String, PathNormalizationError> {
        var segments: [Substring] = []
        var trailingSlash = false
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        for (index, part) in parts.enumerated() {
            let segment = Self.parameterStart(in: part).map { part[..<$0] } ?? part
            let isLast = index == parts.count - 1
            switch segment {
            case "", ".":
                // A trailing slash, or a segment that was parameters only (`/a/;x/b`).
                if isLast { trailingSlash = true }
            case "..":
                guard !segments.isEmpty else { return .failure(.escapesRoot) }
                segments.removeLast()
                if isLast { trailingSlash = true }
            default:
                segments.append(segment)
                if isLast { trailingSlash = false }
            }
        }
        var out = "/" + segments.joined(separator: "/")
        if trailingSlash && !segments.isEmpty { out += "/" }
        return .success(out)
    }

    /// Where the parameters of `text` start: its first `;` or `%3B` (any case).
    private static func parameterStart(in text: Substring) -> Substring.Index? {
        var index = text.startIndex
        while index < text.endIndex {
            switch text[index] {
            case ";":
                return index
            case "%":
                let escape = text[index...].prefix(3)
                if escape == "%3B" || escape == "%3b" { return index }
            default:
                break
            }
            index = text.index(after: index)
        }
        return nil
    }
}

private func hexDigit(_ value: UInt8) -> UInt8 {
    value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "A") + value - 10
}

/// RFC 3986 `unreserved`: `ALPHA / DIGIT / "-" / "." / "_" / "~"`.
private func isUnreserved(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
        UInt8(ascii: "~"):
        return true
    default:
        return false
    }
}
