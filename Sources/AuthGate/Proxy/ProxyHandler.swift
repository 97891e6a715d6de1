import AuthGateCore
import Logging
import NIOCore
import NIOHTTP1

/// The client side of one proxied connection: a thin driver of ``ProxyStateMachine``.
///
/// The request path, each stage in its own file (AuthGateCore is pure, AuthGate does the I/O):
///
/// ```
/// bytes ─▶ ClientRequestStream ─▶ ClientRequestParser (Core/Request)
///                                         RFC 9112, strict: 400/414/431 and close
///       ─▶ RequestAdmission.admit (Core/Admission)   validate, rewrite, normalise, local
///          │                                         endpoints, limits, refresh, route,
///          │                                         lockout, LoginBodyCheck, credential plan
///          ├─ answer locally ─▶ LocalEndpointResponder ─▶ LocalResponse (Core/Admission)
///          ├─ forward ───────────────────────────────────────────────┐
///          └─ authenticate ─▶ IntrospectionCore (Auth)                │
///                              cache (StaleIfError), JWT, sessions,   │
///                              CredentialFold                         │
///                           ─▶ CallerAdmission (Core/Admission)       │
///                              verdict, migration policy, per-user    │
///                              limits, identity headers, assertion    │
///       ─▶ ProxyStateMachine (Core/Proxy) ◀───────────────────────────┘
///       ─▶ UpstreamPool (Upstream) ─▶ UpstreamRequestWriter (Core/Upstream) ─▶ backend
///       ◀─ UpstreamResponseParser (Core/Upstream) + HeaderPolicy ◀─ backend
///       ◀─ ClientResponseEncoder (Proxy) ◀─ the response, relayed as bytes
/// ```
///
/// It parses the client's bytes itself (``ClientRequestStream``: no decoder handler in front,
/// one pipeline hop per read), validates and rewrites each request head through admission, leases an upstream
/// connection from its event loop's pool, and relays bodies both ways. Reads on either
/// side happen only while the other side is writable, so a slow reader never makes the gateway
/// buffer a body. It also keeps one exchange at a time on the connection
/// (``PipeliningStateMachine``); the connection's timeouts run in ``ConnectionTimers``.
final class ProxyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    /// After a 101, the bytes that followed the handshake, for the tunnel.
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let runtime: GatewayRuntime
    private let responder: LocalEndpointResponder
    private let pools: UpstreamPools
    private var machine = ProxyStateMachine()
    private var context: ChannelHandlerContext?
    /// The client's bytes, parsed into request parts.
    private var requests: ClientRequestStream
    /// Request parts are being handed on from ``requests`` (a close then must not finish it).
    private var parsing = false
    /// Writes the responses' bytes (no encoder handler: one pipeline hop less per part).
    private var encoder = ClientResponseEncoder()

    // Per-connection cache of the config snapshot, refreshed when the generation moves.
    private var snapshot: ConfigSnapshot
    private var limits: RequestLimits
    private var pool: UpstreamPool
    private var forwarding: ForwardingContext

    private var idGenerator = RequestIDGenerator()
    private var upstream: UpstreamConnection?
    private var waiter: UpstreamPoolStateMachine.WaiterID?
    private var readPending = false
    private var upstreamNeedsFlush = false
    private var pipelining = PipeliningStateMachine()
    private var deliveringHeld = false
    private var heldDeliveryScheduled = false

    /// The idle, response, request header and body timeouts, one timer each.
    private let timers: ConnectionTimers
    /// The pool and client IP of the per-client slot the exchange holds
    /// (`upstream.max_connections_per_client_ip`), while it holds or waits for a connection.
    private var clientSlot: (pool: UpstreamPool, clientIP: String)?

    /// The exchange in flight: its request, what admission said of it, and its caller.
    private var exchange = ProxyExchange()
    /// A request the gateway answers itself, from its head to its end.
    private var local = LocalExchangeStateMachine()
    /// The pool the exchange's upstream connection comes from (the backend's or the auth
    /// server's).
    private var exchangePool: UpstreamPool
    /// Whether a 401 answer to this exchange counts towards the lockout, for which account,
    /// and what is held back while the shared store records it.
    private var loginLockout = LoginLockoutStateMachine()

    init(runtime: GatewayRuntime, pools: UpstreamPools, snapshot: ConfigSnapshot) {
        self.runtime = runtime
        self.responder = LocalEndpointResponder(introspection: runtime.introspection)
        self.pools = pools
        self.requests = ClientRequestStream(limits: ClientRequestStream.limits(snapshot.config.limits))
        self.timers = ConnectionTimers(timeouts: ConnectionTimers.Timeouts(snapshot.exchange))
        self.snapshot = snapshot
        self.limits = snapshot.exchange.requestLimits
        self.pool = pools.pool(for: snapshot)
        self.exchangePool = self.pool
        self.forwarding = ForwardingContext(peerIP: "", peerIsTrusted: false)
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let peer = context.channel.remoteAddress
        self.forwarding = ForwardingContext(
            peerIP: peer?.ipAddress ?? "unknown",
            peerIsTrusted: peer.map { self.snapshot.trustedProxies.contains($0) } ?? false
        )
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if self.machine.isTunnelling, let unparsed = self.requests.takeUnparsed() {
            // Removed for a tunnel: the bytes that followed the handshake go on as they came.
            context.fireChannelRead(self.wrapInboundOut(unparsed))
        }
        self.context = nil
        self.timers.stop()
        self.releaseClientSlot()
    }

    func channelActive(context: ChannelHandlerContext) {
        self.timers.start(owner: self, eventLoop: context.eventLoop)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !self.parsing {
            // The connection's end: inside a request it is an error (`.incomplete`), as llhttp's.
            self.handOnParts(context: context) { stream throws(ClientRequestParserError) in try stream.finish() }
        }
        self.pipelining.closed()
        self.timers.stop()
        self.perform(self.machine.clientClosed(), context: context)
        self.releaseClientSlot()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Before any part is parsed: a head that trickles in yields nothing until it is
        // complete, yet its header timeout runs from its first byte, and the body timeout
        // counts any read, chunk framing included (``RequestReadTimeoutStateMachine``).
        self.timers.bytesReceived()
        self.requests.receive(self.unwrapInboundIn(data))
        self.handOnParts(context: context) { stream throws(ClientRequestParserError) in try stream.next() }
    }

    /// Hands on each request part `nextPart` takes from ``requests`` (``PipeliningStateMachine``
    /// decides when), until it returns nil; a malformed request is answered in order, at once or
    /// after the response in flight. The stream is only accessed for each call: handing on a
    /// part may remove this handler (a tunnel), which takes the stream's unparsed bytes.
    private func handOnParts(
        context: ChannelHandlerContext,
        _ nextPart: (inout ClientRequestStream) throws(ClientRequestParserError) -> HTTPServerRequestPart?
    ) {
        self.parsing = true
        defer { self.parsing = false }
        do throws(ClientRequestParserError) {
            while let part = try nextPart(&self.requests) {
                self.carryOut(self.pipelining.inbound(part), for: part, context: context)
            }
        } catch {
            if self.pipelining.parserError(error) {
                self.received(error, context: context)
            }
        }
    }

    /// Carries out what ``PipeliningStateMachine`` decided for a request part, fresh or held.
    private func carryOut(
        _ action: PipeliningStateMachine.InboundAction,
        for part: HTTPServerRequestPart,
        context: ChannelHandlerContext
    ) {
        switch action {
        case .deliver:
            self.received(part, context: context)
        case .deliverAndClose:
            self.received(part, context: context)
            context.close(promise: nil)
        case .hold, .drop:
            break
        }
    }

    /// One request part of the exchange in progress.
    private func received(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            self.timers.headReceived()
            self.receivedHead(head, context: context)
        case .body(let buffer):
            if self.local.isActive {
                self.perform(self.local.body(buffer), context: context)
                return
            }
            self.perform(self.machine.requestBody(buffer), context: context)
        case .end:
            self.timers.requestEnded()
            if self.local.isActive {
                self.perform(self.local.end(), context: context)
                return
            }
            self.perform(self.machine.requestEnd(), context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.upstreamNeedsFlush, let upstream = self.upstream {
            self.upstreamNeedsFlush = false
            upstream.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            self.upstream?.handler.resumeReading()
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.perform(self.machine.clientClosed(), context: context)
        context.close(promise: nil)
    }

    /// A malformed request: answered with the status the parser's error says (400, 414 or
    /// 431), and the connection closed.
    private func received(_ requestError: any Error & Sendable, context: ChannelHandlerContext) {
        let gatewayError =
            (requestError as? ClientRequestParserError)?.gatewayError ?? .badRequest("Malformed request.")
        self.runtime.metrics.rejectedRequests.increment()
        // A request whose head never parsed has no origin known to be allowed.
        if self.machine.isIdle { self.exchange.cors = nil }
        if self.exchange.requestID.isEmpty || !self.machine.isIdle { self.exchange.requestID = self.idGenerator.next() }
        self.exchange.version = .http1_1
        self.perform(self.machine.clientProtocolError(gatewayError), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            switch self.pipelining.quiesce() {
            case .close:
                context.close(promise: nil)
            case .none:
                break
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func read(context: ChannelHandlerContext) {
        if self.shouldReadClient {
            context.read()
        } else {
            self.readPending = true
            self.timers.readingPaused()
        }
    }

    private var shouldReadClient: Bool {
        self.pipelining.shouldRead && self.machine.shouldReadClient && (self.upstream?.channel.isWritable ?? true)
    }

    private func resumeClientReadIfPossible() {
        guard self.readPending, let context = self.context else { return }
        if self.shouldReadClient {
            self.readPending = false
            self.timers.readingResumed()
            context.read()
        }
    }

    // MARK: - Pipelining

    /// Delivers the requests a client sent before the previous response was out, in order,
    /// until one of them is waiting for its own response again.
    private func deliverHeld() {
        self.heldDeliveryScheduled = false
        guard let context = self.context, context.channel.isActive else { return }
        self.deliveringHeld = true
        while let (event, action) = self.pipelining.nextHeldEvent() {
            switch event {
            case .part(let part):
                self.carryOut(action, for: part, context: context)
            case .parserError(let error):
                self.received(error, context: context)
            }
        }
        self.deliveringHeld = false
        self.resumeClientReadIfPossible()
    }

    // MARK: - Timers

    /// The read check decided (``ConnectionTimers``): a timeout is answered, or the connection
    /// closes.
    private func readTimedOut(_ decision: RequestReadTimeoutStateMachine.Decision, context: ChannelHandlerContext) {
        switch decision {
        case .checkAt:
            break
        case .closeSilently, .bodyTimedOutAfterResponse:
            context.close(promise: nil)
        case .headTimedOut:
            // No head was parsed: the answer is the gateway's own, to no request.
            self.runtime.metrics.rejectedRequests.increment()
            self.exchange.headless(requestID: self.idGenerator.next())
            self.perform(self.machine.requestTimedOut(), context: context)
        case .bodyTimedOut:
            self.local.reset()
            self.perform(self.machine.requestTimedOut(), context: context)
        }
    }

    // MARK: - Request head

    private func refreshSnapshotIfNeeded() {
        let generation = self.runtime.configStore.generation
        guard generation != self.snapshot.generation else { return }
        let snapshot = self.runtime.configStore.current
        self.snapshot = snapshot
        self.timers.timeouts = ConnectionTimers.Timeouts(snapshot.exchange)
        self.limits = snapshot.exchange.requestLimits
        self.pool = self.pools.pool(for: snapshot)
        if let peer = self.context?.channel.remoteAddress {
            self.forwarding.peerIsTrusted = snapshot.trustedProxies.contains(peer)
        }
    }

    private func receivedHead(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        self.refreshSnapshotIfNeeded()
        var head = head
        self.exchange.headReceived(method: head.method, version: head.version, target: head.uri, at: .now())
        let admission = RequestAdmission.admit(
            &head,
            snapshot: self.snapshot,
            limits: self.limits,
            forwarding: self.forwarding,
            requestIDs: &self.idGenerator,
            state: self.runtime.admissionState,
            clock: AdmissionClock(
                uptimeNanoseconds: self.exchange.startedAt.uptimeNanoseconds,
                epochSeconds: IntrospectionCore.nowSeconds
            )
        )
        self.exchange.cors = admission.cors
        self.exchange.requestID = admission.requestID
        if let counter = admission.counter { self.runtime.metrics.count(counter) }
        guard let info = admission.info else {
            if case .invalid(let error) = admission.decision {
                self.perform(self.machine.requestRejected(error), context: context)
            }
            return
        }
        self.exchange.begin(
            admission,
            userAgent: self.runtime.audit.isEnabled ? head.headers.first(name: "user-agent") : nil
        )
        self.loginLockout.begin(countsFailure: admission.countsLoginFailure)
        self.exchangePool = self.pool
        if admission.route.upstream == .authServer, let authServer = self.pools.authServerPool(for: self.snapshot) {
            self.exchangePool = authServer
        }
        if let event = admission.audit {
            self.audit(event, identity: nil)
        }

        switch admission.decision {
        case .invalid(let error):
            self.perform(self.machine.requestRejected(error), context: context)
        case .reject(let error):
            self.refuse(error, head: head, info: info, context: context)
        case .answerLocally(let answer):
            self.answerLocally(answer, head: head, info: info, keepAlive: admission.keepAlive, context: context)
        case .checkLoginBody(let contentType):
            let login = LoginBodyCheck(
                contentType: contentType,
                maxBytes: self.snapshot.policy.lockoutMaxBodyBytes,
                emailField: self.snapshot.policy.lockoutEmailField,
                allocator: context.channel.allocator
            )
            // The machine reads the body into `login` and holds the head until the verdict.
            self.perform(self.machine.requestHead(consume head, info: info, login: login), context: context)
        case .forward:
            self.perform(self.machine.requestHead(head, info: info), context: context)
        case .authenticate(let plan):
            if plan.isMalformed {
                self.exchange.plan = plan
                self.perform(self.machine.requestHead(head, info: info, authenticate: true), context: context)
                self.authenticationFinished(.rejected(.malformed), context: context)
                return
            }
            self.exchange.plan = plan
            // The machine holds the head (its only reference), so the identity headers are
            // added in place (a cache hit decides within this call).
            self.perform(
                self.machine.requestHead(consume head, info: info, authenticate: true),
                context: context
            )
        }
    }

    /// Answers `error` for a request refused before anything was sent upstream, keeping the
    /// connection when the request's framing allows it.
    private func refuse(
        _ error: GatewayError,
        head: HTTPRequestHead,
        info: ProxyStateMachine.RequestInfo,
        context: ChannelHandlerContext
    ) {
        // The `.authenticate` action is not carried out: the verdict is already known.
        _ = self.machine.requestHead(head, info: info, authenticate: true)
        self.perform(self.machine.authenticationFailed(error), context: context)
    }

    // MARK: - Login bodies

    /// The account a login body names is known (`nil`: none to count): refuse a locked
    /// account, else let the login go on.
    private func checkLoginAccount(_ account: LoginAccount?, context: ChannelHandlerContext) {
        guard let account else {
            self.finishLogin(.open, context: context)
            return
        }
        let key = account.key
        guard let store = self.runtime.lockoutStore else {
            self.loginLockout.accountKnown(key, sharedDigest: nil)
            self.finishLogin(
                self.runtime.lockout.isLockedOut(key, now: NIODeadline.now().uptimeNanoseconds),
                context: context
            )
            return
        }
        // The shared count decides with the local one; read off the loop, answered on it.
        let digest = SharedLockout.accountDigest(account.email)
        self.loginLockout.accountKnown(key, sharedDigest: digest)
        let requestID = self.exchange.requestID
        store.lookup(account: digest, eventLoop: context.eventLoop).hop(to: context.eventLoop)
            .assumeIsolated().whenSuccess { [weak self] answer in
                guard let self, let context = self.context, self.machine.isAuthenticating,
                    self.exchange.requestID == requestID
                else { return }
                let state = SharedLockout.state(
                    shared: answer,
                    local: self.runtime.lockout.isLockedOut(key, now: NIODeadline.now().uptimeNanoseconds),
                    maxFailures: self.runtime.lockout.configuration.maxFailures
                )
                self.finishLogin(state, context: context)
            }
    }

    /// The account's lockout state is known: refuse the login, or let it go on.
    private func finishLogin(_ state: LockoutState, context: ChannelHandlerContext) {
        if let error = RateLimitHeaders.error(for: state) {
            self.runtime.metrics.lockedOut.increment()
            self.audit(.lockout, method: nil, success: false, identity: nil, reason: "locked_out_account")
            self.loginLockout.accountRefused()
            self.perform(self.machine.authenticationFailed(error), context: context)
            return
        }
        self.perform(self.machine.authenticated(), context: context)
    }

    /// A login the auth server answered 401, with the account known to the shared store:
    /// stores the failure there before the answer goes on, holding back what the upstream
    /// connection delivers meanwhile (its reads paused; bounded by `lockout.store_timeout_ms`).
    private func holdForSharedFailure(
        _ event: UpstreamResponseParser.Event,
        store: PostgresLockoutStore,
        digest: String,
        context: ChannelHandlerContext
    ) {
        _ = self.loginLockout.hold(.event(event))
        // The head is in: the response timeout has nothing more to wait for.
        self.timers.cancelResponseTimeout()
        let requestID = self.exchange.requestID
        store.recordFailure(account: digest, eventLoop: context.eventLoop).hop(to: context.eventLoop)
            .assumeIsolated().whenComplete { [weak self] _ in
                guard let self, self.exchange.requestID == requestID else { return }
                self.releaseHeldUpstreamEvents()
            }
    }

    /// Delivers what was held back, in order, and lets the upstream connection read again.
    private func releaseHeldUpstreamEvents() {
        guard self.loginLockout.isHolding else { return }
        let held = self.loginLockout.release()
        // The read held back belongs to the connection, which the replayed end may return to
        // the pool: resumed whether it is still ours or idle again.
        let handler = self.upstream?.handler
        for item in held {
            switch item {
            case .event(let event): self.upstreamReceived(event)
            case .failed(let protocolError): self.upstreamFailed(protocolError: protocolError)
            }
        }
        self.context?.flush()
        handler?.resumeReading()
    }

    /// Hands an authentication event to the audit trail; builds nothing when it is off.
    private func audit(_ event: AdmissionAudit, identity: Identity?) {
        self.audit(event.kind, method: event.method, success: event.success, identity: identity, reason: event.reason)
    }

    /// The clocks of a check made now.
    private static func clock() -> AdmissionClock {
        AdmissionClock(
            uptimeNanoseconds: NIODeadline.now().uptimeNanoseconds,
            epochSeconds: IntrospectionCore.nowSeconds
        )
    }

    private func audit(
        _ kind: AuditEvent.Kind,
        method: AuthMethod?,
        success: Bool,
        identity: Identity?,
        reason: String?
    ) {
        let sink = self.runtime.audit
        guard sink.isEnabled else { return }
        sink.record(
            self.exchange.auditEvent(
                kind,
                method: method,
                success: success,
                identity: identity,
                reason: reason,
                timeMicros: Timestamp.epochMicros()
            )
        )
    }

    /// Counts a failed login or a rejected token towards the lockout.
    private func countFailure() {
        let now = NIODeadline.now().uptimeNanoseconds
        self.runtime.metrics.lockoutFailures.increment()
        _ = self.runtime.lockout.recordFailure(RateLimitKey(namespace: "ip", value: self.exchange.clientIP), now: now)
        if let account = self.loginLockout.account {
            _ = self.runtime.lockout.recordFailure(account, now: now)
        }
    }

    private func authenticate(context: ChannelHandlerContext) {
        let attempts = self.exchange.plan.attempts
        self.exchange.plan.attempts = []
        if self.exchange.isUpgrade {
            // Only a tunnel outlives its exchange and needs its credentials again.
            self.exchange.acceptedAttempts = attempts
        }
        guard !attempts.isEmpty else {
            self.authenticationFinished(
                .rejected(CallerAdmission.emptyPlanReason(self.exchange.plan)),
                context: context
            )
            return
        }
        switch self.runtime.introspection.authenticate(
            attempts,
            settings: self.snapshot.auth,
            eventLoop: context.eventLoop
        ) {
        case .immediate(let verdict):
            self.authenticationFinished(verdict, context: context)
        case .pending(let future):
            future.hop(to: context.eventLoop).assumeIsolated().whenComplete { [weak self] result in
                guard let self, let context = self.context, self.machine.isAuthenticating else { return }
                switch result {
                case .success(let verdict):
                    self.authenticationFinished(verdict, context: context)
                case .failure(let error):
                    self.authenticationFinished(.unavailable("\(error)"), context: context)
                }
            }
        }
    }

    private func authenticationFinished(_ verdict: AuthVerdict, context: ChannelHandlerContext) {
        // The verdict reads only the wall clock (lazily): no monotonic clock read for it.
        let clock = AdmissionClock(
            uptimeNanoseconds: self.exchange.startedAt.uptimeNanoseconds,
            epochSeconds: IntrospectionCore.nowSeconds
        )
        let outcome = CallerAdmission.verdict(verdict, plan: self.exchange.plan, snapshot: self.snapshot, clock: clock)
        self.runtime.metrics.record(outcome)
        self.audit(outcome.audit, identity: outcome.identity)
        if outcome.countsTowardsLockout { self.countFailure() }
        switch outcome.next {
        case .admit(let identity):
            self.admit(identity, context: context)
        case .checkMigration(let identity, let policy):
            if let status = self.runtime.migrationStatus.cached(userID: identity.userID) {
                self.admit(identity, migrationStatus: status, policy: policy, context: context)
                return
            }
            self.runtime.migrationStatus.lookup(
                userID: identity.userID,
                config: self.snapshot.config,
                eventLoop: context.eventLoop
            ).hop(to: context.eventLoop).assumeIsolated().whenSuccess { [weak self] status in
                guard let self, let context = self.context, self.machine.isAuthenticating else { return }
                self.admit(identity, migrationStatus: status, policy: policy, context: context)
            }
        case .refuse(let error):
            self.refuseCaller(error, context: context)
        }
    }

    /// `rollout.migration_policy` for a legacy identity whose `migration_status` is known.
    private func admit(
        _ identity: Identity,
        migrationStatus: MigrationStatusStore.Status,
        policy: MigrationPolicy,
        context: ChannelHandlerContext
    ) {
        switch CallerAdmission.migration(identity, isMigrated: migrationStatus == .migrated, policy: policy) {
        case .admit:
            self.admit(identity, context: context)
        case .admitAndRecord:
            self.runtime.metrics.count(.migratedLegacyRecorded)
            self.runtime.logger.notice(
                "legacy token of a migrated user",
                metadata: ["request_id": "\(self.exchange.requestID)", "user_id": "\(identity.userID)"]
            )
            self.admit(identity, context: context)
        case .refuse(let error, let audit):
            self.runtime.metrics.count(.migratedLegacyRefused)
            self.audit(audit, identity: identity)
            self.refuseCaller(error, context: context)
        }
    }

    /// The caller is known: its own checks, then the request goes on with its identity headers.
    private func admit(_ identity: Identity, context: ChannelHandlerContext) {
        guard self.machine.isAuthenticating else { return }
        let clock = Self.clock()
        switch CallerAdmission.check(
            identity,
            route: self.exchange.route,
            snapshot: self.snapshot,
            clientIP: self.exchange.clientIP,
            limiter: self.runtime.rateLimiter,
            clock: clock
        ) {
        case .forward:
            self.exchange.identity = identity
            let (route, snapshot, requestID) = (self.exchange.route, self.snapshot, self.exchange.requestID)
            self.perform(
                self.machine.authenticated(editing: { head in
                    CallerAdmission.prepareForwardedHead(
                        &head,
                        identity: identity,
                        route: route,
                        snapshot: snapshot,
                        requestID: requestID,
                        clock: clock
                    )
                }),
                context: context
            )
        case .refuse(let error, let counter):
            if let counter { self.runtime.metrics.count(counter) }
            self.refuseCaller(error, context: context)
        }
    }

    /// The request will not be forwarded: its head and its sign-out evictions are dropped.
    private func refuseCaller(_ error: GatewayError, context: ChannelHandlerContext) {
        self.exchange.evictOnSuccess = []
        self.perform(self.machine.authenticationFailed(error), context: context)
    }

    /// Carries out an answer the gateway gives itself (``LocalEndpointResponder`` decides it).
    private func answerLocally(
        _ answer: Admission.LocalAnswer,
        head: HTTPRequestHead,
        info: ProxyStateMachine.RequestInfo,
        keepAlive: Bool,
        context: ChannelHandlerContext
    ) {
        // Answered from the head, its body dropped, unless the answer is in the body.
        self.local.answer()
        let step = self.responder.answer(
            answer,
            head: head,
            info: info,
            snapshot: self.snapshot,
            requestID: self.exchange.requestID,
            eventLoop: context.eventLoop
        ) { [weak self] answer in
            self?.writeLocal(answer, keepAlive: keepAlive)
        }
        switch step {
        case .write(let answer):
            self.writeLocal(answer, keepAlive: keepAlive, context: context)
        case .preflight(let preflight):
            self.answerPreflight(preflight, keepAlive: keepAlive, context: context)
        case .readBody(let purpose):
            self.local.answer(
                reading: purpose,
                into: context.channel.allocator.buffer(capacity: 256),
                keepAlive: keepAlive
            )
        case .pending:
            break
        }
    }

    /// A local request whose body is read: answered, or (a legacy refresh) forwarded.
    private func localBodyRead(
        _ body: ByteBuffer,
        for purpose: LocalExchangeStateMachine.Purpose,
        keepAlive: Bool,
        context: ChannelHandlerContext
    ) {
        let (step, audit) = self.responder.body(
            body,
            for: purpose,
            snapshot: self.snapshot,
            requestID: self.exchange.requestID,
            eventLoop: context.eventLoop
        ) { [weak self] answer in
            self?.writeLocal(answer, keepAlive: keepAlive)
        }
        if let audit { self.audit(audit, identity: nil) }
        switch step {
        case .write(let answer):
            self.writeLocal(answer, keepAlive: keepAlive, context: context)
        case .forward(let head, let info):
            self.perform(self.machine.requestHead(head, info: info), context: context)
            self.perform(self.machine.requestBody(body), context: context)
            self.perform(self.machine.requestEnd(), context: context)
        case .pending:
            break
        }
    }

    /// Writes an answer of the gateway's own, once the exchange is still there to take it.
    private func writeLocal(_ answer: LocalResponse, keepAlive: Bool) {
        guard let context = self.context else { return }
        self.writeLocal(answer, keepAlive: keepAlive, context: context)
    }

    private func writeLocal(_ answer: LocalResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        self.runtime.metrics.recordResponse(status: Int(answer.status.code), routeClass: self.exchange.routeClass)
        self.writeAnswer(
            self.exchange.localAnswerHead(answer, keepAlive: keepAlive),
            body: answer.body,
            close: !keepAlive,
            context: context
        )
    }

    /// The 204 answer to a CORS preflight; a body the request may carry is read and dropped.
    private func answerPreflight(_ answer: CORSPreflightAnswer, keepAlive: Bool, context: ChannelHandlerContext) {
        let (head, denial) = self.exchange.preflightAnswer(answer, keepAlive: keepAlive)
        self.runtime.metrics.recordResponse(status: Int(head.status.code), routeClass: self.exchange.routeClass)
        self.logAccess(status: head.status.code, error: denial)
        self.writeAnswer(head, body: nil, close: !keepAlive, context: context)
    }

    private func writeError(_ error: GatewayError, closeClient: Bool, context: ChannelHandlerContext) {
        let (head, body) = self.exchange.errorAnswer(error, close: closeClient)
        self.runtime.metrics.recordResponse(status: Int(error.status.code), routeClass: self.exchange.routeClass)
        self.logAccess(status: error.status.code, error: error.code.rawValue)
        self.writeAnswer(head, body: body, close: closeClient, context: context)
    }

    /// Writes a whole answer of the gateway's own (no body for a `HEAD` request) and ends it.
    private func writeAnswer(_ head: HTTPResponseHead, body: String?, close: Bool, context: ChannelHandlerContext) {
        self.writeResponseHead(head, context: context)
        if let body, self.exchange.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            self.encoder.write(.body(buffer), context: context, promise: nil)
        }
        self.writeEnd(close: close, context: context)
    }

    // MARK: - Actions

    private func perform(_ action: LocalExchangeStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .introspect(let body, let keepAlive):
            self.localBodyRead(body, for: .introspect, keepAlive: keepAlive, context: context)
        case .refresh(let body, let head, let info, let keepAlive):
            self.localBodyRead(body, for: .refresh(head, info), keepAlive: keepAlive, context: context)
        case .refuseTooLarge:
            self.writeLocal(
                .error(.payloadTooLarge, requestID: self.exchange.requestID),
                keepAlive: false,
                context: context
            )
        }
    }

    private func perform(_ action: ProxyStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break

        case .authenticate:
            self.authenticate(context: context)

        case .checkLoginAccount(let account):
            self.checkLoginAccount(account, context: context)

        case .leaseUpstream(let dedicated):
            if dedicated {
                self.exchangePool.connectDedicated().hop(to: context.eventLoop).assumeIsolated().whenComplete {
                    result in
                    switch result {
                    case .success(let connection):
                        self.leaseSucceeded(connection)
                    case .failure:
                        self.runtime.metrics.upstreamConnectFailures.increment()
                        self.leaseFailed(.connectFailed)
                    }
                }
            } else {
                if self.clientSlot == nil {
                    guard self.exchangePool.acquireClientSlot(self.exchange.clientIP) else {
                        self.perform(self.machine.upstreamLeaseFailed(.clientConnectionLimit), context: context)
                        return
                    }
                    self.clientSlot = (self.exchangePool, self.exchange.clientIP)
                }
                switch self.exchangePool.lease(self) {
                case .leased(let connection):
                    self.leaseSucceeded(connection)
                case .pending(let waiter):
                    self.waiter = waiter
                case .failed(let failure):
                    self.leaseFailed(failure)
                }
            }

        case .readRequestBody:
            // The body is read before a connection is leased; a client that waits for
            // `100 Continue` is told to send it now.
            if self.exchange.expectsContinue {
                self.exchange.expectsContinue = false
                self.encoder.write(
                    .head(HTTPResponseHead(version: self.exchange.version, status: .continue)),
                    context: context,
                    promise: nil
                )
                context.flush()
            }
            self.resumeClientReadIfPossible()

        case .sendRequest(let head, let body, let end):
            guard let upstream = self.upstream else { return }
            if self.exchange.expectsContinue && !end {
                self.exchange.expectsContinue = false
                self.encoder.write(
                    .head(HTTPResponseHead(version: self.exchange.version, status: .continue)),
                    context: context,
                    promise: nil
                )
                context.flush()
            }
            upstream.requestsServed += 1
            upstream.writeHead(head)
            for buffer in body {
                upstream.writeBody(buffer)
            }
            if end {
                upstream.writeEndAndFlush()
            } else {
                upstream.flush()
            }
            self.exchange.sentAt = .now()
            self.timers.armResponseTimeout(sentAt: self.exchange.sentAt)
            self.resumeClientReadIfPossible()

        case .forwardRequestBody(let buffer):
            self.upstream?.writeBody(buffer)
            self.upstreamNeedsFlush = true

        case .forwardRequestEnd:
            self.upstreamNeedsFlush = false
            if let upstream = self.upstream {
                upstream.writeEndAndFlush()
            }

        case .forwardResponseHead(let head):
            let status = head.status
            self.timers.cancelResponseTimeout()
            self.runtime.metrics.upstreamLatency.record(
                nanoseconds: (NIODeadline.now() - self.exchange.sentAt).nanoseconds
            )
            self.runtime.metrics.recordResponse(status: Int(status.code), routeClass: self.exchange.routeClass)
            self.exchange.responseStatus = status.code
            if !self.exchange.evictOnSuccess.isEmpty {
                if (200..<300).contains(status.code) {
                    let keys = self.exchange.evictOnSuccess
                    for key in keys { self.runtime.introspection.cache.evict(key) }
                    self.audit(
                        .signOut,
                        method: .betterAuth,
                        success: true,
                        identity: self.exchange.identity,
                        reason: nil
                    )
                    self.runtime.tunnels.close { entry in entry.sessionKey.map { keys.contains($0) } ?? false }
                }
                self.exchange.evictOnSuccess = []
            }
            if self.loginLockout.countsFailure(status: status) {
                self.countFailure()
            }
            self.encoder.write(.relayedHead(head.bytes, chunked: head.chunked), context: context, promise: nil)

        case .forwardResponseBody(let buffer):
            self.encoder.write(.body(buffer), context: context, promise: nil)

        case .finishResponse(let disposition, let closeClient):
            self.logAccess(status: self.exchange.responseStatus)
            self.releaseUpstream(disposition)
            self.writeEnd(close: closeClient, context: context)
            self.resumeClientReadIfPossible()

        case .respondWithError(let error, let disposition, let closeClient):
            self.timers.cancelResponseTimeout()
            if let disposition { self.releaseUpstream(disposition) }
            if error.status == .gatewayTimeout { self.runtime.metrics.upstreamTimeouts.increment() }
            self.writeError(error, closeClient: closeClient, context: context)
            self.resumeClientReadIfPossible()

        case .retry:
            self.timers.cancelResponseTimeout()
            self.runtime.metrics.upstreamRetries.increment()
            self.releaseUpstream(.close)
            self.perform(.leaseUpstream(dedicated: false), context: context)

        case .startTunnel:
            self.startTunnel(context: context)

        case .abort(let disposition):
            self.timers.cancelResponseTimeout()
            if let disposition { self.releaseUpstream(disposition) }
            context.close(promise: nil)

        case .releaseUnneeded:
            // A lease that arrived after the client left: nothing was sent, so it is reusable.
            self.releaseUpstream(.reuse)
            self.releaseClientSlot()

        case .cancelLease:
            if let waiter = self.waiter {
                self.waiter = nil
                self.exchangePool.cancel(waiter)
            }
            self.releaseClientSlot()
        }
    }

    /// Gives back the exchange's per-client slot, if it holds one.
    private func releaseClientSlot() {
        guard let slot = self.clientSlot else { return }
        self.clientSlot = nil
        slot.pool.releaseClientSlot(slot.clientIP)
    }

    private func releaseUpstream(_ disposition: ProxyStateMachine.UpstreamDisposition) {
        guard let upstream = self.upstream else { return }
        self.upstream = nil
        self.upstreamNeedsFlush = false
        upstream.handler.delegate = nil
        self.exchangePool.release(upstream, reusable: disposition == .reuse)
        self.releaseClientSlot()
    }

    /// Writes a response head; a draining connection's says `Connection: close`.
    private func writeResponseHead(_ head: HTTPResponseHead, context: ChannelHandlerContext) {
        guard self.pipelining.responseMustClose, head.isKeepAlive else {
            self.encoder.write(.head(head), context: context, promise: nil)
            return
        }
        var head = head
        head.headers.replaceOrAdd(name: "connection", value: "close")
        self.encoder.write(.head(head), context: context, promise: nil)
    }

    /// Writes the response end and, if asked (or the connection is draining), closes the
    /// client connection once it is out; then delivers a request the client sent early.
    private func writeEnd(close: Bool, context: ChannelHandlerContext) {
        self.timers.responseEnded(closing: close)
        let next = self.pipelining.responseEnded()
        let close = close || next == .close
        if next == .deliverHeld && !close && !self.deliveringHeld && !self.heldDeliveryScheduled {
            self.heldDeliveryScheduled = true
            context.eventLoop.assumeIsolated().execute { [weak self] in self?.deliverHeld() }
        }
        guard close else {
            self.encoder.write(.end, context: context, promise: nil)
            context.flush()
            return
        }
        let promise = context.eventLoop.makePromise(of: Void.self)
        self.encoder.write(.end, context: context, promise: promise)
        context.flush()
        promise.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    /// One line per exchange when `logging.access_log` is on; never logs headers or bodies,
    /// so no credential can leak into it.
    private func logAccess(status: UInt, error: String? = nil) {
        // The line's metadata is built eagerly: skip it when the level would drop the line.
        guard self.snapshot.exchange.accessLog, self.runtime.logger.logLevel <= .info else { return }
        let elapsed = NIODeadline.now() - self.exchange.startedAt
        var metadata: Logger.Metadata = [
            "request_id": "\(self.exchange.requestID)",
            "method": "\(self.exchange.method.rawValue)",
            "path": "\(self.exchange.loggedPath)",
            "status": "\(status)",
            "duration_ms": "\(Double(elapsed.nanoseconds) / 1e6)",
            "client_ip": "\(self.exchange.clientIP)",
            "auth_method": "\(self.exchange.identity?.method.rawValue ?? "none")",
            "config_generation": "\(self.snapshot.generation)",
        ]
        if let identity = self.exchange.identity { metadata["user_id"] = "\(identity.userID)" }
        if let error { metadata["error"] = "\(error)" }
        self.runtime.logger.info("request", metadata: metadata)
    }

    // MARK: - Tunnel

    private func startTunnel(context: ChannelHandlerContext) {
        guard let upstream = self.upstream else {
            context.close(promise: nil)
            return
        }
        self.upstream = nil
        upstream.handler.delegate = nil
        self.encoder.write(.end, context: context, promise: nil)
        context.flush()
        let metrics = self.runtime.metrics
        if let identity = self.exchange.identity {
            let sessionKey = self.exchange.acceptedAttempts.lazy.compactMap { attempt -> CredentialKey? in
                guard case .betterAuthSession(let value, _) = attempt else { return nil }
                return self.snapshot.auth.sessionCacheKey(signedValue: Substring(value))
            }.first
            self.runtime.tunnels.register(
                channel: context.channel,
                identity: identity,
                attempts: self.exchange.acceptedAttempts,
                sessionKey: sessionKey
            )
        }
        do {
            try TunnelHandler.join(client: context, upstream: upstream, metrics: metrics)
        } catch {
            upstream.channel.close(promise: nil)
            context.close(promise: nil)
        }
    }
}

// MARK: - Upstream callbacks

extension ProxyHandler: UpstreamLeaseRequester {
    func leaseSucceeded(_ connection: UpstreamConnection) {
        self.waiter = nil
        guard let context = self.context else {
            self.exchangePool.release(connection, reusable: true)
            self.releaseClientSlot()
            return
        }
        self.upstream = connection
        connection.handler.delegate = self
        let action = self.machine.upstreamLeased(reused: connection.requestsServed > 0)
        if case .releaseUnneeded = action {
            self.upstream = nil
        }
        self.perform(action, context: context)
        if case .releaseUnneeded = action {
            self.exchangePool.release(connection, reusable: true)
        }
    }

    func leaseFailed(_ failure: UpstreamPoolStateMachine.LeaseFailure) {
        self.waiter = nil
        self.releaseClientSlot()
        guard let context = self.context else { return }
        let error: GatewayError
        switch failure {
        case .tooManyWaiters, .waitTimedOut:
            error = .upstreamBusy
        case .connectFailed:
            error = .upstreamUnavailable
        case .shuttingDown:
            error = .shuttingDown
        }
        self.perform(self.machine.upstreamLeaseFailed(error), context: context)
    }
}

extension ProxyHandler: UpstreamConnectionDelegate {
    var clientIsWritable: Bool {
        !self.loginLockout.isHolding && (self.context?.channel.isWritable ?? false)
    }

    func upstreamReceived(_ event: UpstreamResponseParser.Event) {
        guard let context = self.context else { return }
        if self.loginLockout.isHolding {
            _ = self.loginLockout.hold(.event(event))
            return
        }
        switch event {
        case .head(let head):
            if let store = self.runtime.lockoutStore,
                let digest = self.loginLockout.holdsForSharedFailure(status: head.status)
            {
                self.holdForSharedFailure(event, store: store, digest: digest, context: context)
                return
            }
            // Written for the client now, straight from the received bytes; a draining
            // connection's response says `Connection: close`.
            // Room for the status line, X-Request-Id, the framing fields and the CORS fields.
            let extra = self.exchange.cors?.allowOrigin == nil ? 160 : 400
            var bytes = context.channel.allocator.buffer(capacity: head.fields.readableBytes + extra)
            let (framing, keepAlive) = HeaderPolicy.writeRelayedHead(
                head,
                requestMethod: self.exchange.method,
                clientVersion: self.exchange.version,
                keepAlive: self.exchange.keepAlive && !self.pipelining.responseMustClose,
                requestID: self.exchange.requestID,
                cors: self.exchange.cors,
                into: &bytes
            )
            self.perform(
                self.machine.responseHead(
                    .init(status: head.status, bytes: bytes, chunked: framing == .chunked),
                    upstreamReusable: head.keepAlive && head.selfDelimited,
                    clientKeepAlive: keepAlive
                ),
                context: context
            )
        case .body(let buffer):
            self.perform(self.machine.responseBody(buffer), context: context)
        case .end:
            self.perform(self.machine.responseEnd(), context: context)
        }
    }

    func upstreamReadComplete() {
        self.context?.flush()
    }

    func upstreamWritabilityChanged(isWritable: Bool) {
        if isWritable {
            self.resumeClientReadIfPossible()
        }
    }

    func upstreamFailed(protocolError: Bool) {
        guard let context = self.context else { return }
        if self.loginLockout.isHolding {
            _ = self.loginLockout.hold(.failed(protocolError: protocolError))
            return
        }
        let action = protocolError ? self.machine.upstreamProtocolError() : self.machine.upstreamFailed()
        self.perform(action, context: context)
    }
}

extension ProxyHandler: ConnectionTimersOwner {
    var connectionIsIdle: Bool {
        self.machine.isIdle && self.pipelining.isIdle
    }

    func idleTimedOut() {
        self.context?.close(promise: nil)
    }

    func responseTimedOut() {
        guard let context = self.context else { return }
        self.perform(self.machine.responseTimedOut(), context: context)
    }

    func readTimedOut(_ decision: RequestReadTimeoutStateMachine.Decision) {
        guard let context = self.context else { return }
        self.readTimedOut(decision, context: context)
    }
}
