import AuthGateCore
import NIOCore

/// What a connection's timers ask of, and tell, the connection they run for.
protocol ConnectionTimersOwner: AnyObject {
    /// No exchange is in progress and nothing is held: the idle timeout may close.
    var connectionIsIdle: Bool { get }
    /// The client idle timeout ran out.
    func idleTimedOut()
    /// No response head arrived within the upstream response timeout.
    func responseTimedOut()
    /// The request header or body timeout decided (never `.checkAt`: the timers handle that).
    func readTimedOut(_ decision: RequestReadTimeoutStateMachine.Decision)
}

/// The timeouts of one client connection: the idle timeout between exchanges, the upstream
/// response timeout, and the request header and body timeouts
/// (``RequestReadTimeoutStateMachine``).
///
/// Each has one timer per connection that is moved lazily rather than set and cancelled per
/// request: a scheduled check is only replaced when it would run after the new deadline, and a
/// check that finds its deadline moved (an exchange ended, the body made progress) moves itself.
/// Used on the connection's event loop only.
final class ConnectionTimers {
    /// The four timeouts, from the configuration snapshot the connection runs on.
    struct Timeouts {
        var clientIdle: TimeAmount
        var response: TimeAmount
        var requestHeader: TimeAmount
        var requestBody: TimeAmount

        init(_ exchange: ExchangeSettings) {
            self.clientIdle = exchange.clientIdleTimeout
            self.response = exchange.responseTimeout
            self.requestHeader = exchange.requestHeaderTimeout
            self.requestBody = exchange.requestBodyTimeout
        }
    }

    /// Read at each arming and check; the connection replaces them when its snapshot moves.
    var timeouts: Timeouts
    private weak var owner: (any ConnectionTimersOwner)?
    private var eventLoop: (any EventLoop)?

    // `responseDeadline` is the exchange's, `responseTimerFiresAt` when the scheduled check runs
    // (never later than the deadline).
    private var responseDeadline: NIODeadline?
    private var responseTimer: Scheduled<Void>?
    private var responseTimerFiresAt: NIODeadline = .uptimeNanoseconds(0)
    /// When the connection last finished an exchange (or opened): the idle timeout counts
    /// from here while no exchange is in progress.
    private var lastExchangeEndedAt: NIODeadline = .uptimeNanoseconds(0)
    private var idleTimer: Scheduled<Void>?
    private var readTimeouts = RequestReadTimeoutStateMachine(openedAt: .uptimeNanoseconds(0))
    private var readTimer: Scheduled<Void>?
    private var readTimerFiresAt: NIODeadline = .uptimeNanoseconds(0)

    /// Reads the event loop's clock instead of the system's: a test's `EmbeddedEventLoop` keeps
    /// its own time. A real loop's clock is the system's, read directly (a call through the
    /// `EventLoop` existential costs about twice as much, three times a request).
    private let usesEventLoopClock: Bool

    init(timeouts: Timeouts, usesEventLoopClock: Bool = false) {
        self.timeouts = timeouts
        self.usesEventLoopClock = usesEventLoopClock
    }

    private var now: NIODeadline {
        if self.usesEventLoopClock, let eventLoop = self.eventLoop { return eventLoop.now }
        return .now()
    }

    /// The connection opened: the idle timeout and the first request's header timeout start.
    func start(owner: any ConnectionTimersOwner, eventLoop: any EventLoop) {
        self.owner = owner
        self.eventLoop = eventLoop
        self.lastExchangeEndedAt = self.now
        self.scheduleIdleCheck(at: self.lastExchangeEndedAt + self.timeouts.clientIdle)
        self.readTimeouts = RequestReadTimeoutStateMachine(openedAt: self.lastExchangeEndedAt)
        self.armReadTimer()
    }

    /// Cancels every timer (the connection closed or left the pipeline).
    func stop() {
        self.responseDeadline = nil
        self.responseTimer?.cancel()
        self.responseTimer = nil
        self.idleTimer?.cancel()
        self.idleTimer = nil
        self.readTimer?.cancel()
        self.readTimer = nil
        self.eventLoop = nil
    }

    // MARK: - Request reads

    /// Client bytes arrived (before any is parsed): a head's timeout runs from its first byte,
    /// and any read is progress of a body.
    func bytesReceived() {
        self.readTimeouts.bytesReceived(at: self.now)
        self.armReadTimer()
    }

    func headReceived() {
        self.readTimeouts.headReceived(at: self.now)
        self.armReadTimer()
    }

    func requestEnded() {
        self.readTimeouts.requestEnded()
    }

    /// The connection stopped reading the client (backpressure): the body timeout pauses.
    func readingPaused() {
        self.readTimeouts.readingPaused()
    }

    func readingResumed() {
        self.readTimeouts.readingResumed(at: self.now)
        self.armReadTimer()
    }

    /// A response ended: the idle timeout counts from now, and a next head already begun gets
    /// its header timeout unless the connection closes.
    func responseEnded(closing: Bool) {
        self.lastExchangeEndedAt = self.now
        self.readTimeouts.responseEnded(at: self.lastExchangeEndedAt)
        if !closing && self.readTimeouts.isReceivingHead { self.armReadTimer() }
    }

    // MARK: - Upstream response

    /// Arms the upstream response timeout of the exchange just sent. The scheduled check is
    /// only replaced when it would run after this deadline.
    func armResponseTimeout(sentAt: NIODeadline) {
        let deadline = sentAt + self.timeouts.response
        self.responseDeadline = deadline
        if let timer = self.responseTimer {
            guard self.responseTimerFiresAt > deadline else { return }
            timer.cancel()
        }
        self.scheduleResponseCheck(at: deadline)
    }

    /// The exchange no longer waits for a response head; the scheduled check finds no deadline
    /// (or a later one) and moves on.
    func cancelResponseTimeout() {
        self.responseDeadline = nil
    }

    // MARK: - Checks

    /// The idle check: the connection closes when no exchange has been in progress for the
    /// client idle timeout; otherwise it moves itself to the next moment that could be true.
    private func scheduleIdleCheck(at deadline: NIODeadline) {
        guard let eventLoop = self.eventLoop else { return }
        self.idleTimer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self, let owner = self.owner else { return }
            self.idleTimer = nil
            let timeout = self.timeouts.clientIdle
            guard owner.connectionIsIdle else {
                self.scheduleIdleCheck(at: self.now + timeout)
                return
            }
            let expiry = self.lastExchangeEndedAt + timeout
            if expiry <= self.now {
                owner.idleTimedOut()
            } else {
                self.scheduleIdleCheck(at: expiry)
            }
        }
    }

    private func scheduleResponseCheck(at deadline: NIODeadline) {
        guard let eventLoop = self.eventLoop else { return }
        self.responseTimerFiresAt = deadline
        self.responseTimer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self, let owner = self.owner else { return }
            self.responseTimer = nil
            guard let deadline = self.responseDeadline else { return }
            if deadline <= self.now {
                self.responseDeadline = nil
                owner.responseTimedOut()
            } else {
                self.scheduleResponseCheck(at: deadline)
            }
        }
    }

    /// Makes sure the read check runs no later than the current header or body deadline.
    private func armReadTimer() {
        guard
            let deadline = self.readTimeouts.deadline(
                headTimeout: self.timeouts.requestHeader,
                bodyTimeout: self.timeouts.requestBody
            )
        else { return }
        if let timer = self.readTimer {
            guard self.readTimerFiresAt > deadline else { return }
            timer.cancel()
        }
        self.scheduleReadCheck(at: deadline)
    }

    private func scheduleReadCheck(at deadline: NIODeadline) {
        guard let eventLoop = self.eventLoop else { return }
        self.readTimerFiresAt = deadline
        self.readTimer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [weak self] in
            guard let self, let owner = self.owner else { return }
            self.readTimer = nil
            let decision = self.readTimeouts.check(
                now: self.now,
                headTimeout: self.timeouts.requestHeader,
                bodyTimeout: self.timeouts.requestBody
            )
            if case .checkAt(let next) = decision {
                if let next { self.scheduleReadCheck(at: next) }
                return
            }
            owner.readTimedOut(decision)
        }
    }
}
