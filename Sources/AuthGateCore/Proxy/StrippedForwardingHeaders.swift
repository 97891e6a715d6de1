/// The request headers that say where a request came from or what it "really" is, which a
/// backend or its framework may believe (`X-Original-URL` rewrites the path in IIS and some
/// Spring/Symfony setups, `X-HTTP-Method-Override` the method in Express and Rails,
/// `True-Client-IP` the client address in many log and rate-limit layers), and which are
/// therefore removed from requests of peers that are not trusted proxies.
///
/// Names match ignoring ASCII case and with `_` for `-`, as identity headers do
/// (`x_original_url`, `X-ORIGINAL-URL`). `forwarding.strip_headers` adds names to
/// ``defaultNames``; it cannot remove any of them.
public struct StrippedForwardingHeaders: Sendable, Hashable {
    /// Always removed from untrusted peers, whatever the config says.
    public static let defaultNames: [String] = [
        "X-Forwarded-Prefix",
        "X-Forwarded-Port",
        "X-Forwarded-Server",
        "X-Forwarded-Uri",
        "X-Forwarded-Path",
        "X-Forwarded-Scheme",
        "X-Forwarded-Ssl",
        "X-Original-URL",
        "X-Original-URI",
        "X-Original-Host",
        "X-Original-Method",
        "X-Rewrite-URL",
        "True-Client-IP",
        "CF-Connecting-IP",
        "X-Client-IP",
        "X-Cluster-Client-IP",
        "Fastly-Client-IP",
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
    ]

    /// The default list alone.
    public static let defaults = StrippedForwardingHeaders(extraNames: [])

    /// Lower-case names with `-` for `_`, indexed by length.
    private let names: [[UInt8]]
    /// Bit `n` set when some name has `n` bytes (names of 64 bytes or more set bit 63), so
    /// most headers are passed over with one test.
    private let lengths: UInt64

    /// The default names and `extraNames` (any case, `_` or `-`).
    public init(extraNames: [String]) {
        var names: [[UInt8]] = []
        for name in Self.defaultNames + extraNames {
            let normalized = Self.normalize(name.utf8)
            if !normalized.isEmpty && !names.contains(normalized) { names.append(normalized) }
        }
        self.names = names
        self.lengths = names.reduce(0) { $0 | Self.lengthBit($1.count) }
    }

    /// Whether a header of this name is removed from an untrusted peer's request.
    public func contains(_ name: String) -> Bool {
        self.contains(bytes: name.utf8)
    }

    /// `contains` over the name's bytes.
    public func contains<Name: Collection<UInt8>>(bytes name: Name) -> Bool {
        let count = name.count
        guard self.lengths & Self.lengthBit(count) != 0 else { return false }
        for candidate in self.names where candidate.count == count {
            if zip(candidate, name).allSatisfy({ expected, byte in Self.fold(byte) == expected }) {
                return true
            }
        }
        return false
    }

    /// Whether `name` is a valid header name (an RFC 9110 token), for config validation.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    return true
                default:
                    return "!#$%&'*+-.^_`|~".utf8.contains(byte)
                }
            }
    }

    @inline(__always)
    private static func lengthBit(_ count: Int) -> UInt64 {
        1 << UInt64(Swift.min(count, 63))
    }

    @inline(__always)
    private static func fold(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte | 0x20
        case UInt8(ascii: "_"): return UInt8(ascii: "-")
        default: return byte
        }
    }

    private static func normalize(_ name: some Collection<UInt8>) -> [UInt8] {
        name.map(Self.fold)
    }
}
