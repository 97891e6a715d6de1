/// How the verdicts of a request's credential attempts add up to one: the first acceptance wins;
/// if none accepts, the answer is 503 when some attempt could not be decided (an outage must not
/// read as a refusal), otherwise the first rejection's reason.
///
/// The introspection core feeds it one verdict at a time, inline or as lookups end, and stops at
/// the first ``add(_:)`` that returns a verdict.
public struct CredentialFold: Sendable, Hashable {
    private var firstRejection: RejectionReason?
    private var unavailable: String?

    public init() {}

    /// Adds one attempt's verdict; returns the final verdict once it is known (an acceptance).
    public mutating func add(_ verdict: AuthVerdict) -> AuthVerdict? {
        switch verdict {
        case .accepted:
            return verdict
        case .rejected(let reason):
            self.firstRejection = self.firstRejection ?? reason
        case .unavailable(let why):
            self.unavailable = self.unavailable ?? why
        }
        return nil
    }

    /// The verdict when every attempt has been added and none accepted.
    public var result: AuthVerdict {
        if let unavailable { return .unavailable(unavailable) }
        return .rejected(self.firstRejection ?? .missingCredential)
    }
}
