public import NIOHTTP1

/// One exchange's part in the lockout (`lockout:`), from its head to the backend's answer.
///
/// A login to the auth server whose answer is a 401 counts as a failure of the client IP and
/// of the account its body named. With the shared store (`lockout.store: postgres`) the failure
/// is stored there before the answer reaches the client, so that the client's next attempt, on
/// any instance, sees it counted: meanwhile what the backend delivers is held here, in order,
/// and handed back once the store has answered.
///
/// ```
/// notCounted                       (not a login, or nothing of it counts)
/// counted ──401 with a shared digest──▶ holding ──stored──▶ counted (digest used up)
///    └── account known / refused (locked out) ──▶ counted / notCounted
/// ```
public struct LoginLockoutStateMachine: Sendable {
    /// What the upstream connection delivered while the answer was held.
    public enum Held: Sendable, Equatable {
        case event(UpstreamResponseParser.Event)
        case failed(protocolError: Bool)
    }

    private enum State: Sendable {
        case notCounted
        /// A 401 answer counts; `account` once the body named one, `sharedDigest` while the
        /// failure still has to be stored in the shared store.
        case counted(account: RateLimitKey?, sharedDigest: String?)
        case holding(account: RateLimitKey?, held: [Held])
    }

    private var state: State = .notCounted {
        didSet {
            if case .holding = self.state { self.isHolding = true } else { self.isHolding = false }
        }
    }

    /// Whether what the backend delivers is held back now. Stored, not computed: the handler
    /// asks for every upstream event, and a stored field is read without a call.
    public private(set) var isHolding = false

    public init() {}

    /// A new exchange: whether a 401 answer to it counts towards the lockout (a login).
    public mutating func begin(countsFailure: Bool) {
        self.state = countsFailure ? .counted(account: nil, sharedDigest: nil) : .notCounted
    }

    /// The login's body named `account`; `sharedDigest` is its key in the shared store, when
    /// there is one.
    public mutating func accountKnown(_ account: RateLimitKey, sharedDigest: String?) {
        guard case .counted = self.state else { return }
        self.state = .counted(account: account, sharedDigest: sharedDigest)
    }

    /// The account was refused as locked out: the refusal counts nothing more of it.
    public mutating func accountRefused() {
        guard case .counted = self.state else { return }
        self.state = .counted(account: nil, sharedDigest: nil)
    }

    /// The account whose failures count besides the client IP's.
    public var account: RateLimitKey? {
        switch self.state {
        case .notCounted: return nil
        case .counted(let account, _), .holding(let account, _): return account
        }
    }

    /// Whether an answer with `status` counts as a failed login (locally).
    public func countsFailure(status: HTTPResponseStatus) -> Bool {
        guard status == .unauthorized else { return false }
        if case .notCounted = self.state { return false }
        return true
    }

    /// The backend's response head came with `status`: the shared store's digest when the
    /// failure must be stored there first. The head is then held (``hold(_:)``), and so is
    /// everything after it, until ``release()``.
    public mutating func holdsForSharedFailure(status: HTTPResponseStatus) -> String? {
        guard status == .unauthorized, case .counted(let account, let digest?) = self.state else { return nil }
        self.state = .holding(account: account, held: [])
        return digest
    }

    /// Holds `item` back while the failure is stored; false when nothing is held.
    public mutating func hold(_ item: Held) -> Bool {
        guard case .holding(let account, var held) = self.state else { return false }
        self.state = .notCounted
        held.append(item)
        self.state = .holding(account: account, held: held)
        return true
    }

    /// The failure is stored (or the store gave up): what was held, in order. The answer is
    /// still counted locally when it is relayed; it is not stored again.
    public mutating func release() -> [Held] {
        guard case .holding(let account, let held) = self.state else { return [] }
        self.state = .counted(account: account, sharedDigest: nil)
        return held
    }
}
