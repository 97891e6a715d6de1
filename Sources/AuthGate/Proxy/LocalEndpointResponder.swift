import AuthGateCore
import NIOCore
import NIOHTTP1

/// The answers of the gateway's own endpoints that need the introspection core or the auth
/// server: flags for a caller, RFC 7662 introspection and a Better Auth session refresh.
///
/// Each calls `answer` exactly once on `eventLoop`, at once when the core answers inline (a
/// cache hit, a local JWT check), else when its lookup ends. The handler writes the answer; it
/// builds none of them itself.
struct LocalEndpointResponder {
    let introspection: IntrospectionCore

    /// What the handler does at the head of a request the gateway answers itself.
    enum HeadStep: Equatable {
        /// Write this answer now.
        case write(LocalResponse)
        /// Write the 204 answer to a CORS preflight now.
        case preflight(CORSPreflightAnswer)
        /// Read the body (bounded), then call ``body(_:for:snapshot:requestID:eventLoop:answer:)``.
        case readBody(LocalExchangeStateMachine.Purpose)
        /// The answer comes through the callback.
        case pending
    }

    /// Starts answering `local` for the request `head`: at once, once its body is read, or
    /// through `answer` once a lookup ends.
    func answer(
        _ local: Admission.LocalAnswer,
        head: HTTPRequestHead,
        info: ProxyStateMachine.RequestInfo,
        snapshot: ConfigSnapshot,
        requestID: String,
        eventLoop: any EventLoop,
        answer: @escaping (LocalResponse) -> Void
    ) -> HeadStep {
        switch local {
        case .health:
            return .write(.health(timestamp: Timestamp.iso8601Now()))
        case .preflight(let preflight):
            return .preflight(preflight)
        case .introspect:
            return .readBody(.introspect)
        case .flags:
            self.flags(for: head.headers, snapshot: snapshot, eventLoop: eventLoop, answer: answer)
            return .pending
        case .refreshFromBody:
            // The guide's {"refresh_token": …}: judged once the body is in.
            return .readBody(.refresh(head, info))
        case .refreshSession(let signedValue):
            self.refreshSession(
                signedValue: signedValue,
                snapshot: snapshot,
                requestID: requestID,
                eventLoop: eventLoop,
                answer: answer
            )
            return .pending
        case .refreshRefused(let reason):
            return .write(.error(.unauthorized(reason), requestID: requestID))
        case .limited(let error):
            return .write(.error(error, requestID: requestID))
        }
    }

    /// What the handler does once a local request's body is read.
    enum BodyStep: Equatable {
        /// Write this answer now.
        case write(LocalResponse)
        /// A legacy refresh: the request goes to the backend as the client sent it.
        case forward(HTTPRequestHead, ProxyStateMachine.RequestInfo)
        /// The answer comes through the callback.
        case pending
    }

    /// A local request whose body is read: introspection, or a refresh whose `refresh_token` is
    /// routed like a bearer token. `audit` is the refresh's audit event, when it has one.
    func body(
        _ body: ByteBuffer,
        for purpose: LocalExchangeStateMachine.Purpose,
        snapshot: ConfigSnapshot,
        requestID: String,
        eventLoop: any EventLoop,
        answer: @escaping (LocalResponse) -> Void
    ) -> (step: BodyStep, audit: AdmissionAudit?) {
        guard case .refresh(var head, let info) = purpose else {
            self.introspect(body: body, snapshot: snapshot, requestID: requestID, eventLoop: eventLoop, answer: answer)
            return (.pending, nil)
        }
        let token: String
        switch RefreshRequestBody.refreshToken(in: Array(body.readableBytesView)) {
        case .success(let found):
            token = found
        case .failure(let problem):
            let error = GatewayError.invalidRequest(RefreshRequestBody.message(for: problem))
            return (
                .write(.error(error, requestID: requestID)),
                AdmissionAudit(kind: .refresh, method: nil, success: false, reason: "invalid_request")
            )
        }
        let route =
            RefreshRoute.route(
                &head,
                bearer: Substring(token),
                sessionCookie: nil,
                auth: snapshot.auth,
                legacyRefreshPath: snapshot.exchange.legacyRefreshPath,
                cache: self.introspection.cache,
                epochSeconds: IntrospectionCore.nowSeconds
            ) ?? .reject(.malformed)
        switch route {
        case .readBody:
            preconditionFailure("a body is only read for a refresh without a header credential")
        case .forwardToBackend:
            return (.forward(head, info), route.audit)
        case .answerHere(let signedValue):
            self.refreshSession(
                signedValue: signedValue,
                snapshot: snapshot,
                requestID: requestID,
                eventLoop: eventLoop,
                answer: answer
            )
            return (.pending, route.audit)
        case .reject(let reason):
            return (.write(.error(.unauthorized(reason), requestID: requestID)), route.audit)
        }
    }

    /// `GET /api/auth-proxy/flags`: the flags for this caller, who may be anonymous; a credential
    /// that is not accepted counts as none.
    func flags(
        for headers: HTTPHeaders,
        snapshot: ConfigSnapshot,
        eventLoop: any EventLoop,
        answer: @escaping (LocalResponse) -> Void
    ) {
        let auth = snapshot.auth
        let policy = snapshot.policy
        let finish: (Identity?) -> Void = { identity in
            let flags = FeatureFlags(
                enableDualAuth: auth.policy.enableDualAuth,
                preferBetterAuth: auth.policy.preferBetterAuth,
                rolloutPercent: policy.rolloutPercent,
                enableOAuth: policy.enableOAuth,
                showMigrationBanner: policy.showMigrationBanner,
                caller: identity.map { FeatureFlags.Caller(userID: $0.userID, method: $0.method) }
            )
            answer(LocalResponse(status: .ok, body: flags.renderJSON()))
        }
        let credentials = auth.extractor.extract(from: headers)
        let attempts = credentials.isMalformed ? [] : auth.policy.attempts(for: credentials, access: .authenticated)
        guard !attempts.isEmpty else {
            finish(nil)
            return
        }
        self.verdict(for: attempts, settings: auth, eventLoop: eventLoop) { verdict in
            if case .accepted(let identity) = verdict { finish(identity) } else { finish(nil) }
        }
    }

    /// `POST /api/auth-proxy/introspect` with its body read: the same core, cache and flags as
    /// a proxied request.
    func introspect(
        body: ByteBuffer,
        snapshot: ConfigSnapshot,
        requestID: String,
        eventLoop: any EventLoop,
        answer: @escaping (LocalResponse) -> Void
    ) {
        guard let token = LocalResponse.introspectionToken(in: Array(body.readableBytesView)) else {
            answer(.error(LocalResponse.introspectionRequestError, requestID: requestID))
            return
        }
        var credentials = ExtractedCredentials()
        credentials.bearer = Substring(token)
        let settings = snapshot.auth
        let attempts = settings.policy.attempts(for: credentials, access: .authenticated)
        guard !attempts.isEmpty else {
            answer(.introspection(.rejected(.malformed), requestID: requestID))
            return
        }
        self.verdict(for: attempts, settings: settings, eventLoop: eventLoop) { verdict in
            answer(.introspection(verdict, requestID: requestID))
        }
    }

    /// A Better Auth session refresh: the auth server extends the session and its answer (the
    /// renewed cookie included) goes to the client as it is; 503 when it cannot be asked.
    func refreshSession(
        signedValue: String,
        snapshot: ConfigSnapshot,
        requestID: String,
        eventLoop: any EventLoop,
        answer: @escaping (LocalResponse) -> Void
    ) {
        guard let client = self.introspection.authServer else {
            answer(.error(.authUnavailable, requestID: requestID))
            return
        }
        let cookieName = snapshot.auth.authServerCookieName
        eventLoop.makeFutureWithTask {
            try await client.refreshSession(cookieName: cookieName, signedValue: signedValue)
        }.hop(to: eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let reply):
                answer(
                    LocalResponse(
                        status: reply.status,
                        body: String(buffer: reply.body),
                        headers: HTTPHeaders(reply.headers)
                    )
                )
            case .failure:
                answer(.error(.authUnavailable, requestID: requestID))
            }
        }
    }

    private func verdict(
        for attempts: [CredentialAttempt],
        settings: AuthSettings,
        eventLoop: any EventLoop,
        _ finish: @escaping (AuthVerdict) -> Void
    ) {
        switch self.introspection.authenticate(attempts, settings: settings, eventLoop: eventLoop) {
        case .immediate(let verdict):
            finish(verdict)
        case .pending(let future):
            future.hop(to: eventLoop).assumeIsolated().whenComplete { result in
                switch result {
                case .success(let verdict): finish(verdict)
                case .failure(let error): finish(.unavailable("\(error)"))
                }
            }
        }
    }
}
