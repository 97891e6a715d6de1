public import NIOHTTP1

/// How a validated request's body is framed.
public enum RequestBodyFraming: Sendable, Equatable {
    /// No body (no `Content-Length`, no `Transfer-Encoding`, or `Content-Length: 0`).
    case none
    /// A body of exactly this many bytes.
    case contentLength(Int64)
    /// A chunked body of unknown length.
    case chunked
}

/// The limits a request head is checked against.
public struct RequestLimits: Sendable, Equatable {
    public var maxHeaderBytes: Int
    public var maxHeaderCount: Int
    public var maxURIBytes: Int
    /// 0 disables the body limit.
    public var maxBodyBytes: Int64

    public init(maxHeaderBytes: Int, maxHeaderCount: Int, maxURIBytes: Int, maxBodyBytes: Int64) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxURIBytes = maxURIBytes
        self.maxBodyBytes = maxBodyBytes
    }
}

/// Decides whether a decoded request head may be forwarded.
///
/// The HTTP decoder (llhttp) already rejects most malformed input; this check is the second
/// line against request smuggling and the place where the gateway's own limits are enforced, so
/// that nothing ambiguous ever reaches the backend. Everything it rejects is answered and the
/// connection closed: after an ambiguity the byte stream cannot be trusted.
public enum RequestValidator {
    public static func validate(
        _ head: HTTPRequestHead,
        limits: RequestLimits
    ) -> Result<RequestBodyFraming, GatewayError> {
        if head.uri.utf8.count > limits.maxURIBytes {
            return .failure(.uriTooLong)
        }
        guard head.version.major == 1 else {
            return .failure(
                GatewayError(
                    status: .httpVersionNotSupported,
                    code: .httpVersionNotSupported,
                    message: "Only HTTP/1.x is accepted."
                )
            )
        }
        switch head.method {
        case .CONNECT:
            return .failure(.methodNotAllowed)
        case .RAW:
            return .failure(.methodNotAllowed)
        default:
            break
        }
        // Origin form only (and `OPTIONS *`): an absolute-form target would let a client pick
        // what the backend believes the host is.
        let firstByte = head.uri.utf8.first
        if firstByte != UInt8(ascii: "/") && !(head.method == .OPTIONS && head.uri == "*") {
            return .failure(.badRequest("The request target must be an absolute path."))
        }
        if head.uri.utf8.containsByte(where: { $0 <= 0x20 || $0 == 0x7F }) {
            return .failure(.badRequest("The request target contains a control character or space."))
        }

        var headerBytes = 0
        var contentLengthCount = 0
        var contentLength: Int64 = -1
        var transferEncodingCount = 0
        var transferEncodingChunked = false
        var hostCount = 0
        for (name, value) in head.headers {
            headerBytes &+= name.utf8.count &+ value.utf8.count
            if value.utf8.containsByte(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0x00 }) {
                return .failure(.badRequest("A header value contains CR, LF or NUL."))
            }
            switch name.utf8.count {
            case 4 where name.caseInsensitiveEqualsASCII("host"):
                hostCount += 1
            case 14 where name.caseInsensitiveEqualsASCII("content-length"):
                contentLengthCount += 1
                guard let parsed = parseContentLength(value) else {
                    return .failure(.badRequest("Content-Length is not a decimal number."))
                }
                contentLength = parsed
            case 17 where name.caseInsensitiveEqualsASCII("transfer-encoding"):
                transferEncodingCount += 1
                transferEncodingChunked = value.trimmingASCIISpaces().caseInsensitiveEqualsASCII("chunked")
            default:
                break
            }
        }
        if head.headers.count > limits.maxHeaderCount || headerBytes > limits.maxHeaderBytes {
            return .failure(.headersTooLarge)
        }
        if contentLengthCount > 1 {
            return .failure(.badRequest("More than one Content-Length header."))
        }
        if transferEncodingCount > 0 {
            if contentLengthCount > 0 {
                return .failure(.badRequest("Content-Length and Transfer-Encoding together."))
            }
            if transferEncodingCount > 1 || !transferEncodingChunked {
                return .failure(.badRequest("Only 'Transfer-Encoding: chunked' is accepted."))
            }
            if head.version.minor == 0 {
                return .failure(.badRequest("Transfer-Encoding in an HTTP/1.0 request."))
            }
        }
        if head.version.minor >= 1 && hostCount != 1 {
            return .failure(.badRequest("An HTTP/1.1 request needs exactly one Host header."))
        }
        if hostCount > 1 {
            return .failure(.badRequest("More than one Host header."))
        }
        if transferEncodingChunked {
            return .success(.chunked)
        }
        if contentLength > 0 {
            if limits.maxBodyBytes > 0 && contentLength > limits.maxBodyBytes {
                return .failure(.payloadTooLarge)
            }
            return .success(.contentLength(contentLength))
        }
        return .success(.none)
    }

    /// Digits only, no sign, no spaces inside, at most 18 digits.
    static func parseContentLength(_ value: String) -> Int64? {
        let trimmed = value.trimmingASCIISpaces()
        var result: Int64 = 0
        var digits = 0
        for byte in trimmed.utf8 {
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { return nil }
            digits += 1
            if digits > 18 { return nil }
            result = result * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return digits == 0 ? nil : result
    }
}

extension String.UTF8View {
    /// Whether any byte satisfies `predicate`, scanned over the string's contiguous storage: a
    /// loop over a buffer, where iterating the view costs several times as much per byte.
    @inline(__always)
    package func containsByte(where predicate: (UInt8) -> Bool) -> Bool {
        if let found = self.withContiguousStorageIfAvailable({ bytes in
            for byte in bytes where predicate(byte) { return true }
            return false
        }) {
            return found
        }
        for byte in self where predicate(byte) { return true }
        return false
    }
}

extension StringProtocol {
    /// ASCII case-insensitive equality without allocating.
    @inlinable
    package func caseInsensitiveEqualsASCII(_ other: some StringProtocol) -> Bool {
        var lhs = self.utf8.makeIterator()
        var rhs = other.utf8.makeIterator()
        while true {
            switch (lhs.next(), rhs.next()) {
            case (nil, nil):
                return true
            case (let a?, let b?):
                if a == b { continue }
                if (a | 0x20) != (b | 0x20) { return false }
                let lower = a | 0x20
                if lower < UInt8(ascii: "a") || lower > UInt8(ascii: "z") { return false }
            default:
                return false
            }
        }
    }

    /// The string without leading and trailing spaces and tabs.
    @inlinable
    package func trimmingASCIISpaces() -> Substring {
        let s = Substring(self)
        var start = s.startIndex
        var end = s.endIndex
        while start < end, s[start] == " " || s[start] == "\t" { start = s.index(after: start) }
        while end > start {
            let before = s.index(before: end)
            guard s[before] == " " || s[before] == "\t" else { break }
            end = before
        }
        return s[start..<end]
    }
}
