/// A ban of Better Auth's admin plugin (`user.banned`, `user.banExpires`), as the auth server
/// applies it: a banned user with no `banExpires`, or one in the future, is banned; once
/// `banExpires` has passed the ban is over (Better Auth lifts it at the next sign-in).
///
/// The gateway checks it when it fills its cache from get-session or the session table, so a
/// session the admin plugin did not revoke (a ban written into the table, a session resolved
/// before the ban and looked up again) is refused with 401 `user_banned`.
public struct UserBan: Sendable, Hashable {
    public var banned: Bool
    /// When the ban ends, in seconds since 1970; `nil`: it does not.
    public var expiresAt: Int64?

    public init(banned: Bool, expiresAt: Int64?) {
        self.banned = banned
        self.expiresAt = expiresAt
    }

    /// Whether the ban holds at `now` (seconds since 1970).
    public func isInEffect(now: Int64) -> Bool {
        guard self.banned else { return false }
        guard let expiresAt = self.expiresAt else { return true }
        return expiresAt > now
    }

    /// The ban of a get-session `user` object: `banned` true, `banExpires` an ISO-8601 date or
    /// `null`. A `banExpires` that does not parse is read as no end: a ban is not lifted by a
    /// value the gateway cannot read.
    public init(user: JSONValue) {
        self.banned = user["banned"]?.boolValue ?? false
        if let text = user["banExpires"]?.stringValue {
            self.expiresAt = ISO8601.secondsSince1970(text)
        } else {
            self.expiresAt = nil
        }
    }
}
