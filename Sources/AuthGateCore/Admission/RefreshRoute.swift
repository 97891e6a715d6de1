public import NIOHTTP1

/// Who answers `POST /api/auth-proxy/refresh`: decided by the issuer of the credential, whose
/// cache entry is evicted on the way (a refresh means the old answer is about to change).
public enum RefreshRoute: Sendable, Hashable {
    /// No credential in the headers, a body: the token may be in it.
    case readBody
    /// A legacy token: the backend's refresh path (`auth.legacy_refresh_path`) gets the request.
    case forwardToBackend
    /// A Better Auth session: the auth server extends it.
    case answerHere(signedValue: String)
    /// Nothing the gateway can refresh.
    case reject(RejectionReason)

    /// The refresh route of a request whose credential, if any, is in its headers.
    public static func route(
        _ head: inout HTTPRequestHead,
        framing: RequestBodyFraming,
        auth: AuthSettings,
        legacyRefreshPath: String,
        cache: IdentityCache,
        epochSeconds: () -> Int64
    ) -> RefreshRoute {
        let credentials = auth.extractor.extract(from: head.headers)
        if credentials.isEmpty && framing != .none {
            return .readBody
        }
        return Self.route(
            &head,
            bearer: credentials.bearer,
            sessionCookie: credentials.sessionCookie,
            auth: auth,
            legacyRefreshPath: legacyRefreshPath,
            cache: cache,
            epochSeconds: epochSeconds
        ) ?? .reject(credentials.isEmpty ? .missingCredential : .malformed)
    }

    /// The refresh route of a bearer token or session cookie, from a header or the body;
    /// `nil` when neither is one the gateway knows. A legacy token's request is re-targeted
    /// to `legacyRefreshPath`, its query kept.
    public static func route(
        _ head: inout HTTPRequestHead,
        bearer: Substring?,
        sessionCookie: Substring?,
        auth: AuthSettings,
        legacyRefreshPath: String,
        cache: IdentityCache,
        epochSeconds: () -> Int64
    ) -> RefreshRoute? {
        if let bearer, TokenShape(classifying: bearer) == .jwt, var verifier = auth.legacyVerifier {
            // An expired access token is exactly what gets refreshed: check the signature only.
            verifier.leewaySeconds = Int64(Int32.max)
            verifier.requireExp = false
            guard case .success = verifier.verify(bearer, now: epochSeconds()) else {
                return .reject(.badSignature)
            }
            _ = cache.evict(CredentialKey(kind: .legacyJWT, credential: bearer))
            let query = head.uri.firstIndex(of: "?").map { String(head.uri[$0...]) } ?? ""
            head.uri = legacyRefreshPath + query
            return .forwardToBackend
        }
        if let value = sessionCookie ?? bearer, let signer = auth.sessionSigner {
            switch signer.verify(signedValue: value) {
            case .success(let token):
                _ = cache.evict(CredentialKey(kind: .sessionCookie, credential: token))
                return .answerHere(signedValue: signer.signedValue(token: token))
            case .failure(let reason):
                return .reject(reason)
            }
        }
        return nil
    }

    /// The audit event of this route (`readBody` has none yet).
    public var audit: AdmissionAudit? {
        switch self {
        case .readBody: return nil
        case .forwardToBackend: return AdmissionAudit(kind: .refresh, method: .legacy, success: true, reason: nil)
        case .answerHere: return AdmissionAudit(kind: .refresh, method: .betterAuth, success: true, reason: nil)
        case .reject(let reason):
            return AdmissionAudit(kind: .refresh, method: nil, success: false, reason: reason.rawValue)
        }
    }
}
