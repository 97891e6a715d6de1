/// The key of a rate limiter or lockout entry: a 128-bit keyed hash of a namespace and a
/// client value (an IP address, a user id, a lower-cased email).
///
/// The tables are keyed by this hash rather than by the raw value so that client addresses and
/// email addresses (personal data) are not kept in gateway memory by a structure that lives for
/// hours, and so that a key is a 16-byte value with no heap storage: a check for a key that is
/// already tracked allocates nothing.
///
/// The hash is SipHash (the standard library's `Hasher`) keyed with a random 128-bit seed drawn
/// once per process, in addition to the standard library's own per-process seed. Keys are
/// therefore stable within one process only, which is all an in-memory table needs, and a client
/// cannot choose values that collide, so nobody can make two clients share a bucket or fill one
/// shard on purpose. It is not an anonymisation: a heap dump holds the seed too and could confirm
/// a guessed address, but it cannot be read as a list of addresses.
///
/// The namespace is a domain separator: the same value counted by two limits (`ip` and
/// `login-ip`, or two route classes) gives two unrelated keys.
public struct RateLimitKey: Hashable, Sendable {
    @usableFromInline let word0: UInt64
    @usableFromInline let word1: UInt64

    /// The key of `value` in `namespace`.
    public init(namespace: String, value: String) {
        var namespace = namespace
        var value = value
        self = namespace.withUTF8 { namespace in
            value.withUTF8 { value in
                Self(namespace: UnsafeRawBufferPointer(namespace), bytes: UnsafeRawBufferPointer(value))
            }
        }
    }

    /// The key of `value`'s UTF-8 bytes in `namespace`.
    public init(namespace: String, value: Substring) {
        var namespace = namespace
        var value = value
        self = namespace.withUTF8 { namespace in
            value.withUTF8 { value in
                Self(namespace: UnsafeRawBufferPointer(namespace), bytes: UnsafeRawBufferPointer(value))
            }
        }
    }

    /// The key of the raw bytes `bytes` (a binary IP address, say) in `namespace`.
    public init(namespace: String, bytes: UnsafeRawBufferPointer) {
        var namespace = namespace
        self = namespace.withUTF8 { Self(namespace: UnsafeRawBufferPointer($0), bytes: bytes) }
    }

    private init(namespace: UnsafeRawBufferPointer, bytes: UnsafeRawBufferPointer) {
        // The namespace and the value are hashed once; the two words finish copies of that
        // state with different tags, so they are independent SipHash outputs. The namespace is
        // length-prefixed so that `("ab", "c")` and `("a", "bc")` differ.
        var hasher = Hasher()
        hasher.combine(processSeed.0)
        hasher.combine(processSeed.1)
        hasher.combine(namespace.count)
        hasher.combine(bytes: namespace)
        hasher.combine(bytes: bytes)
        var second = hasher
        hasher.combine(UInt8(0))
        second.combine(UInt8(1))
        self.word0 = UInt64(truncatingIfNeeded: hasher.finalize())
        self.word1 = UInt64(truncatingIfNeeded: second.finalize())
    }

    /// A key from its two words; for tests that need keys in a chosen shard.
    init(word0: UInt64, word1: UInt64) {
        self.word0 = word0
        self.word1 = word1
    }

    /// One word of the key: it is already uniformly distributed, and the other word only
    /// matters for equality.
    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.word0)
    }

    /// The bits that pick a shard; taken from the word ``hash(into:)`` does not use, so the
    /// keys of one shard still spread over that shard's whole dictionary.
    @inlinable
    func shardIndex(mask: Int) -> Int {
        Int(truncatingIfNeeded: self.word1) & mask
    }
}

extension RateLimitKey: CustomStringConvertible {
    /// A short hex prefix of the hash, for correlating log lines; never the raw value.
    public var description: String {
        let prefix = String(self.word0 >> 32, radix: 16)
        return "RateLimitKey(" + String(repeating: "0", count: 8 - prefix.utf8.count) + prefix + ")"
    }
}

/// The random seed of every ``RateLimitKey`` hash in this process, drawn once from the system's
/// cryptographic generator.
private let processSeed: (UInt64, UInt64) = {
    var generator = SystemRandomNumberGenerator()
    return (generator.next(), generator.next())
}()
