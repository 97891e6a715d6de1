import AuthGateCore
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import AuthGate

/// The gateway's own endpoints, decided without a channel: what is answered at the head,
/// what waits for the body, and where a refresh from the body goes.
@Suite struct LocalEndpointResponderTests {
    static let legacySecret = "0123456789abcdef0123456789abcdef-legacy"

    static func snapshot() throws -> ConfigSnapshot {
        let yaml = """
            auth:
              legacy_jwt_secret: "\(legacySecret)"
              better_auth_secret: "0123456789abcdef0123456789abcdef-ba"
              legacy_refresh_path: /api/auth/refresh
            """
        return try ConfigSnapshot(config: ConfigLoader.parse(yaml: yaml, file: nil, environment: [:]), generation: 1)
    }

    static func responder() -> LocalEndpointResponder {
        LocalEndpointResponder(
            introspection: IntrospectionCore(
                cache: IdentityCache(configuration: .init()),
                jwks: nil,
                sessionResolver: nil,
                metrics: GatewayMetrics(),
                logger: Logger(label: "test")
            )
        )
    }

    static let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/auth-proxy/refresh?x=1")
    static let info = ProxyStateMachine.RequestInfo(
        method: .POST,
        framing: .contentLength(10),
        keepAlive: true,
        isUpgrade: false,
        maxBodyBytes: 1024
    )

    /// Runs `body` with a responder and an answer sink that records what the callback gave.
    final class Answers: @unchecked Sendable {
        var received: [LocalResponse] = []
    }

    func headStep(
        _ local: Admission.LocalAnswer,
        answers: Answers = Answers()
    ) throws -> LocalEndpointResponder.HeadStep {
        Self.responder().answer(
            local,
            head: Self.head,
            info: Self.info,
            snapshot: try Self.snapshot(),
            requestID: "req-1",
            eventLoop: EmbeddedEventLoop()
        ) { answers.received.append($0) }
    }

    func bodyStep(_ body: String) throws -> (step: LocalEndpointResponder.BodyStep, audit: AdmissionAudit?) {
        Self.responder().body(
            ByteBuffer(string: body),
            for: .refresh(Self.head, Self.info),
            snapshot: try Self.snapshot(),
            requestID: "req-1",
            eventLoop: EmbeddedEventLoop()
        ) { _ in }
    }

    @Test func healthAndRefusalsAreAnsweredAtTheHead() throws {
        guard case .write(let health) = try self.headStep(.health) else {
            Issue.record("health is answered at once")
            return
        }
        #expect(health.status == .ok)
        #expect(
            try self.headStep(.refreshRefused(.missingCredential))
                == .write(.error(.unauthorized(.missingCredential), requestID: "req-1"))
        )
        #expect(
            try self.headStep(.limited(.payloadTooLarge))
                == .write(.error(.payloadTooLarge, requestID: "req-1"))
        )
    }

    @Test func introspectionAndABodyRefreshWaitForTheBody() throws {
        #expect(try self.headStep(.introspect) == .readBody(.introspect))
        #expect(try self.headStep(.refreshFromBody) == .readBody(.refresh(Self.head, Self.info)))
        let preflight = CORSPreflightAnswer(
            allowOrigin: "https://a.example",
            allowCredentials: false,
            varyOrigin: false
        )
        #expect(try self.headStep(.preflight(preflight)) == .preflight(preflight))
    }

    @Test func aRefreshSessionWithoutAnAuthServerIsUnavailable() throws {
        let answers = Answers()
        #expect(try self.headStep(.refreshSession(signedValue: "a.b"), answers: answers) == .pending)
        #expect(answers.received == [.error(.authUnavailable, requestID: "req-1")])
    }

    @Test func aLegacyRefreshTokenInTheBodyGoesToTheBackendsRefreshPath() throws {
        let token = JWTSigner.hs256(
            claims: .object(["sub": .string("user-1"), "exp": .number(1)]),
            secret: Self.legacySecret
        )
        let (step, audit) = try self.bodyStep("{\"refresh_token\":\"\(token)\"}")
        var expected = Self.head
        expected.uri = "/api/auth/refresh?x=1"
        #expect(step == .forward(expected, Self.info))
        #expect(audit == AdmissionAudit(kind: .refresh, method: .legacy, success: true, reason: nil))
    }

    @Test func aForgedOrMissingRefreshTokenIsRefusedAndAudited() throws {
        let forged = JWTSigner.hs256(
            claims: .object(["sub": .string("user-1")]),
            secret: "another-secret-another-secret-xx"
        )
        let (step, audit) = try self.bodyStep("{\"refresh_token\":\"\(forged)\"}")
        #expect(step == .write(.error(.unauthorized(.badSignature), requestID: "req-1")))
        #expect(audit?.kind == .refresh)
        #expect(audit?.success == false)

        let (missing, missingAudit) = try self.bodyStep("{\"token\":1}")
        guard case .write(let answer) = missing else {
            Issue.record("a body without refresh_token is answered at once")
            return
        }
        #expect(answer.status == .badRequest)
        #expect(missingAudit == AdmissionAudit(kind: .refresh, method: nil, success: false, reason: "invalid_request"))
    }
}
