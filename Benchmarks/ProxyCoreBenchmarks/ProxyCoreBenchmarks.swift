// Micro-benchmarks of AuthGate's per-request pure logic (AuthGateCore): what the proxy handler
// runs on the event loop for every request, without any I/O.
//
//   cd Benchmarks && swift package benchmark
//
// Every benchmark runs its body `scaledIterations` times (scaling factor .kilo), so the
// reported numbers are per single call.

import AuthGateCore
import Benchmark
import NIOCore
import NIOHTTP1

/// A typical browser request head as nginx hands it over: 12 headers.
private func browserRequestHead() -> HTTPRequestHead {
    var headers = HTTPHeaders()
    headers.add(name: "Host", value: "app.example.com")
    headers.add(
        name: "User-Agent",
        value: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
    )
    headers.add(name: "Accept", value: "application/json, text/plain, */*")
    headers.add(name: "Accept-Language", value: "en-GB,en;q=0.9,de;q=0.8")
    headers.add(name: "Accept-Encoding", value: "gzip, deflate, br, zstd")
    headers.add(name: "Referer", value: "https://app.example.com/dashboard")
    headers.add(
        name: "Cookie",
        value:
            "theme=dark; better-auth.session_token=Yp1Wc3zK8tq2fU0aN5vQ7rL4mH6dS9xE.c2lnbmF0dXJlLXBsYWNlaG9sZGVyLWZvci1iZW5jaA%3D%3D"
    )
    headers.add(name: "Connection", value: "keep-alive")
    headers.add(name: "Sec-Fetch-Dest", value: "empty")
    headers.add(name: "Sec-Fetch-Mode", value: "cors")
    headers.add(name: "Sec-Fetch-Site", value: "same-origin")
    headers.add(name: "X-Forwarded-For", value: "203.0.113.7")
    return HTTPRequestHead(
        version: .http1_1,
        method: .GET,
        uri: "/api/v1/projects?page=2&sort=updated",
        headers: headers
    )
}

/// `head` (by default `browserRequestHead()`) as the bytes nginx sends.
private func browserRequestBytes(_ head: HTTPRequestHead = browserRequestHead()) -> ByteBuffer {
    var text = "GET \(head.uri) HTTP/1.1\r\n"
    for (name, value) in head.headers { text += "\(name): \(value)\r\n" }
    return ByteBuffer(string: text + "\r\n")
}

/// A typical JSON response head from the backend: 8 headers.
private func backendResponseBytes() -> ByteBuffer {
    ByteBuffer(
        string: "HTTP/1.1 200 OK\r\n"
            + "Content-Type: application/json; charset=utf-8\r\n"
            + "Content-Length: 1834\r\n"
            + "Date: Mon, 01 Jul 2024 12:00:00 GMT\r\n"
            + "Server: legacy-backend/4.2\r\n"
            + "Connection: keep-alive\r\n"
            + "Cache-Control: private, max-age=0\r\n"
            + "ETag: \"5f3a9c-72a\"\r\n"
            + "Vary: Accept-Encoding, Cookie\r\n"
            + "\r\n"
    )
}

/// The gateway's default limits (gateway.conf.example).
private let defaultLimits = RequestLimits(
    maxHeaderBytes: 16_384,
    maxHeaderCount: 100,
    maxURIBytes: 8_192,
    maxBodyBytes: 0
)

/// A gateway with legacy HS256 tokens, rate limits and the lockout on (as auth-bench runs it),
/// and one caller's request on an authenticated route.
private struct AuthenticatedGate {
    static let secret = "0123456789abcdef0123456789abcdef-legacy"
    let snapshot: ConfigSnapshot
    let state: AdmissionState
    let forwarding = ForwardingContext(peerIP: "127.0.0.1", peerIsTrusted: false)
    let clock = AdmissionClock(uptimeNanoseconds: 1_000_000_000, epochSeconds: { 1_800_000_000 })
    let token = JWTSigner.hs256(
        claims: .object(["sub": .string("user-1"), "exp": .number(1_900_000_000)]),
        secret: AuthenticatedGate.secret
    )
    let identity = Identity(
        userID: "user-1",
        email: "u@example.com",
        roles: ["member"],
        kind: .legacyJWT,
        sessionID: nil,
        expiresAt: 1_900_000_000
    )

    init() {
        let yaml = """
            auth:
              legacy_jwt_secret: "\(Self.secret)"
            rate_limits:
              enabled: true
              ip_requests_per_minute: 1000000
              ip_burst: 1000000
              user_requests_per_minute: 1000000
              user_burst: 1000000
            lockout:
              enabled: true
            """
        let config = try! ConfigLoader.parse(yaml: yaml, file: nil, environment: [:])
        self.snapshot = try! ConfigSnapshot(config: config, generation: 1)
        self.state = AdmissionState(
            rateLimiter: RateLimiter(),
            lockout: FailedAuthTracker(configuration: .init(maxFailures: 5, window: .seconds(60))),
            cache: IdentityCache(configuration: .init())
        )
    }

    func requestHead() -> HTTPRequestHead {
        var head = browserRequestHead()
        head.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(self.token)")
        return head
    }

    func requestBytes() -> ByteBuffer {
        browserRequestBytes(self.requestHead())
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        maxIterations: 100_000
    )

    Benchmark("RequestValidator.validate (browser head, 12 headers)") { benchmark in
        let head = browserRequestHead()
        let limits = defaultLimits
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(RequestValidator.validate(head, limits: limits))
        }
    }

    Benchmark("HeaderPolicy.rewriteRequest (browser head, trusted peer)") { benchmark in
        let original = browserRequestHead()
        let trusted = try! TrustedProxies(["127.0.0.1/32", "::1/128"])
        let context = ForwardingContext(peerIP: "127.0.0.1", peerIsTrusted: true)
        var generator = RequestIDGenerator(seed: 42)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var head = original
            let forwarded = HeaderPolicy.rewriteRequest(
                &head,
                framing: .none,
                context: context,
                trustedProxies: trusted,
                requestIDGenerator: &generator
            )
            blackHole(head)
            blackHole(forwarded)
        }
    }

    // What the proxy does with a backend's response head: parse it in place, then write the
    // client's head from the received bytes into a buffer.
    Benchmark("UpstreamResponseParser + HeaderPolicy.writeRelayedHead (JSON head, 8 headers)") { benchmark in
        let received = backendResponseBytes()
        let requestID = "0123456789abcdef0123456789abcdef"
        var out = ByteBuffer()
        out.reserveCapacity(512)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var parser = UpstreamResponseParser()
            parser.requestSent(method: .GET)
            var buffer = received
            guard case .head(let head)? = try? parser.next(&buffer) else { fatalError("unparsable head") }
            out.clear()
            let result = HeaderPolicy.writeRelayedHead(
                head,
                requestMethod: .GET,
                clientVersion: .http1_1,
                keepAlive: true,
                requestID: requestID,
                into: &out
            )
            blackHole(out)
            blackHole(result)
        }
    }

    // The stages of a request on the data path, one by one and together: what the client's
    // bytes cost before a byte goes to the backend.
    Benchmark("ClientRequestParser.next (browser head bytes, 12 headers)") { benchmark in
        let received = browserRequestBytes()
        let limits = ClientRequestParser.Limits()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var parser = ClientRequestParser(limits: limits)
            var buffer = received
            guard case .head(let head)? = try? parser.next(&buffer) else { fatalError("unparsable head") }
            blackHole(head)
        }
    }

    Benchmark("ParsedRequestHead.makeHTTPRequestHead (12 headers)") { benchmark in
        var parser = ClientRequestParser(limits: ClientRequestParser.Limits())
        var buffer = browserRequestBytes()
        guard case .head(let parsed)? = try? parser.next(&buffer) else { fatalError("unparsable head") }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(parsed.makeHTTPRequestHead())
        }
    }

    Benchmark("UpstreamRequestWriter.writeHead (rewritten browser head)") { benchmark in
        var head = browserRequestHead()
        var generator = RequestIDGenerator(seed: 42)
        _ = HeaderPolicy.rewriteRequest(
            &head,
            framing: .none,
            context: ForwardingContext(peerIP: "127.0.0.1", peerIsTrusted: false),
            trustedProxies: try! TrustedProxies([]),
            requestIDGenerator: &generator
        )
        var out = ByteBuffer()
        out.reserveCapacity(1024)
        var writer = UpstreamRequestWriter()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            out.clear()
            writer.writeHead(head, into: &out)
            blackHole(writer.writeEnd(into: &out))
            blackHole(out)
        }
    }

    Benchmark("Request path, public route: parse + HTTPRequestHead + validate + rewrite + write head") { benchmark in
        let received = browserRequestBytes()
        let parserLimits = ClientRequestParser.Limits()
        let limits = defaultLimits
        let trusted = try! TrustedProxies([])
        let context = ForwardingContext(peerIP: "127.0.0.1", peerIsTrusted: false)
        var generator = RequestIDGenerator(seed: 42)
        var out = ByteBuffer()
        out.reserveCapacity(1024)
        var writer = UpstreamRequestWriter()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var parser = ClientRequestParser(limits: parserLimits)
            var buffer = received
            guard case .head(let parsed)? = try? parser.next(&buffer) else { fatalError("unparsable head") }
            var head = parsed.makeHTTPRequestHead()
            guard case .success(let framing) = RequestValidator.validate(head, limits: limits) else {
                fatalError("invalid head")
            }
            blackHole(
                HeaderPolicy.rewriteRequest(
                    &head,
                    framing: framing,
                    context: context,
                    trustedProxies: trusted,
                    requestIDGenerator: &generator
                )
            )
            out.clear()
            writer.writeHead(head, into: &out)
            blackHole(writer.writeEnd(into: &out))
            blackHole(out)
        }
    }

    Benchmark("RequestAdmission.admit (authenticated route, legacy bearer)") { benchmark in
        let gate = AuthenticatedGate()
        var generator = RequestIDGenerator(seed: 42)
        let template = gate.requestHead()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var head = template
            blackHole(
                RequestAdmission.admit(
                    &head,
                    snapshot: gate.snapshot,
                    limits: defaultLimits,
                    forwarding: gate.forwarding,
                    requestIDs: &generator,
                    state: gate.state,
                    clock: gate.clock
                )
            )
        }
    }

    Benchmark(
        "Request path, authenticated route on a cache hit: parse + admission + cache + caller admission + write head"
    ) { benchmark in
        let gate = AuthenticatedGate()
        let parserLimits = ClientRequestParser.Limits()
        var generator = RequestIDGenerator(seed: 42)
        let received = gate.requestBytes()
        var out = ByteBuffer()
        out.reserveCapacity(1024)
        var writer = UpstreamRequestWriter()
        gate.state.cache.storePositive(CredentialKey(kind: .legacyJWT, credential: gate.token), gate.identity)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var parser = ClientRequestParser(limits: parserLimits)
            var buffer = received
            guard case .head(let parsed)? = try? parser.next(&buffer) else { fatalError("unparsable head") }
            var head = parsed.makeHTTPRequestHead()
            let admission = RequestAdmission.admit(
                &head,
                snapshot: gate.snapshot,
                limits: defaultLimits,
                forwarding: gate.forwarding,
                requestIDs: &generator,
                state: gate.state,
                clock: gate.clock
            )
            guard case .authenticate(let plan) = admission.decision, case .legacyJWT(let token) = plan.attempts.first
            else { fatalError("expected a legacy attempt") }
            guard case .hit(let identity) = gate.state.cache.lookup(CredentialKey(kind: .legacyJWT, credential: token))
            else { fatalError("expected a cache hit") }
            let outcome = CallerAdmission.verdict(
                .accepted(identity),
                plan: plan,
                snapshot: gate.snapshot,
                clock: gate.clock
            )
            guard
                CallerAdmission.admit(
                    identity,
                    head: &head,
                    route: admission.route,
                    snapshot: gate.snapshot,
                    clientIP: admission.clientIP,
                    requestID: admission.requestID,
                    limiter: gate.state.rateLimiter,
                    clock: gate.clock
                ) == .forward
            else { fatalError("expected the caller admitted") }
            blackHole(outcome)
            out.clear()
            writer.writeHead(head, into: &out)
            blackHole(writer.writeEnd(into: &out))
            blackHole(out)
        }
    }

    Benchmark("RequestIDGenerator.next") { benchmark in
        var generator = RequestIDGenerator(seed: 7)
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(generator.next())
        }
    }

    Benchmark("ProxyStateMachine exchange (GET, keep-alive, one body part)") { benchmark in
        let request = browserRequestHead()
        let info = ProxyStateMachine.RequestInfo(
            method: .GET,
            framing: .none,
            keepAlive: true,
            isUpgrade: false,
            maxBodyBytes: 0
        )
        var body = ByteBufferAllocator().buffer(capacity: 64)
        body.writeString("{\"ok\":true}")
        let relayed = ProxyStateMachine.RelayedHead(
            status: .ok,
            bytes: ByteBuffer(string: "HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n"),
            chunked: false
        )
        var machine = ProxyStateMachine()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(machine.requestHead(request, info: info))
            blackHole(machine.upstreamLeased(reused: true))
            blackHole(machine.requestEnd())
            blackHole(machine.responseHead(relayed, upstreamReusable: true, clientKeepAlive: true))
            blackHole(machine.responseBody(body))
            blackHole(machine.responseEnd())
        }
        precondition(machine.isIdle, "the exchange did not return the machine to idle")
    }
}
