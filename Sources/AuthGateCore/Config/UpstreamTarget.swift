/// The backend the gateway forwards to, parsed once from `upstream.url` so the data path never
/// parses a URL.
///
/// Only `http://host[:port]` (optionally with a trailing `/`) is accepted: the gateway forwards
/// the request path unchanged, so a base path, a query or credentials in the URL would be
/// silently dropped or leaked; TLS to the backend is not implemented yet.
public struct UpstreamTarget: Sendable, Equatable {
    /// Host to connect to, without brackets for IPv6 (what `ClientBootstrap.connect` wants).
    public var host: String
    /// TCP port; 80 when the URL has none.
    public var port: Int
    /// Value for the `Host` header sent upstream: `host:port`, with `:port` left out for 80 and
    /// the IPv6 host in brackets.
    public var hostHeader: String

    /// Parses `http://host[:port][/]`; `nil` for anything else, including `https://`.
    public init?(url: String) {
        guard case .success(let target) = Self.parse(url) else { return nil }
        self = target
    }

    init(host: String, port: Int) {
        self.host = host
        self.port = port
        let bracketed = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        self.hostHeader = port == 80 ? bracketed : "\(bracketed):\(port)"
    }

    /// Parses with a reason for the operator on failure.
    static func parse(_ url: String) -> Result<UpstreamTarget, ConfigProblem> {
        switch ConfigSyntax.HTTPOrigin.parse(url, allowRootPath: true) {
        case .success(let origin):
            guard origin.scheme == "http" else {
                return .failure(ConfigProblem("TLS upstreams are not supported yet; use http://host:port"))
            }
            return .success(UpstreamTarget(host: origin.host, port: origin.port))
        case .failure(let problem):
            return .failure(problem)
        }
    }
}

extension ConfigSyntax {
    /// `scheme://host[:port]` with scheme `http` or `https`, used for `upstream.url` and
    /// `auth.auth_server_url`.
    struct HTTPOrigin: Sendable, Equatable {
        var scheme: String
        var host: String
        var port: Int

        /// Parses an origin. Problems never quote the whole URL: it may carry a password.
        static func parse(_ url: String, allowRootPath: Bool) -> Result<HTTPOrigin, ConfigProblem> {
            let shape = allowRootPath ? "http://host[:port]" : "http(s)://host[:port]"
            guard !url.isEmpty else { return .failure(ConfigProblem("is empty; expected \(shape)")) }
            guard let separator = url.firstRange(of: "://") else {
                return .failure(ConfigProblem("is not a URL; expected \(shape)"))
            }
            let scheme = url[..<separator.lowerBound].lowercased()
            guard scheme == "http" || scheme == "https" else {
                return .failure(ConfigProblem("the scheme \"\(scheme)\" is not supported; expected \(shape)"))
            }
            let rest = url[separator.upperBound...]
            let authorityEnd =
                rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            let tail = rest[authorityEnd...]
            if authority.contains("@") {
                return .failure(ConfigProblem("must not contain credentials (user:password@)"))
            }
            if tail.contains("?") {
                return .failure(ConfigProblem("must not have a query (?...)"))
            }
            if tail.contains("#") {
                return .failure(ConfigProblem("must not have a fragment (#...)"))
            }
            if !tail.isEmpty && !(allowRootPath && tail == "/") {
                let hint =
                    allowRootPath
                    ? "the request path is forwarded unchanged, so a base path cannot be configured"
                    : "it must be an origin, scheme://host[:port]"
                return .failure(ConfigProblem("must not have a path (found \"\(tail)\"); \(hint)"))
            }
            let host: Substring
            var port = scheme == "https" ? 443 : 80
            if authority.hasPrefix("[") {
                guard let close = authority.firstIndex(of: "]") else {
                    return .failure(ConfigProblem("missing ] after the IPv6 address"))
                }
                host = authority[authority.index(after: authority.startIndex)..<close]
                guard IPAddress(parsingIPv6: host.utf8) != nil else {
                    return .failure(ConfigProblem("\"\(host)\" is not an IPv6 address"))
                }
                let afterHost = authority[authority.index(after: close)...]
                if !afterHost.isEmpty {
                    guard afterHost.hasPrefix(":") else {
                        return .failure(ConfigProblem("unexpected text after the IPv6 address"))
                    }
                    switch parsePort(afterHost.dropFirst()) {
                    case .success(let value): port = value
                    case .failure(let problem): return .failure(problem)
                    }
                }
            } else {
                if let colon = authority.firstIndex(of: ":") {
                    host = authority[..<colon]
                    switch parsePort(authority[authority.index(after: colon)...]) {
                    case .success(let value): port = value
                    case .failure(let problem): return .failure(problem)
                    }
                } else {
                    host = authority
                }
                if let problem = hostNameProblem(host) {
                    return .failure(ConfigProblem(problem))
                }
            }
            return .success(HTTPOrigin(scheme: scheme, host: String(host), port: port))
        }
    }
}
