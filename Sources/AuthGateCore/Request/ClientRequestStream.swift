public import NIOCore
public import NIOHTTP1

/// A client connection's bytes as they arrive, parsed into request parts by
/// ``ClientRequestParser``: what the proxy handler reads, with no decoder handler in front.
///
/// It keeps the bytes of an unfinished head until the rest arrives, and decides what the
/// parser does not:
/// - After the `.end` of a request asking for an upgrade (`Connection: upgrade` and `Upgrade`)
///   nothing more is parsed: what follows belongs to the new protocol if the backend answers
///   101, and ``takeUnparsed()`` hands it to the tunnel as it came. (The connection closes
///   otherwise.)
/// - After a request that closes the connection (`Connection: close`, or HTTP/1.0 without
///   `keep-alive`), the bytes that follow are dropped unread: a client streaming on would
///   otherwise grow the buffer.
/// - After a parse error (thrown once, ``ClientRequestParserError``, which says its own status:
///   400, 414 or 431) nothing more is read.
///
/// Heads come as NIOHTTP1's `HTTPRequestHead`; bodies are slices of the received bytes, not
/// copies; a chunked body's trailers come with its `.end`.
public struct ClientRequestStream: Sendable {
    private enum State: Sendable, Equatable {
        case parsing
        /// An upgrade request has ended: the bytes that follow are not HTTP.
        case upgraded
        /// A parse error was thrown (or the connection ended): nothing more is read.
        case stopped
    }

    private var parser: ClientRequestParser
    /// The bytes received and not yet parsed; `nil` when there are none.
    private var received: ByteBuffer?
    private var state = State.parsing
    /// The head being received asks for an upgrade.
    private var messageIsUpgrade = false

    public init(limits: ClientRequestParser.Limits) {
        self.parser = ClientRequestParser(limits: limits)
    }

    /// The parser's limits for a gateway's `limits.*` settings.
    ///
    /// The request target is bounded by `max_uri_bytes` (414), and the request line by that plus
    /// room for the longest method and ` HTTP/1.1`, so only an oversized target makes it too long.
    /// The field count is `max_header_count` (431). `max_header_bytes` counts names and values,
    /// as `RequestValidator` checks it exactly once the head is complete; the parser counts raw
    /// lines (colon, whitespace and CRLF included), so its bound adds four bytes a field and
    /// 1 KiB of whitespace slack: it caps what an unfinished head may buffer without ever
    /// refusing a head the validator would accept.
    public static func limits(_ limits: GatewayConfig.Limits) -> ClientRequestParser.Limits {
        ClientRequestParser.Limits(
            maxRequestLineBytes: limits.maxURIBytes + 64,
            maxTargetBytes: limits.maxURIBytes,
            maxFieldBytes: limits.maxHeaderBytes + 4 * limits.maxHeaderCount + 1024,
            maxFieldCount: limits.maxHeaderCount
        )
    }

    /// Bytes arrived from the client. They are parsed by ``next()``; after a parse error, or
    /// after a request that closes the connection, they are dropped.
    public mutating func receive(_ bytes: ByteBuffer) {
        guard self.state != .stopped, !self.parser.isClosed else { return }
        if self.received == nil || self.received!.readableBytes == 0 {
            // The usual case: a read holding whole messages is parsed where it landed.
            self.received = bytes
        } else {
            var bytes = bytes
            self.received!.writeBuffer(&bytes)
        }
    }

    /// The next request part the received bytes hold; nil when more bytes are needed (or
    /// none are parsed any more). Call it until it returns nil after each ``receive(_:)``: a
    /// head without a body ends with no byte after it.
    public mutating func next() throws(ClientRequestParserError) -> HTTPServerRequestPart? {
        guard self.state == .parsing, self.received != nil else { return nil }
        let event: ClientRequestParser.Event?
        do throws(ClientRequestParserError) {
            event = try self.parser.next(&self.received!)
        } catch {
            self.stop()
            throw error
        }
        guard let event else {
            if self.parser.isClosed || self.received!.readableBytes == 0 {
                // Nothing left to parse, or nothing after this request is answered: the
                // received buffer is let go (its storage can be reused for the next read).
                self.received = nil
            }
            return nil
        }
        return self.part(for: event)
    }

    /// The connection's end: the parts the received bytes still hold, then nil between
    /// messages; inside a message, ``ClientRequestParserError/incomplete``, as llhttp's.
    public mutating func finish() throws(ClientRequestParserError) -> HTTPServerRequestPart? {
        guard self.state == .parsing else { return nil }
        var bytes = self.received ?? ByteBuffer()
        self.received = nil
        let event: ClientRequestParser.Event?
        do throws(ClientRequestParserError) {
            event = try self.parser.finish(&bytes)
        } catch {
            self.stop()
            throw error
        }
        guard let event else {
            self.stop()
            return nil
        }
        if bytes.readableBytes > 0 { self.received = bytes }
        return self.part(for: event)
    }

    /// The bytes received and not parsed: after an upgrade request, the new protocol's first
    /// bytes, for the tunnel. Nothing more is parsed afterwards.
    public mutating func takeUnparsed() -> ByteBuffer? {
        defer { self.stop() }
        guard let received = self.received, received.readableBytes > 0 else { return nil }
        return received
    }

    private mutating func stop() {
        self.state = .stopped
        self.received = nil
    }

    private mutating func part(for event: ClientRequestParser.Event) -> HTTPServerRequestPart {
        switch event {
        case .head(let head):
            self.messageIsUpgrade = head.isUpgrade
            return .head(head.makeHTTPRequestHead())
        case .body(let bytes):
            return .body(bytes)
        case .end(let trailers):
            if self.messageIsUpgrade { self.state = .upgraded }
            return .end(trailers?.headers)
        }
    }
}
