public import NIOCore
public import NIOHTTP1

/// A request head as ``ClientRequestParser`` validated it: the received bytes of the request
/// line and the field section, with the positions and facts the parser found.
///
/// Nothing is copied out: the method is an enum case, the target and the field values are views
/// of the received bytes, and the accessors allocate nothing.
public struct ParsedRequestHead: Sendable, Equatable {
    /// The request line, the field lines and the blank line, as received.
    public let bytes: ByteBuffer
    /// The method (never `CONNECT` nor `.RAW`: the parser refuses both).
    public let method: HTTPMethod
    /// `HTTP/1.0` or `HTTP/1.1`.
    public let version: HTTPVersion
    /// The header fields.
    public let fields: ParsedFields
    /// How the body is framed (RFC 9112 §6.3): chunked, a length, or none.
    public let framing: RequestBodyFraming
    /// Whether the connection persists after this request (RFC 9112 §9.3): HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`. When it does not, the
    /// parser reads nothing after this request.
    public let keepAlive: Bool
    /// Whether the request asks for a protocol upgrade (`Connection: upgrade` and an `Upgrade`
    /// field). The parser treats it as any request; after its end the driver decides: on the
    /// backend's 101 the bytes left in the buffer belong to the new protocol and are not fed to
    /// the parser again, otherwise parsing goes on.
    public let isUpgrade: Bool
    /// Where the target is in ``bytes``, relative to its reader index.
    let targetRange: Range<Int>
    /// Where the (single) `Host` value is in ``bytes``, relative to its reader index.
    let hostRange: Range<Int>?

    init(
        bytes: ByteBuffer,
        method: HTTPMethod,
        version: HTTPVersion,
        fields: ParsedFields,
        framing: RequestBodyFraming,
        keepAlive: Bool,
        isUpgrade: Bool,
        targetRange: Range<Int>,
        hostRange: Range<Int>?
    ) {
        self.bytes = bytes
        self.method = method
        self.version = version
        self.fields = fields
        self.framing = framing
        self.keepAlive = keepAlive
        self.isUpgrade = isUpgrade
        self.targetRange = targetRange
        self.hostRange = hostRange
    }

    /// The request target's bytes (an origin-form path and query, or `*` for `OPTIONS`).
    public var target: ByteBufferView {
        self.bytes.viewBytes(at: self.bytes.readerIndex + self.targetRange.lowerBound, length: self.targetRange.count)!
    }

    /// The `Host` field's value, trimmed of OWS; nil when the request has none (HTTP/1.0 only).
    public var host: ByteBufferView? {
        guard let hostRange else { return nil }
        return self.bytes.viewBytes(at: self.bytes.readerIndex + hostRange.lowerBound, length: hostRange.count)
    }

    /// The value of the first header field called `name` (ASCII case-insensitive).
    public func field(_ name: String) -> ByteBufferView? {
        self.fields.first(named: name)
    }

    /// The head as NIOHTTP1's `HTTPRequestHead`, built on demand (tests, diagnostics; it
    /// allocates a `String` per field).
    public func makeHTTPRequestHead() -> HTTPRequestHead {
        HTTPRequestHead(
            version: self.version,
            method: self.method,
            uri: String(decoding: self.target, as: UTF8.self),
            headers: self.fields.headers
        )
    }
}

extension HTTPMethod {
    /// The method these bytes name, case-sensitively (RFC 9110 §9.1), among the methods NIOHTTP1
    /// has a case for; nil for any other token.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> HTTPMethod? {
        switch bytes.count {
        case 3:
            if bytes.equalsASCII("GET") { return .GET }
            if bytes.equalsASCII("PUT") { return .PUT }
            if bytes.equalsASCII("ACL") { return .ACL }
        case 4:
            if bytes.equalsASCII("POST") { return .POST }
            if bytes.equalsASCII("HEAD") { return .HEAD }
            if bytes.equalsASCII("COPY") { return .COPY }
            if bytes.equalsASCII("LOCK") { return .LOCK }
            if bytes.equalsASCII("MOVE") { return .MOVE }
            if bytes.equalsASCII("BIND") { return .BIND }
            if bytes.equalsASCII("LINK") { return .LINK }
        case 5:
            if bytes.equalsASCII("PATCH") { return .PATCH }
            if bytes.equalsASCII("TRACE") { return .TRACE }
            if bytes.equalsASCII("MKCOL") { return .MKCOL }
            if bytes.equalsASCII("MERGE") { return .MERGE }
            if bytes.equalsASCII("PURGE") { return .PURGE }
        case 6:
            if bytes.equalsASCII("DELETE") { return .DELETE }
            if bytes.equalsASCII("NOTIFY") { return .NOTIFY }
            if bytes.equalsASCII("SEARCH") { return .SEARCH }
            if bytes.equalsASCII("UNLOCK") { return .UNLOCK }
            if bytes.equalsASCII("REBIND") { return .REBIND }
            if bytes.equalsASCII("UNBIND") { return .UNBIND }
            if bytes.equalsASCII("REPORT") { return .REPORT }
            if bytes.equalsASCII("UNLINK") { return .UNLINK }
            if bytes.equalsASCII("SOURCE") { return .SOURCE }
        case 7:
            if bytes.equalsASCII("OPTIONS") { return .OPTIONS }
            if bytes.equalsASCII("CONNECT") { return .CONNECT }
        case 8:
            if bytes.equalsASCII("M-SEARCH") { return .MSEARCH }
            if bytes.equalsASCII("PROPFIND") { return .PROPFIND }
            if bytes.equalsASCII("CHECKOUT") { return .CHECKOUT }
        case 9:
            if bytes.equalsASCII("PROPPATCH") { return .PROPPATCH }
            if bytes.equalsASCII("SUBSCRIBE") { return .SUBSCRIBE }
        case 10:
            if bytes.equalsASCII("MKCALENDAR") { return .MKCALENDAR }
            if bytes.equalsASCII("MKACTIVITY") { return .MKACTIVITY }
        case 11:
            if bytes.equalsASCII("UNSUBSCRIBE") { return .UNSUBSCRIBE }
        default:
            break
        }
        return nil
    }
}

extension UnsafeRawBufferPointer {
    /// Byte-for-byte equality with an ASCII literal.
    @inline(__always)
    func equalsASCII(_ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { expected in
            expected.count == self.count && self.elementsEqual(expected)
        }
    }
}
