public import NIOCore

/// The request header and body timeouts of one client connection, as a state machine.
///
/// It decides when a client that is sending a request too slowly is cut off, so that a slow
/// client ties up one client connection at most and never a backend connection for long:
///
/// - **Header timeout** (`server.request_header_timeout_ms`): the whole request head must
///   arrive within it. For the first request of a connection it counts from the accept, as
///   nginx's `client_header_timeout` and HAProxy's `timeout http-request` do; for a later
///   request from its first byte (the wait before that byte is the keep-alive idle time,
///   governed by `server.client_idle_timeout_ms`, like nginx's `keepalive_timeout` and
///   HAProxy's `timeout http-keep-alive`). A pipelined request's head counts from the moment
///   the response before it ended. On expiry: 408 if a byte of the head arrived, else the
///   connection is closed without an answer (nothing was asked).
/// - **Body timeout** (`server.request_body_timeout_ms`): the longest time between two reads of
///   the request body, like nginx's `client_body_timeout`. It only runs while the gateway is
///   asking for bytes: while it holds reads back (authentication, a lease, a backend that is
///   not writable) the client is not waited for, and the count restarts when reading resumes.
///
/// The machine owns no timer: the handler keeps one per connection, moved lazily to
/// ``deadline(headTimeout:bodyTimeout:)``, and asks ``check(now:headTimeout:bodyTimeout:)``
/// what is due when it fires.
public struct RequestReadTimeoutStateMachine: Sendable {
    /// What the handler does when its timer fires.
    public enum Decision: Sendable, Equatable {
        /// Nothing is due; check again at this deadline (`nil`: no read deadline runs now).
        case checkAt(NIODeadline?)
        /// A new connection sent nothing within the header timeout: close it, no answer.
        case closeSilently
        /// The request head did not arrive in time: 408 and close.
        case headTimedOut
        /// The body stalled before the response was complete: 408 if no response byte went out,
        /// else close both connections.
        case bodyTimedOut
        /// The body stalled after the gateway had already answered (the rest was being
        /// discarded): close.
        case bodyTimedOutAfterResponse
    }

    private enum Phase: Sendable, Equatable {
        /// A new connection, nothing received yet; the header timeout counts from `openedAt`.
        case awaitingFirstRequest(openedAt: NIODeadline)
        /// Between requests of a keep-alive connection: the idle timeout governs.
        case idle
        /// Bytes of a request head are arriving, the head is not complete yet.
        case head(startedAt: NIODeadline)
        /// The head is in, the body's end is not.
        case body(lastProgressAt: NIODeadline)
        /// The request has ended, its response has not; `nextHeadStarted` once bytes of the
        /// next (pipelined) request arrived.
        case awaitingResponse(nextHeadStarted: Bool)
    }

    private var phase: Phase
    /// A request's response has not ended yet.
    private var responseInFlight = false
    /// The gateway is holding client reads back.
    private var readsHeldBack = false

    /// A connection accepted at `openedAt`.
    public init(openedAt: NIODeadline) {
        self.phase = .awaitingFirstRequest(openedAt: openedAt)
    }

    /// Whether a request head is being received (bytes arrived, the head is not complete).
    public var isReceivingHead: Bool {
        if case .head = self.phase { return true }
        return false
    }

    /// Bytes arrived from the client.
    public mutating func bytesReceived(at now: NIODeadline) {
        switch self.phase {
        case .awaitingFirstRequest(let openedAt):
            self.phase = .head(startedAt: openedAt)
        case .idle:
            self.phase = .head(startedAt: now)
        case .head, .awaitingResponse(nextHeadStarted: true):
            break
        case .body:
            self.phase = .body(lastProgressAt: now)
        case .awaitingResponse(nextHeadStarted: false):
            self.phase = .awaitingResponse(nextHeadStarted: true)
        }
    }

    /// A complete request head was delivered.
    public mutating func headReceived(at now: NIODeadline) {
        self.responseInFlight = true
        self.phase = .body(lastProgressAt: now)
    }

    /// The request's end was delivered.
    public mutating func requestEnded() {
        guard case .body = self.phase else { return }
        self.phase = self.responseInFlight ? .awaitingResponse(nextHeadStarted: false) : .idle
    }

    /// A response's end was written (the gateway's own answers included).
    public mutating func responseEnded(at now: NIODeadline) {
        self.responseInFlight = false
        switch self.phase {
        case .awaitingResponse(let nextHeadStarted):
            self.phase = nextHeadStarted ? .head(startedAt: now) : .idle
        case .awaitingFirstRequest, .idle, .head, .body:
            // A body still arriving after an early answer keeps its timeout.
            break
        }
    }

    /// The gateway stopped reading from the client (its own backpressure, not the client's).
    public mutating func readingPaused() {
        self.readsHeldBack = true
    }

    /// The gateway reads from the client again: the body's wait starts over.
    public mutating func readingResumed(at now: NIODeadline) {
        guard self.readsHeldBack else { return }
        self.readsHeldBack = false
        if case .body = self.phase {
            self.phase = .body(lastProgressAt: now)
        }
    }

    /// When the next timeout could expire; `nil` when none runs.
    public func deadline(headTimeout: TimeAmount, bodyTimeout: TimeAmount) -> NIODeadline? {
        switch self.phase {
        case .awaitingFirstRequest(let since), .head(let since):
            return since + headTimeout
        case .body(let last):
            return self.readsHeldBack ? nil : last + bodyTimeout
        case .idle, .awaitingResponse:
            return nil
        }
    }

    /// What is due at `now`.
    public func check(now: NIODeadline, headTimeout: TimeAmount, bodyTimeout: TimeAmount) -> Decision {
        guard let deadline = self.deadline(headTimeout: headTimeout, bodyTimeout: bodyTimeout) else {
            return .checkAt(nil)
        }
        guard deadline <= now else { return .checkAt(deadline) }
        switch self.phase {
        case .awaitingFirstRequest:
            return .closeSilently
        case .head:
            return .headTimedOut
        case .body:
            return self.responseInFlight ? .bodyTimedOut : .bodyTimedOutAfterResponse
        case .idle, .awaitingResponse:
            return .checkAt(nil)
        }
    }
}
