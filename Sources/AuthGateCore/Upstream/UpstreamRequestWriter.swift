public import NIOCore
public import NIOHTTP1

/// Writes the requests sent to the backend as bytes: the rewritten head, the body's framing
/// and its end.
///
/// It replaces NIOHTTP1's `HTTPRequestEncoder` on the data path and writes the very same bytes
/// (`UpstreamRequestWriterTests` compares the two on generated requests): the request line,
/// every field as `name: value`, and the framing NIO's encoder derives from the method.
///
/// - `TRACE` carries no body: `Content-Length` and `Transfer-Encoding` are dropped.
/// - `POST`, `PUT` and `PATCH` with `Content-Length` keep it and drop `Transfer-Encoding`;
///   without it an HTTP/1.1 request gets `transfer-encoding: chunked` (replacing any other
///   value) and a chunked body.
/// - Every other method keeps a `Content-Length` (dropping `Transfer-Encoding`), otherwise
///   is chunked exactly when its first `Transfer-Encoding` is `chunked`.
///
/// The writer is one request's state: a head starts a request, ``writeEnd(into:)`` ends it.
/// Writing bytes here, rather than passing an `HTTPClientRequestPart` down the upstream
/// pipeline, keeps the head out of an existential box and the body out of three pipeline hops.
public struct UpstreamRequestWriter: Sendable {
    enum State: Sendable, Equatable {
        /// Between requests.
        case idle
        /// A head was written; its body goes on with this framing.
        case body(chunked: Bool)
    }

    private(set) var state: State = .idle

    public init() {}

    /// Whether the body of the request being written is chunk-framed.
    public var isChunked: Bool {
        if case .body(chunked: true) = self.state { return true }
        return false
    }

    /// Writes `head` and its framing fields into a buffer of `allocator` made for exactly that
    /// many bytes, and starts its body.
    ///
    /// An authenticated request's head, with its identity fields, is often larger than any
    /// fixed first guess: sized from the head, the buffer is allocated once and never grown.
    public mutating func writeHead(_ head: HTTPRequestHead, allocator: ByteBufferAllocator) -> ByteBuffer {
        let measure = Self.measure(head)
        var buffer = allocator.buffer(capacity: measure.capacity)
        self.write(head, measure, into: &buffer)
        return buffer
    }

    /// Writes `head` and its framing fields into `buffer` and starts its body.
    public mutating func writeHead(_ head: HTTPRequestHead, into buffer: inout ByteBuffer) {
        self.write(head, Self.measure(head), into: &buffer)
    }

    /// What the fields' one pass before writing finds.
    struct Measure {
        /// The most bytes the head can take.
        var capacity: Int
        var framing: Framing
        /// Whether the first `Transfer-Encoding` says `chunked` (NIO compares it exactly).
        var firstTransferEncodingIsChunked: Bool
    }

    /// Sums the head's size and finds its framing fields, in one walk of the fields.
    static func measure(_ head: HTTPRequestHead) -> Measure {
        // The request line's method and target, then room for " HTTP/major.minor" CRLF (at
        // most 19 bytes), the method's space, `transfer-encoding: chunked` CRLF (28) and the
        // final CRLF.
        var capacity = head.method.rawValue.utf8.count &+ head.uri.utf8.count &+ 64
        var hasContentLength = false
        // nil until the first `Transfer-Encoding`.
        var firstTransferEncodingIsChunked: Bool?
        for (name, value) in head.headers {
            capacity &+= name.utf8.count &+ value.utf8.count &+ 4
            if Self.isContentLength(name) {
                hasContentLength = true
            } else if firstTransferEncodingIsChunked == nil, Self.isTransferEncoding(name) {
                firstTransferEncodingIsChunked = value == "chunked"
            }
        }
        return Measure(
            capacity: capacity,
            framing: Self.framing(method: head.method, version: head.version, hasContentLength: hasContentLength),
            firstTransferEncodingIsChunked: firstTransferEncodingIsChunked ?? false
        )
    }

    /// The head goes into bytes reserved for all of it at once (``ReservedBytesWriter``): its
    /// fields' sizes were summed first, which costs a fraction of writing them piece by piece.
    /// That pass also found the framing fields, so the fields are walked twice in all.
    private mutating func write(_ head: HTTPRequestHead, _ measure: Measure, into buffer: inout ByteBuffer) {
        let headers = head.headers
        let framing = measure.framing
        let chunked = ReservedBytesWriter.write(into: &buffer, capacity: measure.capacity) { out -> Bool in
            out.append(head.method.rawValue)
            out.append(ASCII.space)
            out.append(head.uri)
            Self.writeVersion(head.version, into: &out)

            for (name, value) in headers {
                switch framing {
                case .keepAll:
                    break
                case .dropBoth:
                    if Self.isContentLength(name) || Self.isTransferEncoding(name) { continue }
                case .dropTransferEncoding, .replaceTransferEncoding:
                    if Self.isTransferEncoding(name) { continue }
                }
                out.append(name)
                out.append(": ")
                out.append(value)
                out.append("\r\n")
            }
            let chunked: Bool
            switch framing {
            case .replaceTransferEncoding:
                out.append("transfer-encoding: chunked\r\n")
                chunked = true
            case .keepAll:
                chunked =
                    head.version.major == 1 && head.version.minor >= 1 && measure.firstTransferEncodingIsChunked
            case .dropBoth, .dropTransferEncoding:
                chunked = false
            }
            out.append("\r\n")
            return chunked
        }
        self.state = .body(chunked: chunked)
    }

    /// Writes the chunk-size line that goes before `length` body bytes of a chunked body, and
    /// nothing for an empty part (an empty chunk would end the body) or an unchunked body.
    /// The chunk's bytes follow it, then ``chunkTerminator``.
    ///
    /// - Returns: whether the part is chunk-framed, so the caller also writes the terminator.
    public func writeChunkHeader(length: Int, into buffer: inout ByteBuffer) -> Bool {
        guard self.isChunked, length > 0 else { return false }
        Self.writeHex(length, into: &buffer)
        buffer.writeStaticString("\r\n")
        return true
    }

    /// The bytes after each chunk's data.
    public static let chunkTerminator: ByteBuffer = ByteBuffer(string: "\r\n")

    /// Ends the request: the last chunk of a chunked body (no trailers are forwarded).
    ///
    /// - Returns: whether anything was written.
    public mutating func writeEnd(into buffer: inout ByteBuffer) -> Bool {
        let chunked = self.isChunked
        self.state = .idle
        guard chunked else { return false }
        buffer.writeStaticString("0\r\n\r\n")
        return true
    }

    // MARK: - Framing

    /// What the head's framing fields become, decided before the first field is written.
    enum Framing: Equatable {
        /// The fields as they are.
        case keepAll
        /// `TRACE`: neither framing field.
        case dropBoth
        /// A `Content-Length` wins over any `Transfer-Encoding`.
        case dropTransferEncoding
        /// A body method without `Content-Length` on HTTP/1.1: `transfer-encoding: chunked`
        /// replaces every `Transfer-Encoding`, as the last field.
        case replaceTransferEncoding
    }

    static func framing(method: HTTPMethod, version: HTTPVersion, hasContentLength: Bool) -> Framing {
        switch method {
        case .TRACE:
            return .dropBoth
        case .POST, .PUT, .PATCH:
            if hasContentLength { return .dropTransferEncoding }
            return version.major == 1 && version.minor >= 1 ? .replaceTransferEncoding : .keepAll
        default:
            return hasContentLength ? .dropTransferEncoding : .keepAll
        }
    }

    @inline(__always)
    static func isContentLength(_ name: String) -> Bool {
        name.utf8.count == 14 && name.utf8.equalsLowercaseASCII("content-length")
    }

    @inline(__always)
    static func isTransferEncoding(_ name: String) -> Bool {
        name.utf8.count == 17 && name.utf8.equalsLowercaseASCII("transfer-encoding")
    }

    // MARK: - Bytes

    private static func writeVersion(_ version: HTTPVersion, into out: inout ReservedBytesWriter) {
        if version == .http1_1 {
            out.append(" HTTP/1.1\r\n")
        } else {
            out.append(" HTTP/")
            out.appendDecimal(version.major)
            out.append(UInt8(ascii: "."))
            out.appendDecimal(version.minor)
            out.append("\r\n")
        }
    }

    /// Lowercase hex without leading zeros, as `String(length, radix: 16)` spells it.
    static func writeHex(_ value: Int, into buffer: inout ByteBuffer) {
        precondition(value > 0)
        var shift = (Int.bitWidth - value.leadingZeroBitCount - 1) / 4 * 4
        while shift >= 0 {
            let digit = UInt8(truncatingIfNeeded: (value >> shift) & 0xF)
            buffer.writeInteger(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            shift -= 4
        }
    }
}
