public import NIOCore

/// The body of a public login, read as it is forwarded, to find the account whose failures the
/// lockout counts (`lockout.email_field`). Bounded by `lockout.max_body_bytes`: a larger body is
/// not a login form, its account is not read, and the client IP still counts.
public struct LoginBodyCheck: Sendable {
    private enum State: Sendable {
        case reading(ByteBuffer)
        /// Too large: nothing more is kept.
        case overflowed
    }

    /// What to do after a part of the body.
    public enum Action: Sendable, Equatable {
        /// Go on reading (and forwarding) the body.
        case keepReading
        /// The body is over the bound: stop holding it and decide now.
        case decide
    }

    private var state: State
    private let contentType: String?
    private let maxBytes: Int
    private let emailField: String

    public init(contentType: String?, maxBytes: Int, emailField: String, allocator: ByteBufferAllocator) {
        self.state = .reading(allocator.buffer(capacity: min(256, maxBytes)))
        self.contentType = contentType
        self.maxBytes = maxBytes
        self.emailField = emailField
    }

    /// Takes a part of the body as it goes upstream.
    public mutating func received(_ part: ByteBuffer) -> Action {
        guard case .reading(var body) = self.state else { return .keepReading }
        if body.readableBytes + part.readableBytes > self.maxBytes {
            self.state = .overflowed
            return .decide
        }
        // Not copied on write: the state no longer holds the buffer while it grows.
        self.state = .overflowed
        var part = part
        body.writeBuffer(&part)
        self.state = .reading(body)
        return .keepReading
    }

    /// The account of the login, once the body is complete or over its bound: the email
    /// (trimmed and lower-cased) and its lockout key (`account` namespace); `nil` when there is
    /// none to count.
    public var account: LoginAccount? {
        guard case .reading(let body) = self.state,
            let email = LoginEmail.extract(
                from: body,
                contentType: self.contentType,
                field: self.emailField,
                maxBytes: self.maxBytes
            )
        else { return nil }
        return LoginAccount(email: email, key: RateLimitKey(namespace: "account", value: email))
    }
}

/// The account a login body names, as the lockout counts it.
public struct LoginAccount: Sendable, Equatable {
    /// Trimmed and lower-cased.
    public var email: String
    /// The lockout's key of the account (`account` namespace).
    public var key: RateLimitKey

    public init(email: String, key: RateLimitKey) {
        self.email = email
        self.key = key
    }
}
