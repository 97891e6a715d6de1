/// The spill file's format: one JSON object per ``AuditRecord``, one per line (`\n`), version 1.
///
/// ```
/// {"v":1,"event_id":"…","event_type":"auth_success","auth_method":"legacy","success":true,
///  "user_id":"42","session_id_hash":"…","client_ip":"10.0.0.1","user_agent":"curl/8",
///  "route":"/api/me","reason":null,"request_id":"…","time_us":1700000000000000}
/// ```
/// (one line in the file). Every key is always written, absent values as `null`. The session id
/// is already hashed, so the file holds nothing a client could replay.
///
/// The writer appends whole lines and `fsync`s after every batch, so the only damage a crash
/// can leave is a torn last line without its `\n`. The decoder is strict: a line must be a JSON
/// object with every key of the right type (``decodeLine(_:)``); a line that is not is skipped
/// and counted, never guessed at.
public enum AuditSpillCodec {
    /// The `v` of the lines this version writes and reads.
    public static let version = 1

    /// Appends `record` as one line, `\n` included.
    public static func encode(_ record: AuditRecord, to output: inout [UInt8]) {
        func key(_ name: StaticString) {
            output.append(UInt8(ascii: ","))
            output.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { output.append(contentsOf: $0) }
            output.append(UInt8(ascii: "\""))
            output.append(UInt8(ascii: ":"))
        }
        func string(_ value: String?) {
            if let value {
                JSONEncoding.appendString(value, to: &output)
            } else {
                output.append(contentsOf: "null".utf8)
            }
        }
        output.append(contentsOf: "{\"v\":\(Self.version)".utf8)
        key("event_id")
        string(record.eventID)
        key("event_type")
        string(record.eventType)
        key("auth_method")
        string(record.authMethod)
        key("success")
        output.append(contentsOf: (record.success ? "true" : "false").utf8)
        key("user_id")
        string(record.userID)
        key("session_id_hash")
        string(record.sessionIDHash)
        key("client_ip")
        string(record.clientIP)
        key("user_agent")
        string(record.userAgent)
        key("route")
        string(record.route)
        key("reason")
        string(record.reason)
        key("request_id")
        string(record.requestID)
        key("time_us")
        output.append(contentsOf: String(record.timeMicros).utf8)
        output.append(UInt8(ascii: "}"))
        output.append(UInt8(ascii: "\n"))
    }

    /// `records` as lines.
    public static func encode(_ records: some Sequence<AuditRecord>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(320 * records.underestimatedCount)
        for record in records {
            Self.encode(record, to: &output)
        }
        return output
    }

    /// The largest magnitude `time_us` may have: JSON numbers are read as doubles, exact up to
    /// 2^53 (the year 2255 in microseconds).
    static let maxTimeMicros: Int64 = 1 << 53

    /// One line (without its `\n`) back into a record, or `nil` if it is not exactly what
    /// ``encode(_:to:)`` writes: a JSON object with `v` = 1 and every key, each of its type
    /// (strings or `null` where optional, `success` a Boolean, `time_us` an integer), a
    /// non-empty `event_id` and `event_type`, and no other keys.
    public static func decodeLine(_ line: ArraySlice<UInt8>) -> AuditRecord? {
        let value: JSONValue
        do {
            value = try line.withUnsafeBytes { bytes in
                try JSONParser.parse(bytes, maximumDepth: 2)
            }
        } catch {
            return nil
        }
        guard let members = value.objectValue, members.count == 13,
            members["v"]?.int64Value == Int64(Self.version)
        else { return nil }
        func required(_ key: String) -> String? {
            members[key]?.stringValue
        }
        /// `.some(nil)` for `null`, `nil` for a missing key or another type.
        func optional(_ key: String) -> String?? {
            guard let member = members[key] else { return nil }
            if member.isNull { return .some(nil) }
            guard let string = member.stringValue else { return nil }
            return .some(string)
        }
        guard let eventID = required("event_id"), !eventID.isEmpty,
            eventID.utf8.count <= AuditRecord.Limits.eventID,
            let eventType = required("event_type"), !eventType.isEmpty,
            let authMethod = optional("auth_method"),
            let success = members["success"]?.boolValue,
            let userID = optional("user_id"),
            let sessionIDHash = optional("session_id_hash"),
            let clientIP = required("client_ip"),
            let userAgent = optional("user_agent"),
            let route = required("route"),
            let reason = optional("reason"),
            let requestID = required("request_id"),
            let timeMicros = members["time_us"]?.int64Value,
            abs(timeMicros) <= Self.maxTimeMicros
        else { return nil }
        return AuditRecord(
            eventID: eventID,
            eventType: eventType,
            authMethod: authMethod,
            success: success,
            userID: userID,
            sessionIDHash: sessionIDHash,
            clientIP: clientIP,
            userAgent: userAgent,
            route: route,
            reason: reason,
            requestID: requestID,
            timeMicros: timeMicros
        )
    }

    /// What ``decode(_:maxRecords:atEndOfFile:)`` found in a piece of the file.
    public struct Chunk: Sendable, Equatable {
        /// The records of the complete, valid lines, in file order.
        public var records: [AuditRecord]
        /// How many bytes the caller may consider done: the complete lines read (valid or not)
        /// and, at the end of the file, a torn last line.
        public var consumedBytes: Int
        /// Complete lines that did not decode (skipped).
        public var invalidLines: Int
        /// Whether the piece ended in a torn line (bytes without `\n` at the end of the file),
        /// which is skipped.
        public var tornTail: Bool

        public init(records: [AuditRecord], consumedBytes: Int, invalidLines: Int, tornTail: Bool) {
            self.records = records
            self.consumedBytes = consumedBytes
            self.invalidLines = invalidLines
            self.tornTail = tornTail
        }
    }

    /// Decodes the lines at the start of `bytes`, at most `maxRecords` valid ones.
    ///
    /// A trailing piece without `\n` is left unconsumed (the next read continues there) unless
    /// `atEndOfFile`: then it is a line torn by a crash, consumed and reported in
    /// ``Chunk/tornTail``.
    public static func decode(_ bytes: ArraySlice<UInt8>, maxRecords: Int, atEndOfFile: Bool) -> Chunk {
        var chunk = Chunk(records: [], consumedBytes: 0, invalidLines: 0, tornTail: false)
        var start = bytes.startIndex
        while chunk.records.count < maxRecords {
            guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                if atEndOfFile && start < bytes.endIndex {
                    chunk.tornTail = true
                    chunk.consumedBytes = bytes.endIndex - bytes.startIndex
                }
                break
            }
            if let record = Self.decodeLine(bytes[start..<newline]) {
                chunk.records.append(record)
            } else {
                chunk.invalidLines += 1
            }
            start = newline + 1
            chunk.consumedBytes = start - bytes.startIndex
        }
        return chunk
    }

    /// The length of the longest prefix of `bytes` that ends with a complete line: what a spill
    /// file left by a crash is cut back to before anything is appended to it (so that a new
    /// line is never glued to a torn one).
    public static func completeLinesLength(_ bytes: ArraySlice<UInt8>) -> Int {
        guard let last = bytes.lastIndex(of: UInt8(ascii: "\n")) else { return 0 }
        return last + 1 - bytes.startIndex
    }
}
