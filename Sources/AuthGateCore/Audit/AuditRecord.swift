import Crypto

/// One row of `auth_audit_log` as it is stored: in PostgreSQL and, while PostgreSQL is away, as
/// one line of the spill file.
///
/// Built by the writer from an ``AuditEvent`` and the ``AuditEventID`` the event got when it was
/// recorded. Nothing secret survives the conversion: the session id is replaced by its SHA-256
/// (lowercase hex), and the free-text fields are cut to ``Limits`` so that a hostile client
/// cannot grow a row (or a spill line) without bound.
public struct AuditRecord: Sendable, Hashable {
    /// The longest value, in UTF-8 bytes, each text field keeps; longer values are cut on a
    /// character boundary.
    public enum Limits {
        public static let userAgent = 512
        public static let route = 2048
        public static let reason = 128
        public static let requestID = 128
        public static let clientIP = 64
        public static let userID = 256
        public static let authMethod = 32
        public static let eventType = 32
        public static let eventID = 64
    }

    /// `event_id`: unique across processes; the key that makes a retried insert idempotent.
    public var eventID: String
    /// `event_type`: ``AuditEvent/Kind``'s raw value.
    public var eventType: String
    /// `auth_method`: ``AuthMethod``'s raw value.
    public var authMethod: String?
    public var success: Bool
    public var userID: String?
    /// `session_id_hash`: SHA-256 of the session id (or `jti`), 64 lowercase hex characters.
    public var sessionIDHash: String?
    public var clientIP: String
    public var userAgent: String?
    public var route: String
    public var reason: String?
    public var requestID: String
    /// `created_at`, in microseconds since 1970.
    public var timeMicros: Int64

    /// A record with exactly these values (the decoder's and the tests' initialiser); no
    /// hashing or truncation.
    public init(
        eventID: String,
        eventType: String,
        authMethod: String?,
        success: Bool,
        userID: String?,
        sessionIDHash: String?,
        clientIP: String,
        userAgent: String?,
        route: String,
        reason: String?,
        requestID: String,
        timeMicros: Int64
    ) {
        self.eventID = eventID
        self.eventType = eventType
        self.authMethod = authMethod
        self.success = success
        self.userID = userID
        self.sessionIDHash = sessionIDHash
        self.clientIP = clientIP
        self.userAgent = userAgent
        self.route = route
        self.reason = reason
        self.requestID = requestID
        self.timeMicros = timeMicros
    }

    /// The stored form of `event`: the session id hashed, the text fields cut to ``Limits``.
    public init(event: AuditEvent, eventID: AuditEventID) {
        self.init(
            eventID: eventID.description,
            eventType: event.kind.rawValue,
            authMethod: event.authMethod?.rawValue,
            success: event.success,
            userID: event.userID.map { Self.truncated($0, to: Limits.userID) },
            sessionIDHash: event.sessionID.map(Self.hash),
            clientIP: Self.truncated(event.clientIP, to: Limits.clientIP),
            userAgent: event.userAgent.map { Self.truncated($0, to: Limits.userAgent) },
            route: Self.truncated(event.route, to: Limits.route),
            reason: event.reason.map { Self.truncated($0, to: Limits.reason) },
            requestID: Self.truncated(event.requestID, to: Limits.requestID),
            timeMicros: event.timeMicros
        )
    }

    /// SHA-256 of `value`'s UTF-8 bytes, 64 lowercase hex characters.
    public static func hash(_ value: String) -> String {
        var hasher = SHA256()
        var value = value
        value.withUTF8 { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        let digest = hasher.finalize()
        return String(unsafeUninitializedCapacity: 64) { buffer in
            let digits: StaticString = "0123456789abcdef"
            digits.withUTF8Buffer { hex in
                var index = 0
                for byte in digest {
                    buffer[index] = hex[Int(byte >> 4)]
                    buffer[index + 1] = hex[Int(byte & 0x0F)]
                    index += 2
                }
            }
            return 64
        }
    }

    /// `value` cut to at most `limit` UTF-8 bytes, never inside a character's encoding.
    public static func truncated(_ value: String, to limit: Int) -> String {
        let utf8 = value.utf8
        guard utf8.count > limit else { return value }
        var end = utf8.index(utf8.startIndex, offsetBy: limit)
        // Back up over continuation bytes (10xxxxxx) so the cut falls between scalars.
        while end > utf8.startIndex && (utf8[end] & 0xC0) == 0x80 {
            end = utf8.index(before: end)
        }
        return String(decoding: utf8[utf8.startIndex..<end], as: UTF8.self)
    }
}

/// The unique id of an audit event: a random 64-bit prefix drawn once per process and a 64-bit
/// counter, as 32 lowercase hex characters.
///
/// Ids are given out when the event is recorded, so the id travels with the event through the
/// queue, the spill file and every retry: a batch that reached PostgreSQL but whose
/// acknowledgement was lost is inserted again with the same ids and `ON CONFLICT (event_id) DO
/// NOTHING` keeps one row. The random prefix keeps a restarted process (whose counter starts
/// again at 0) from reusing the ids of events it spilled before the restart.
public struct AuditEventID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var prefix: UInt64
    public var sequence: UInt64

    public init(prefix: UInt64, sequence: UInt64) {
        self.prefix = prefix
        self.sequence = sequence
    }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.prefix, lhs.sequence) < (rhs.prefix, rhs.sequence)
    }

    /// 16 hex digits of the prefix, then 16 of the sequence.
    public var description: String {
        let prefix = self.prefix
        let sequence = self.sequence
        return String(unsafeUninitializedCapacity: 32) { buffer in
            let digits: StaticString = "0123456789abcdef"
            digits.withUTF8Buffer { hex in
                for i in 0..<16 {
                    buffer[i] = hex[Int((prefix >> (60 - UInt64(i) * 4)) & 0xF)]
                    buffer[16 + i] = hex[Int((sequence >> (60 - UInt64(i) * 4)) & 0xF)]
                }
            }
            return 32
        }
    }
}
