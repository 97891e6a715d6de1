/// Why a JWKS document as a whole was rejected (individual unusable keys are skipped instead).
public enum JWTKeySetError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The document is not valid JSON.
    case invalidJSON(JSONParseError)
    /// The document is not an object with a `keys` array.
    case missingKeys

    /// A one-line explanation for logs and config errors.
    public var description: String {
        switch self {
        case .invalidJSON(let error): return "the JWKS is not valid JSON: \(error)"
        case .missingKeys: return "the JWKS has no \"keys\" array"
        }
    }
}

/// The keys a ``JWTVerifier`` may use: keys by `kid`, plus keys without one.
///
/// Several keys may share a `kid` (an RSA key published for both RS256 and PS256, say); the
/// verifier tries those whose pinned algorithm equals the token's `alg`.
public struct JWTKeySet: Sendable {
    /// Keys with a `kid`, by `kid`.
    public private(set) var keysByID: [String: [JWTKey]]
    /// Keys without a `kid`, used for tokens whose header has no `kid`.
    public private(set) var keysWithoutID: [JWTKey]
    /// How many entries of the JWKS document(s) this set was built from were skipped because
    /// they are not usable keys (unsupported type, curve or algorithm, not for signatures,
    /// invalid material); worth a log line and a metric.
    public private(set) var skippedKeyCount: Int
    /// Why each skipped entry was skipped, in document order.
    public private(set) var skippedKeyErrors: [JWTKeyError]

    /// An empty key set.
    public init() {
        self.keysByID = [:]
        self.keysWithoutID = []
        self.skippedKeyCount = 0
        self.skippedKeyErrors = []
    }

    /// A key set holding `keys`.
    public init(keys: [JWTKey]) {
        self.init()
        for key in keys {
            self.insert(key)
        }
    }

    /// A key set from a JWKS document (`{"keys":[…]}`, RFC 7517 §5).
    ///
    /// Entries that are not usable verification keys are skipped and counted rather than failing
    /// the whole set, so one exotic key (an `ES512` key, say) does not lock out the others.
    public init(jwks: [UInt8]) throws(JWTKeySetError) {
        let document: JSONValue
        do {
            document = try JSONParser.parse(jwks)
        } catch {
            throw .invalidJSON(error)
        }
        guard case .array(let entries)? = document["keys"] else {
            throw .missingKeys
        }
        self.init()
        for entry in entries {
            do {
                self.insert(try JWTKey(jwk: entry))
            } catch {
                self.skippedKeyCount += 1
                self.skippedKeyErrors.append(error)
            }
        }
    }

    /// A key set from the text of a JWKS document.
    public init(jwks: String) throws(JWTKeySetError) {
        try self.init(jwks: Array(jwks.utf8))
    }

    /// Adds `key`.
    public mutating func insert(_ key: JWTKey) {
        if let kid = key.kid {
            self.keysByID[kid, default: []].append(key)
        } else {
            self.keysWithoutID.append(key)
        }
    }

    /// This set combined with `other`: for a `kid` present in both, `other`'s keys replace this
    /// set's (so merging a refetched JWKS over configured keys takes the fresh keys); keys
    /// without a `kid` are concatenated.
    public func merging(_ other: JWTKeySet) -> JWTKeySet {
        var merged = self
        merged.keysByID.merge(other.keysByID) { _, new in new }
        merged.keysWithoutID.append(contentsOf: other.keysWithoutID)
        merged.skippedKeyCount += other.skippedKeyCount
        merged.skippedKeyErrors.append(contentsOf: other.skippedKeyErrors)
        return merged
    }

    /// The number of keys.
    public var count: Int {
        self.keysByID.values.reduce(self.keysWithoutID.count) { $0 + $1.count }
    }

    /// Whether the set has no key.
    public var isEmpty: Bool {
        self.keysByID.isEmpty && self.keysWithoutID.isEmpty
    }

    /// The keys a token with header `kid` may be checked with: those with that `kid`, or the keys
    /// without a `kid` when the header has none; `nil` when there are none (an unknown key).
    public func candidates(kid: String?) -> [JWTKey]? {
        if let kid {
            return self.keysByID[kid]
        }
        return self.keysWithoutID.isEmpty ? nil : self.keysWithoutID
    }
}
