public import NIOHTTP1

/// The CORS protocol of the Fetch standard as the gateway speaks it for `cors:`: whether a
/// request comes from an allowed origin, what a preflight is answered, and which fields every
/// answer to an allowed origin carries.
///
/// A browser app on another origin can only read an answer that names its origin in
/// `Access-Control-Allow-Origin`, and sends a request with `Authorization` or a JSON body only
/// after an `OPTIONS` preflight has been answered with the method and headers it wants. The
/// gateway answers those preflights itself (a preflight never carries credentials, so it would
/// otherwise get 401) and puts the allow fields on every answer to an allowed origin, its own
/// 401, 429 and 5xx included, so that the app can read them.
///
/// Rules taken from the Fetch standard:
/// - Origins are compared as serialized origins, byte for byte (`https://app.example.com`,
///   lower case, no default port, no trailing slash). The `Origin` value is never reflected
///   unless it is on the list, and `null` can never be listed.
/// - `*` is only accepted as the sole entry and only without credentials: browsers refuse a
///   credentialed answer with `Access-Control-Allow-Origin: *`.
/// - The method of a preflight passes when it is listed or CORS-safelisted (GET, HEAD, POST);
///   methods are case-sensitive. Every name in `Access-Control-Request-Headers` must be listed
///   (case-insensitively). A preflight that asks for more is still answered 204 with the
///   origin's fields but without `Access-Control-Allow-Methods` / `-Headers`: the browser then
///   blocks the request and names the method or header that was refused in its console, which
///   a 403 would not tell the developer (browsers expose no preflight status to scripts).
///
/// Everything that goes into a field is built once, here, per config snapshot: deciding a
/// request is one pass over its headers and allocates nothing unless it is a preflight.
public struct CORSPolicy: Sendable, Equatable {
    /// Which origins may read answers.
    public enum Origins: Sendable, Equatable {
        /// `["*"]`: any origin, answered `Access-Control-Allow-Origin: *`, never with credentials.
        case any
        /// Serialized origins, compared byte for byte with the request's `Origin`.
        case list([String])
    }

    public let origins: Origins
    /// Whether answers say `Access-Control-Allow-Credentials: true`.
    public let allowCredentials: Bool
    /// Methods a preflight may ask for, as written (case-sensitive).
    public let allowedMethods: [String]
    /// Request headers a preflight may ask for (compared ignoring ASCII case).
    public let allowedHeaders: [String]
    /// Response headers scripts may read beyond the CORS-safelisted ones.
    public let exposedHeaders: [String]
    /// How long a browser may cache a preflight answer.
    public let maxAgeSeconds: Int

    let allowMethodsValue: String?
    let allowHeadersValue: String?
    let exposeHeadersValue: String?
    let maxAgeValue: String
    /// The fields of an answer to a request without an allowed origin.
    public let headersWithoutOrigin: CORSResponseHeaders

    /// The methods every preflight may ask for (Fetch's CORS-safelisted methods).
    public static let safelistedMethods = ["GET", "HEAD", "POST"]

    /// A policy from its parts; `allowedOrigins` is `["*"]` or a list of serialized origins
    /// (``GatewayConfig/validate()`` checks both before a snapshot is built).
    public init(
        allowedOrigins: [String],
        allowCredentials: Bool = false,
        allowedMethods: [String] = GatewayConfig.CORS().allowedMethods,
        allowedHeaders: [String] = GatewayConfig.CORS().allowedHeaders,
        exposedHeaders: [String] = GatewayConfig.CORS().exposedHeaders,
        maxAgeSeconds: Int = GatewayConfig.CORS().maxAgeSeconds
    ) {
        self.origins = allowedOrigins == ["*"] ? .any : .list(allowedOrigins)
        self.allowCredentials = allowCredentials
        self.allowedMethods = allowedMethods
        self.allowedHeaders = allowedHeaders
        self.exposedHeaders = exposedHeaders
        self.maxAgeSeconds = maxAgeSeconds
        self.allowMethodsValue = allowedMethods.isEmpty ? nil : allowedMethods.joined(separator: ", ")
        self.allowHeadersValue = allowedHeaders.isEmpty ? nil : allowedHeaders.joined(separator: ", ")
        self.exposeHeadersValue = exposedHeaders.isEmpty ? nil : exposedHeaders.joined(separator: ", ")
        self.maxAgeValue = String(maxAgeSeconds)
        self.headersWithoutOrigin = CORSResponseHeaders(
            allowOrigin: nil,
            allowCredentials: false,
            exposeHeaders: nil,
            varyOrigin: self.origins != .any
        )
    }

    /// The policy of a `cors:` section; `nil` (CORS off) while `allowed_origins` is empty.
    public init?(config: GatewayConfig.CORS) {
        guard !config.allowedOrigins.isEmpty else { return nil }
        self.init(
            allowedOrigins: config.allowedOrigins,
            allowCredentials: config.allowCredentials,
            allowedMethods: config.allowedMethods,
            allowedHeaders: config.allowedHeaders,
            exposedHeaders: config.exposedHeaders,
            maxAgeSeconds: config.maxAgeSeconds
        )
    }

    /// What the gateway does about CORS for one request.
    public struct Decision: Sendable, Equatable {
        /// The fields every answer to the request carries (`Vary: Origin` at least, unless the
        /// policy allows any origin).
        public var response: CORSResponseHeaders
        /// Set for a preflight from an allowed origin: answer it now, 204 with these fields.
        public var preflight: CORSPreflightAnswer?

        /// Whether the request's origin is allowed (its answers carry the allow fields).
        public var originAllowed: Bool { self.response.allowOrigin != nil }
    }

    /// Decides a request from its method and headers, in one pass over the headers.
    ///
    /// A request without `Origin`, with more than one, or with an origin that is not allowed
    /// gets ``headersWithoutOrigin`` and goes on as it would without CORS (an `OPTIONS`
    /// preflight from such an origin is an ordinary request). A preflight is an `OPTIONS`
    /// request with `Origin` and `Access-Control-Request-Method`.
    public func decide(method: HTTPMethod, headers: HTTPHeaders) -> Decision {
        let isOptions = method == .OPTIONS
        var origin: String? = nil
        var originCount = 0
        var requestMethod: String? = nil
        var requestHeaders: [String] = []
        for (name, value) in headers {
            switch name.utf8.count {
            case 6 where name.caseInsensitiveEqualsASCII("origin"):
                origin = value
                originCount += 1
            case 29 where isOptions && name.caseInsensitiveEqualsASCII("access-control-request-method"):
                requestMethod = value
            case 30 where isOptions && name.caseInsensitiveEqualsASCII("access-control-request-headers"):
                requestHeaders.append(value)
            default:
                break
            }
        }
        guard originCount == 1, let origin, let allowOrigin = self.allowOrigin(for: origin) else {
            return Decision(response: self.headersWithoutOrigin, preflight: nil)
        }
        let response = self.responseHeaders(allowOrigin: allowOrigin)
        guard isOptions, let requestMethod else {
            return Decision(response: response, preflight: nil)
        }
        return Decision(
            response: response,
            preflight: self.preflight(
                allowOrigin: allowOrigin,
                requestMethod: requestMethod,
                requestHeaders: requestHeaders
            )
        )
    }

    /// The `Access-Control-Allow-Origin` value for a request's `Origin`: the listed origin it
    /// equals (or `*` when any origin is allowed), `nil` when it is not allowed.
    public func allowOrigin(for origin: String) -> String? {
        let trimmed = origin.trimmingASCIISpaces()
        guard !trimmed.isEmpty else { return nil }
        switch self.origins {
        case .any:
            return "*"
        case .list(let allowed):
            return allowed.first { $0.utf8.elementsEqual(trimmed.utf8) }
        }
    }

    /// The fields of every answer to a request whose origin is allowed.
    public func responseHeaders(allowOrigin: String) -> CORSResponseHeaders {
        CORSResponseHeaders(
            allowOrigin: allowOrigin,
            allowCredentials: self.allowCredentials,
            exposeHeaders: self.exposeHeadersValue,
            varyOrigin: self.origins != .any
        )
    }

    /// The answer to a preflight from an allowed origin asking for `requestMethod` and the
    /// `Access-Control-Request-Headers` values `requestHeaders`.
    public func preflight(allowOrigin: String, requestMethod: String, requestHeaders: [String]) -> CORSPreflightAnswer {
        var answer = CORSPreflightAnswer(
            allowOrigin: allowOrigin,
            allowCredentials: self.allowCredentials,
            varyOrigin: self.origins != .any
        )
        let method = requestMethod.trimmingASCIISpaces()
        guard !method.isEmpty, method.utf8.allSatisfy(GatewayConfig.isTokenCharacter),
            self.allowedMethods.contains(where: { $0.utf8.elementsEqual(method.utf8) })
                || Self.safelistedMethods.contains(where: { $0.utf8.elementsEqual(method.utf8) })
        else {
            answer.denial = .method(String(method))
            return answer
        }
        for value in requestHeaders {
            for element in value.split(separator: ",") {
                let name = element.trimmingASCIISpaces()
                if name.isEmpty { continue }
                if !self.allowedHeaders.contains(where: { $0.caseInsensitiveEqualsASCII(name) }) {
                    answer.denial = .header(String(name))
                    return answer
                }
            }
        }
        answer.allowMethods = self.allowMethodsValue
        answer.allowHeaders = self.allowHeadersValue
        answer.maxAge = self.maxAgeValue
        return answer
    }

    // MARK: - Configuration syntax

    /// The serialized form of an origin written in the config (what browsers send in
    /// `Origin`), or why it is not an origin. The caller compares the result with what was
    /// written, so `HTTPS://App.example.com:443/` is reported with its serialized form.
    static func serializedOrigin(_ text: String) -> Result<String, ConfigProblem> {
        if text == "null" {
            return .failure(
                ConfigProblem(
                    "the origin null is shared by sandboxed frames, file: pages and redirected requests; it cannot be allowed"
                )
            )
        }
        guard let separator = text.firstRange(of: "://") else {
            return .failure(ConfigProblem("\"\(text)\" is not an origin; expected scheme://host[:port]"))
        }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard let first = scheme.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
            scheme.utf8.allSatisfy({ byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || ConfigSyntax.isASCIIDigit(byte)
                    || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            })
        else {
            return .failure(ConfigProblem("\"\(text)\" does not start with a URL scheme"))
        }
        var authority = text[separator.upperBound...]
        if authority.hasSuffix("/") { authority = authority.dropLast() }
        if authority.contains(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
            return .failure(
                ConfigProblem("\"\(text)\" has a path, query or fragment; an origin is only scheme://host[:port]")
            )
        }
        if authority.contains("@") {
            return .failure(ConfigProblem("\"\(text)\" has credentials (user@); an origin has none"))
        }
        let host: String
        var portText: Substring? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                return .failure(ConfigProblem("\"\(text)\": missing ] after the IPv6 address"))
            }
            let address = authority[authority.index(after: authority.startIndex)..<close]
            guard ConfigSyntax.IPAddress(parsingIPv6: address.utf8) != nil else {
                return .failure(ConfigProblem("\"\(text)\": \"\(address)\" is not an IPv6 address"))
            }
            host = "[" + address.lowercased() + "]"
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else {
                    return .failure(ConfigProblem("\"\(text)\": unexpected text after the IPv6 address"))
                }
                portText = rest.dropFirst()
            }
        } else {
            let name: Substring
            if let colon = authority.firstIndex(of: ":") {
                name = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                name = authority
            }
            if let problem = ConfigSyntax.hostNameProblem(name) {
                return .failure(ConfigProblem("\"\(text)\": \(problem)"))
            }
            host = name.lowercased()
        }
        var serialized = scheme + "://" + host
        if let portText {
            switch ConfigSyntax.parsePort(portText) {
            case .success(let port):
                let defaultPort = scheme == "http" ? 80 : scheme == "https" ? 443 : nil
                if port != defaultPort { serialized += ":\(port)" }
            case .failure(let problem):
                return .failure(ConfigProblem("\"\(text)\": \(problem.reason)"))
            }
        }
        return .success(serialized)
    }
}

/// The CORS fields the gateway puts on one answer (any answer but a preflight's).
public struct CORSResponseHeaders: Sendable, Equatable {
    /// `Access-Control-Allow-Origin`: the request's (allowed) origin, or `*`; `nil` when the
    /// request has no allowed origin, and the answer only gets `Vary: Origin`.
    public var allowOrigin: String?
    /// `Access-Control-Allow-Credentials: true`.
    public var allowCredentials: Bool
    /// `Access-Control-Expose-Headers`.
    public var exposeHeaders: String?
    /// Whether the answer depends on `Origin` and says `Vary: Origin` (unless any origin is
    /// allowed), so that a cache never serves one origin's answer to another.
    public var varyOrigin: Bool

    public init(allowOrigin: String?, allowCredentials: Bool, exposeHeaders: String?, varyOrigin: Bool) {
        self.allowOrigin = allowOrigin
        self.allowCredentials = allowCredentials
        self.exposeHeaders = exposeHeaders
        self.varyOrigin = varyOrigin
    }

    /// Calls `body` with each `Access-Control-*` field, in order (`Vary` is not among them:
    /// a relayed answer merges it with the backend's).
    public func forEachAllowField(_ body: (_ name: String, _ value: String) -> Void) {
        guard let allowOrigin = self.allowOrigin else { return }
        body("Access-Control-Allow-Origin", allowOrigin)
        if self.allowCredentials { body("Access-Control-Allow-Credentials", "true") }
        if let exposeHeaders = self.exposeHeaders { body("Access-Control-Expose-Headers", exposeHeaders) }
    }

    /// Adds the fields to a head the gateway builds itself (which has no `Vary` of its own).
    public func add(to headers: inout HTTPHeaders) {
        self.forEachAllowField { name, value in headers.add(name: name, value: value) }
        if self.varyOrigin { headers.add(name: "Vary", value: "Origin") }
    }
}

/// The gateway's answer to a preflight from an allowed origin: always 204; the allow fields of
/// the method and headers only when everything asked for is allowed.
public struct CORSPreflightAnswer: Sendable, Equatable {
    /// What a refused preflight asked for that is not allowed.
    public enum Denial: Sendable, Equatable {
        case method(String)
        case header(String)
    }

    public var allowOrigin: String
    public var allowCredentials: Bool
    /// `Access-Control-Allow-Methods`; `nil` when the preflight is refused.
    public var allowMethods: String?
    /// `Access-Control-Allow-Headers`; `nil` when the preflight is refused.
    public var allowHeaders: String?
    /// `Access-Control-Max-Age`; `nil` when the preflight is refused.
    public var maxAge: String?
    public var varyOrigin: Bool
    /// Why the preflight is refused; `nil` when it passes.
    public var denial: Denial?

    public init(
        allowOrigin: String,
        allowCredentials: Bool,
        allowMethods: String? = nil,
        allowHeaders: String? = nil,
        maxAge: String? = nil,
        varyOrigin: Bool,
        denial: Denial? = nil
    ) {
        self.allowOrigin = allowOrigin
        self.allowCredentials = allowCredentials
        self.allowMethods = allowMethods
        self.allowHeaders = allowHeaders
        self.maxAge = maxAge
        self.varyOrigin = varyOrigin
        self.denial = denial
    }

    /// The status of every preflight answer.
    public static let status = HTTPResponseStatus.noContent

    /// Adds the answer's fields.
    public func add(to headers: inout HTTPHeaders) {
        headers.add(name: "Access-Control-Allow-Origin", value: self.allowOrigin)
        if self.allowCredentials { headers.add(name: "Access-Control-Allow-Credentials", value: "true") }
        if let allowMethods = self.allowMethods {
            headers.add(name: "Access-Control-Allow-Methods", value: allowMethods)
        }
        if let allowHeaders = self.allowHeaders {
            headers.add(name: "Access-Control-Allow-Headers", value: allowHeaders)
        }
        if let maxAge = self.maxAge { headers.add(name: "Access-Control-Max-Age", value: maxAge) }
        headers.add(
            name: "Vary",
            value: self.varyOrigin
                ? "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
                : "Access-Control-Request-Method, Access-Control-Request-Headers"
        )
    }
}
