/// A listen address, `host:port` or `[v6]:port`, checked once when the config is loaded so the
/// server can bind without parsing strings again.
///
/// `host` is an IPv4 address, an IPv6 address (stored without brackets) or a DNS name; `port` is
/// 1...65535, or 0 for "any free port" (tests start gateways that way; in production operators
/// and nginx must know the port, so give one).
public struct HostAndPort: Sendable, Equatable, CustomStringConvertible {
    /// The host without brackets, for example `0.0.0.0`, `::1` or `gateway.internal`.
    public var host: String
    /// The TCP port, 0...65535 (0 = any free port).
    public var port: Int

    /// Parses `host:port` or `[v6]:port`; `nil` when the text is anything else.
    public init?(parsing text: String) {
        guard case .success(let parsed) = Self.parse(text) else { return nil }
        self = parsed
    }

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, with the IPv6 host in brackets: the form ``init(parsing:)`` accepts.
    public var description: String {
        self.isIPv6 ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }

    /// Whether the host is an IPv6 address.
    public var isIPv6: Bool { self.host.utf8.contains(UInt8(ascii: ":")) }

    /// Whether the host is the unspecified address (`0.0.0.0` or `::`) that binds every interface.
    public var isWildcard: Bool {
        guard let bits = ConfigSyntax.IPAddress(parsingAddress: self.host, allowZone: false) else { return false }
        return bits == ConfigSyntax.IPAddress(ipv4: 0) || bits == ConfigSyntax.IPAddress(high: 0, low: 0)
    }

    /// Parses with a reason for the operator on failure.
    static func parse(_ text: String) -> Result<HostAndPort, ConfigProblem> {
        let example = "expected host:port such as 0.0.0.0:8080 or [::1]:8080"
        guard !text.isEmpty else { return .failure(ConfigProblem("is empty; \(example)")) }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .failure(ConfigProblem("\"\(text)\": missing ] after the IPv6 address"))
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else {
                return .failure(ConfigProblem("\"\(text)\": missing :port after ]; \(example)"))
            }
            portText = rest.dropFirst()
            guard ConfigSyntax.IPAddress(parsingIPv6: host.utf8) != nil else {
                return .failure(ConfigProblem("\"\(text)\": \"\(host)\" is not an IPv6 address"))
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                return .failure(ConfigProblem("\"\(text)\" has no port; \(example)"))
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                return .failure(ConfigProblem("\"\(text)\": put an IPv6 address in brackets, as in [::1]:8080"))
            }
            if let problem = ConfigSyntax.hostNameProblem(host) {
                return .failure(ConfigProblem("\"\(text)\": \(problem)"))
            }
        }
        switch ConfigSyntax.parsePort(portText, allowZero: true) {
        case .success(let port):
            return .success(HostAndPort(host: String(host), port: port))
        case .failure(let problem):
            return .failure(ConfigProblem("\"\(text)\": \(problem.reason)"))
        }
    }
}

/// Parsers for the textual values of the configuration (addresses, ports, URLs), kept in one
/// namespace so their names cannot collide with the rest of the module.
enum ConfigSyntax {
    /// A TCP port 1...65535 in decimal; listeners may also say 0 (any free port, for tests).
    static func parsePort(_ text: Substring, allowZero: Bool = false) -> Result<Int, ConfigProblem> {
        guard !text.isEmpty else { return .failure(ConfigProblem("the port is missing")) }
        guard text.utf8.count <= 5, text.utf8.allSatisfy(isASCIIDigit), let port = Int(text) else {
            return .failure(ConfigProblem("the port \"\(text)\" is not a number 1...65535"))
        }
        guard (1...65_535).contains(port) || (allowZero && port == 0) else {
            return .failure(ConfigProblem("the port \(port) is out of range \(allowZero ? 0 : 1)...65535"))
        }
        return .success(port)
    }

    /// Why `host` is not an IPv4 address or a DNS name, or `nil` when it is one.
    ///
    /// Names are labels of letters, digits, `-` and `_` (container names use `_`), each 1...63
    /// bytes and not starting or ending with `-`, 253 bytes at most in all. Something made only of
    /// digits and dots must be a valid IPv4 address.
    static func hostNameProblem(_ host: Substring) -> String? {
        guard !host.isEmpty else { return "the host is missing" }
        guard host.utf8.count <= 253 else { return "the host name is longer than 253 bytes" }
        if host.utf8.allSatisfy({ isASCIIDigit($0) || $0 == UInt8(ascii: ".") }) {
            return parseIPv4(host.utf8) == nil ? "\"\(host)\" is not a valid IPv4 address" : nil
        }
        for label in host.split(separator: ".", omittingEmptySubsequences: false) {
            guard !label.isEmpty, label.utf8.count <= 63 else {
                return "\"\(host)\" is not a valid host name"
            }
            let valid = label.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    return true
                default:
                    return false
                }
            }
            guard valid, label.first != "-", label.last != "-" else {
                return "\"\(host)\" is not a valid host name"
            }
        }
        return nil
    }
}
