public import NIOCore
public import NIOHTTP1

/// One request the gateway answers itself (health, flags, a CORS preflight, introspection, a
/// refresh), from its head to its end, as a state machine.
///
/// Nothing of such a request goes upstream. Its body is read for the two endpoints that judge
/// it (`POST /api/auth-proxy/introspect` and a refresh with `{"refresh_token": …}`), up to
/// ``maxBodyBytes``, and dropped for the others. The head of a refresh is held here, not by the
/// handler, until its body decides where it goes: a legacy refresh is forwarded with it.
///
/// ```
/// idle ──answer(reading:)──▶ readingBody ──end──▶ idle   (introspect / refresh(body, head))
///   │                            └──too large──▶ discarding (413, close)
///   └──answer──▶ discarding ──end──▶ idle
/// ```
public struct LocalExchangeStateMachine: Sendable {
    /// What a local request's body is read for.
    public enum Purpose: Sendable, Equatable {
        /// `POST /api/auth-proxy/introspect`: the body names the token.
        case introspect
        /// A refresh without a header credential: the body's `refresh_token` decides, and a
        /// legacy one goes to the backend with this head and the body as sent.
        case refresh(HTTPRequestHead, ProxyStateMachine.RequestInfo)
    }

    /// A side effect for the handler, with everything it needs.
    public enum Action: Sendable, Equatable {
        case none
        /// The body is in: answer the introspection.
        case introspect(body: ByteBuffer, keepAlive: Bool)
        /// The body is in: route the refresh it names.
        case refresh(
            body: ByteBuffer,
            head: HTTPRequestHead,
            info: ProxyStateMachine.RequestInfo,
            keepAlive: Bool
        )
        /// The body passed ``maxBodyBytes``: answer 413 and close.
        case refuseTooLarge
    }

    private enum State: Sendable {
        case idle
        case readingBody(Purpose, body: ByteBuffer, keepAlive: Bool)
        /// The answer is (or will be) written from the head alone; body parts are dropped.
        case discarding
        /// Transient, while a mutating method owns the body (avoids copy-on-write).
        case modifying
    }

    /// The most body bytes a local endpoint reads: its JSON names one token.
    public static let maxBodyBytes = 16 * 1024

    private var state: State = .idle {
        didSet {
            if case .idle = self.state { self.isActive = false } else { self.isActive = true }
        }
    }

    /// Whether a local request is between its head and its end: its parts are this machine's.
    /// Stored, not computed: the handler asks for every request part, and a stored field is
    /// read without a call.
    public private(set) var isActive = false

    public init() {}

    /// The request is answered from its head: its body, if any, is dropped.
    public mutating func answer() {
        self.state = .discarding
    }

    /// The request is answered once its body is in, read into `buffer`.
    public mutating func answer(reading purpose: Purpose, into buffer: ByteBuffer, keepAlive: Bool) {
        self.state = .readingBody(purpose, body: buffer, keepAlive: keepAlive)
    }

    /// A part of the request's body.
    public mutating func body(_ part: ByteBuffer) -> Action {
        guard case .readingBody(let purpose, var body, let keepAlive) = self.state else { return .none }
        self.state = .modifying
        if body.readableBytes + part.readableBytes > Self.maxBodyBytes {
            self.state = .discarding
            return .refuseTooLarge
        }
        var part = part
        body.writeBuffer(&part)
        self.state = .readingBody(purpose, body: body, keepAlive: keepAlive)
        return .none
    }

    /// The request's end: the body, if one was read, is judged now.
    public mutating func end() -> Action {
        let state = self.state
        self.state = .idle
        guard case .readingBody(let purpose, let body, let keepAlive) = state else { return .none }
        switch purpose {
        case .introspect:
            return .introspect(body: body, keepAlive: keepAlive)
        case .refresh(let head, let info):
            return .refresh(body: body, head: head, info: info, keepAlive: keepAlive)
        }
    }

    /// The request is abandoned (its body timed out): nothing more is answered for it.
    public mutating func reset() {
        self.state = .idle
    }
}
