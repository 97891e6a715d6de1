import Crypto

/// The cache key of a credential: the SHA-256 digest of a one-byte ``Kind`` followed by the
/// credential's bytes.
///
/// The identity cache and the single-flight table are keyed by this digest so that the raw
/// token never sits in gateway memory longer than the request that carried it, and a heap dump
/// or a log line of a key reveals nothing usable. The kind byte is a domain separator: the same
/// bytes presented as a cookie and as a bearer token hash to different keys, so an answer that
/// was established for one role can never be served for the other.
///
/// The digest is held as four words, so a key is a 32-byte value type with no heap storage;
/// hashing and equality are a handful of integer operations.
public struct CredentialKey: Hashable, Sendable {
    /// The role a credential was presented in; the domain separator of ``CredentialKey``.
    ///
    /// A struct rather than an enum so that new roles can be added without breaking callers
    /// that switch over the known ones. Never reuse a raw value for a different role.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// The byte hashed in front of the credential.
        public let rawValue: UInt8

        /// A kind with an explicit domain-separator byte.
        public init(rawValue: UInt8) {
            self.rawValue = rawValue
        }

        /// A Better Auth session cookie value (`token.signature`, already URI-decoded).
        public static let sessionCookie = Kind(rawValue: 1)
        /// The value of an `Authorization: Bearer` header (a JWT or a session token).
        public static let bearer = Kind(rawValue: 2)
        /// An opaque token resolved through an RFC 7662 introspection endpoint.
        public static let introspection = Kind(rawValue: 3)
        /// A legacy JWT, verified locally.
        public static let legacyJWT = Kind(rawValue: 10)
        /// A Better Auth JWT, verified against the JWKS.
        public static let betterAuthJWT = Kind(rawValue: 11)
        /// A key of Better Auth's API key plugin.
        public static let apiKey = Kind(rawValue: 12)

        public var description: String {
            switch self.rawValue {
            case 1: return "sessionCookie"
            case 2: return "bearer"
            case 3: return "introspection"
            default: return "kind(\(self.rawValue))"
            }
        }
    }

    // The digest as big-endian words: `word0` holds digest bytes 0..<8, and so on.
    @usableFromInline let word0: UInt64
    @usableFromInline let word1: UInt64
    @usableFromInline let word2: UInt64
    @usableFromInline let word3: UInt64

    /// The key of `credential`'s UTF-8 bytes presented as `kind`.
    public init(kind: Kind, credential: Substring) {
        var credential = credential
        self = credential.withUTF8 { Self(kind: kind, buffer: UnsafeRawBufferPointer($0)) }
    }

    /// The key of `credential`'s UTF-8 bytes presented as `kind`.
    public init(kind: Kind, credential: String) {
        var credential = credential
        self = credential.withUTF8 { Self(kind: kind, buffer: UnsafeRawBufferPointer($0)) }
    }

    /// The key of the raw credential `bytes` presented as `kind`.
    public init<Bytes: Sequence>(kind: Kind, bytes: Bytes) where Bytes.Element == UInt8 {
        let key = bytes.withContiguousStorageIfAvailable { Self(kind: kind, buffer: UnsafeRawBufferPointer($0)) }
        if let key {
            self = key
        } else {
            let copy = Array(bytes)
            self = copy.withUnsafeBytes { Self(kind: kind, buffer: $0) }
        }
    }

    /// The key of the credential in `buffer` presented as `kind`.
    public init(kind: Kind, buffer: UnsafeRawBufferPointer) {
        var hasher = SHA256()
        withUnsafeBytes(of: kind.rawValue) { hasher.update(bufferPointer: $0) }
        hasher.update(bufferPointer: buffer)
        let digest = hasher.finalize()
        self = digest.withUnsafeBytes { digest in
            Self(
                word0: UInt64(bigEndian: digest.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                word1: UInt64(bigEndian: digest.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                word2: UInt64(bigEndian: digest.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                word3: UInt64(bigEndian: digest.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            )
        }
    }

    /// A key from its four digest words, most significant (first digest byte) first.
    init(word0: UInt64, word1: UInt64, word2: UInt64, word3: UInt64) {
        self.word0 = word0
        self.word1 = word1
        self.word2 = word2
        self.word3 = word3
    }

    /// Hashes one word of the digest: it is already uniformly distributed, and the other words
    /// only matter for equality.
    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.word0)
    }

    /// The first 8 hex characters of the digest, for correlating log lines about one credential
    /// without logging the credential. Not unique: never use it as a key.
    public var shortID: String {
        let prefix = String(self.word0 >> 32, radix: 16)
        return String(repeating: "0", count: 8 - prefix.utf8.count) + prefix
    }

    /// The full digest as 64 lowercase hex characters.
    public var hexDigest: String {
        var result = ""
        result.reserveCapacity(64)
        for word in [self.word0, self.word1, self.word2, self.word3] {
            let hex = String(word, radix: 16)
            result += String(repeating: "0", count: 16 - hex.utf8.count)
            result += hex
        }
        return result
    }

    /// The bits that pick a shard of the cache or of the single-flight table. Taken from a
    /// different word than ``hash(into:)`` so that the keys within one shard still spread over
    /// the whole of that shard's dictionary.
    @inlinable
    func shardIndex(mask: Int) -> Int {
        Int(truncatingIfNeeded: self.word1) & mask
    }
}

extension CredentialKey: CustomStringConvertible {
    /// The ``shortID``: a key never prints more than that.
    public var description: String { "CredentialKey(\(self.shortID))" }
}
