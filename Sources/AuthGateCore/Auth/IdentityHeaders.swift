public import NIOHTTP1

/// Writes the identity the backend trusts as `X-Auth-*` headers.
///
/// The client's own `X-Auth-*` headers were removed by ``HeaderPolicy`` before this runs, so
/// every such header that reaches the backend comes from here. Values come from tokens and
/// databases, so control characters are dropped: nothing can split a header.
public enum IdentityHeaders {
    /// Adds the `X-Auth-*` headers of `identity` (and nothing else) to `headers`.
    public static func add(_ identity: Identity, to headers: inout HTTPHeaders) {
        headers.add(name: "X-Auth-User-Id", value: Self.sanitized(identity.userID))
        if let email = identity.email {
            headers.add(name: "X-Auth-User-Email", value: Self.sanitized(email))
        }
        headers.add(name: "X-Auth-Method", value: identity.methodHeaderValue)
        if let sessionID = identity.sessionID {
            headers.add(name: "X-Auth-Session-Id", value: Self.sanitized(sessionID))
        }
        if !identity.roles.isEmpty {
            headers.add(name: "X-Auth-Roles", value: Self.sanitized(identity.roles.joined(separator: ",")))
        }
        if let admin = identity.impersonatedBy {
            headers.add(name: "X-Auth-Impersonated-By", value: Self.sanitized(admin))
        }
        if let organization = identity.organizationID {
            headers.add(name: "X-Auth-Organization-Id", value: Self.sanitized(organization))
            if let role = identity.organizationRole {
                headers.add(name: "X-Auth-Organization-Role", value: Self.sanitized(role))
            }
        }
    }

    static func sanitized(_ value: String) -> String {
        let hasControl = value.withContiguousUTF8 { bytes in
            ByteScan.containsControl(UnsafeRawBufferPointer(bytes), 0..<bytes.count, below: 0x20)
        }
        guard hasControl else { return value }
        return String(decoding: value.utf8.filter { $0 >= 0x20 && $0 != 0x7F }, as: UTF8.self)
    }
}
