import NIOCore
public import NIOHTTP1

/// One exchange at a time on a client connection, without stopping reads between exchanges.
///
/// HTTP/1.1 clients may pipeline: send the next request before the previous response is out.
/// The proxy handles one exchange at a time, so a request that arrives early is held here,
/// with everything after it, and the channel stops reading until the response in flight is
/// complete; then the held parts are delivered in order. Unlike NIO's
/// `HTTPServerPipelineHandler`, reads are only stopped when a request actually arrives early:
/// a client that waits for each response (nearly all of them) costs no `epoll_ctl` per
/// request. It also carries the connection's drain (`ChannelShouldQuiesceEvent`): an idle
/// connection closes at once, a busy one after its response, which then says
/// `Connection: close`.
public struct PipeliningStateMachine: Sendable {
    /// A held inbound event.
    public enum Event: Sendable {
        case part(HTTPServerRequestPart)
        /// The decoder's error (a ``ClientRequestParserError`` on the gateway's connections),
        /// opaque to this machine: it only keeps it in order.
        case parserError(any Error & Sendable)
    }

    /// What the handler does with an inbound part.
    public enum InboundAction: Sendable, Equatable {
        /// Hand it to the exchange now.
        case deliver
        /// Held for later (the channel stops reading until the response in flight is out).
        case hold
        /// Dropped: the connection is draining and its last request has ended.
        case drop
        /// Hand it to the exchange, then close: it was the last request of a draining
        /// connection whose response is already out.
        case deliverAndClose
    }

    /// What the handler does once a response's `.end` is written.
    public enum ResponseEndAction: Sendable, Equatable {
        /// Nothing; reading goes on (or resumes if it was stopped).
        case none
        /// Deliver the held events (``nextHeldEvent()``), then resume reading.
        case deliverHeld
        /// Close the connection once the `.end` is out (draining).
        case close
    }

    /// What the handler does on `ChannelShouldQuiesceEvent`.
    public enum QuiesceAction: Sendable, Equatable {
        /// Close now: no exchange in progress.
        case close
        /// Close after the response in flight.
        case none
    }

    private enum State: Sendable, Equatable {
        /// No exchange: the next part is a request head.
        case idle
        /// A request is being received and its response is not complete.
        case requestAndResponsePending
        /// The request has ended; its response is not complete.
        case responsePending
        /// The response is complete (an early answer); the rest of the request is still read.
        case requestPending
    }

    private enum Lifecycle: Sendable, Equatable {
        case accepting
        /// Draining, but the current request's `.end` has not arrived yet.
        case quiescingAwaitingRequestEnd
        /// Draining; the last request has ended: nothing more is read.
        case quiescingLastRequestEnded
        /// Draining is over: the connection is being closed.
        case closed
    }

    private var state: State = .idle
    private var lifecycle: Lifecycle = .accepting
    private var held = CircularBuffer<Event>(initialCapacity: 0)

    public init() {}

    /// Whether the channel should read now.
    public var shouldRead: Bool {
        switch self.lifecycle {
        case .quiescingLastRequestEnded, .closed: return false
        case .accepting, .quiescingAwaitingRequestEnd: return self.held.isEmpty
        }
    }

    /// Whether a response head written now must say `Connection: close` (draining).
    public var responseMustClose: Bool {
        self.lifecycle != .accepting
    }

    /// Whether events are held (delivered after the response in flight).
    public var hasHeldEvents: Bool {
        !self.held.isEmpty
    }

    /// Whether no exchange is in progress and nothing is held.
    public var isIdle: Bool {
        self.state == .idle && self.held.isEmpty
    }

    /// A part arrived from the decoder.
    public mutating func inbound(_ part: HTTPServerRequestPart) -> InboundAction {
        switch self.lifecycle {
        case .quiescingLastRequestEnded, .closed:
            return .drop
        case .accepting, .quiescingAwaitingRequestEnd:
            break
        }
        if !self.held.isEmpty || self.state == .responsePending {
            self.held.append(.part(part))
            return .hold
        }
        return self.deliver(part)
    }

    /// A parser error arrived from the decoder. `true`: deliver it now; `false`: it is held
    /// behind the response in flight.
    public mutating func parserError(_ error: ClientRequestParserError) -> Bool {
        self.decoderError(error)
    }

    /// An error of NIOHTTP1's decoder, for a pipeline decoding with it; as
    /// the overload taking a ``ClientRequestParserError``.
    public mutating func parserError(_ error: HTTPParserError) -> Bool {
        self.decoderError(error)
    }

    private mutating func decoderError(_ error: any Error & Sendable) -> Bool {
        if !self.held.isEmpty || self.state == .responsePending {
            self.held.append(.parserError(error))
            return false
        }
        self.deliverError()
        return true
    }

    /// A response's `.end` is being written.
    public mutating func responseEnded() -> ResponseEndAction {
        switch self.state {
        case .responsePending:
            self.state = .idle
        case .requestAndResponsePending:
            self.state = .requestPending
        case .idle, .requestPending:
            // A response the gateway wrote without a request (a protocol error answered
            // before any head): nothing changes.
            break
        }
        switch self.lifecycle {
        case .quiescingLastRequestEnded:
            if self.state == .idle {
                self.lifecycle = .closed
                return .close
            }
            return .none
        case .closed:
            return .close
        case .accepting, .quiescingAwaitingRequestEnd:
            return self.held.isEmpty ? .none : .deliverHeld
        }
    }

    /// The next held event to deliver, or `nil` when none can be delivered yet (none held,
    /// or a delivered request is waiting for its response again). The handler delivers what
    /// this returns exactly as a fresh inbound event; a returned `.part` whose action is not
    /// `.deliver` (drain) is given as the second value.
    public mutating func nextHeldEvent() -> (Event, InboundAction)? {
        guard self.state != .responsePending, let event = self.held.popFirst() else { return nil }
        switch event {
        case .part(let part):
            return (event, self.deliver(part))
        case .parserError:
            self.deliverError()
            return (event, .deliver)
        }
    }

    /// `ChannelShouldQuiesceEvent`.
    public mutating func quiesce() -> QuiesceAction {
        guard self.lifecycle == .accepting else { return .none }
        switch self.state {
        case .idle:
            self.lifecycle = .closed
            self.held.removeAll()
            return .close
        case .responsePending:
            self.lifecycle = .quiescingLastRequestEnded
            self.held.removeAll()
            return .none
        case .requestAndResponsePending, .requestPending:
            self.lifecycle = .quiescingAwaitingRequestEnd
            return .none
        }
    }

    /// The connection closed: held events are dropped.
    public mutating func closed() {
        self.lifecycle = .closed
        self.held.removeAll()
    }

    private mutating func deliver(_ part: HTTPServerRequestPart) -> InboundAction {
        switch part {
        case .head:
            if self.state == .idle { self.state = .requestAndResponsePending }
            return .deliver
        case .body:
            return .deliver
        case .end:
            switch self.state {
            case .requestAndResponsePending: self.state = .responsePending
            case .requestPending: self.state = .idle
            case .idle, .responsePending: break
            }
            if self.lifecycle == .quiescingAwaitingRequestEnd {
                self.lifecycle = .quiescingLastRequestEnded
                self.held.removeAll()
                if self.state == .idle {
                    self.lifecycle = .closed
                    return .deliverAndClose
                }
            }
            return .deliver
        }
    }

    /// A parser error with no request in progress is answered like a request.
    private mutating func deliverError() {
        switch self.state {
        case .idle: self.state = .responsePending
        case .requestPending: self.state = .responsePending
        case .requestAndResponsePending, .responsePending: break
        }
    }
}
