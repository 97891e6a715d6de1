import NIOCore
import NIOHTTP1
import Testing

@testable import AuthGateCore

private let app = "https://app.example.com"
private let dev = "http://localhost:5173"

private func policy(
    origins: [String] = [app, dev],
    credentials: Bool = true,
    methods: [String] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    headers: [String] = ["Authorization", "Content-Type"],
    exposed: [String] = ["Retry-After", "X-Request-Id"],
    maxAge: Int = 600
) -> CORSPolicy {
    CORSPolicy(
        allowedOrigins: origins,
        allowCredentials: credentials,
        allowedMethods: methods,
        allowedHeaders: headers,
        exposedHeaders: exposed,
        maxAgeSeconds: maxAge
    )
}

private func headers(_ pairs: [(String, String)]) -> HTTPHeaders {
    HTTPHeaders(pairs)
}

private func fields(_ headers: HTTPHeaders) -> [String] {
    headers.map { "\($0.name): \($0.value)" }
}

@Suite("CORSPolicy")
struct CORSPolicyTests {
    // MARK: Origins

    @Test("a request without Origin gets only Vary: Origin, and no preflight")
    func noOrigin() {
        let decision = policy().decide(method: .GET, headers: headers([("Host", "api")]))
        #expect(!decision.originAllowed)
        #expect(decision.preflight == nil)
        #expect(
            decision.response
                == CORSResponseHeaders(allowOrigin: nil, allowCredentials: false, exposeHeaders: nil, varyOrigin: true)
        )
        var out = HTTPHeaders()
        decision.response.add(to: &out)
        #expect(fields(out) == ["Vary: Origin"])
    }

    @Test("an allowed origin gets its own origin back, with credentials and the exposed headers")
    func allowedOrigin() {
        let decision = policy().decide(method: .GET, headers: headers([("origin", " \(app) ")]))
        #expect(decision.originAllowed)
        #expect(decision.preflight == nil)
        var out = HTTPHeaders()
        decision.response.add(to: &out)
        #expect(
            fields(out) == [
                "Access-Control-Allow-Origin: \(app)", "Access-Control-Allow-Credentials: true",
                "Access-Control-Expose-Headers: Retry-After, X-Request-Id", "Vary: Origin",
            ]
        )
    }

    @Test("no credentials and no exposed headers: only the origin and Vary")
    func minimalFields() {
        let decision = policy(credentials: false, exposed: []).decide(
            method: .POST,
            headers: headers([("Origin", dev)])
        )
        var out = HTTPHeaders()
        decision.response.add(to: &out)
        #expect(fields(out) == ["Access-Control-Allow-Origin: \(dev)", "Vary: Origin"])
    }

    @Test(
        "origins are compared as serialized origins, byte for byte: no prefix, suffix, case or port games",
        arguments: [
            "https://app.example.com.evil.test", "https://evil.test/https://app.example.com", "https://APP.example.com",
            "HTTPS://app.example.com", "https://app.example.com/", "https://app.example.com:443",
            "http://app.example.com", "https://app.example.co", "null", "", "*", "http://localhost:5174",
            "https://app.example.com, https://evil.test",
        ]
    )
    func originNotAllowed(origin: String) {
        let decision = policy().decide(method: .GET, headers: headers([("Origin", origin)]))
        #expect(!decision.originAllowed, "\(origin)")
        #expect(decision.response == policy().headersWithoutOrigin)
    }

    @Test("two Origin fields are not an allowed origin, even if both are listed")
    func twoOrigins() {
        let decision = policy().decide(method: .GET, headers: headers([("Origin", app), ("Origin", app)]))
        #expect(!decision.originAllowed)
    }

    @Test("* allows any origin with Access-Control-Allow-Origin: * and no Vary, never credentials")
    func anyOrigin() {
        let any = policy(origins: ["*"], credentials: false)
        #expect(any.origins == .any)
        let decision = any.decide(method: .GET, headers: headers([("Origin", "https://anyone.test")]))
        #expect(decision.response.allowOrigin == "*")
        var out = HTTPHeaders()
        decision.response.add(to: &out)
        #expect(
            fields(out) == [
                "Access-Control-Allow-Origin: *", "Access-Control-Expose-Headers: Retry-After, X-Request-Id",
            ]
        )
        var none = HTTPHeaders()
        any.decide(method: .GET, headers: [:]).response.add(to: &none)
        #expect(fields(none).isEmpty)
    }

    // MARK: Preflights

    static func preflightHeaders(method: String, requested: String? = nil, origin: String = app) -> HTTPHeaders {
        var pairs = [("Origin", origin), ("Access-Control-Request-Method", method)]
        if let requested { pairs.append(("Access-Control-Request-Headers", requested)) }
        return headers(pairs)
    }

    @Test("a preflight asking for an allowed method and headers gets the allow fields and the max age")
    func preflightAllowed() throws {
        let answer = try #require(
            policy().decide(
                method: .OPTIONS,
                headers: Self.preflightHeaders(method: "PUT", requested: "authorization,content-type")
            )
            .preflight
        )
        #expect(answer.denial == nil)
        var out = HTTPHeaders()
        answer.add(to: &out)
        #expect(
            fields(out) == [
                "Access-Control-Allow-Origin: \(app)", "Access-Control-Allow-Credentials: true",
                "Access-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE",
                "Access-Control-Allow-Headers: Authorization, Content-Type", "Access-Control-Max-Age: 600",
                "Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ]
        )
        #expect(CORSPreflightAnswer.status == .noContent)
    }

    @Test("requested header names are matched ignoring case, split on commas, over several fields")
    func preflightHeaderList() throws {
        let pairs = [
            ("Origin", app), ("Access-Control-Request-Method", "DELETE"),
            ("access-control-request-headers", " Authorization , "), ("Access-Control-Request-Headers", "CONTENT-TYPE"),
        ]
        let answer = try #require(policy().decide(method: .OPTIONS, headers: headers(pairs)).preflight)
        #expect(answer.denial == nil)
        #expect(answer.allowHeaders == "Authorization, Content-Type")
    }

    @Test(
        "a method not listed is refused: no allow fields, the origin's fields kept",
        arguments: ["TRACE", "put", "CONNECT", "", "P T"]
    )
    func preflightMethodRefused(method: String) throws {
        let answer = try #require(
            policy().decide(method: .OPTIONS, headers: Self.preflightHeaders(method: method)).preflight
        )
        #expect(answer.denial == .method(method.trimmingASCIISpaces().description))
        #expect(answer.allowMethods == nil && answer.allowHeaders == nil && answer.maxAge == nil)
        var out = HTTPHeaders()
        answer.add(to: &out)
        #expect(
            fields(out) == [
                "Access-Control-Allow-Origin: \(app)", "Access-Control-Allow-Credentials: true",
                "Vary: Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ]
        )
    }

    @Test("the CORS-safelisted methods always pass, as browsers let them")
    func safelistedMethods() throws {
        let onlyPut = policy(methods: ["PUT"])
        for method in ["GET", "HEAD", "POST"] {
            let answer = try #require(
                onlyPut.decide(method: .OPTIONS, headers: Self.preflightHeaders(method: method)).preflight
            )
            #expect(answer.denial == nil, "\(method)")
            #expect(answer.allowMethods == "PUT")
        }
    }

    @Test("a header not listed is refused and named")
    func preflightHeaderRefused() throws {
        let answer = try #require(
            policy().decide(
                method: .OPTIONS,
                headers: Self.preflightHeaders(method: "GET", requested: "authorization,x-debug")
            )
            .preflight
        )
        #expect(answer.denial == .header("x-debug"))
        #expect(answer.allowMethods == nil && answer.allowHeaders == nil)
    }

    @Test("OPTIONS without Access-Control-Request-Method is a plain request, not a preflight")
    func optionsWithoutRequestMethod() {
        let decision = policy().decide(method: .OPTIONS, headers: headers([("Origin", app)]))
        #expect(decision.originAllowed)
        #expect(decision.preflight == nil)
    }

    @Test("a preflight from an origin that is not allowed is not answered")
    func preflightFromOtherOrigin() {
        let decision = policy().decide(
            method: .OPTIONS,
            headers: Self.preflightHeaders(method: "PUT", origin: "https://evil.test")
        )
        #expect(decision.preflight == nil)
        #expect(!decision.originAllowed)
    }

    @Test("Access-Control-Request-Method on another method is not a preflight")
    func requestMethodOnGet() {
        let decision = policy().decide(method: .GET, headers: Self.preflightHeaders(method: "PUT"))
        #expect(decision.preflight == nil)
        #expect(decision.originAllowed)
    }

    @Test("with empty lists a preflight for a non-safelisted method is refused, and no list field is sent")
    func emptyLists() throws {
        let none = policy(methods: [], headers: [])
        let answer = try #require(
            none.decide(method: .OPTIONS, headers: Self.preflightHeaders(method: "GET")).preflight
        )
        #expect(answer.denial == nil)
        #expect(answer.allowMethods == nil && answer.allowHeaders == nil)
        #expect(answer.maxAge == "600")
        let refused = try #require(
            none.decide(method: .OPTIONS, headers: Self.preflightHeaders(method: "PUT")).preflight
        )
        #expect(refused.denial == .method("PUT"))
    }

    // MARK: Config

    @Test("the policy of a cors: section; none while allowed_origins is empty")
    func fromConfig() throws {
        var config = GatewayConfig.CORS()
        #expect(CORSPolicy(config: config) == nil)
        config.allowedOrigins = [app]
        config.allowCredentials = true
        config.maxAgeSeconds = 60
        let policy = try #require(CORSPolicy(config: config))
        #expect(policy.origins == .list([app]))
        #expect(policy.allowCredentials)
        #expect(policy.allowedMethods == ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
        #expect(policy.allowedHeaders == ["Authorization", "Content-Type"])
        #expect(policy.exposedHeaders == ["Retry-After", "X-Request-Id"])
        #expect(policy.maxAgeValue == "60")
    }

    @Test(
        "origins in the config are serialized origins",
        arguments: [
            ("https://app.example.com", "https://app.example.com"),
            ("HTTPS://App.Example.com/", "https://app.example.com"),
            ("https://app.example.com:443", "https://app.example.com"), ("http://localhost:80", "http://localhost"),
            ("http://localhost:5173", "http://localhost:5173"), ("http://127.0.0.1:08080", "http://127.0.0.1:8080"),
            ("http://[::1]:3000", "http://[::1]:3000"), ("capacitor://localhost", "capacitor://localhost"),
            ("https://app.example.com:8443", "https://app.example.com:8443"),
        ]
    )
    func serializedOrigins(written: String, serialized: String) {
        #expect(CORSPolicy.serializedOrigin(written) == .success(serialized))
    }

    @Test(
        "what is not an origin is refused",
        arguments: [
            "null", "app.example.com", "https://app.example.com/app", "https://app.example.com?x",
            "https://u@app.example.com",
            "https://", "https://app.example.com:0", "https://app.example.com:99999", "1http://x", "http://[::1",
            "http://bad_host-",
        ]
    )
    func notOrigins(text: String) {
        guard case .failure = CORSPolicy.serializedOrigin(text) else {
            Issue.record("\(text) was accepted")
            return
        }
    }
}

@Suite("cors: config")
struct CORSConfigTests {
    private func issues(_ configure: (inout GatewayConfig.CORS) -> Void) -> [ConfigIssue] {
        var config = GatewayConfig()
        configure(&config.cors)
        return config.validate()
    }

    @Test("the defaults are valid and CORS is off")
    func defaults() throws {
        #expect(issues { _ in }.isEmpty)
        #expect(try ConfigSnapshot(config: GatewayConfig(), generation: 1).cors == nil)
    }

    @Test("a typical SPA setup is valid and compiles")
    func typical() throws {
        var config = GatewayConfig()
        config.cors.allowedOrigins = [app, dev]
        config.cors.allowCredentials = true
        #expect(config.validate().isEmpty)
        #expect(try ConfigSnapshot(config: config, generation: 1).cors?.origins == .list([app, dev]))
    }

    @Test("* is only accepted alone and without credentials")
    func star() {
        #expect(issues { $0.allowedOrigins = ["*"] }.isEmpty)
        #expect(
            issues {
                $0.allowedOrigins = ["*"]
                $0.allowCredentials = true
            }.map(\.key) == ["cors.allowed_origins[0]"]
        )
        #expect(issues { $0.allowedOrigins = [app, "*"] }.map(\.key) == ["cors.allowed_origins[1]"])
    }

    @Test("an origin not written as browsers send it is refused with its serialized form")
    func notSerialized() {
        let found = issues { $0.allowedOrigins = [app, "https://App.example.com/"] }
        #expect(found.map(\.key) == ["cors.allowed_origins[1]"])
        #expect(found.first?.reason.contains("write \"https://app.example.com\"") == true)
        let null = issues { $0.allowedOrigins = ["null"] }
        #expect(null.map(\.key) == ["cors.allowed_origins[0]"])
        #expect(issues { $0.allowedOrigins = ["https://app.example.com/login"] }.count == 1)
    }

    @Test("methods: tokens, standard ones in capitals, no *")
    func methods() {
        #expect(issues { $0.allowedMethods = ["GET", "PROPFIND", "patch"] }.isEmpty)
        #expect(issues { $0.allowedMethods = ["get"] }.map(\.key) == ["cors.allowed_methods[0]"])
        #expect(issues { $0.allowedMethods = ["PUT", "*"] }.map(\.key) == ["cors.allowed_methods[1]"])
        #expect(issues { $0.allowedMethods = ["BAD METHOD"] }.map(\.key) == ["cors.allowed_methods[0]"])
    }

    @Test("header names: tokens, no *")
    func headerNames() {
        #expect(issues { $0.allowedHeaders = ["*"] }.map(\.key) == ["cors.allowed_headers[0]"])
        #expect(issues { $0.exposedHeaders = ["X-Request-Id", "Bad Name"] }.map(\.key) == ["cors.exposed_headers[1]"])
        #expect(
            issues {
                $0.allowedHeaders = []
                $0.exposedHeaders = []
            }.isEmpty
        )
    }

    @Test("max_age_seconds is 0...86400")
    func maxAge() {
        #expect(issues { $0.maxAgeSeconds = 0 }.isEmpty)
        #expect(issues { $0.maxAgeSeconds = 86_401 }.map(\.key) == ["cors.max_age_seconds"])
        #expect(issues { $0.maxAgeSeconds = -1 }.map(\.key) == ["cors.max_age_seconds"])
    }

    @Test("the cors: section and a route's cors: false are read from YAML")
    func yaml() throws {
        let config = try ConfigLoader.parse(
            yaml: """
                cors:
                  allowed_origins: ["https://app.example.com"]
                  allow_credentials: true
                  allowed_methods: [GET, POST]
                  allowed_headers: [Authorization]
                  exposed_headers: []
                  max_age_seconds: 60
                routes:
                  - path: /api/webhooks/
                    access: public
                    cors: false
                  - path: /api/
                    access: authenticated
                """,
            file: nil,
            environment: [:]
        )
        #expect(config.cors.allowedOrigins == [app])
        #expect(config.cors.allowCredentials)
        #expect(config.cors.allowedMethods == ["GET", "POST"])
        #expect(config.cors.allowedHeaders == ["Authorization"])
        #expect(config.cors.exposedHeaders == [])
        #expect(config.cors.maxAgeSeconds == 60)
        #expect(config.routes.map(\.cors) == [false, true])
        let snapshot = try ConfigSnapshot(config: config, generation: 1)
        #expect(snapshot.auth.routes.match(path: "/api/webhooks/github").cors == false)
        #expect(snapshot.auth.routes.match(path: "/api/users").cors == true)
        #expect(snapshot.auth.routes.match(path: "/other").cors == true)
    }

    @Test("a route's cors must be a boolean")
    func routeCorsType() {
        do {
            _ = try ConfigLoader.parse(yaml: "routes:\n  - path: /x\n    cors: maybe\n", file: nil, environment: [:])
            Issue.record("accepted")
        } catch {
            #expect(error.issues.map(\.key) == ["routes[0].cors"])
        }
    }
}

@Suite("HeaderPolicy.writeRelayedHead with CORS")
struct RelayedHeadCORSTests {
    static let allowed = CORSResponseHeaders(
        allowOrigin: app,
        allowCredentials: true,
        exposeHeaders: "Retry-After, X-Request-Id",
        varyOrigin: true
    )

    static func relayed(_ fieldText: String, cors: CORSResponseHeaders?) -> String {
        let head = UpstreamResponseHead(
            version: .http1_1,
            status: .ok,
            keepAlive: true,
            selfDelimited: true,
            fields: ByteBuffer(string: fieldText)
        )
        var buffer = ByteBuffer()
        _ = HeaderPolicy.writeRelayedHead(
            head,
            requestMethod: .GET,
            clientVersion: .http1_1,
            keepAlive: true,
            requestID: "req-1",
            cors: cors,
            into: &buffer
        )
        return String(buffer: buffer)
    }

    @Test("the backend's CORS fields are replaced by the gateway's, and Vary: Origin is added")
    func replacesBackendFields() {
        let fields =
            "Content-Type: application/json\r\nAccess-Control-Allow-Origin: *\r\n"
            + "access-control-allow-credentials: true\r\nACCESS-CONTROL-EXPOSE-HEADERS: X-Secret\r\nContent-Length: 2\r\n"
        #expect(
            Self.relayed(fields, cors: Self.allowed)
                == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-Request-Id: req-1\r\n"
                + "Access-Control-Allow-Origin: \(app)\r\nAccess-Control-Allow-Credentials: true\r\n"
                + "Access-Control-Expose-Headers: Retry-After, X-Request-Id\r\nVary: Origin\r\n\r\n"
        )
    }

    @Test("Origin is merged into the backend's Vary, never duplicated")
    func mergesVary() {
        let merged = Self.relayed("Vary: Accept-Encoding\r\nContent-Length: 0\r\n", cors: Self.allowed)
        #expect(merged.contains("\r\nVary: Accept-Encoding, Origin\r\nContent-Length: 0\r\n"))
        #expect(merged.components(separatedBy: "Vary:").count == 2)
        for listed in [
            "Vary: origin\r\n", "Vary: Accept, Origin\r\n", "Vary: *\r\n", "Vary: Accept\r\nVary: ORIGIN\r\n",
        ] {
            let out = Self.relayed(listed + "Content-Length: 0\r\n", cors: Self.allowed)
            #expect(out.contains(listed), "\(listed)")
            #expect(
                out.components(separatedBy: "Vary:").count == listed.components(separatedBy: "Vary:").count,
                "\(listed)"
            )
            #expect(!out.contains("Origin, Origin") && !out.contains("Vary: Origin\r\n\r\n"), "\(listed)")
        }
        // Two Vary fields without Origin: the first gets it.
        let two = Self.relayed("Vary: Accept\r\nVary: Cookie\r\nContent-Length: 0\r\n", cors: Self.allowed)
        #expect(two.contains("Vary: Accept, Origin\r\nVary: Cookie\r\n"))
        // An empty Vary becomes Vary: Origin.
        #expect(
            Self.relayed("Vary:\r\nContent-Length: 0\r\n", cors: Self.allowed).contains(
                "\r\nVary: Origin\r\nContent-Length"
            )
        )
    }

    @Test("a request without an allowed origin: the backend's CORS fields dropped, only Vary: Origin added")
    func withoutOrigin() {
        let fields = "Access-Control-Allow-Origin: https://evil.test\r\nContent-Length: 0\r\n"
        let out = Self.relayed(fields, cors: CORSPolicy(allowedOrigins: [app]).headersWithoutOrigin)
        #expect(out == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Request-Id: req-1\r\nVary: Origin\r\n\r\n")
    }

    @Test("without CORS handling the head is relayed as before, the backend's CORS fields included")
    func untouchedWithoutCORS() {
        let fields = "Access-Control-Allow-Origin: *\r\nVary: Accept\r\nContent-Length: 0\r\n"
        #expect(
            Self.relayed(fields, cors: nil)
                == "HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nVary: Accept\r\nContent-Length: 0\r\nX-Request-Id: req-1\r\n\r\n"
        )
    }

    @Test("fields that only start like CORS fields are kept")
    func lookalikes() {
        let fields = "Access-Control: x\r\nAccess-Controlled: y\r\nContent-Length: 0\r\n"
        let out = Self.relayed(fields, cors: Self.allowed)
        #expect(out.contains("Access-Control: x\r\nAccess-Controlled: y\r\n"))
    }
}
