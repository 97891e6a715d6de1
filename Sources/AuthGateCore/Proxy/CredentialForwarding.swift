public import NIOHTTP1

/// Removes the caller's credentials from a request before it goes to the backend, when the
/// configuration says the backend must not see them.
///
/// A backend that trusts the `X-Auth-*` headers (or the `X-Auth-Assertion`) has no need for the
/// bearer token or the session cookie, and not forwarding them means a compromised or logging
/// backend cannot replay them. Other cookies belong to the application and pass through untouched.
public enum CredentialForwarding {
    /// Strips credentials from `headers` in place.
    ///
    /// - Parameters:
    ///   - authorization: whether every `Authorization` header is removed.
    ///   - sessionCookieNames: cookies removed from every `Cookie` header, matched exactly
    ///     (case-sensitive, as cookie names are); pass both the plain and the `__Secure-` name.
    ///     The other cookies keep their bytes and order (`a=1; better-auth.session_token=x; b=2`
    ///     becomes `a=1; b=2`); a `Cookie` header left with no cookie is removed. A header in which
    ///     no named cookie occurs is not rewritten at all.
    public static func strip(_ headers: inout HTTPHeaders, authorization: Bool, sessionCookieNames: [String]) {
        if authorization {
            headers.remove(name: "Authorization")
        }
        guard !sessionCookieNames.isEmpty else {
            return
        }
        var needsRewrite = false
        for (name, value) in headers where name.caseInsensitiveEqualsASCII("cookie") {
            if Self.removingCookies(named: sessionCookieNames, from: value) != nil {
                needsRewrite = true
                break
            }
        }
        guard needsRewrite else {
            return
        }
        var rewritten = HTTPHeaders()
        rewritten.reserveCapacity(headers.count)
        for (name, value) in headers {
            guard name.caseInsensitiveEqualsASCII("cookie"),
                let remaining = Self.removingCookies(named: sessionCookieNames, from: value)
            else {
                rewritten.add(name: name, value: value)
                continue
            }
            if !remaining.isEmpty {
                rewritten.add(name: name, value: remaining)
            }
        }
        headers = rewritten
    }

    /// The `Cookie` header value without the cookies called `names`, the remaining pairs joined by
    /// `"; "`; `nil` when no such cookie occurs (the value stays as it is).
    static func removingCookies(named names: [String], from value: String) -> String? {
        var kept: [Substring] = []
        var removed = false
        for pair in value.split(separator: ";", omittingEmptySubsequences: true) {
            let trimmed = pair.trimmingASCIISpaces()
            if trimmed.isEmpty {
                continue
            }
            let name = (trimmed.firstIndex(of: "=").map { trimmed[..<$0] } ?? trimmed).trimmingASCIISpaces()
            if names.contains(where: { $0.utf8.elementsEqual(name.utf8) }) {
                removed = true
            } else {
                kept.append(trimmed)
            }
        }
        return removed ? kept.joined(separator: "; ") : nil
    }
}
