import Testing

@testable import AuthGateCore

private func event(
    kind: AuditEvent.Kind = .success,
    sessionID: String? = "session-abc",
    userAgent: String? = "curl/8.0",
    route: String = "/api/me",
    reason: String? = nil
) -> AuditEvent {
    AuditEvent(
        kind: kind,
        authMethod: .legacy,
        success: kind == .success,
        userID: "42",
        sessionID: sessionID,
        clientIP: "10.1.2.3",
        userAgent: userAgent,
        route: route,
        reason: reason,
        requestID: "req-1",
        timeMicros: 1_700_000_000_123_456
    )
}

private let id = AuditEventID(prefix: 0x0123_4567_89ab_cdef, sequence: 42)

@Suite("Audit records and the spill file")
struct AuditSpillCodecTests {
    @Test func eventIDsAre32HexDigitsOrderedBySequence() {
        #expect(id.description == "0123456789abcdef000000000000002a")
        #expect(AuditEventID(prefix: 1, sequence: 2) < AuditEventID(prefix: 1, sequence: 3))
    }

    @Test func theSessionIDIsStoredOnlyAsItsSHA256() {
        let record = AuditRecord(event: event(), eventID: id)
        // sha256("session-abc")
        #expect(record.sessionIDHash?.utf8.count == 64)
        #expect(record.sessionIDHash == AuditRecord.hash("session-abc"))
        #expect(
            AuditRecord.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        let line = String(decoding: AuditSpillCodec.encode([record]), as: UTF8.self)
        #expect(!line.contains("session-abc"))
        #expect(AuditRecord(event: event(sessionID: nil), eventID: id).sessionIDHash == nil)
    }

    @Test func longFieldsAreCutOnCharacterBoundaries() {
        let agent = String(repeating: "a", count: 511) + "é" + "tail"
        let record = AuditRecord(
            event: event(userAgent: agent, route: "/" + String(repeating: "x", count: 5000)),
            eventID: id
        )
        #expect(record.userAgent == String(repeating: "a", count: 511))
        #expect(record.route.utf8.count == AuditRecord.Limits.route)
        #expect(AuditRecord.truncated("héllo", to: 2) == "h")
        #expect(AuditRecord.truncated("héllo", to: 3) == "hé")
        #expect(AuditRecord.truncated("short", to: 512) == "short")
    }

    @Test func recordsRoundTripThroughALine() throws {
        let records = [
            AuditRecord(event: event(), eventID: id),
            AuditRecord(
                event: event(
                    kind: .failure,
                    sessionID: nil,
                    userAgent: "quote\" back\\ nl\n ctl\u{01} é",
                    reason: "bad_signature"
                ),
                eventID: AuditEventID(prefix: 1, sequence: 2)
            ),
            AuditRecord(
                eventID: "x",
                eventType: "lockout",
                authMethod: nil,
                success: false,
                userID: nil,
                sessionIDHash: nil,
                clientIP: "::1",
                userAgent: nil,
                route: "/",
                reason: "locked_out",
                requestID: "r",
                timeMicros: 0
            ),
        ]
        let bytes = AuditSpillCodec.encode(records)
        #expect(bytes.filter { $0 == UInt8(ascii: "\n") }.count == 3)
        let chunk = AuditSpillCodec.decode(bytes[...], maxRecords: 10, atEndOfFile: true)
        #expect(chunk.records == records)
        #expect(chunk.consumedBytes == bytes.count)
        #expect(chunk.invalidLines == 0)
        #expect(!chunk.tornTail)
    }

    @Test func aTornLastLineIsSkippedAndCounted() {
        let records = (0..<3).map {
            AuditRecord(event: event(), eventID: AuditEventID(prefix: 7, sequence: UInt64($0)))
        }
        let whole = AuditSpillCodec.encode(records)
        let torn = Array(whole.dropLast(20))
        let atEnd = AuditSpillCodec.decode(torn[...], maxRecords: 10, atEndOfFile: true)
        #expect(atEnd.records == Array(records.prefix(2)))
        #expect(atEnd.tornTail)
        #expect(atEnd.consumedBytes == torn.count)
        // Not at the end of the file: the piece is left for the next read.
        let midFile = AuditSpillCodec.decode(torn[...], maxRecords: 10, atEndOfFile: false)
        #expect(midFile.records == Array(records.prefix(2)))
        #expect(!midFile.tornTail)
        #expect(midFile.consumedBytes == AuditSpillCodec.completeLinesLength(torn[...]))
        #expect(AuditSpillCodec.completeLinesLength(whole[...]) == whole.count)
        #expect(AuditSpillCodec.completeLinesLength([UInt8]("{\"v\":1".utf8)[...]) == 0)
    }

    @Test func invalidLinesAreSkippedNotGuessed() {
        let good = AuditSpillCodec.encode([AuditRecord(event: event(), eventID: id)])
        let goodLine = String(decoding: good.dropLast(), as: UTF8.self)
        let bad = [
            "",
            "not json",
            "[]",
            goodLine.replacingOccurrences("\"v\":1", "\"v\":2"),
            goodLine.replacingOccurrences("\"success\":true", "\"success\":\"true\""),
            goodLine.replacingOccurrences("\"event_id\":\"0123456789abcdef000000000000002a\"", "\"event_id\":\"\""),
            goodLine.replacingOccurrences(",\"reason\":null", ""),
            goodLine.replacingOccurrences("}", ",\"extra\":1}"),
            goodLine.replacingOccurrences("\"time_us\":1700000000123456", "\"time_us\":1.5"),
        ]
        var bytes: [UInt8] = []
        for line in bad {
            bytes += Array(line.utf8) + [UInt8(ascii: "\n")]
        }
        bytes += good
        let chunk = AuditSpillCodec.decode(bytes[...], maxRecords: 100, atEndOfFile: true)
        #expect(chunk.invalidLines == bad.count)
        #expect(chunk.records.count == 1)
        #expect(chunk.consumedBytes == bytes.count)
    }

    @Test func decodingStopsAfterMaxRecordsAndResumesWhereItStopped() {
        let records = (0..<10).map {
            AuditRecord(event: event(), eventID: AuditEventID(prefix: 9, sequence: UInt64($0)))
        }
        let bytes = AuditSpillCodec.encode(records)
        var offset = 0
        var decoded: [AuditRecord] = []
        while offset < bytes.count {
            let chunk = AuditSpillCodec.decode(bytes[offset...], maxRecords: 3, atEndOfFile: true)
            #expect(chunk.records.count <= 3)
            decoded += chunk.records
            offset += chunk.consumedBytes
        }
        #expect(decoded == records)
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
