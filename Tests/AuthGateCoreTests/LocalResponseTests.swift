import AuthGateCore
import NIOHTTP1
import Testing

/// The gateway's own answers, built without I/O.
@Suite struct LocalResponseTests {
    static func identity() -> Identity {
        var identity = Identity(
            userID: "user-\"1\"",
            email: "u@example.com",
            roles: ["admin", "ops"],
            kind: .betterAuthSessionCookie,
            sessionID: "s-1",
            expiresAt: 1_800_000_000
        )
        identity.organizationID = "org-1"
        return identity
    }

    @Test func anAcceptedIntrospectionIsActiveWithTheCallersClaims() throws {
        let answer = LocalResponse.introspection(.accepted(Self.identity()), requestID: "r-1")
        #expect(answer.status == .ok)
        let json = try JSONParser.parse(Array(answer.body.utf8))
        #expect(json["active"] == .bool(true))
        #expect(json["sub"]?.stringValue == "user-\"1\"")
        #expect(json["email"]?.stringValue == "u@example.com")
        #expect(json["auth_method"]?.stringValue == "better-auth")
        #expect(json["token_type"]?.stringValue == "better_auth_session_cookie")
        #expect(json["session_id"]?.stringValue == "s-1")
        #expect(json["exp"] == .number(1_800_000_000))
        #expect(json["roles"] == .array([.string("admin"), .string("ops")]))
    }

    @Test func aRefusedIntrospectionIsInactiveAndAnOutageIsA503() throws {
        let refused = LocalResponse.introspection(.rejected(.expired), requestID: "r-1")
        #expect(refused == LocalResponse(status: .ok, body: "{\"active\":false}"))
        let outage = LocalResponse.introspection(.unavailable("down"), requestID: "r-1")
        #expect(outage.status == .serviceUnavailable)
        #expect(outage.headers["retry-after"] == ["1"])
        let json = try JSONParser.parse(Array(outage.body.utf8))
        #expect(json["error"]?.stringValue == "auth_unavailable")
        #expect(json["request_id"]?.stringValue == "r-1")
    }

    @Test func theIntrospectionTokenIsANonEmptyStringInAJSONObject() {
        #expect(LocalResponse.introspectionToken(in: Array(#"{"token":"abc"}"#.utf8)) == "abc")
        #expect(LocalResponse.introspectionToken(in: Array(#"{"token":""}"#.utf8)) == nil)
        #expect(LocalResponse.introspectionToken(in: Array(#"{"token":1}"#.utf8)) == nil)
        #expect(LocalResponse.introspectionToken(in: Array(#"["abc"]"#.utf8)) == nil)
        #expect(LocalResponse.introspectionToken(in: Array("token=abc".utf8)) == nil)
        #expect(LocalResponse.introspectionToken(in: []) == nil)
    }

    @Test func anErrorAnswerCarriesItsStatusBodyAndFields() throws {
        let answer = LocalResponse.error(.unauthorized(.badSignature), requestID: "r-2")
        #expect(answer.status == .unauthorized)
        #expect(answer.headers["www-authenticate"] == ["Bearer error=\"invalid_token\""])
        let json = try JSONParser.parse(Array(answer.body.utf8))
        #expect(json["error"]?.stringValue == "bad_signature")
    }

    @Test func theHeadHasTheAnswersFieldsThenTheExchanges() {
        var answer = LocalResponse.error(.authUnavailable, requestID: "r-3")
        answer.headers.add(name: "Set-Cookie", value: "a=b")
        let head = answer.head(version: .http1_1, requestID: "r-3", cors: nil, keepAlive: false)
        #expect(head.status == .serviceUnavailable)
        #expect(
            head.headers.map(\.name) == [
                "Content-Type", "Content-Length", "Cache-Control", "X-Request-Id", "Retry-After", "Set-Cookie",
                "Connection",
            ]
        )
        #expect(head.headers["content-length"] == [String(answer.body.utf8.count)])
        #expect(head.headers["cache-control"] == ["no-store"])
        #expect(head.headers["connection"] == ["close"])

        let kept = LocalResponse.health(timestamp: "2026-12-03T10:00:00Z")
            .head(version: .http1_1, requestID: "r-4", cors: nil, keepAlive: true)
        #expect(kept.headers["connection"].isEmpty)
        #expect(kept.headers["x-request-id"] == ["r-4"])
    }

    @Test func healthIsOkWithItsTimestamp() {
        #expect(
            LocalResponse.health(timestamp: "2026-12-03T10:00:00Z")
                == LocalResponse(status: .ok, body: #"{"status":"ok","timestamp":"2026-12-03T10:00:00Z"}"#)
        )
    }
}
