public import NIOCore
public import NIOHTTP1

/// A backend's response head as it arrived: the facts the proxy decides on, parsed once, and
/// the field lines as bytes, so relaying it builds no `String` and no `HTTPHeaders`.
public struct UpstreamResponseHead: Sendable, Equatable {
    public var version: HTTPVersion
    public var status: HTTPResponseStatus
    /// Whether the backend keeps the connection open after this response (RFC 9112 §9.3:
    /// HTTP/1.1 unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`).
    public var keepAlive: Bool
    /// Whether the body's end is known without the connection closing (no body, a length, or
    /// chunked), so the connection can serve another request.
    public var selfDelimited: Bool
    /// The field lines, each ending in CRLF (or LF), as the parser validated them.
    public var fields: ByteBuffer
    /// Whether a `Connection` field names other fields (tokens besides close, keep-alive and
    /// upgrade), which the next hop must drop. Rare; when false, relaying skips looking.
    public var hasConnectionOptions: Bool

    /// A head from field lines; `hasConnectionOptions` is worked out from them.
    public init(
        version: HTTPVersion,
        status: HTTPResponseStatus,
        keepAlive: Bool,
        selfDelimited: Bool,
        fields: ByteBuffer
    ) {
        let hasConnectionOptions = fields.withUnsafeReadableBytes { bytes in
            !HeaderPolicy.connectionOptions(in: bytes).isEmpty
        }
        self.init(
            version: version,
            status: status,
            keepAlive: keepAlive,
            selfDelimited: selfDelimited,
            fields: fields,
            hasConnectionOptions: hasConnectionOptions
        )
    }

    /// A head whose facts the parser has already gathered.
    init(
        version: HTTPVersion,
        status: HTTPResponseStatus,
        keepAlive: Bool,
        selfDelimited: Bool,
        fields: ByteBuffer,
        hasConnectionOptions: Bool
    ) {
        self.version = version
        self.status = status
        self.keepAlive = keepAlive
        self.selfDelimited = selfDelimited
        self.fields = fields
        self.hasConnectionOptions = hasConnectionOptions
    }

    /// Calls `body` with each field's name and value (trimmed of spaces and tabs), in order.
    public func forEachField(
        _ body: (_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        try self.fields.withUnsafeReadableBytes { bytes in
            try Self.forEachField(in: bytes) { name, value in
                try body(UnsafeRawBufferPointer(rebasing: bytes[name]), UnsafeRawBufferPointer(rebasing: bytes[value]))
            }
        }
    }

    /// The field lines' name and value ranges. The parser validated the lines, so this only
    /// splits them.
    static func forEachField(
        in bytes: UnsafeRawBufferPointer,
        _ body: (_ name: Range<Int>, _ value: Range<Int>) throws -> Void
    ) rethrows {
        try Self.forEachFieldLine(in: bytes) { _, name, value in try body(name, value) }
    }

    /// `forEachField` that also gives each whole line, its line end included.
    static func forEachFieldLine(
        in bytes: UnsafeRawBufferPointer,
        _ body: (_ line: Range<Int>, _ name: Range<Int>, _ value: Range<Int>) throws -> Void
    ) rethrows {
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != ASCII.lf { end += 1 }
            let next = end + 1
            if end > start && bytes[end - 1] == ASCII.cr { end -= 1 }
            var colon = start
            while colon < end && bytes[colon] != UInt8(ascii: ":") { colon += 1 }
            var valueStart = Swift.min(colon + 1, end)
            var valueEnd = end
            while valueStart < valueEnd && ASCII.isWhitespace(bytes[valueStart]) {
                valueStart += 1
            }
            while valueEnd > valueStart && ASCII.isWhitespace(bytes[valueEnd - 1]) {
                valueEnd -= 1
            }
            try body(start..<Swift.min(next, bytes.count), start..<colon, valueStart..<valueEnd)
            start = next
        }
    }

    /// The fields as `HTTPHeaders`, built on demand (tests, diagnostics; never on the hot path).
    public var headers: HTTPHeaders {
        var pairs: [(String, String)] = []
        self.forEachField { name, value in
            pairs.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        return HTTPHeaders(pairs)
    }
}
