/// What one lookup at an authority (the auth server, the session table, the introspection
/// endpoint) produced; shared by every request that joined it.
public enum SessionOutcome: Sendable, Hashable {
    case found(Identity)
    case notFound
    /// The authority knows the credential and refuses it (a banned user).
    case refused(RejectionReason)
    case unavailable(String)
}

/// The cache's part in a verdict: a fresh entry answers at once, a stale one stands in only when
/// the authority cannot be reached (stale-if-error), never when it said no.
public enum StaleIfError {
    /// The cache's answer for a credential: a verdict to use now, or none (ask the authority)
    /// with the stale identity to fall back on.
    public static func cached(
        _ lookup: IdentityCache.LookupResult,
        as kind: CredentialKind?
    ) -> (verdict: AuthVerdict?, stale: Identity?) {
        switch lookup {
        case .hit(var identity):
            if let kind { identity.kind = kind }
            return (.accepted(identity), nil)
        case .negativeHit(let reason):
            return (.rejected(reason), nil)
        case .stale(let identity):
            return (nil, identity)
        case .miss:
            return (nil, nil)
        }
    }

    /// A lookup's outcome as a verdict, and whether the stale identity was served for it.
    public static func verdict(
        for outcome: SessionOutcome,
        stale: Identity?,
        as kind: CredentialKind?,
        notFound: RejectionReason
    ) -> (verdict: AuthVerdict, servedStale: Bool) {
        switch outcome {
        case .found(var identity):
            if let kind { identity.kind = kind }
            return (.accepted(identity), false)
        case .notFound:
            return (.rejected(notFound), false)
        case .refused(let reason):
            return (.rejected(reason), false)
        case .unavailable(let why):
            guard var stale else { return (.unavailable(why), false) }
            if let kind { stale.kind = kind }
            return (.accepted(stale), true)
        }
    }
}
