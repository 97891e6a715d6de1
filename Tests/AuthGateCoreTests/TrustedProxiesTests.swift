import NIOCore
import Testing

@testable import AuthGateCore

private func proxies(_ entries: String...) throws -> TrustedProxies {
    try TrustedProxies(entries)
}

private func socketAddress(_ ip: String) throws -> SocketAddress {
    try SocketAddress(ipAddress: ip, port: 40_000)
}

@Suite("TrustedProxies")
struct TrustedProxiesTests {
    @Test("a bare IPv4 address matches only itself")
    func bareIPv4() throws {
        let set = try proxies("192.0.2.10")
        #expect(set.contains(ip: "192.0.2.10"))
        #expect(!set.contains(ip: "192.0.2.11"))
        #expect(!set.contains(ip: "192.0.2.9"))
        #expect(set.contains(try socketAddress("192.0.2.10")))
        #expect(!set.contains(try socketAddress("192.0.2.11")))
    }

    @Test("/32 and /128 match exactly one address")
    func hostPrefixes() throws {
        let set = try proxies("10.1.2.3/32", "2001:db8::7/128")
        #expect(set.contains(ip: "10.1.2.3"))
        #expect(!set.contains(ip: "10.1.2.2"))
        #expect(!set.contains(ip: "10.1.2.4"))
        #expect(set.contains(ip: "2001:db8::7"))
        #expect(set.contains(ip: "2001:0DB8:0000:0000:0000:0000:0000:0007"))
        #expect(!set.contains(ip: "2001:db8::6"))
        #expect(!set.contains(ip: "2001:db8::7:0"))
        #expect(set.contains(try socketAddress("2001:db8::7")))
        #expect(!set.contains(try socketAddress("2001:db8::8")))
    }

    @Test("IPv4 CIDR boundaries")
    func ipv4Ranges() throws {
        let set = try proxies("10.0.0.0/8", "172.16.0.0/12", "192.168.4.0/23", "198.51.100.6/31")
        for inside in [
            "10.0.0.0", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.4.0", "192.168.5.255",
            "198.51.100.6", "198.51.100.7",
        ] {
            #expect(set.contains(ip: inside), "\(inside)")
        }
        for outside in [
            "9.255.255.255", "11.0.0.0", "172.15.255.255", "172.32.0.0", "192.168.3.255", "192.168.6.0",
            "198.51.100.5", "198.51.100.8",
        ] {
            #expect(!set.contains(ip: outside), "\(outside)")
        }
    }

    @Test("IPv6 CIDR boundaries, including prefixes that cross the 64-bit word")
    func ipv6Ranges() throws {
        let set = try proxies("fd00::/8", "2001:db8:0:1::/64", "2001:db8:0:2:8000::/65", "2001:db8:2::/63")
        #expect(set.contains(ip: "fd12:3456::1"))
        #expect(set.contains(ip: "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
        #expect(!set.contains(ip: "fe00::1"))
        #expect(!set.contains(ip: "fc00::1"))
        #expect(set.contains(ip: "2001:db8:0:1:ffff:ffff:ffff:ffff"))
        #expect(!set.contains(ip: "2001:db8:0:2::1"))
        #expect(set.contains(ip: "2001:db8:0:2:8000::1"))
        #expect(set.contains(ip: "2001:db8:0:2:ffff::1"))
        #expect(!set.contains(ip: "2001:db8:0:2:7fff:ffff:ffff:ffff"))
        #expect(set.contains(ip: "2001:db8:2:1:ffff::1"))
        #expect(set.contains(ip: "2001:db8:2::"))
        #expect(!set.contains(ip: "2001:db8:2:2::"))
        #expect(!set.contains(ip: "2001:db8:3::"))
        #expect(set.contains(try socketAddress("2001:db8:0:1::42")))
    }

    @Test("0.0.0.0/0 matches every IPv4 address (mapped too) but no other IPv6 address")
    func ipv4Everything() throws {
        let set = try proxies("0.0.0.0/0")
        #expect(set.contains(ip: "0.0.0.0"))
        #expect(set.contains(ip: "255.255.255.255"))
        #expect(set.contains(ip: "::ffff:8.8.8.8"))
        #expect(set.contains(try socketAddress("8.8.8.8")))
        #expect(!set.contains(ip: "2001:db8::1"))
        #expect(!set.contains(ip: "::1"))
    }

    @Test("::/0 matches every address, IPv4 included")
    func everything() throws {
        let set = try proxies("::/0")
        #expect(set.contains(ip: "::"))
        #expect(set.contains(ip: "2001:db8::1"))
        #expect(set.contains(ip: "1.2.3.4"))
        #expect(set.contains(try socketAddress("1.2.3.4")))
        #expect(set.contains(try socketAddress("::1")))
    }

    @Test("an IPv4 rule matches IPv4-mapped IPv6 peers, and a mapped rule matches IPv4 peers")
    func mappedIPv4() throws {
        let set = try proxies("10.0.0.0/8")
        #expect(set.contains(ip: "::ffff:10.1.2.3"))
        #expect(set.contains(ip: "::FFFF:0a01:0203"))
        #expect(set.contains(try socketAddress("::ffff:10.1.2.3")))
        #expect(!set.contains(ip: "::ffff:11.1.2.3"))
        #expect(!set.contains(ip: "::10.1.2.3"), "IPv4-compatible is not IPv4-mapped")
        #expect(!set.contains(ip: "64:ff9b::10.1.2.3"), "NAT64 is not IPv4-mapped")

        let mapped = try proxies("::ffff:192.168.0.0/112")
        #expect(mapped.contains(ip: "192.168.7.7"))
        #expect(mapped.contains(try socketAddress("192.168.7.7")))
        #expect(!mapped.contains(ip: "192.169.0.1"))
    }

    @Test("the default entries trust loopback only")
    func defaults() throws {
        let set = try TrustedProxies(GatewayConfig().trustedProxies)
        #expect(set.contains(try socketAddress("127.0.0.1")))
        #expect(set.contains(try socketAddress("::1")))
        #expect(set.contains(ip: "::ffff:127.0.0.1"))
        #expect(!set.contains(ip: "127.0.0.2"))
        #expect(!set.contains(try socketAddress("10.0.0.1")))
    }

    @Test("none and an empty list trust nobody; unix sockets are never trusted")
    func nobody() throws {
        #expect(TrustedProxies.none.isEmpty)
        #expect(!TrustedProxies.none.contains(ip: "127.0.0.1"))
        #expect(!TrustedProxies.none.contains(try socketAddress("127.0.0.1")))
        let empty = try TrustedProxies([])
        #expect(empty.isEmpty)
        #expect(!empty.contains(ip: "::1"))
        let all = try proxies("::/0")
        #expect(!all.contains(try SocketAddress(unixDomainSocketPath: "/tmp/authgate-test.sock")))
    }

    @Test(
        "text that is not a bare address is never trusted",
        arguments: [
            "", " ", "abc", "127.0.0.1:80", " 127.0.0.1", "127.0.0.1 ", "[::1]", "127.0.0.01", "127.0.0",
            "127.0.0.1.1", "1::2::3", ":::", "::1/128", "127.0.0.1/32", "::g",
        ]
    )
    func garbageIsNotTrusted(text: String) throws {
        let set = try proxies("::/0")
        #expect(!set.contains(ip: text))
    }

    @Test("a zone id on a textual address is ignored")
    func zoneIgnored() throws {
        let set = try proxies("fe80::/10")
        #expect(set.contains(ip: "fe80::1%eth0"))
        #expect(set.contains(ip: "FE80::abcd%2"))
        #expect(!set.contains(ip: "2001:db8::1%eth0"))
        #expect(!set.contains(ip: "nonsense%eth0"))
    }

    @Test(
        "garbage entries are rejected with a reason",
        arguments: [
            ("", "is empty; expected an IP address or a CIDR such as 10.0.0.0/8"),
            ("localhost", "\"localhost\" is not an IP address or CIDR (for example 10.0.0.0/8 or fd00::/8)"),
            ("10.0.0/8", "\"10.0.0/8\" is not an IP address or CIDR (for example 10.0.0.0/8 or fd00::/8)"),
            ("256.0.0.1", "\"256.0.0.1\" is not an IP address or CIDR (for example 10.0.0.0/8 or fd00::/8)"),
            ("010.0.0.1", "\"010.0.0.1\" is not an IP address or CIDR (for example 10.0.0.0/8 or fd00::/8)"),
            (" 10.0.0.1", "\" 10.0.0.1\" is not an IP address or CIDR (for example 10.0.0.0/8 or fd00::/8)"),
            ("[::1]", "\"[::1]\" is not an IP address or CIDR (for example 10.0.0.0/8 or fd00::/8)"),
            (
                "1:2:3:4:5:6:7:8:9",
                "\"1:2:3:4:5:6:7:8:9\" is not an IP address or CIDR (for example 10.0.0.0/8 or fd00::/8)"
            ),
            ("1::2::3", "\"1::2::3\" is not an IP address or CIDR (for example 10.0.0.0/8 or fd00::/8)"),
            ("12345::1", "\"12345::1\" is not an IP address or CIDR (for example 10.0.0.0/8 or fd00::/8)"),
            ("10.0.0.0/33", "\"10.0.0.0/33\": the prefix length must be 0...32 for an IPv4 address"),
            ("::/129", "\"::/129\": the prefix length must be 0...128 for an IPv6 address"),
            ("10.0.0.0/", "\"10.0.0.0/\": the prefix length after / is not a number"),
            ("10.0.0.0/-1", "\"10.0.0.0/-1\": the prefix length after / is not a number"),
            ("10.0.0.0/a", "\"10.0.0.0/a\": the prefix length after / is not a number"),
            ("10.0.0.0/8/8", "\"10.0.0.0/8/8\": the prefix length after / is not a number"),
            ("10.0.0.1/8", "\"10.0.0.1/8\" has host bits set below the prefix; did you mean 10.0.0.0/8?"),
            ("2001:db8::1/32", "\"2001:db8::1/32\" has host bits set below the prefix; did you mean 2001:db8::/32?"),
            ("fe80::1%eth0", "\"fe80::1%eth0\": zone ids (%...) are not supported"),
        ]
    )
    func garbageEntries(entry: String, reason: String) {
        do {
            _ = try TrustedProxies([entry])
            Issue.record("\(entry) was accepted")
        } catch {
            #expect(error.issues == [ConfigIssue(key: "trusted_proxies[0]", reason: reason)])
        }
    }

    @Test("every bad entry is reported, with its index")
    func allBadEntriesReported() {
        do {
            _ = try TrustedProxies(["10.0.0.0/8", "x", "::1", "1.2.3.4/40"])
            Issue.record("bad entries were accepted")
        } catch {
            #expect(error.issues.map(\.key) == ["trusted_proxies[1]", "trusted_proxies[3]"])
        }
    }

    @Test(
        "IPv6 text forms parse to the same bits",
        arguments: [
            ("::", "0:0:0:0:0:0:0:0"),
            ("::1", "0:0:0:0:0:0:0:1"),
            ("1::", "1:0:0:0:0:0:0:0"),
            ("2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001"),
            ("2001:db8:0:0:1::1", "2001:db8::1:0:0:1"),
            ("::ffff:1.2.3.4", "::ffff:102:304"),
            ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
            ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
            ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ]
    )
    func ipv6Forms(lhs: String, rhs: String) throws {
        let left = try #require(ConfigSyntax.IPAddress(parsingAddress: lhs, allowZone: false))
        let right = try #require(ConfigSyntax.IPAddress(parsingAddress: rhs, allowZone: false))
        #expect(left == right)
    }

    @Test(
        "malformed IPv6 text does not parse",
        arguments: [
            ":", ":1", "1:", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "::1::", "1:::2", "::1.2.3", "1.2.3.4::",
            "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4", "::ffff:1.2.3.256", "fffff::", "::1%eth0",
        ]
    )
    func malformedIPv6(text: String) {
        #expect(ConfigSyntax.IPAddress(parsingAddress: text, allowZone: false) == nil)
    }

    @Test("addresses print in RFC 5952 form")
    func ipv6Description() throws {
        let cases = [
            ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
            ("0:0:0:0:0:0:0:0", "::"),
            ("1:0:0:2:0:0:0:3", "1:0:0:2::3"),
            ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
            ("fe80::", "fe80::"),
        ]
        for (text, expected) in cases {
            let address = try #require(ConfigSyntax.IPAddress(parsingAddress: text, allowZone: false))
            #expect(address.ipv6Description == expected)
        }
    }
}
