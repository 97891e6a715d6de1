public import NIOHTTP1

/// Bearer tokens on WebSocket upgrades.
///
/// A browser's `WebSocket` cannot set `Authorization`, so for upgrade requests a token may also
/// come from two opt-in places: `Sec-WebSocket-Protocol`, where the client offers a marker
/// protocol followed by the token as the next list element (`new WebSocket(url, ["chat", "bearer",
/// token])` sends `Sec-WebSocket-Protocol: chat, bearer, <token>`), and a query parameter
/// (`?access_token=<token>`). Both are removed from the request before it reaches the backend by
/// ``removingSubprotocolToken(_:marker:)`` and ``removingQueryParameter(_:from:)``, so the token
/// does not end up in the backend's logs.
extension CredentialExtractor {
    /// The credentials of a WebSocket upgrade request: those of ``extract(from:)``, and, when the
    /// request has no bearer token and no malformed `Authorization`, a token from
    /// `Sec-WebSocket-Protocol` (when `subprotocolMarker` is set), else from the query parameter
    /// `queryParameter` of `target` (when set).
    ///
    /// The subprotocol token is taken as sent; the query value is percent-decoded once (`+` stays
    /// `+`). A token that is empty, offered twice, or has a character outside
    /// `A–Z a–z 0–9 - . _ ~ + / = %` sets ``ExtractedCredentials/malformedUpgradeToken``. Call it
    /// for upgrade requests only; other requests use ``extract(from:)``.
    public func extractForUpgrade(
        from headers: HTTPHeaders,
        target: String,
        subprotocolMarker: String?,
        queryParameter: String?
    ) -> ExtractedCredentials {
        var result = self.extract(from: headers)
        guard result.bearer == nil, !result.isMalformed else {
            return result
        }
        var found: UpgradeToken = .absent
        if let marker = subprotocolMarker, !marker.isEmpty {
            found = Self.subprotocolToken(in: headers, marker: marker)
            if case .token = found {
                result.bearerSource = .webSocketSubprotocol
            }
        }
        if case .absent = found, let name = queryParameter, !name.isEmpty {
            found = Self.queryToken(named: name, in: target)
            if case .token = found {
                result.bearerSource = .queryParameter
            }
        }
        switch found {
        case .absent:
            break
        case .token(let token):
            result.bearer = token
        case .malformed:
            result.malformedUpgradeToken = true
        }
        return result
    }

    /// Removes from every `Sec-WebSocket-Protocol` header the element that follows `marker`, keeping
    /// the marker (the backend must still select one of the offered protocols, and the browser
    /// accepts only an offered one) and the other protocols in order. A header left with no
    /// element is removed; headers are not touched when no `marker` element is present.
    public static func removingSubprotocolToken(_ headers: inout HTTPHeaders, marker: String) {
        guard !marker.isEmpty,
            headers.contains(where: {
                isSubprotocolHeader($0.name) && Self.elements(of: $0.value).contains(marker[...])
            })
        else {
            return
        }
        var rewritten = HTTPHeaders()
        rewritten.reserveCapacity(headers.count)
        var expectingToken = false
        for (name, value) in headers {
            guard isSubprotocolHeader(name) else {
                rewritten.add(name: name, value: value)
                continue
            }
            var kept: [Substring] = []
            for element in Self.elements(of: value) {
                if expectingToken {
                    expectingToken = false
                    continue
                }
                if element == marker[...] {
                    expectingToken = true
                }
                kept.append(element)
            }
            if !kept.isEmpty {
                rewritten.add(name: name, value: kept.joined(separator: ", "))
            }
        }
        headers = rewritten
    }

    /// `target` without every `name` parameter of its query (the name compared after
    /// percent-decoding, as a backend would); the other parameters keep their bytes and order,
    /// and a query left empty loses its `?`. Returns `target` itself when there is no such
    /// parameter.
    public static func removingQueryParameter(_ name: String, from target: String) -> String {
        guard !name.isEmpty, let questionMark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else {
            return target
        }
        let path = target[..<questionMark]
        let query = target[target.index(after: questionMark)...]
        var kept: [Substring] = []
        var removed = false
        for parameter in query.split(separator: "&", omittingEmptySubsequences: false) {
            if Self.parameter(parameter, isNamed: name) {
                removed = true
            } else {
                kept.append(parameter)
            }
        }
        guard removed else {
            return target
        }
        kept.removeAll { $0.isEmpty }
        return kept.isEmpty ? String(path) : String(path) + "?" + kept.joined(separator: "&")
    }

    /// Removes both upgrade token places from `head`, each when configured. Call it for every
    /// upgrade request when the option is on, whichever place the token came from, so that no
    /// copy of a token travels on.
    public static func removingUpgradeTokens(
        _ head: inout HTTPRequestHead,
        subprotocolMarker: String?,
        queryParameter: String?
    ) {
        if let marker = subprotocolMarker {
            Self.removingSubprotocolToken(&head.headers, marker: marker)
        }
        if let name = queryParameter {
            let target = Self.removingQueryParameter(name, from: head.uri)
            if target != head.uri {
                head.uri = target
            }
        }
    }

    // MARK: - Parsing

    enum UpgradeToken: Equatable {
        case absent
        case token(Substring)
        case malformed
    }

    /// The element after `marker` in the `Sec-WebSocket-Protocol` list (all headers, in order).
    static func subprotocolToken(in headers: HTTPHeaders, marker: String) -> UpgradeToken {
        var found: Substring?
        var expectingToken = false
        for (name, value) in headers where isSubprotocolHeader(name) {
            for element in Self.elements(of: value) {
                if expectingToken {
                    expectingToken = false
                    guard found == nil else {
                        return .malformed
                    }
                    found = element
                } else if element == marker[...] {
                    expectingToken = true
                }
            }
        }
        if expectingToken {
            return .malformed
        }
        guard let found else {
            return .absent
        }
        return isUpgradeTokenText(found) ? .token(found) : .malformed
    }

    /// The percent-decoded value of the query parameter `name` of `target`.
    static func queryToken(named name: String, in target: String) -> UpgradeToken {
        guard let questionMark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else {
            return .absent
        }
        var found: Substring?
        for parameter in target[target.index(after: questionMark)...].split(separator: "&") {
            guard Self.parameter(parameter, isNamed: name) else {
                continue
            }
            guard found == nil else {
                return .malformed
            }
            found = parameter.firstIndex(of: "=").map { parameter[parameter.index(after: $0)...] } ?? ""
        }
        guard let found else {
            return .absent
        }
        guard let decoded = SessionTokenSigning.percentDecode(found), isUpgradeTokenText(decoded) else {
            return .malformed
        }
        return .token(decoded)
    }

    /// Whether the query parameter `parameter` (`key=value` or `key`) is called `name`.
    private static func parameter(_ parameter: Substring, isNamed name: String) -> Bool {
        let key = parameter.firstIndex(of: "=").map { parameter[..<$0] } ?? parameter
        if key.utf8.elementsEqual(name.utf8) {
            return true
        }
        guard key.utf8.contains(UInt8(ascii: "%")), let decoded = SessionTokenSigning.percentDecode(key) else {
            return false
        }
        return decoded.utf8.elementsEqual(name.utf8)
    }

    /// The non-empty elements of a comma-separated header value, without surrounding whitespace.
    private static func elements(of value: String) -> [Substring] {
        value.split(separator: ",").map { $0.trimmingASCIISpaces() }.filter { !$0.isEmpty }
    }
}

private func isSubprotocolHeader(_ name: String) -> Bool {
    name.utf8.count == 22 && name.caseInsensitiveEqualsASCII("sec-websocket-protocol")
}

/// RFC 6750 `b64token` characters plus `%` (a signed session token sent percent-encoded).
private func isUpgradeTokenText(_ token: Substring) -> Bool {
    !token.isEmpty
        && token.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"), UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "%"):
                return true
            default:
                return false
            }
        }
}
