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
