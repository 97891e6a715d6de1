public import NIOCore

#if canImport(Darwin)
import Darwin
#elseif canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The set of peers whose `X-Forwarded-*` and `X-Request-Id` headers are believed.
///
/// Built once per configuration from `trusted_proxies` and asked once per request, so the lookup
/// is a handful of integer comparisons: every address, IPv4 or IPv6, is held as 128 bits, with
/// IPv4 in the IPv4-mapped range `::ffff:0:0/96`. That is why `::ffff:10.0.0.1` (how a dual-stack
/// socket reports an IPv4 peer) matches the rule `10.0.0.0/8`, and why `::/0` matches every
/// address while `0.0.0.0/0` matches every IPv4 address. ``contains(_:)`` reads the socket
/// address bytes directly and neither allocates nor touches Foundation.
public struct TrustedProxies: Sendable {
    /// A compiled rule: an address and a mask, both 128 bits split into two words.
    struct Rule: Sendable, Equatable {
        var networkHigh: UInt64
        var networkLow: UInt64
        var maskHigh: UInt64
        var maskLow: UInt64

        init(address: ConfigSyntax.IPAddress, prefixLength: Int) {
            precondition((0...128).contains(prefixLength))
            self.maskHigh = prefixLength >= 64 ? ~0 : (prefixLength == 0 ? 0 : ~0 << UInt64(64 - prefixLength))
            self.maskLow = prefixLength <= 64 ? 0 : (prefixLength == 128 ? ~0 : ~0 << UInt64(128 - prefixLength))
            self.networkHigh = address.high & self.maskHigh
            self.networkLow = address.low & self.maskLow
        }

        @inline(__always)
        func matches(high: UInt64, low: UInt64) -> Bool {
            (high & self.maskHigh) == self.networkHigh && (low & self.maskLow) == self.networkLow
        }
    }

    private let rules: ContiguousArray<Rule>

    /// The entries this set was built from, as written in the configuration.
    public let entries: [String]

    /// Trusts nobody: forwarding headers from every peer are ignored.
    public static let none = TrustedProxies(validatedRules: [], entries: [])

    /// Compiles `trusted_proxies` entries: IPv4 or IPv6 addresses (`10.0.0.1`, `::1`) or CIDRs
    /// (`10.0.0.0/8`, `fd00::/8`, `::ffff:10.0.0.0/104`).
    ///
    /// - Throws: a ``ConfigError`` with one issue per bad entry (key `trusted_proxies[i]`), for
    ///   garbage, a prefix length out of range, host bits set below the prefix, or a zone id.
    public init(_ entries: [String]) throws(ConfigError) {
        var rules: ContiguousArray<Rule> = []
        var issues: [ConfigIssue] = []
        for (index, entry) in entries.enumerated() {
            switch Self.parseEntry(entry) {
            case .success(let rule):
                rules.append(rule)
            case .failure(let problem):
                issues.append(ConfigIssue(key: "trusted_proxies[\(index)]", reason: problem.reason))
            }
        }
        guard issues.isEmpty else {
            throw ConfigError(file: nil, issues: issues)
        }
        self.init(validatedRules: rules, entries: entries)
    }

    private init(validatedRules: ContiguousArray<Rule>, entries: [String]) {
        self.rules = validatedRules
        self.entries = entries
    }

    /// `true` when no peer is trusted.
    public var isEmpty: Bool { self.rules.isEmpty }

    /// Whether a connected peer is a trusted proxy. Unix domain socket peers are never trusted
    /// (the listeners are TCP only). Allocation-free; the IPv6 scope id is ignored.
    public func contains(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let v4):
            let bits = ConfigSyntax.IPAddress(ipv4: UInt32(bigEndian: v4.address.sin_addr.s_addr))
            return self.contains(bits)
        case .v6(let v6):
            let bits = withUnsafeBytes(of: v6.address.sin6_addr) { raw in
                ConfigSyntax.IPAddress(
                    high: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                    low: UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                )
            }
            return self.contains(bits)
        case .unixDomainSocket:
            return false
        }
    }

    /// Whether a textual address (for example one element of `X-Forwarded-For`) is a trusted
    /// proxy. Accepts `1.2.3.4` and `2001:db8::1` (a `%zone` suffix is ignored); anything else,
    /// including brackets, ports and surrounding spaces, is not an address and is not trusted.
    public func contains(ip: String) -> Bool {
        guard !self.rules.isEmpty, let bits = ConfigSyntax.IPAddress(parsingAddress: ip, allowZone: true) else {
            return false
        }
        return self.contains(bits)
    }

    @inline(__always)
    func contains(_ bits: ConfigSyntax.IPAddress) -> Bool {
        for rule in self.rules where rule.matches(high: bits.high, low: bits.low) {
            return true
        }
        return false
    }

    /// Parses one configuration entry; shared with ``GatewayConfig/validate()``.
    static func parseEntry(_ entry: String) -> Result<Rule, ConfigProblem> {
        guard !entry.isEmpty else {
            return .failure(ConfigProblem("is empty; expected an IP address or a CIDR such as 10.0.0.0/8"))
        }
        if entry.utf8.contains(UInt8(ascii: "%")) {
            return .failure(ConfigProblem("\"\(entry)\": zone ids (%...) are not supported"))
        }
        let addressPart: Substring
        var prefixLength: Int?
        if let slash = entry.firstIndex(of: "/") {
            addressPart = entry[..<slash]
            let prefixText = entry[entry.index(after: slash)...]
            guard !prefixText.isEmpty, prefixText.utf8.count <= 3,
                prefixText.utf8.allSatisfy(ConfigSyntax.isASCIIDigit),
                let length = Int(prefixText)
            else {
                return .failure(ConfigProblem("\"\(entry)\": the prefix length after / is not a number"))
            }
            prefixLength = length
        } else {
            addressPart = entry[...]
        }
        let isIPv4: Bool
        let bits: ConfigSyntax.IPAddress
        if let v4 = ConfigSyntax.parseIPv4(addressPart.utf8) {
            isIPv4 = true
            bits = ConfigSyntax.IPAddress(ipv4: v4)
        } else if let v6 = ConfigSyntax.IPAddress(parsingIPv6: addressPart.utf8) {
            isIPv4 = false
            bits = v6
        } else {
            return .failure(
                ConfigProblem("\"\(entry)\" is not an IP address or CIDR (for example 10.0.0.0/8 or fd00::/8)")
            )
        }
        let maximum = isIPv4 ? 32 : 128
        let length = prefixLength ?? maximum
        guard length <= maximum else {
            return .failure(
                ConfigProblem(
                    "\"\(entry)\": the prefix length must be 0...\(maximum) for an IPv\(isIPv4 ? 4 : 6) address"
                )
            )
        }
        let rule = Rule(address: bits, prefixLength: isIPv4 ? length + 96 : length)
        guard rule.networkHigh == bits.high, rule.networkLow == bits.low else {
            let network = ConfigSyntax.IPAddress(high: rule.networkHigh, low: rule.networkLow)
            let suggestion = isIPv4 ? network.ipv4Description : network.ipv6Description
            return .failure(
                ConfigProblem("\"\(entry)\" has host bits set below the prefix; did you mean \(suggestion)/\(length)?")
            )
        }
        return .success(rule)
    }
}

/// A problem found while parsing one value; the caller adds the key.
struct ConfigProblem: Error, Sendable, Equatable {
    var reason: String
    init(_ reason: String) { self.reason = reason }
}

extension ConfigSyntax {
    @inline(__always)
    static func isASCIIDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt64? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt64(byte &- UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt64(byte &- UInt8(ascii: "a") &+ 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt64(byte &- UInt8(ascii: "A") &+ 10)
        default: return nil
        }
    }

    /// Strict dotted-quad IPv4: four decimal parts 0...255, no leading zeros (so `010.0.0.1` is not
    /// silently octal or decimal), nothing else.
    static func parseIPv4<Bytes: Collection>(_ bytes: Bytes) -> UInt32? where Bytes.Element == UInt8 {
        var result: UInt32 = 0
        var part: UInt32 = 0
        var digits = 0
        var parts = 0
        var leadingZero = false
        for byte in bytes {
            if isASCIIDigit(byte) {
                if digits == 1 && leadingZero { return nil }
                if digits == 0 { leadingZero = byte == UInt8(ascii: "0") }
                part = part * 10 + UInt32(byte &- UInt8(ascii: "0"))
                digits += 1
                if digits > 3 || part > 255 { return nil }
            } else if byte == UInt8(ascii: ".") {
                if digits == 0 || parts == 3 { return nil }
                result = result << 8 | part
                parts += 1
                part = 0
                digits = 0
            } else {
                return nil
            }
        }
        guard parts == 3, digits > 0 else { return nil }
        return result << 8 | part
    }

    /// An IP address as 128 bits; IPv4 is held in the IPv4-mapped range `::ffff:a.b.c.d`.
    struct IPAddress: Sendable, Equatable {
        var high: UInt64
        var low: UInt64

        init(high: UInt64, low: UInt64) {
            self.high = high
            self.low = low
        }

        init(ipv4: UInt32) {
            self.high = 0
            self.low = 0x0000_FFFF_0000_0000 | UInt64(ipv4)
        }

        /// The IPv4 address when this is an IPv4-mapped address.
        var mappedIPv4: UInt32? {
            guard self.high == 0, self.low >> 32 == 0xFFFF else { return nil }
            return UInt32(truncatingIfNeeded: self.low)
        }

        /// Parses `a.b.c.d` or an IPv6 address; with `allowZone` a `%zone` suffix on IPv6 is dropped.
        init?(parsingAddress text: String, allowZone: Bool) {
            let utf8 = text.utf8
            if let v4 = parseIPv4(utf8) {
                self.init(ipv4: v4)
                return
            }
            if allowZone, let percent = utf8.firstIndex(of: UInt8(ascii: "%")) {
                guard let parsed = IPAddress(parsingIPv6: utf8[..<percent]) else { return nil }
                self = parsed
                return
            }
            guard let parsed = IPAddress(parsingIPv6: utf8) else { return nil }
            self = parsed
        }

        /// RFC 4291 text form: eight groups of 1–4 hex digits, one `::` for a run of zero groups,
        /// optionally a dotted-quad IPv4 address as the last 32 bits.
        init?<Bytes: Collection>(parsingIPv6 bytes: Bytes) where Bytes.Element == UInt8 {
            var headHigh: UInt64 = 0
            var headLow: UInt64 = 0
            var tailHigh: UInt64 = 0
            var tailLow: UInt64 = 0
            var headCount = 0
            var tailCount = 0
            var sawDoubleColon = false

            func append(_ group: UInt64) -> Bool {
                if sawDoubleColon {
                    guard tailCount < 7 else { return false }
                    tailHigh = tailHigh << 16 | tailLow >> 48
                    tailLow = tailLow << 16 | group
                    tailCount += 1
                } else {
                    guard headCount < 8 else { return false }
                    if headCount < 4 {
                        headHigh |= group << UInt64(48 - 16 * headCount)
                    } else {
                        headLow |= group << UInt64(48 - 16 * (headCount - 4))
                    }
                    headCount += 1
                }
                return true
            }

            var index = bytes.startIndex
            let end = bytes.endIndex
            guard index != end else { return nil }
            if bytes[index] == UInt8(ascii: ":") {
                index = bytes.index(after: index)
                guard index != end, bytes[index] == UInt8(ascii: ":") else { return nil }
                index = bytes.index(after: index)
                sawDoubleColon = true
            }
            while index != end {
                let groupStart = index
                var value: UInt64 = 0
                var digits = 0
                while index != end, let digit = hexValue(bytes[index]) {
                    value = value << 4 | digit
                    digits += 1
                    guard digits <= 4 else { return nil }
                    index = bytes.index(after: index)
                }
                if index != end, bytes[index] == UInt8(ascii: ".") {
                    guard let v4 = parseIPv4(bytes[groupStart..<end]) else { return nil }
                    guard append(UInt64(v4 >> 16)), append(UInt64(v4 & 0xFFFF)) else { return nil }
                    index = end
                    break
                }
                guard digits > 0, append(value) else { return nil }
                if index == end { break }
                guard bytes[index] == UInt8(ascii: ":") else { return nil }
                index = bytes.index(after: index)
                guard index != end else { return nil }  // a trailing single colon
                if bytes[index] == UInt8(ascii: ":") {
                    guard !sawDoubleColon else { return nil }
                    sawDoubleColon = true
                    index = bytes.index(after: index)
                }
            }
            let groups = headCount + tailCount
            guard sawDoubleColon ? groups <= 7 : groups == 8 else { return nil }
            self.high = headHigh | tailHigh
            self.low = headLow | tailLow
        }

        /// `a.b.c.d` of the low 32 bits.
        var ipv4Description: String {
            let v4 = UInt32(truncatingIfNeeded: self.low)
            return "\(v4 >> 24).\(v4 >> 16 & 0xFF).\(v4 >> 8 & 0xFF).\(v4 & 0xFF)"
        }

        /// RFC 5952 text form (lower case, the longest run of two or more zero groups as `::`).
        var ipv6Description: String {
            var groups: [UInt16] = []
            groups.reserveCapacity(8)
            for shift in stride(from: 48, through: 0, by: -16) {
                groups.append(UInt16(truncatingIfNeeded: self.high >> UInt64(shift)))
            }
            for shift in stride(from: 48, through: 0, by: -16) {
                groups.append(UInt16(truncatingIfNeeded: self.low >> UInt64(shift)))
            }
            var bestStart = -1
            var bestLength = 0
            var runStart = -1
            for (index, group) in groups.enumerated() {
                if group == 0 {
                    if runStart < 0 { runStart = index }
                    let length = index - runStart + 1
                    if length > bestLength {
                        bestStart = runStart
                        bestLength = length
                    }
                } else {
                    runStart = -1
                }
            }
            func hex(_ range: Range<Int>) -> String {
                groups[range].map { String($0, radix: 16) }.joined(separator: ":")
            }
            guard bestLength >= 2 else { return hex(0..<8) }
            return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
        }
    }
}
