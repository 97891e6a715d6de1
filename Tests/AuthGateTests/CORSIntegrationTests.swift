import AuthGate
import AuthGateCore
import Foundation
import Testing

/// CORS over loopback sockets: preflights answered by the gateway, the allow fields on the
/// gateway's own errors and on relayed answers, nothing for other origins, `cors: false` routes.
@Suite("CORS over loopback")
struct CORSIntegrationTests {
    static let app = "https://app.example.com"
    static let evil = "https://evil.example.net"

    static func configure(_ config: inout GatewayConfig) {
        config.routes = [
            GatewayConfig.Route(path: "/api/public/", access: .public),
            GatewayConfig.Route(path: "/close", access: .public),
            {
                var route = GatewayConfig.Route(path: "/api/webhooks/", access: .public)
                route.cors = false
                return route
            }(),
        ]
        config.cors.allowedOrigins = [Self.app, "http://localhost:5173"]
        config.cors.allowCredentials = true
    }

    static func request(
        _ method: String,
        _ path: String,
        origin: String?,
        headers: [String] = []
    ) -> String {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: api.example.com\r\n"
        if let origin { text += "Origin: \(origin)\r\n" }
        for header in headers { text += header + "\r\n" }
        return text + "\r\n"
    }

    static func preflight(
        _ path: String,
        origin: String,
        method: String = "PUT",
        headers: String? = "authorization"
    )
        -> String
    {
        var extra = ["Access-Control-Request-Method: \(method)"]
        if let headers { extra.append("Access-Control-Request-Headers: \(headers)") }
        return Self.request("OPTIONS", path, origin: origin, headers: extra)
    }

    static func json(_ response: RawHTTPResponse) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(response.bodyString.utf8))
        return try #require(value as? [String: Any])
    }

    static func expectAllowed(_ response: RawHTTPResponse, origin: String = Self.app, _ what: String) {
        #expect(response.headers.values("access-control-allow-origin") == [origin], "\(what)")
        #expect(response.headers["access-control-allow-credentials"] == "true", "\(what)")
        #expect(response.headers["access-control-expose-headers"] == "Retry-After, X-Request-Id", "\(what)")
        #expect(response.headers.values("vary") == ["Origin"], "\(what)")
    }

    static func expectNoCORS(_ response: RawHTTPResponse, _ what: String) {
        let names = response.headers.fields.map { $0.name.lowercased() }
        #expect(!names.contains { $0.hasPrefix("access-control-") }, "\(what): \(response.headers)")
    }

    @Test("a preflight from an allowed origin is answered 204 before authentication; the 401 that follows is readable")
    func preflightThenReadable401() async throws {
        try await GatewayFixture.withGateway(configure: Self.configure) { fixture in
            let client = try await fixture.connect()
            try await client.send(
                Self.preflight("/api/private/items", origin: Self.app, headers: "authorization,content-type")
            )
            let preflight = try await client.readResponse(requestMethod: "OPTIONS")
            #expect(preflight.status == 204)
            #expect(preflight.headers["access-control-allow-origin"] == Self.app)
            #expect(preflight.headers["access-control-allow-credentials"] == "true")
            #expect(preflight.headers["access-control-allow-methods"] == "GET, HEAD, POST, PUT, PATCH, DELETE")
            #expect(preflight.headers["access-control-allow-headers"] == "Authorization, Content-Type")
            #expect(preflight.headers["access-control-max-age"] == "600")
            #expect(
                preflight.headers["vary"] == "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
            )
            #expect(preflight.headers["x-request-id"]?.isEmpty == false)
            #expect(preflight.headers["content-length"] == nil)
            #expect(preflight.bodyLength == 0)
            #expect(fixture.backend.requestCount == 0, "a preflight never reaches the backend")

            // Same connection: the real request without a credential gets a 401 the page can read.
            try await client.send(Self.request("GET", "/api/private/items", origin: Self.app))
            let denied = try await client.readResponse()
            #expect(denied.status == 401)
            Self.expectAllowed(denied, "401")
            #expect(denied.headers["www-authenticate"] == "Bearer error=\"invalid_token\"")
            #expect(try Self.json(denied)["error"] as? String == "missing_credential")
            #expect(fixture.backend.requestCount == 0)
            await client.close()
        }
    }

    @Test("relayed answers and the gateway's 502 carry the allow fields for an allowed origin")
    func relayedAndGatewayErrors() async throws {
        try await GatewayFixture.withGateway(configure: Self.configure) { fixture in
            let client = try await fixture.connect()
            try await client.send(Self.request("GET", "/api/public/hello", origin: "http://localhost:5173"))
            let relayed = try await client.readResponse()
            #expect(relayed.status == 200)
            Self.expectAllowed(relayed, origin: "http://localhost:5173", "relayed 200")
            // The backend saw the Origin, as it always did.
            let echoed = try #require(try Self.json(relayed)["headers"] as? [[String]])
            #expect(echoed.contains { $0[0].lowercased() == "origin" && $0[1] == "http://localhost:5173" })

            let other = try await fixture.connect()
            try await other.send(Self.request("GET", "/close", origin: Self.app))
            let badGateway = try await other.readResponse()
            #expect(badGateway.status == 502)
            Self.expectAllowed(badGateway, "502")
            await other.close()
            await client.close()
        }
    }

    @Test("another origin gets no CORS headers: its preflight is a plain request (401), its answers carry none")
    func otherOrigin() async throws {
        try await GatewayFixture.withGateway(configure: Self.configure) { fixture in
            let client = try await fixture.connect()
            for origin in [Self.evil, "null", "https://APP.example.com", "https://app.example.com.evil.example.net"] {
                try await client.send(Self.preflight("/api/private/items", origin: origin))
                let preflight = try await client.readResponse(requestMethod: "OPTIONS")
                #expect(preflight.status == 401, "\(origin)")
                Self.expectNoCORS(preflight, origin)
                #expect(preflight.headers.values("vary") == ["Origin"], "\(origin)")
            }
            try await client.send(Self.request("GET", "/api/public/x", origin: Self.evil))
            let relayed = try await client.readResponse()
            #expect(relayed.status == 200)
            Self.expectNoCORS(relayed, "relayed")
            #expect(relayed.headers.values("vary") == ["Origin"])
            // Without Origin at all: no CORS headers either.
            try await client.send(Self.request("GET", "/api/private/x", origin: nil))
            let plain = try await client.readResponse()
            #expect(plain.status == 401)
            Self.expectNoCORS(plain, "no origin")
            await client.close()
        }
    }

    @Test("a route with cors: false leaves CORS to the backend: its preflight is proxied as it is")
    func routeWithoutCORS() async throws {
        try await GatewayFixture.withGateway(configure: Self.configure) { fixture in
            let client = try await fixture.connect()
            try await client.send(Self.preflight("/api/webhooks/github", origin: Self.app))
            let response = try await client.readResponse(requestMethod: "OPTIONS")
            #expect(response.status == 200, "the echo backend answered")
            Self.expectNoCORS(response, "cors: false")
            #expect(response.headers["vary"] == nil)
            #expect(try Self.json(response)["method"] as? String == "OPTIONS")
            #expect(fixture.backend.requestCount == 1)
            await client.close()
        }
    }

    @Test("preflights count towards the per-IP rate limit: the one over it gets 429, readable by the origin")
    func rateLimitedPreflight() async throws {
        let configure: (inout GatewayConfig) -> Void = { config in
            Self.configure(&config)
            config.rateLimits.ipBurst = 2
            config.rateLimits.ipRequestsPerMinute = 1
        }
        try await GatewayFixture.withGateway(configure: configure) { fixture in
            let client = try await fixture.connect()
            var statuses: [Int] = []
            var last: RawHTTPResponse?
            for _ in 0..<3 {
                try await client.send(Self.preflight("/api/private/items", origin: Self.app))
                let response = try await client.readResponse(requestMethod: "OPTIONS")
                statuses.append(response.status)
                last = response
            }
            #expect(statuses == [204, 204, 429])
            let limited = try #require(last)
            Self.expectAllowed(limited, "429")
            #expect(limited.headers["retry-after"] != nil)
            #expect(try Self.json(limited)["error"] as? String == "rate_limited")
            #expect(fixture.backend.requestCount == 0)
            await client.close()
        }
    }

    @Test("a preflight asking for a method or header not allowed gets 204 without the allow-method/-header fields")
    func refusedPreflight() async throws {
        try await GatewayFixture.withGateway(configure: Self.configure) { fixture in
            let client = try await fixture.connect()
            for (method, headers) in [("PROPFIND", nil), ("PUT", "authorization, x-debug")] as [(String, String?)] {
                try await client.send(
                    Self.preflight("/api/private/items", origin: Self.app, method: method, headers: headers)
                )
                let response = try await client.readResponse(requestMethod: "OPTIONS")
                #expect(response.status == 204, "\(method)")
                #expect(response.headers["access-control-allow-origin"] == Self.app)
                #expect(response.headers["access-control-allow-methods"] == nil, "\(method)")
                #expect(response.headers["access-control-allow-headers"] == nil, "\(method)")
                #expect(response.headers["access-control-max-age"] == nil, "\(method)")
            }
            #expect(fixture.backend.requestCount == 0)
            await client.close()
        }
    }
}
