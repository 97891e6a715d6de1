public import NIOCore
public import NIOHTTP1

/// One client connection's proxying, as a state machine.
///
/// The channel handler feeds it what happens on the two sides (client request parts, the
/// upstream lease, upstream response parts, timers, failures) and carries out the returned
/// ``Action``. It holds at most one exchange: the handler's ``PipeliningStateMachine`` holds
/// pipelined requests back until the previous response has ended.
///
/// ```
/// idle ──head──▶ waitingForUpstream ──leased──▶ forwarding ──response end──▶ idle
///                      │                          │    └──101──▶ tunnelling
///                      └──────── failures ────────┴──▶ idle (error answered) or closed
/// ```
public struct ProxyStateMachine: Sendable {
    /// What the handler learned about a request when it accepted it.
    public struct RequestInfo: Sendable, Equatable {
        public var method: HTTPMethod
        public var framing: RequestBodyFraming
        public var keepAlive: Bool
        public var isUpgrade: Bool
        /// 0 disables the limit.
        public var maxBodyBytes: Int64
        /// Whether an idempotent bodiless request may be retried once (`upstream.retry_idempotent`).
        public var retryIdempotent: Bool
        /// `upstream.request_buffer_bytes`: a body this small is read whole before a backend
        /// connection is leased (``RequestBuffering``); 0 disables.
        public var requestBufferBytes: Int64

        public init(
            method: HTTPMethod,
            framing: RequestBodyFraming,
            keepAlive: Bool,
            isUpgrade: Bool,
            maxBodyBytes: Int64,
            retryIdempotent: Bool = true,
            requestBufferBytes: Int64 = 0
        ) {
            self.method = method
            self.framing = framing
            self.keepAlive = keepAlive
            self.isUpgrade = isUpgrade
            self.maxBodyBytes = maxBodyBytes
            self.retryIdempotent = retryIdempotent
            self.requestBufferBytes = requestBufferBytes
        }

        /// RFC 9110 idempotent methods.
        public var isIdempotent: Bool {
            switch self.method {
            case .GET, .HEAD, .OPTIONS, .TRACE, .PUT, .DELETE: return true
            default: return false
            }
        }
    }

    /// The backend's response head, already written for the client: the machine decides from
    /// its status and hands it on in ``Action/forwardResponseHead(_:)``.
    public struct RelayedHead: Sendable, Equatable {
        public var status: HTTPResponseStatus
        /// The head's bytes for the client.
        public var bytes: ByteBuffer
        /// Whether the body goes to the client chunk-framed.
        public var chunked: Bool

        public init(status: HTTPResponseStatus, bytes: ByteBuffer, chunked: Bool) {
            self.status = status
            self.bytes = bytes
            self.chunked = chunked
        }
    }

    /// What to do with the upstream connection of the exchange.
    public enum UpstreamDisposition: Sendable, Equatable {
        /// Give it back to the pool for the next request.
        case reuse
        /// Close it: its state is unknown or it said it would close.
        case close
    }

    /// A side effect for the handler, with everything it needs to carry it out (Equatable, so
    /// tests assert whole sequences of them).
    public enum Action: Sendable, Equatable {
        case none
        /// Ask the introspection core who the caller is; the request waits, its body buffered.
        case authenticate
        /// Ask the pool for a connection (a dedicated one for an upgrade).
        case leaseUpstream(dedicated: Bool)
        /// Read the (small) body before a connection is leased: resume reading the client, after
        /// answering `Expect: 100-continue`.
        case readRequestBody
        /// A login's body is read (or over `lockout.max_body_bytes`): look up the account it
        /// names (`nil`: none to count) in the lockout, then call ``authenticated()`` or
        /// ``authenticationFailed(_:)``.
        case checkLoginAccount(LoginAccount?)
        /// Send the request head, the body buffered while waiting, and the end if it came; start
        /// the response timer.
        case sendRequest(HTTPRequestHead, body: CircularBuffer<ByteBuffer>, end: Bool)
        case forwardRequestBody(ByteBuffer)
        case forwardRequestEnd
        /// Write the backend's response head, as written for the client; stop the response
        /// timer.
        case forwardResponseHead(RelayedHead)
        case forwardResponseBody(ByteBuffer)
        /// Write the response end, hand the upstream connection back or close it, and close the
        /// client connection after the write if asked.
        case finishResponse(upstream: UpstreamDisposition, closeClient: Bool)
        /// Answer with the gateway's own error; `upstream` is the fate of the attached
        /// connection, `nil` if none is attached.
        case respondWithError(GatewayError, upstream: UpstreamDisposition?, closeClient: Bool)
        /// The upstream failed before answering an idempotent request: close it and lease again.
        case retry
        /// The backend's `101` has ended: write the end and turn both channels into a tunnel.
        case startTunnel
        /// Something broke after the response started: close the client connection and the
        /// upstream connection if one is attached.
        case abort(upstream: UpstreamDisposition?)
        /// A lease arrived that nobody needs any more.
        case releaseUnneeded(UpstreamDisposition)
        /// Stop waiting for a lease that is in flight.
        case cancelLease
    }

    /// An empty body buffer shared by every exchange (`CircularBuffer(initialCapacity: 0)`
    /// allocates); one that buffers a body gets its own storage on the first append.
    private static let noBody = CircularBuffer<ByteBuffer>(initialCapacity: 0)

    private struct Exchange: Sendable {
        var head: HTTPRequestHead
        var info: RequestInfo
        var requestEnded: Bool
        var bodyBytes: Int64
        var buffered: CircularBuffer<ByteBuffer>
        var response: ResponseProgress
        var connectionReused: Bool
        var retried: Bool
        /// The login body's reader, while the account it names is not known yet: the body is
        /// read (and buffered) while the verdict waits for it.
        var login: LoginBodyCheck? = nil
    }

    private enum ResponseProgress: Sendable {
        case awaitingHead
        case streaming(upstreamReusable: Bool, clientKeepAlive: Bool)
    }

    private enum State: Sendable {
        case idle
        case authenticating(Exchange)
        /// The body is read whole (``RequestBuffering``) before a connection is leased.
        case bufferingRequest(Exchange)
        case waitingForUpstream(Exchange)
        case forwarding(Exchange)
        /// The response ended before the request body did: the rest of the request is
        /// discarded and the client connection closes.
        case discardingRequest
        /// An error was answered before the (bodiless) request's end arrived; once it does, the
        /// connection is ready for the next request.
        case awaitingRequestEnd
        /// The backend's `101` head went out; waiting for its end to join the tunnel.
        case switchingProtocols
        case tunnelling
        case closed
        /// Transient, while a mutating method owns the exchange (avoids copy-on-write).
        case modifying
    }

    private var state: State = .idle

    public init() {}

    /// Whether the client side should be read from now: not while a lease is pending or an
    /// error is being answered, so request bytes never pile up in the gateway.
    public var shouldReadClient: Bool {
        switch self.state {
        case .idle, .bufferingRequest, .forwarding, .discardingRequest, .awaitingRequestEnd: return true
        case .authenticating(let exchange): return exchange.login != nil
        case .waitingForUpstream, .switchingProtocols, .tunnelling, .closed, .modifying: return false
        }
    }

    /// Whether an exchange is in progress (used by drain and the idle timer).
    public var isIdle: Bool {
        if case .idle = self.state { return true }
        return false
    }

    public var isTunnelling: Bool {
        if case .tunnelling = self.state { return true }
        return false
    }

    // MARK: - Client events

    /// A request head passed validation and was rewritten for the backend.
    ///
    /// - Parameters:
    ///   - authenticate: whether the route needs the introspection core's verdict before
    ///     anything is sent upstream.
    ///
    /// While the verdict is awaited the machine holds the head, and the only reference to its
    /// headers: the caller passes it with `consume` and edits it in place through
    /// ``authenticated(editing:)`` (identity headers), so the header storage is never copied.
    public mutating func requestHead(
        _ head: HTTPRequestHead,
        info: RequestInfo,
        authenticate: Bool = false
    ) -> Action {
        guard case .idle = self.state else {
            return .none
        }
        let exchange = Self.exchange(head, info)
        if authenticate {
            self.state = .authenticating(exchange)
            return .authenticate
        }
        return self.proceed(exchange)
    }

    /// The head of a login to the auth server, which the lockout judges by the account its
    /// body names: the body is read into `login` (and buffered, up to the body limit) until it
    /// ends or `login` has seen enough, then ``Action/checkLoginAccount(_:)`` asks for the
    /// account's lockout state. Nothing is sent upstream before the answer.
    public mutating func requestHead(_ head: HTTPRequestHead, info: RequestInfo, login: LoginBodyCheck) -> Action {
        guard case .idle = self.state else {
            return .none
        }
        var exchange = Self.exchange(head, info)
        exchange.login = login
        self.state = .authenticating(exchange)
        return .none
    }

    private static func exchange(_ head: HTTPRequestHead, _ info: RequestInfo) -> Exchange {
        Exchange(
            head: head,
            info: info,
            requestEnded: false,
            bodyBytes: 0,
            buffered: Self.noBody,
            response: .awaitingHead,
            connectionReused: false,
            retried: false
        )
    }

    /// The request may go on: its body is read first if it is small, else a connection is
    /// leased now.
    private mutating func proceed(_ exchange: Exchange) -> Action {
        if !exchange.requestEnded && !exchange.info.isUpgrade
            && exchange.bodyBytes <= exchange.info.requestBufferBytes
            && RequestBuffering.buffersBeforeLease(exchange.info.framing, limit: exchange.info.requestBufferBytes)
        {
            self.state = .bufferingRequest(exchange)
            return .readRequestBody
        }
        self.state = .waitingForUpstream(exchange)
        return .leaseUpstream(dedicated: exchange.info.isUpgrade)
    }

    /// The introspection core accepted the caller; `head` replaces the one held, identity
    /// headers included.
    public mutating func authenticated(_ head: HTTPRequestHead) -> Action {
        guard case .authenticating(var exchange) = self.state else { return .none }
        self.state = .modifying
        exchange.head = head
        return self.proceed(exchange)
    }

    /// The request may go on as received (a login whose account is not locked out).
    public mutating func authenticated() -> Action {
        self.authenticated(editing: { _ in })
    }

    /// The introspection core accepted the caller: `edit` adds the identity headers to the head
    /// held (in place: the machine holds the only reference), and the request goes on with it.
    public mutating func authenticated(editing edit: (inout HTTPRequestHead) -> Void) -> Action {
        guard case .authenticating(var exchange) = self.state else { return .none }
        self.state = .modifying
        edit(&exchange.head)
        return self.proceed(exchange)
    }

    /// The introspection core refused the caller (401) or could not decide (503).
    public mutating func authenticationFailed(_ error: GatewayError) -> Action {
        guard case .authenticating(let exchange) = self.state else { return .none }
        return self.answerError(error, exchange: exchange, upstream: nil)
    }

    /// Whether the whole request, end included, has been received.
    public var requestEnded: Bool {
        switch self.state {
        case .authenticating(let exchange), .bufferingRequest(let exchange), .waitingForUpstream(let exchange),
            .forwarding(let exchange):
            return exchange.requestEnded
        default:
            return false
        }
    }

    /// Whether an authentication verdict is awaited.
    public var isAuthenticating: Bool {
        if case .authenticating = self.state { return true }
        return false
    }

    /// A request head was refused before anything was sent upstream.
    public mutating func requestRejected(_ error: GatewayError) -> Action {
        switch self.state {
        case .idle:
            self.state = .closed
            return .respondWithError(error, upstream: nil, closeClient: true)
        default:
            return self.clientProtocolError(error)
        }
    }

    public mutating func requestBody(_ buffer: ByteBuffer) -> Action {
        switch self.state {
        case .authenticating(var exchange):
            self.state = .modifying
            guard Self.buffer(buffer, in: &exchange) else {
                self.state = .closed
                return .respondWithError(.payloadTooLarge, upstream: nil, closeClient: true)
            }
            if exchange.login?.received(buffer) == .decide {
                // Over the login bound: no account is read, nothing more is needed to decide.
                let account = exchange.login?.account
                exchange.login = nil
                self.state = .authenticating(exchange)
                return .checkLoginAccount(account)
            }
            self.state = .authenticating(exchange)
            return .none
        case .bufferingRequest(var exchange):
            self.state = .modifying
            guard Self.accumulate(buffer, in: &exchange) else {
                self.state = .closed
                return .respondWithError(.payloadTooLarge, upstream: nil, closeClient: true)
            }
            if exchange.bodyBytes > exchange.info.requestBufferBytes {
                // A chunked body larger than the buffer: the rest streams.
                self.state = .waitingForUpstream(exchange)
                return .leaseUpstream(dedicated: false)
            }
            self.state = .bufferingRequest(exchange)
            return .none
        case .waitingForUpstream(var exchange):
            self.state = .modifying
            guard Self.buffer(buffer, in: &exchange) else {
                self.state = .closed
                return .respondWithError(.payloadTooLarge, upstream: nil, closeClient: true)
            }
            self.state = .waitingForUpstream(exchange)
            return .none
        case .forwarding(var exchange):
            self.state = .modifying
            exchange.bodyBytes += Int64(buffer.readableBytes)
            if exchange.info.maxBodyBytes > 0 && exchange.bodyBytes > exchange.info.maxBodyBytes {
                switch exchange.response {
                case .awaitingHead:
                    self.state = .closed
                    return .respondWithError(.payloadTooLarge, upstream: .close, closeClient: true)
                case .streaming:
                    self.state = .closed
                    return .abort(upstream: .close)
                }
            }
            self.state = .forwarding(exchange)
            return .forwardRequestBody(buffer)
        case .idle, .discardingRequest, .awaitingRequestEnd, .switchingProtocols, .tunnelling, .closed, .modifying:
            return .none
        }
    }

    /// Holds a body part until the request can be sent; false when the body limit is passed.
    private static func buffer(_ buffer: ByteBuffer, in exchange: inout Exchange) -> Bool {
        exchange.bodyBytes += Int64(buffer.readableBytes)
        if exchange.info.maxBodyBytes > 0 && exchange.bodyBytes > exchange.info.maxBodyBytes {
            return false
        }
        exchange.buffered.append(buffer)
        return true
    }

    /// Like ``buffer(_:in:)``, but copies the part into one contiguous buffer: a body trickled
    /// a byte per read must not pin one read buffer per byte.
    private static func accumulate(_ buffer: ByteBuffer, in exchange: inout Exchange) -> Bool {
        exchange.bodyBytes += Int64(buffer.readableBytes)
        if exchange.info.maxBodyBytes > 0 && exchange.bodyBytes > exchange.info.maxBodyBytes {
            return false
        }
        if var body = exchange.buffered.popLast() {
            var buffer = buffer
            body.writeBuffer(&buffer)
            exchange.buffered.append(body)
        } else {
            exchange.buffered.append(buffer)
        }
        return true
    }

    public mutating func requestEnd() -> Action {
        switch self.state {
        case .authenticating(var exchange):
            self.state = .modifying
            exchange.requestEnded = true
            let login = exchange.login
            exchange.login = nil
            self.state = .authenticating(exchange)
            if let login { return .checkLoginAccount(login.account) }
            return .none
        case .bufferingRequest(var exchange):
            self.state = .modifying
            exchange.requestEnded = true
            self.state = .waitingForUpstream(exchange)
            return .leaseUpstream(dedicated: false)
        case .waitingForUpstream(var exchange):
            self.state = .modifying
            exchange.requestEnded = true
            self.state = .waitingForUpstream(exchange)
            return .none
        case .forwarding(var exchange):
            self.state = .modifying
            exchange.requestEnded = true
            self.state = .forwarding(exchange)
            return .forwardRequestEnd
        case .discardingRequest:
            self.state = .closed
            return .none
        case .awaitingRequestEnd:
            self.state = .idle
            return .none
        case .idle, .switchingProtocols, .tunnelling, .closed, .modifying:
            return .none
        }
    }

    /// The client sent bytes the decoder refused (smuggling attempt, oversized headers, ...).
    public mutating func clientProtocolError(_ error: GatewayError) -> Action {
        switch self.state {
        case .idle:
            self.state = .closed
            return .respondWithError(error, upstream: nil, closeClient: true)
        case .authenticating, .bufferingRequest, .waitingForUpstream:
            self.state = .closed
            return .respondWithError(error, upstream: nil, closeClient: true)
        case .forwarding(let exchange):
            self.state = .closed
            switch exchange.response {
            case .awaitingHead:
                return .respondWithError(error, upstream: .close, closeClient: true)
            case .streaming:
                return .abort(upstream: .close)
            }
        case .discardingRequest, .awaitingRequestEnd:
            self.state = .closed
            return .abort(upstream: nil)
        case .switchingProtocols, .tunnelling, .closed, .modifying:
            return .none
        }
    }

    /// The client connection closed or failed.
    public mutating func clientClosed() -> Action {
        let previous = self.state
        self.state = .closed
        switch previous {
        case .waitingForUpstream:
            return .cancelLease
        case .forwarding, .switchingProtocols:
            return .abort(upstream: .close)
        case .idle, .authenticating, .bufferingRequest, .discardingRequest, .awaitingRequestEnd, .tunnelling, .closed,
            .modifying:
            return .none
        }
    }

    // MARK: - Upstream events

    /// The pool handed over a connection; `reused` says whether it served a request before.
    public mutating func upstreamLeased(reused: Bool) -> Action {
        switch self.state {
        case .waitingForUpstream(var exchange):
            self.state = .modifying
            exchange.connectionReused = reused
            let body = exchange.buffered
            exchange.buffered = Self.noBody
            let ended = exchange.requestEnded
            let head = exchange.head
            self.state = .forwarding(exchange)
            return .sendRequest(head, body: body, end: ended)
        default:
            return .releaseUnneeded(.reuse)
        }
    }

    /// The pool could not provide a connection.
    public mutating func upstreamLeaseFailed(_ error: GatewayError) -> Action {
        guard case .waitingForUpstream(let exchange) = self.state else { return .none }
        return self.answerError(error, exchange: exchange, upstream: nil)
    }

    /// The backend's response head, already rewritten for the client.
    ///
    /// - Parameters:
    ///   - upstreamReusable: the backend did not ask to close and the body is self-delimited.
    ///   - clientKeepAlive: the client connection may stay open after this response.
    public mutating func responseHead(
        _ head: RelayedHead,
        upstreamReusable: Bool,
        clientKeepAlive: Bool
    ) -> Action {
        let status = head.status
        guard case .forwarding(var exchange) = self.state, case .awaitingHead = exchange.response else {
            return .none
        }
        if status == .switchingProtocols {
            if exchange.info.isUpgrade && exchange.requestEnded {
                self.state = .switchingProtocols
                return .forwardResponseHead(head)
            }
            // A 101 the client did not ask for cannot be relayed safely.
            self.state = .closed
            return .respondWithError(.upstreamInvalidResponse, upstream: .close, closeClient: true)
        }
        self.state = .modifying
        exchange.response = .streaming(upstreamReusable: upstreamReusable, clientKeepAlive: clientKeepAlive)
        exchange.buffered = Self.noBody
        self.state = .forwarding(exchange)
        return .forwardResponseHead(head)
    }

    public mutating func responseBody(_ buffer: ByteBuffer) -> Action {
        guard case .forwarding(let exchange) = self.state, case .streaming = exchange.response else {
            return .none
        }
        return .forwardResponseBody(buffer)
    }

    public mutating func responseEnd() -> Action {
        if case .switchingProtocols = self.state {
            self.state = .tunnelling
            return .startTunnel
        }
        guard case .forwarding(let exchange) = self.state,
            case .streaming(let upstreamReusable, let clientKeepAlive) = exchange.response
        else {
            return .none
        }
        if !exchange.requestEnded {
            // The backend answered before reading the whole request; the connection to it is
            // in an unknown state and the client's remaining bytes are dropped.
            self.state = exchange.info.isUpgrade ? .closed : .discardingRequest
            return .finishResponse(upstream: .close, closeClient: true)
        }
        self.state = clientKeepAlive ? .idle : .closed
        return .finishResponse(upstream: upstreamReusable ? .reuse : .close, closeClient: !clientKeepAlive)
    }

    /// The upstream connection failed or closed before the response ended.
    public mutating func upstreamFailed() -> Action {
        if case .switchingProtocols = self.state {
            self.state = .closed
            return .abort(upstream: .close)
        }
        guard case .forwarding(var exchange) = self.state else { return .none }
        switch exchange.response {
        case .awaitingHead:
            if exchange.info.retryIdempotent && exchange.connectionReused && !exchange.retried
                && exchange.info.isIdempotent
                && exchange.info.framing == .none && exchange.requestEnded && !exchange.info.isUpgrade
            {
                self.state = .modifying
                exchange.retried = true
                exchange.connectionReused = false
                self.state = .waitingForUpstream(exchange)
                return .retry
            }
            return self.answerError(.upstreamUnavailable, exchange: exchange, upstream: .close)
        case .streaming:
            self.state = .closed
            return .abort(upstream: .close)
        }
    }

    /// The backend sent a response the decoder refused.
    public mutating func upstreamProtocolError() -> Action {
        guard case .forwarding(let exchange) = self.state else { return .none }
        switch exchange.response {
        case .awaitingHead:
            return self.answerError(.upstreamInvalidResponse, exchange: exchange, upstream: .close)
        case .streaming:
            self.state = .closed
            return .abort(upstream: .close)
        }
    }

    /// The request head or body did not arrive within its timeout (``RequestReadTimeoutStateMachine``):
    /// 408 if nothing of a response went out, else both connections close.
    public mutating func requestTimedOut() -> Action {
        self.clientProtocolError(.requestTimeout)
    }

    /// No response head arrived within the response timeout.
    public mutating func responseTimedOut() -> Action {
        guard case .forwarding(let exchange) = self.state, case .awaitingHead = exchange.response else {
            return .none
        }
        return self.answerError(.upstreamTimeout, exchange: exchange, upstream: .close)
    }

    /// Answers an error before any response byte went out. The client connection survives only
    /// if the request was read to its end (otherwise its remaining bytes are unknown).
    private mutating func answerError(
        _ error: GatewayError,
        exchange: Exchange,
        upstream: UpstreamDisposition?
    ) -> Action {
        let keepClient = exchange.info.keepAlive && !exchange.info.isUpgrade
        if keepClient && exchange.requestEnded {
            self.state = .idle
            return .respondWithError(error, upstream: upstream, closeClient: false)
        }
        if keepClient && exchange.info.framing == .none {
            // Only the request's end marker is still to come: the connection stays usable.
            self.state = .awaitingRequestEnd
            return .respondWithError(error, upstream: upstream, closeClient: false)
        }
        self.state = .closed
        return .respondWithError(error, upstream: upstream, closeClient: true)
    }
}
